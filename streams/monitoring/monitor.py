"""The monitor's logic, transport-free: results in; windows, alerts, probes and review items out.

``agent.py`` feeds it from Kafka (Faust) and gives it a :class:`Publisher` that produces to
Kafka; tests and the benchmark can drive it directly. Per batch of product results: the
screening worker's verdicts (``verdicts.py``: its configured checks and weights), then per
result features into the open window (or into the baseline until the reference exists), and
maybe counterfactual probes out. Per closed window: drift against the reference (Evidently,
in a worker thread), per-segment disparity, hysteresis, and for each transition an alert on
``monitor.alerts``, to the webhooks and in Redis, with sampled items routed to the review
queue.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vigil.reviewers.queue import ReviewQueue
from vigil.settings import (
    DEFAULT_GSM8K_TRAIN,
    CalibrationSettings,
    ConsoleSettings,
    MonitorSettings,
)
from vigil.streams import review_items
from vigil.streams.calibration.production import window_pools
from vigil.streams.monitoring import drift, webhooks
from vigil.streams.monitoring.alerts import (
    Change,
    Hysteresis,
    bias_alert,
    drift_alert,
    error_rate_alert,
    resolved,
)
from vigil.streams.monitoring.bias import BiasTracker, SegmentFinding
from vigil.streams.monitoring.error_rate import error_rate_block
from vigil.streams.monitoring.exceptions import MonitoringError
from vigil.streams.monitoring.features import extract_features
from vigil.streams.monitoring.probes import PROBE_ID_PREFIX
from vigil.streams.monitoring.probing import ProbeDesk
from vigil.streams.monitoring.publisher import Publisher
from vigil.streams.monitoring.reference import Reference, build_reference, load_source_rows
from vigil.streams.monitoring.store import MonitorStore
from vigil.streams.monitoring.verdicts import Judged, Verdicts
from vigil.streams.monitoring.windows import ClosedWindow, TumblingWindow
from vigil.streams.triage import Screener
from vigil_client.contracts import (
    Alert,
    DeadLetter,
    InferenceResult,
    ReviewDecision,
    ReviewItem,
    is_shadow,
)

log = logging.getLogger("vigil.monitor")

DRIFT_KEY = "drift"
ERROR_RATE_KEY = "error_rate"
# Request ids remembered to drop re-delivered results (at-least-once delivery).
RECENT_IDS = 100_000


@dataclass
class WindowReport:
    window_id: str
    summary: dict[str, Any]
    alerts: list[Alert] = field(default_factory=list)


def check_config(config: MonitorSettings) -> None:
    """Settings the monitor cannot work with (checked when one starts, not by every process
    that reads the settings)."""
    if config.reference_rows < 2 * config.calibration_rows:
        raise MonitoringError(
            f"monitor_reference_rows ({config.reference_rows}) must be at least twice the "
            f"window size ({config.calibration_rows}); five times or more is better"
        )


def sample_item(sample: Judged, alert_id: str, kind: str) -> ReviewItem:
    """A sampled result of an alert's window, for a human to look at with the alert."""
    return review_items.review_item(
        sample.result,
        sample.outcome.checks,
        risk_score=sample.outcome.risk_score,
        route=f"{kind}-alert",
        tags=["alert", kind],
        alert_id=alert_id,
    )


class Monitor:
    """Driven by the ``monitor`` section of the settings (``VIGIL_MONITOR_*``); its alerts link
    to the console at ``console_url``, and a ``gsm8k-train`` reference is read from
    ``train_path``."""

    def __init__(
        self,
        config: MonitorSettings,
        store: MonitorStore,
        queue: ReviewQueue | None,
        publisher: Publisher,
        screener: Screener,
        *,
        console_url: str = ConsoleSettings().url,
        train_path: Path = DEFAULT_GSM8K_TRAIN,
        calibration: CalibrationSettings | None = None,
        clock: Callable[[], float] = time.time,
        deliver: Callable[..., list[webhooks.Delivery]] = webhooks.deliver,
    ) -> None:
        check_config(config)
        self.config = config
        self.calibration = calibration or CalibrationSettings()
        self.console_url = console_url
        self.train_path = train_path
        self.store = store
        self.queue = queue
        self.publisher = publisher
        self.clock = clock
        self.deliver = deliver
        self.verdicts = Verdicts(screener)
        self.window: TumblingWindow[Judged] = TumblingWindow(
            size=config.window_size,
            seconds=config.window_s,
            keep_samples=max(50, 10 * config.alert_samples),
        )
        self.reference: Reference | None = None
        self.baseline: list[dict[str, Any]] = []
        self.bias = BiasTracker(config.bias_attributes, config.bias_windows)
        self.drift_state = Hysteresis(config.raise_after, config.clear_after, store.state("drift"))
        self.bias_state = Hysteresis(config.raise_after, config.clear_after, store.state("bias"))
        self.error_state = Hysteresis(
            config.raise_after, config.clear_after, store.state(ERROR_RATE_KEY)
        )
        self.stats: Counter[str] = Counter()
        self.probes = ProbeDesk(
            config,
            store,
            queue,
            publisher,
            self.verdicts,
            self.stats,
            clock,
            self._publish,
            console_url=console_url,
        )
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = asyncio.Lock()

    # --- reference -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load the stored reference, or build it now from a file source (once)."""
        raw = self.store.reference()
        if raw is not None:
            self.reference = Reference.from_bytes(raw)
            log.info("reference loaded: %s", self.reference.describe()["source"])
            return
        rows = await asyncio.to_thread(
            load_source_rows,
            self.config.reference,
            limit=self.config.reference_rows,
            train_path=self.train_path,
            verdicts=Verdicts(self.verdicts.screener),
        )
        if rows is not None:
            await self._build_reference(rows, self.config.reference)
        else:
            log.info("collecting a baseline of %d results", self.config.reference_rows)

    async def _build_reference(self, rows: Sequence[dict[str, Any]], source: str) -> None:
        t0 = time.perf_counter()
        reference = await asyncio.to_thread(
            build_reference,
            rows,
            source=source,
            window_rows=self.config.calibration_rows,
            resamples=self.config.calibration_resamples,
            margin=self.config.threshold_margin,
            text=self.config.text_drift,
        )
        self.store.put_reference(reference.to_bytes(), reference.describe())
        self.reference = reference
        log.info(
            "reference %s built from %d rows in %.1fs; thresholds %s",
            source,
            reference.rows,
            time.perf_counter() - t0,
            {k: round(v, 3) for k, v in reference.calibration.thresholds.items()},
        )

    # --- inputs --------------------------------------------------------------------------

    def _seen(self, request_id: str) -> bool:
        if request_id in self._recent:
            return True
        self._recent[request_id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        return False

    async def on_results(self, results: Sequence[InferenceResult]) -> list[WindowReport]:
        """A batch from ``llm.results``; returns the reports of the windows it closed."""
        product: list[InferenceResult] = []
        for result in results:
            if is_shadow(result.product, result.metadata):
                await self.probes.on_result(result)
            elif self._seen(result.request_id):
                self.stats["duplicates"] += 1
            else:
                product.append(result)
        # The risk model these verdicts were scored by (it may change between batches).
        risk_version = self.verdicts.screener.risk_version
        judged = self.verdicts.judge(product)
        if len(judged) < len(product):
            self.stats["check_failed"] += len(product) - len(judged)
        reports = []
        for sample in judged:
            self.stats["results"] += 1
            row = extract_features(sample.result, sample.outcome)
            # For the error rate (error_rate.py): the stratum and the model of the risk score.
            row["verdict"] = sample.outcome.verdict
            row["risk_version"] = risk_version
            await self.probes.maybe_probe(sample.result)
            if self.reference is None:
                self.baseline.append(row)
                if len(self.baseline) >= self.config.reference_rows:
                    rows, self.baseline = self.baseline, []
                    await self._build_reference(rows, "baseline")
                continue
            closed = self.window.add(row, sample, self.clock())
            if closed is not None:
                reports.append(await self.close_window(closed))
        return reports

    def on_decision(self, decision: ReviewDecision) -> None:
        self.bias.add_decision(decision)

    async def on_dead_letter(self, letter: DeadLetter) -> None:
        """A dead-lettered request: if it was a probe, the probe failed (with the reason);
        a product's is kept for the console (the Alerts page says why it failed)."""
        if (letter.request_id or "").startswith(PROBE_ID_PREFIX):
            await self.probes.on_dead_letter(letter)
        else:
            await asyncio.to_thread(self.store.put_dead_letter, letter)

    async def tick(self) -> WindowReport | None:
        """Periodic work: close a time window, expire probes, render asked-for HTML."""
        report = None
        now = self.clock()
        if self.reference is not None and self.window.due(now):
            closed = self.window.close(now, "time")
            if closed is not None:
                report = await self.close_window(closed)
        self.probes.expire(now)
        for window_id in self.store.html_requests():
            await self._render_html(window_id)
        return report

    # --- windows -------------------------------------------------------------------------

    async def close_window(self, closed: ClosedWindow[Judged]) -> WindowReport:
        async with self._lock:
            return await self._judge(closed)

    async def _judge(self, closed: ClosedWindow[Judged]) -> WindowReport:
        assert self.reference is not None
        closed.window_id = self.store.next_window_id()
        rows = closed.rows
        versions = Counter(str(r.get("model_version")) for r in rows)
        flagged = sum(1 for r in rows if r.get("flagged"))
        summary: dict[str, Any] = {
            "window_id": closed.window_id,
            "opened_at": closed.opened_at,
            "closed_at": closed.closed_at,
            "closed_by": closed.reason,
            "rows": len(rows),
            "flag_rate": flagged / len(rows),
            "model_versions": dict(versions),
            "judged": len(rows) >= self.config.min_window_rows,
        }
        report = WindowReport(closed.window_id, summary)
        snapshot: str | None = None
        result: drift.DriftResult | None = None
        if summary["judged"]:
            t0 = time.perf_counter()
            try:
                result = await asyncio.to_thread(
                    drift.evaluate,
                    self.reference.data,
                    drift.frame(rows),
                    self.reference.columns,
                    self.reference.calibration,
                    min_columns=self.config.drift_min_columns,
                )
            except Exception as exc:
                # Recorded with the window, not lost: bias and probes still go on.
                log.exception("drift failed on window %s", closed.window_id)
                summary["drift_error"] = f"{type(exc).__name__}: {exc}"
                self.stats["drift_errors"] += 1
        if result is not None:
            summary["drift"] = result.summary()
            summary["drift_seconds"] = time.perf_counter() - t0
            snapshot = result.snapshot_json
            change = self.drift_state.observe(DRIFT_KEY, result.drifted)
            if change is not None and change.kind == "raise":
                ids = await self._route_samples(closed, change.alert_id, "drift")
                alert = drift_alert(
                    alert_id=change.alert_id,
                    monitor=self.config.app_id,
                    window_id=closed.window_id,
                    result=result,
                    model_versions=list(versions),
                    sample_ids=ids,
                    console_url=self.console_url,
                )
                report.alerts.append(await self._publish(alert))
            elif change is not None:
                report.alerts += await self._resolve(change)
        self.bias.add_window(rows)
        findings = self.bias.evaluate(
            alpha=self.config.bias_alpha,
            min_rows=self.config.bias_min_rows,
            ratio_limit=self.config.bias_ratio,
        )
        summary["bias"] = [f.to_dict() for f in findings]
        report.alerts += await self._bias_alerts(closed, findings)
        for change in self.probes.end_window():
            report.alerts += await self._resolve(change)
        report.alerts += await self._error_rate(closed, summary)
        summary["alerts"] = [
            {"alert_id": a.alert_id, "kind": a.kind, "status": a.status} for a in report.alerts
        ]
        summary["stats"] = dict(self.stats)
        self.store.put_window(
            closed.window_id, closed.closed_at, summary, snapshot, self._rows_blob(rows)
        )
        self.store.put_state("drift", self.drift_state.to_dict())
        self.store.put_state("bias", self.bias_state.to_dict())
        self.store.put_state(ERROR_RATE_KEY, self.error_state.to_dict())
        return report

    async def _error_rate(
        self, closed: ClosedWindow[Judged], summary: dict[str, Any]
    ) -> list[Alert]:
        """The share of wrong answers up to this window, into its summary; its alert."""
        summary["error_pools"] = window_pools(closed.rows, self.calibration.segment_keys)
        try:
            earlier = await asyncio.to_thread(self.store.windows, self.config.keep_windows)
            found = await error_rate_block(
                summary, earlier, self.verdicts.screener, self.queue, self.calibration
            )
        except Exception as exc:
            # Recorded with the window, not lost: drift and bias go on.
            log.exception("error rate failed on window %s", closed.window_id)
            summary["error_rate_error"] = f"{type(exc).__name__}: {exc}"
            return []
        summary["error_rate"] = found.block
        if found.recent is None:
            return []  # not measurable (too few labels): neither a rise nor a fall
        change = self.error_state.observe(ERROR_RATE_KEY, found.risen)
        if change is None:
            return []
        if change.kind == "resolve":
            return await self._resolve(change)
        alert = error_rate_alert(
            alert_id=change.alert_id,
            monitor=self.config.app_id,
            window_id=str(closed.window_id),
            recent=found.block["recent"],
            earlier=found.block["earlier"],
            ceiling=self.calibration.max_error_rate,
            model_version=self.verdicts.screener.risk_version,
        )
        return [await self._publish(alert)]

    async def _bias_alerts(
        self, closed: ClosedWindow[Judged], findings: list[SegmentFinding]
    ) -> list[Alert]:
        by_key = {f.key: f for f in findings}
        out: list[Alert] = []
        changes = self.bias_state.observe_many(
            hits={f.key for f in findings if f.disparate}, seen=by_key
        )
        for change in changes:
            if change.kind == "resolve":
                out += await self._resolve(change)
                continue
            f = by_key[change.key]

            def in_segment(r: InferenceResult, f: SegmentFinding = f) -> bool:
                return r.metadata.get(f.attribute) == f.value

            ids = await self._route_samples(closed, change.alert_id, "bias", in_segment)
            alert = bias_alert(
                alert_id=change.alert_id,
                monitor=self.config.app_id,
                window_id=closed.window_id,
                finding=f,
                sample_ids=ids,
                console_url=self.console_url,
            )
            out.append(await self._publish(alert))
        return out

    async def _route_samples(
        self,
        closed: ClosedWindow[Judged],
        alert_id: str,
        kind: str,
        keep: Callable[[InferenceResult], bool] | None = None,
    ) -> list[str]:
        """Put a few of the window's results in the review queue, tagged with the alert.

        Results no check flagged come first: flagged ones are in the queue already.
        """
        n = self.config.alert_samples
        pool = [s for s in closed.samples if keep is None or keep(s.result)]
        if not pool or n == 0:
            return []
        pool.sort(key=lambda s: any(c.flagged for c in s.outcome.checks))
        chosen = [sample_item(s, alert_id, kind) for s in pool[:n]]
        if self.queue is not None:
            await asyncio.to_thread(self.queue.enqueue_many, chosen)
        return [i.request_id for i in chosen]

    async def _resolve(self, change: Change) -> list[Alert]:
        raised = self.store.alert(change.alert_id)
        if raised is None:
            log.warning("alert %s resolved but never stored", change.alert_id)
            return []
        return [await self._publish(resolved(raised))]

    async def _publish(self, alert: Alert) -> Alert:
        """Kafka first (the record of truth), then Redis and the webhooks."""
        await self.publisher.alert(alert)
        deliveries: list[dict[str, Any]] = []
        if self.config.webhook_urls:
            sent = await asyncio.to_thread(
                self.deliver,
                alert,
                self.config.webhook_urls,
                self.config.webhook_secret.get_secret_value(),
            )
            deliveries = [d.__dict__ for d in sent]
            for d in sent:
                if not d.ok:
                    log.error("webhook %s failed for alert %s: %s", d.url, alert.alert_id, d.error)
        self.store.put_alert(alert, deliveries)
        self.stats[f"alerts_{alert.kind}_{alert.status}"] += 1
        log.warning("%s alert %s: %s", alert.status, alert.alert_id, alert.title)
        return alert

    # --- console -------------------------------------------------------------------------

    def _rows_blob(self, rows: list[dict[str, Any]]) -> bytes:
        """The window's rows for its HTML report (at most ``html_rows``, evenly spread)."""
        step = max(1, math.ceil(len(rows) / self.config.html_rows))
        kept = [{k: v for k, v in r.items() if k != "segments"} for r in rows[::step]]
        return zlib.compress(orjson.dumps(kept, option=orjson.OPT_SERIALIZE_NUMPY), 6)

    async def _render_html(self, window_id: str) -> None:
        from vigil.streams.monitoring.report import render_stored_html

        try:
            html = await asyncio.to_thread(render_stored_html, self.store, window_id)
        except MonitoringError as exc:
            log.warning("no HTML for window %s: %s", window_id, exc)
            self.store.drop_html_request(window_id)
            return
        self.store.put_html(window_id, html)


__all__ = ["Monitor", "Publisher", "WindowReport", "check_config", "sample_item"]
