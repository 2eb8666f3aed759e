"""How items are reviewed: SLA, verdicts needed, hold fallback, assignee, retention.

Precedence for each item: what the item itself says (set upstream by the routing rule that
queued it), then this policy's rule for the item's ``route``, then the defaults. Rules come
from a TOML file (``VIGIL_REVIEW_RULES_FILE``)::

    [rules.checkout-held]          # the ReviewItem.route it applies to
    reviews_required = 2           # at least this many agreeing verdicts (item may ask more)
    sla_s = 600                    # deadline: enqueued_at + sla_s; also each tier's SLA
    hold_fallback = "release_fallback"   # release_as_is | release_fallback | block
    fallback_answer = "A specialist will confirm this answer shortly."
    assigned_reviewer = "alice"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigil.exceptions import ConfigError
from vigil.reviewers.keys import as_utc, epoch_ms_ceil
from vigil.settings import ReviewSettings
from vigil_client.contracts import HoldFallback, ReviewItem

# The defaults are the settings' (``VIGIL_REVIEW_*``), stated once, there.
_DEFAULTS = ReviewSettings()
_DEFAULT_HOLD_FALLBACK = cast("HoldFallback", _DEFAULTS.hold_fallback)


class RouteRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reviews_required: int | None = Field(default=None, ge=1, le=10)
    sla_s: float | None = Field(default=None, gt=0)
    hold_fallback: Literal["release_as_is", "release_fallback", "block"] | None = None
    fallback_answer: str | None = None
    assigned_reviewer: str | None = None


@dataclass(frozen=True)
class ItemPlan:
    """What the queue stores for one item besides its content."""

    deadline_ms: int
    sla_ms: int
    bonus_ms: int
    retention_ms: int
    required: int
    hold_fallback: HoldFallback
    fallback_answer: str
    assigned: str


@dataclass(frozen=True)
class ReviewPolicy:
    lease_s: float = _DEFAULTS.lease_s
    sla_s: float = _DEFAULTS.sla_s
    risk_weight_s: float = _DEFAULTS.risk_weight_s
    retention_s: float = _DEFAULTS.retention_days * 86400.0
    subject_key: str = _DEFAULTS.subject_key
    segment_keys: tuple[str, ...] = tuple(_DEFAULTS.segment_keys)
    hold_fallback: HoldFallback = _DEFAULT_HOLD_FALLBACK
    fallback_answer: str = _DEFAULTS.fallback_answer
    rules: dict[str, RouteRule] = field(default_factory=dict)
    # How many queued items one "claim next" looks at before giving up (each is skipped only
    # if this reviewer may not take it: voted on it already, or it is someone else's).
    scan_limit: int = 500

    @classmethod
    def from_settings(cls, review: ReviewSettings) -> ReviewPolicy:
        """The policy of the ``review`` section of the settings (``VIGIL_REVIEW_*``)."""
        rules = load_rules(Path(review.rules_file)) if review.rules_file else {}
        return cls(
            lease_s=review.lease_s,
            sla_s=review.sla_s,
            risk_weight_s=review.risk_weight_s,
            retention_s=review.retention_days * 86400.0,
            subject_key=review.subject_key,
            segment_keys=tuple(review.segment_keys),
            hold_fallback=cast("HoldFallback", review.hold_fallback),
            fallback_answer=review.fallback_answer,
            rules=rules,
        )

    @property
    def lease_ms(self) -> int:
        return int(self.lease_s * 1000)

    def plan(self, item: ReviewItem) -> ItemPlan:
        rule = self.rules.get(item.route or "", RouteRule())
        sla_s = rule.sla_s or self.sla_s
        if item.sla_deadline is not None:
            deadline = epoch_ms_ceil(item.sla_deadline)
            # Later tiers get as long as the first one had.
            window = as_utc(item.sla_deadline) - as_utc(item.enqueued_at)
            sla_ms = max(1, window // timedelta(milliseconds=1))
        else:
            sla_ms = int(sla_s * 1000)
            deadline = epoch_ms_ceil(as_utc(item.enqueued_at) + timedelta(milliseconds=sla_ms))
        return ItemPlan(
            deadline_ms=deadline,
            sla_ms=sla_ms,
            bonus_ms=int(item.risk_score * self.risk_weight_s * 1000),
            retention_ms=int(self.retention_s * 1000),
            required=max(item.reviews_required, rule.reviews_required or 1),
            hold_fallback=item.hold_fallback or rule.hold_fallback or self.hold_fallback,
            fallback_answer=item.fallback_answer or rule.fallback_answer or self.fallback_answer,
            assigned=item.assigned_reviewer or rule.assigned_reviewer or "",
        )

    def views(self, item: ReviewItem) -> list[str]:
        """The secondary indexes an item is listed in while unsettled (``kind:value``)."""
        out = [f"check:{name}" for name in flagged_checks(item)]
        out.append(f"model:{item.model_version}")
        out += [f"segment:{k}={item.metadata[k]}" for k in self.segment_keys if k in item.metadata]
        if item.alert_id:
            out.append(f"alert:{item.alert_id}")
        if item.product:
            out.append(f"product:{item.product}")
        return list(dict.fromkeys(out))  # unique, order kept

    def subject_of(self, item: ReviewItem) -> str | None:
        return item.metadata.get(self.subject_key) or None


def flagged_checks(item: ReviewItem) -> list[str]:
    return list(dict.fromkeys(c.check for c in item.checks if c.flagged))


def load_rules(path: Path) -> dict[str, RouteRule]:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read review rules {path}: {exc}") from exc
    try:
        return {name: RouteRule.model_validate(r) for name, r in raw.get("rules", {}).items()}
    except ValidationError as exc:
        raise ConfigError(f"invalid review rules in {path}: {exc}") from exc
