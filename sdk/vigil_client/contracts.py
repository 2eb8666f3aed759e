"""The event contracts: every record that crosses a Kafka topic, in one place.

All records are JSON objects with ``schema_version`` and ``request_id`` (the idempotency key
everywhere) and UTC timestamps. Their JSON Schemas ship in this package (``SCHEMAS_DIR``,
written by the server's ``vigil schemas``) so products in other languages can publish and
consume them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigil_client.exceptions import ContractError

# The review names live in ``vigil_client.names``; imported here for the models (and for
# code that imports them from the contracts).
from vigil_client.names import (
    FIRST_TIER,
    DecisionKind,
    ItemState,
    ReviewEventType,
    ReviewTier,
)
from vigil_client.names import REVIEW_TIERS as REVIEW_TIERS
from vigil_client.names import VERDICTS as VERDICTS

SCHEMA_VERSION = 1
# The published JSON Schema files (package data): ``<contract>.v<SCHEMA_VERSION>.json``.
SCHEMAS_DIR = Path(__file__).with_name("schemas")

RequestId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_request_id() -> str:
    return uuid.uuid4().hex


class _Record(BaseModel):
    """Frozen, strict about unknown fields so schema drift is an error, not a silent drop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Any:
        """Parse and validate; any failure is a ``ContractError`` with a readable reason."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ContractError(f"invalid {cls.__name__}: {problems}") from exc


class Sampling(BaseModel):
    """Sampling knobs forwarded to the model (vLLM ``sampling_parameters``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(default=0.0, ge=0.0, le=5.0)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    seed: int | None = None
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)


class InferenceRequest(_Record):
    """What a product publishes on ``llm.requests``."""

    request_id: RequestId = Field(default_factory=new_request_id)
    created_at: datetime = Field(default_factory=utcnow)
    prompt: str = Field(min_length=1)
    model: str = "replay-reasoner"
    product: str | None = None
    tenant: str | None = None
    # Segment attributes (locale, plan, ...): carried untouched to every later record.
    metadata: dict[str, str] = Field(default_factory=dict)
    hold_for_review: bool = False
    samples: int = Field(default=1, ge=1, le=8, description="self-consistency samples wanted")
    sampling: Sampling = Field(default_factory=Sampling)


class InferenceResult(_Record):
    """What the gateway publishes on ``llm.results`` for one request."""

    request_id: RequestId
    created_at: datetime = Field(default_factory=utcnow)
    request_created_at: datetime
    prompt: str
    output: str
    # Extra self-consistency samples (beyond ``output``), when asked for.
    samples: list[str] = Field(default_factory=list)
    model_name: str
    model_version: str
    latency_ms: float = Field(ge=0)
    output_tokens: int | None = None
    # The request's token limit: an output of that many tokens was cut off by it.
    max_tokens: int | None = Field(default=None, ge=1)
    product: str | None = None
    tenant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    hold_for_review: bool = False
    # Token counts where the model's contract reports them (None where it doesn't).
    input_tokens: int | None = Field(default=None, ge=0)
    total_output_tokens: int | None = Field(
        default=None, ge=0, description="tokens generated for output and all samples"
    )
    adapter: str | None = Field(default=None, description="the model contract used: vllm, ...")
    # Self-consistency: k asked for (request or routing rule), and why fewer came back.
    samples_requested: int = Field(default=1, ge=1)
    samples_degraded: str | None = Field(
        default=None, description="sample_budget or sample_failed when fewer than asked"
    )


class Evidence(BaseModel):
    """Why a check fired, anchored on a step of the reasoning where it can be."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: str
    step_index: int | None = None
    span: tuple[int, int] | None = Field(default=None, description="char span within the step")


class CheckResult(BaseModel):
    """One check's outcome: a score in [0, 1] (higher = riskier), a verdict and the evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str
    score: float = Field(ge=0.0, le=1.0)
    flagged: bool
    evidence: list[Evidence] = Field(default_factory=list)
    first_faulty_step: int | None = None


Verdict = Literal["clean", "queued"]
# The route of a clean result also put in the review queue (a random sample of clean
# traffic): what reviewers find wrong in those is what the checks miss.
RANDOM_SAMPLE = "random-sample"


class ScreeningOutcome(_Record):
    """What the screening worker publishes on ``llm.screened``: one per result."""

    request_id: RequestId
    created_at: datetime = Field(default_factory=utcnow)
    verdict: Verdict
    risk_score: float = Field(ge=0.0, le=1.0)
    checks: list[CheckResult]
    # Why: the routing rule that queued it ("random-sample" for a clean result that was also
    # put in the review queue, to measure what the checks miss), and the flagged checks.
    route: str | None = None
    tags: list[str] = Field(default_factory=list)
    # The earliest step (0-based) a check found wrong with good support; None: none found.
    first_faulty_step: int | None = Field(default=None, ge=0)


# What a held request's product gets when the SLA deadline passes without a settled review.
HoldFallback = Literal["release_as_is", "release_fallback", "block"]


class ReviewItem(_Record):
    """A flagged result waiting for a human, as stored in the review queue."""

    request_id: RequestId
    enqueued_at: datetime = Field(default_factory=utcnow)
    prompt: str
    output: str
    steps: list[str]
    final_answer: str | None
    model_name: str
    model_version: str
    risk_score: float = Field(ge=0.0, le=1.0)
    checks: list[CheckResult]
    first_faulty_step: int | None = None
    product: str | None = None
    tenant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    hold_for_review: bool = False
    # The k self-consistency samples beyond ``output``, for side-by-side review.
    samples: list[str] = Field(default_factory=list)
    # Output and prompt with personal data masked, for roles that may not see PII.
    redacted_prompt: str | None = None
    redacted_output: str | None = None
    # Why and how it is reviewed: the routing rule that sent it, free tags (check names,
    # "random-sample", "alert"), the alert that sampled it, and the SLA deadline.
    route: str | None = None
    tags: list[str] = Field(default_factory=list)
    alert_id: str | None = None
    sla_deadline: datetime | None = None
    reviews_required: int = Field(default=1, ge=1, le=10)
    # Hold-and-release: what the product gets if no review settles a held item by the SLA
    # deadline (None: the routing rule's or the configured default), and the fallback text.
    hold_fallback: HoldFallback | None = None
    fallback_answer: str | None = None
    # Assigned-reviewer mode: only this reviewer may claim the item at the first tier.
    assigned_reviewer: str | None = None


class ReviewDecision(_Record):
    """A reviewer's decision, published on ``review.decisions`` keyed by ``request_id``."""

    decision_id: str = Field(default_factory=new_request_id, description="dedupe key")
    request_id: RequestId
    decided_at: datetime = Field(default_factory=utcnow)
    decision: DecisionKind
    reviewer: str = Field(min_length=1)
    corrected_answer: str | None = None
    first_wrong_step: int | None = Field(default=None, ge=0)
    comment: str | None = None
    model_name: str
    model_version: str
    product: str | None = None
    tenant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    # The claim (lease) it was made under; None lets the queue claim and decide in one step.
    claim_id: str | None = None
    # A correction: the edited steps (all of them) and/or ``corrected_answer``. The queue
    # fills in the original steps and answer and a unified diff from the stored item.
    corrected_steps: list[str] | None = None
    original_steps: list[str] | None = None
    original_answer: str | None = None
    diff: str | None = None
    # An escalation: its reason (also used for reject), and the tier it went to.
    reason: str | None = None
    escalate_to: ReviewTier | None = None
    # Set by the queue when it records the decision: the tier and version of the item it
    # was made on, and whether it settled the item (the outcome a product acts on).
    tier: ReviewTier = FIRST_TIER
    item_version: int = Field(default=1, ge=1)
    final: bool = True


ReleaseOutcome = Literal[
    "approved",
    "corrected",
    "rejected",
    "fallback_as_is",
    "fallback_answer",
    "fallback_block",
    "erased",
]


class ReviewRelease(_Record):
    """The answer a held request's product may show, on ``review.releases`` (one per request).

    Sent when a review settles the item, or by the fallback policy at the SLA deadline.
    ``deliver`` false means: show nothing of the model's answer (rejected or blocked).
    """

    release_id: str = Field(description="dedupe key: <request_id>:release")
    request_id: RequestId
    released_at: datetime
    outcome: ReleaseOutcome
    deliver: bool
    answer: str | None = Field(default=None, description="the final answer to show")
    output: str | None = Field(default=None, description="the full text to show")
    by: Literal["review", "sla_fallback", "erasure"]
    decision_id: str | None = None
    reviewer: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    product: str | None = None
    tenant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class ReviewState(BaseModel):
    """An item's review state after an event (integers in ms since the epoch where times)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: ItemState
    tier: ReviewTier
    version: int = Field(ge=1, description="bumped by every escalation; claims are per version")
    required: int = Field(ge=1, description="verdicts needed at this version")
    done: int = Field(ge=0, description="verdicts recorded at this version")
    deadline_ms: int = Field(ge=0, description="SLA deadline; 0 once none is left")
    score: int = Field(description="queue priority, lower first: deadline minus risk bonus")
    released: str = Field(description="the release outcome of a held item, empty if none yet")
    assigned: str = Field(description="the assigned reviewer, empty if none")
    breaches: int = Field(ge=0, description="SLA breaches so far")


class ReviewQueueFields(BaseModel):
    """How the queue stores an item besides its content (carried by ``queued`` events)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member: str
    risk: float
    bonus_ms: int
    sla_ms: int
    retention_ms: int
    hold: bool
    subject: str = Field(description="pseudonymous subject id (a hash), empty if none")
    checks: list[str]
    views: list[str]
    fallback: dict[str, Any] | None = Field(
        default=None,
        description="the ReviewRelease (less release_id, released_at) the SLA fallback sends",
    )


class ReviewRating(BaseModel):
    """The verdicts of one item version with several reviewers, kept for agreement stats."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    tier: ReviewTier
    labels: dict[str, str]
    checks: list[str]
    agreed: bool


class ReviewEvent(_Record):
    """One state change of a review item, on ``review.events`` keyed by ``request_id``.

    The same record is appended to the item's audit trail. ``event_id`` (``<request_id>:<seq>``)
    is the dedupe key; ``seq`` orders an item's events. ``state`` is the item's state after
    the change, so the review state can be rebuilt from these events alone.
    """

    event_id: str
    request_id: RequestId
    seq: int = Field(ge=1)
    at: datetime
    type: ReviewEventType
    actor: str
    state: ReviewState
    reviewer: str | None = None
    claim_id: str | None = None
    lease_expires_ms: int | None = None
    reason: str | None = None
    from_tier: ReviewTier | None = None
    to_tier: ReviewTier | None = None
    late_ms: int | None = None
    label: str | None = None
    outcome: str | None = None
    expires_at_ms: int | None = Field(default=None, description="retention: when it is deleted")
    item: ReviewItem | None = None
    queue: ReviewQueueFields | None = None
    decision: ReviewDecision | None = None
    release: ReviewRelease | None = None
    rating: ReviewRating | None = None


class DeadLetter(_Record):
    """A record that could not be processed, with the reason; on ``<topic>.dlq``."""

    request_id: str | None = Field(default=None, description="when it could be read")
    created_at: datetime = Field(default_factory=utcnow)
    source_topic: str
    stage: str = Field(description="which hop gave up: gateway, screening, ...")
    reason: str
    error: str | None = None
    payload: str = Field(description="the original bytes, decoded as UTF-8 with replacement")
    attempts: int = Field(default=1, ge=1)


# Counterfactual probes travel the record path as *shadow* requests: the monitor publishes them
# with this product and, in the metadata, the swapped axis and the original request id;
# screening skips them and the monitor alone judges their results, so they never reach a
# product or the review queue as product traffic.
SHADOW_PRODUCT = "vigil-shadow"
PROBE_KEY = "vigil_probe"
PROBE_OF_KEY = "vigil_probe_of"


def is_shadow(product: str | None, metadata: dict[str, str]) -> bool:
    """True for a monitor's shadow request or result (a counterfactual probe)."""
    return product == SHADOW_PRODUCT or PROBE_KEY in metadata


AlertKind = Literal["drift", "bias", "counterfactual", "error_rate"]
AlertStatus = Literal["raised", "resolved"]


class AlertFeature(BaseModel):
    """A monitored feature that moved: its drift score against the calibrated threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    method: str
    score: float
    threshold: float


class AlertSegment(BaseModel):
    """A segment treated differently: its rate (or mean) against the rest of the traffic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str
    value: str
    metric: str
    segment_value: float
    rest_value: float
    ratio: float = Field(description="lower / higher; under 0.8 fails the four-fifths rule")
    p_value: float
    segment_rows: int
    rest_rows: int


class Alert(_Record):
    """What the monitor publishes on ``monitor.alerts`` (key ``alert_id``) and to webhooks.

    One shift gives one alert: ``raised`` when it starts, ``resolved`` (same ``alert_id``)
    once the monitored signal has been back to normal for a few windows. Alerts are about
    windows of traffic, not one request, so they carry no ``request_id``; the sampled
    requests routed to the review queue are in ``sample_request_ids``.
    """

    alert_id: str = Field(default_factory=new_request_id)
    created_at: datetime = Field(default_factory=utcnow)
    status: AlertStatus = "raised"
    kind: AlertKind
    monitor: str = Field(description="the monitor (app id) that raised it")
    title: str
    summary: str
    window_id: str | None = None
    window_rows: int | None = None
    features: list[AlertFeature] = Field(default_factory=list)
    segment: AlertSegment | None = None
    model_versions: list[str] = Field(default_factory=list)
    sample_request_ids: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list, description="console links to the samples")


VerifierMode = Literal["critic", "prm"]
JudgementStatus = Literal["verified", "not_verified"]


class VerifyRequest(_Record):
    """A screened result sent to the verifier (``llm.verify``): its outcome waits for the
    judgement until ``deadline``, then is settled without it."""

    request_id: RequestId
    requested_at: datetime = Field(default_factory=utcnow)
    deadline: datetime
    result: InferenceResult


class Judgement(_Record):
    """The verifier's opinion of one result (``llm.judgements``): a model's opinion, not a
    fact. ``not_verified`` says why there is none (timeout, circuit open, over budget,
    unparseable answer, model error); the result is then settled on the cheap checks."""

    request_id: RequestId
    judged_at: datetime = Field(default_factory=utcnow)
    status: JudgementStatus
    verifier: str = Field(description="the verifier model's name")
    mode: VerifierMode
    # The earliest step (0-based) the verifier says is wrong; None: none (or not verified).
    first_wrong_step: int | None = Field(default=None, ge=0)
    reason: str = ""
    score: float | None = Field(default=None, ge=0.0, le=1.0, description="P(wrong), model's")
    step_scores: list[float] = Field(default_factory=list)
    not_verified: str | None = None
    latency_ms: float | None = Field(default=None, ge=0)


CONTRACTS: dict[str, type[_Record]] = {
    "inference_request": InferenceRequest,
    "inference_result": InferenceResult,
    "screening_outcome": ScreeningOutcome,
    "review_item": ReviewItem,
    "review_decision": ReviewDecision,
    "review_event": ReviewEvent,
    "review_release": ReviewRelease,
    "dead_letter": DeadLetter,
    "alert": Alert,
    "verify_request": VerifyRequest,
    "judgement": Judgement,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every contract, keyed by file stem."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in CONTRACTS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:vigil:schema:{name}:v{SCHEMA_VERSION}"
        out[name] = schema
    return out
