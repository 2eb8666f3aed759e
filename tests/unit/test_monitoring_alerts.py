"""Hysteresis (one shift, one alert) and signed Slack-compatible webhooks, delivered to a real
HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import orjson
import pytest

from vigil.streams.monitoring.alerts import Hysteresis, resolved
from vigil.streams.monitoring.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    deliver,
    sign,
    slack_payload,
    verify,
)
from vigil_client.contracts import Alert, AlertFeature

SECRET = "s3cret"


def test_one_shift_gives_one_alert_then_one_resolution() -> None:
    h = Hysteresis(raise_after=2, clear_after=3)
    verdicts = [False, True, True, True, True, False, True, False, False, False, False]
    changes = [h.observe("drift", v) for v in verdicts]
    kinds = [(i, c.kind) for i, c in enumerate(changes) if c is not None]
    # Raised at the second drifted window in a row; a single normal window in between
    # does not resolve it; three in a row do.
    assert kinds == [(2, "raise"), (9, "resolve")]
    assert changes[2] is not None and changes[9] is not None
    assert changes[2].alert_id == changes[9].alert_id
    assert h.active("drift") is None


def test_an_isolated_drifted_window_raises_nothing() -> None:
    h = Hysteresis(raise_after=2, clear_after=3)
    assert [h.observe("drift", v) for v in [True, False, True, False, True]] == [None] * 5


def test_state_survives_a_restart_without_raising_again() -> None:
    h = Hysteresis(raise_after=1, clear_after=2)
    change = h.observe("bias:locale=de-DE:flag_rate", True)
    assert change is not None and change.kind == "raise"
    again = Hysteresis(raise_after=1, clear_after=2, state=orjson.loads(orjson.dumps(h.to_dict())))
    assert again.active("bias:locale=de-DE:flag_rate") == change.alert_id
    assert again.observe("bias:locale=de-DE:flag_rate", True) is None


def test_many_keys_a_missing_key_counts_as_normal() -> None:
    h = Hysteresis(raise_after=1, clear_after=2)
    [raised] = h.observe_many(hits={"a"}, seen={"a", "b"})
    assert raised.key == "a" and raised.kind == "raise"
    assert h.observe_many(hits=set(), seen=set()) == []  # "a" not seen: one normal window
    [gone] = h.observe_many(hits=set(), seen={"b"})
    assert gone.key == "a" and gone.kind == "resolve"
    assert h.to_dict() == {}


def alert() -> Alert:
    return Alert(
        kind="drift",
        monitor="vigil-monitor",
        title="Drift: 3 of 14 monitored features moved",
        summary="Window w00000007 differs from the reference in: self_consistency, flagged.",
        window_id="w00000007",
        features=[
            AlertFeature(name="self_consistency", method="wasserstein", score=0.4, threshold=0.3)
        ],
        sample_request_ids=["r1", "r2"],
        links=["http://127.0.0.1:8501/?item=r1", "http://127.0.0.1:8501/?item=r2"],
    )


def test_slack_payload_has_text_blocks_and_the_alert_record() -> None:
    a = alert()
    body = slack_payload(a)
    assert "Drift" in body["text"] and "[raised]" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "context"]
    assert "self_consistency" in body["blocks"][2]["text"]["text"]
    assert Alert.model_validate(body["metadata"]["event_payload"]) == a
    assert "[resolved]" in slack_payload(resolved(a))["text"]


def test_signatures_verify_and_reject_tampering_and_replays() -> None:
    body = b'{"text": "hi"}'
    now = time.time()
    ts = str(int(now))
    sig = sign(SECRET, ts, body)
    assert sig.startswith("v1=")
    assert verify(SECRET, ts, body, sig, now=now)
    assert not verify(SECRET, ts, body + b" ", sig, now=now)
    assert not verify("other", ts, body, sig, now=now)
    assert not verify(SECRET, ts, body, sig, now=now + 3600)  # an old request replayed
    assert not verify(SECRET, "not-a-time", body, sig, now=now)


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    fail_first: int = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.fail_first > 0:
            Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        Receiver.received.append((dict(self.headers), body))
        ok = verify(SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER])
        self.send_response(200 if ok else 401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    Receiver.fail_first = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/vigil"
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_gets_the_signed_payload(receiver: str) -> None:
    a = alert()
    [d] = deliver(a, [receiver], SECRET, backoff_s=0.01)
    assert d.ok and d.status == 200 and d.attempts == 1
    [(headers, body)] = Receiver.received
    assert headers["Content-Type"] == "application/json"
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert orjson.loads(body)["metadata"]["event_payload"]["alert_id"] == a.alert_id


def test_a_failing_webhook_is_retried_then_reported_not_raised(receiver: str) -> None:
    Receiver.fail_first = 2
    [d] = deliver(alert(), [receiver], SECRET, attempts=3, backoff_s=0.01)
    assert d.ok and d.attempts == 3
    Receiver.fail_first = 5
    [d] = deliver(alert(), [receiver], SECRET, attempts=2, backoff_s=0.01)
    assert not d.ok and d.status == 503 and d.attempts == 2
    # A receiver that refuses the signature (401) is not retried.
    Receiver.fail_first = 0
    [d] = deliver(alert(), [receiver], "wrong-secret", attempts=3, backoff_s=0.01)
    assert not d.ok and d.status == 401 and d.attempts == 1


def test_an_unreachable_or_non_http_webhook_is_reported() -> None:
    from tests.conftest import free_port

    [down, ftp] = deliver(
        alert(),
        [f"http://127.0.0.1:{free_port()}/x", "ftp://x/y"],
        SECRET,
        attempts=2,
        backoff_s=0.01,
    )
    assert not down.ok and down.status is None and down.attempts == 2 and down.error
    assert not ftp.ok and "http" in (ftp.error or "")
