"""Alert webhooks: a Slack-compatible JSON body, signed with HMAC-SHA256.

The body is what a Slack incoming webhook accepts (``text`` + ``blocks``), with the whole
alert record under ``metadata.event_payload`` (Slack's message-metadata shape) for receivers
that act on it. With a secret configured, each request carries::

    X-Vigil-Timestamp: <unix seconds>
    X-Vigil-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body)>

Receivers recompute it over the raw body (:func:`verify`) and reject old timestamps, so a
captured request cannot be replayed later. Delivery is retried with backoff; a webhook that
keeps failing is logged and recorded with the alert, never raised into the monitor's loop.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from vigil_client.contracts import Alert

SIGNATURE_HEADER = "X-Vigil-Signature"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
_EMOJI = {
    "drift": ":chart_with_upwards_trend:",
    "bias": ":scales:",
    "counterfactual": ":scales:",
    "error_rate": ":rotating_light:",
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """True when ``signature`` is this body's, signed within ``tolerance_s`` of ``now``."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    if age > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def slack_payload(alert: Alert) -> dict[str, Any]:
    icon = _EMOJI.get(alert.kind, ":warning:")
    state = "resolved" if alert.status == "resolved" else "raised"
    text = f"{icon} [{state}] {alert.title}"
    header = f"[{state}] {alert.title}"[:150]  # Slack's limit for a header
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.summary[:3000]}},
    ]
    if alert.features:
        lines = [
            f"• `{f.name}` {f.method} {f.score:.3f} (threshold {f.threshold:.3f})"
            for f in alert.features[:10]
        ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    if alert.links:
        links = " ".join(f"<{url}|sample {i + 1}>" for i, url in enumerate(alert.links[:10]))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    return {
        "text": text,
        "blocks": blocks,
        "metadata": {"event_type": "vigil_alert", "event_payload": alert.model_dump(mode="json")},
    }


@dataclass(frozen=True)
class Delivery:
    url: str
    ok: bool
    status: int | None
    attempts: int
    error: str | None = None


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout_s) as resp:
        return int(resp.status)


def deliver(
    alert: Alert,
    urls: Sequence[str],
    secret: str,
    *,
    attempts: int = 3,
    backoff_s: float = 0.5,
    timeout_s: float = 5.0,
) -> list[Delivery]:
    """POST the alert to every URL (blocking: the monitor runs it in a thread)."""
    body = orjson.dumps(slack_payload(alert))
    out = []
    for url in urls:
        if not url.startswith(("http://", "https://")):
            out.append(Delivery(url, False, None, 0, "only http(s) webhooks are supported"))
            continue
        status: int | None = None
        error: str | None = None
        tries = 0
        for tries in range(1, attempts + 1):
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "User-Agent": "vigil-monitor"}
            if secret:
                headers[TIMESTAMP_HEADER] = timestamp
                headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
            try:
                status = _post(url, body, headers, timeout_s)
                error = None
                break
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code != 429:
                    break  # the receiver refuses it: retrying won't help
            except (urllib.error.URLError, OSError) as exc:
                status, error = None, str(getattr(exc, "reason", exc))
            time.sleep(backoff_s * (2 ** (tries - 1)))
        ok = error is None and status is not None and 200 <= status < 300
        out.append(Delivery(url, ok, status, tries, error))
    return out
