"""Alerts ML teams act on: hysteresis (one shift, one alert) and the alert records themselves.

A monitored signal (drift of the window, one segment's disparity, one probe axis) has a key.
Each window says whether the key fired. An alert is *raised* after ``raise_after`` windows in a
row fire and *resolved* after ``clear_after`` windows in a row do not; in between nothing new
is published, however many windows stay drifted. The state is a plain dict so the monitor can
keep it in Redis and a restart does not re-raise what is already raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from vigil_client.contracts import Alert, AlertFeature, AlertSegment, new_request_id, utcnow

if TYPE_CHECKING:
    from vigil.streams.monitoring.bias import SegmentFinding
    from vigil.streams.monitoring.drift import DriftResult

Transition = Literal["raise", "resolve"]


@dataclass(frozen=True)
class Change:
    key: str
    kind: Transition
    alert_id: str


@dataclass
class Track:
    hits: int = 0
    misses: int = 0
    alert_id: str | None = None


class Hysteresis:
    def __init__(
        self, raise_after: int, clear_after: int, state: Mapping[str, Any] | None = None
    ) -> None:
        if raise_after < 1 or clear_after < 1:
            raise ValueError("raise_after and clear_after must be at least 1")
        self.raise_after = raise_after
        self.clear_after = clear_after
        self.tracks: dict[str, Track] = {k: Track(**v) for k, v in (state or {}).items()}

    def active(self, key: str) -> str | None:
        """The raised alert's id for ``key``, or None."""
        track = self.tracks.get(key)
        return track.alert_id if track else None

    def active_keys(self) -> list[str]:
        return [k for k, t in self.tracks.items() if t.alert_id is not None]

    def observe(self, key: str, hit: bool) -> Change | None:
        """One window's verdict for ``key``; the transition it causes, if any."""
        track = self.tracks.setdefault(key, Track())
        if hit:
            track.hits += 1
            track.misses = 0
            if track.alert_id is None and track.hits >= self.raise_after:
                track.alert_id = new_request_id()
                return Change(key, "raise", track.alert_id)
            return None
        track.misses += 1
        track.hits = 0
        if track.alert_id is not None and track.misses >= self.clear_after:
            alert_id, track.alert_id = track.alert_id, None
            del self.tracks[key]
            return Change(key, "resolve", alert_id)
        if track.alert_id is None:
            # Nothing raised and nothing building up: forget the key (segments come and go).
            del self.tracks[key]
        return None

    def observe_many(self, hits: Iterable[str], seen: Iterable[str]) -> list[Change]:
        """One window of many keys: ``hits`` fired; every other seen or tracked key did not."""
        fired = set(hits)
        keys = set(seen) | fired | set(self.tracks)
        changes = [self.observe(key, key in fired) for key in sorted(keys)]
        return [c for c in changes if c is not None]

    def to_dict(self) -> dict[str, Any]:
        return {k: asdict(t) for k, t in self.tracks.items()}


def console_links(console_url: str, request_ids: Sequence[str]) -> list[str]:
    base = console_url.rstrip("/")
    return [f"{base}/?item={rid}" for rid in request_ids]


def drift_alert(
    *,
    alert_id: str,
    monitor: str,
    window_id: str,
    result: DriftResult,
    model_versions: Sequence[str],
    sample_ids: Sequence[str],
    console_url: str,
) -> Alert:
    moved = result.drifted_columns
    names = ", ".join(c.column for c in moved)
    return Alert(
        alert_id=alert_id,
        kind="drift",
        monitor=monitor,
        title=f"Drift: {len(moved)} of {len(result.columns)} monitored features moved",
        summary=(
            f"Window {window_id} ({result.rows} results) differs from the reference in: "
            f"{names}. Scores are against thresholds calibrated on the reference itself."
        ),
        window_id=window_id,
        window_rows=result.rows,
        features=[
            AlertFeature(name=c.column, method=c.method, score=c.score, threshold=c.threshold)
            for c in moved
        ],
        model_versions=sorted(set(model_versions)),
        sample_request_ids=list(sample_ids),
        links=console_links(console_url, sample_ids),
    )


def bias_alert(
    *,
    alert_id: str,
    monitor: str,
    window_id: str,
    finding: SegmentFinding,
    sample_ids: Sequence[str],
    console_url: str,
) -> Alert:
    f = finding
    return Alert(
        alert_id=alert_id,
        kind="bias",
        monitor=monitor,
        title=f"Bias: segment {f.attribute}={f.value} has a disparate {f.metric}",
        summary=(
            f"{f.metric} of {f.attribute}={f.value} is {f.segment_value:.3g} against "
            f"{f.rest_value:.3g} for the rest of the traffic (ratio {f.ratio:.2f} < four-fifths, "
            f"p={f.p_value:.2g}, {f.segment_rows} vs {f.rest_rows} results)."
        ),
        window_id=window_id,
        segment=AlertSegment(**{k: v for k, v in f.to_dict().items() if k != "disparate"}),
        sample_request_ids=list(sample_ids),
        links=console_links(console_url, sample_ids),
    )


def counterfactual_alert(
    *, alert_id: str, monitor: str, axis: str, probe_ids: Sequence[str], console_url: str
) -> Alert:
    return Alert(
        alert_id=alert_id,
        kind="counterfactual",
        monitor=monitor,
        title=f"Bias: answers change when {axis} terms are swapped",
        summary=(
            f"{len(probe_ids)} counterfactual probe(s) swapping {axis} terms got a different "
            "final answer than the original prompt; both versions are in the review queue."
        ),
        sample_request_ids=list(probe_ids),
        links=console_links(console_url, probe_ids),
    )


def error_rate_alert(
    *,
    alert_id: str,
    monitor: str,
    window_id: str,
    recent: dict[str, Any],
    earlier: dict[str, Any] | None,
    ceiling: float,
    model_version: str,
) -> Alert:
    """The estimated share of wrong answers rose (``streams/monitoring/error_rate.py``)."""
    now = f"{recent['value']:.1%} (95% CI {recent['low']:.1%}-{recent['high']:.1%})"
    if earlier is not None:
        was = f"{earlier['value']:.1%} ({earlier['low']:.1%}-{earlier['high']:.1%}) before"
    else:
        was = f"the ceiling of {ceiling:.1%}"
    return Alert(
        alert_id=alert_id,
        kind="error_rate",
        monitor=monitor,
        title=f"Error rate rose: {recent['value']:.1%} of answers estimated wrong",
        summary=(
            f"Share of wrong answers over the recent windows: {now}, against {was}; "
            f"estimated from {recent['n_labelled']} reviewed results and {recent['n_total']} "
            f"screened (prediction-powered, risk model {model_version})."
        ),
        window_id=window_id,
        window_rows=int(recent["n_total"]),
    )


def resolved(alert: Alert) -> Alert:
    """The same alert, now over."""
    return alert.model_copy(update={"status": "resolved", "created_at": utcnow()})
