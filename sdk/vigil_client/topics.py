"""The Kafka topic names of the record path (what each carries: README, "Topics")."""

REQUESTS = "llm.requests"
REQUESTS_DLQ = "llm.requests.dlq"
RESULTS = "llm.results"
RESULTS_DLQ = "llm.results.dlq"
SCREENED = "llm.screened"
DECISIONS = "review.decisions"
# Every review state change (ReviewEvent), and held requests' releases (ReviewRelease).
REVIEW_EVENTS = "review.events"
RELEASES = "review.releases"
# Drift, bias and counterfactual alerts of the monitor (Alert), keyed by alert_id.
ALERTS = "monitor.alerts"
# The verifier's work (VerifyRequest, keyed by request_id) and its opinions (Judgement).
VERIFY = "llm.verify"
JUDGEMENTS = "llm.judgements"
