"""Routing: does a screened result go to human review, by which rule, how urgently?

Rules come from the config (``[[routes]]``, first match wins; see default_checks.toml). Clean
results are sampled into the queue at ``[sampling] clean_rate``, chosen by a hash of the
request id so that a re-delivered result is routed exactly as the first time (nothing here
reads a clock or a random generator: the SLA deadline counts from the result's own time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vigil.streams.checks.config import ChecksConfig, RouteRule
from vigil_client.contracts import RANDOM_SAMPLE, CheckResult, InferenceResult

__all__ = ["RANDOM_SAMPLE", "Route", "route_result", "sampled"]


@dataclass(frozen=True)
class Route:
    """Where a result goes. ``review`` False: clean and not sampled (no review item)."""

    verdict: str  # "clean" | "queued"
    review: bool
    name: str | None = None
    priority: float = 0.0
    tags: list[str] = field(default_factory=list)
    sla_deadline: datetime | None = None
    reviews_required: int = 1


def sampled(request_id: str, rate: float) -> bool:
    """Deterministic per request id: the same id is always in or out of the sample."""
    if rate <= 0:
        return False
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def _matches(rule: RouteRule, result: InferenceResult, flagged: set[str], risk: float) -> bool:
    if rule.flagged is not None and not flagged.intersection(rule.flagged):
        return False
    if rule.min_risk is not None and risk < rule.min_risk:
        return False
    if rule.hold_for_review is not None and result.hold_for_review != rule.hold_for_review:
        return False
    return rule.products is None or result.product in rule.products


def _deadline(result: InferenceResult, minutes: float | None) -> datetime | None:
    return None if minutes is None else result.created_at + timedelta(minutes=minutes)


def route_result(
    result: InferenceResult, checks: Sequence[CheckResult], risk: float, config: ChecksConfig
) -> Route:
    flagged = {c.check for c in checks if c.flagged}
    tags = sorted(flagged)
    for rule in config.routes:
        if _matches(rule, result, flagged, risk):
            rule_tags = tags + (["hold_for_review"] if result.hold_for_review else [])
            return Route(
                verdict="queued",
                review=True,
                name=rule.name,
                priority=max(risk, rule.priority),
                tags=rule_tags or [rule.name],
                sla_deadline=_deadline(result, rule.sla_minutes),
                reviews_required=rule.reviews_required,
            )
    if result.hold_for_review:  # asked for by the product: never dropped by a config
        return Route(
            verdict="queued",
            review=True,
            name="hold_for_review",
            priority=risk,
            tags=[*tags, "hold_for_review"],
        )
    if sampled(result.request_id, config.sampling.clean_rate):
        # Reviewed to measure what the checks miss; the product is not held up by it.
        return Route(
            verdict="clean",
            review=True,
            name=RANDOM_SAMPLE,
            priority=risk,
            tags=[RANDOM_SAMPLE, *tags],
            sla_deadline=_deadline(result, config.sampling.sla_minutes),
        )
    return Route(verdict="clean", review=False, tags=tags)
