"""The probe desk of the monitor: sends counterfactual probes and settles each one.

Kept apart from the window logic: probes follow single requests (sent, answered, dead-lettered
or expired), while windows follow traffic. A changed answer goes to the review queue at once;
the first one per axis raises a ``counterfactual`` alert (hysteresis: raised at once, resolved
after ``clear_after`` windows without a changed answer on that axis).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from vigil.reviewers.queue import ReviewQueue
from vigil.settings import MonitorSettings
from vigil.streams.monitoring import probes
from vigil.streams.monitoring.alerts import Change, Hysteresis, counterfactual_alert
from vigil.streams.monitoring.publisher import Publisher
from vigil.streams.monitoring.store import MonitorStore
from vigil.streams.monitoring.verdicts import Verdicts
from vigil_client.contracts import Alert, DeadLetter, InferenceResult

STATE = "counterfactual"


class ProbeDesk:
    def __init__(
        self,
        config: MonitorSettings,
        store: MonitorStore,
        queue: ReviewQueue | None,
        publisher: Publisher,
        verdicts: Verdicts,
        stats: Counter[str],
        clock: Callable[[], float],
        publish_alert: Callable[[Alert], Awaitable[Alert]],
        *,
        console_url: str,
    ) -> None:
        self.config = config
        self.console_url = console_url
        self.store = store
        self.queue = queue
        self.verdicts = verdicts
        self.publisher = publisher
        self.stats = stats
        self.clock = clock
        self.publish_alert = publish_alert
        # One changed answer raises at once; quiet windows resolve it.
        self.state = Hysteresis(1, config.clear_after, store.state(STATE))
        self.hits: set[str] = set()

    async def maybe_probe(self, result: InferenceResult) -> None:
        """Send the sampled product results' variants as shadow requests."""
        if not probes.sampled(result.request_id, self.config.probe_share):
            return
        now = self.clock()
        for variant in probes.counterfactuals(result.prompt):
            request = probes.shadow_request(result, variant)
            probe = probes.Probe.start(result, request, variant, now)
            # Stored before it is sent: its result can never arrive for an unknown probe.
            self.store.put_probe(probe.probe_id, probe.to_dict(), now)
            await self.publisher.request(request)
            self.stats["probes_sent"] += 1

    async def on_result(self, result: InferenceResult) -> None:
        """A shadow result: compare its answer with the original's."""
        rid = result.request_id
        raw = self.store.probe(rid) if self.store.is_pending(rid) else None
        if raw is None:
            self.stats["probe_results_unknown"] += 1  # finished already, or another monitor's
            return
        now = self.clock()
        probe = probes.Probe.from_dict(raw).finish(result, now)
        if not self.store.finish_probe(rid, probe.to_dict(), probe.state, now):
            return
        self.stats[f"probes_{probe.state}"] += 1
        if probe.state != "changed":
            return
        key = f"{STATE}:{probe.axis}"
        self.hits.add(key)
        change = self.state.observe(key, True)
        alert_id = change.alert_id if change else self.state.active(key)
        if self.queue is not None:
            # The worker's checks, judged alone: it never screens shadow results, and their
            # answers are no part of any prompt's history.
            outcome = self.verdicts.judge_alone(result)
            item = probes.finding_item(probe, result, outcome, alert_id)
            await asyncio.to_thread(self.queue.enqueue, item)
        if change is not None:
            alert = counterfactual_alert(
                alert_id=change.alert_id,
                monitor=self.config.app_id,
                axis=probe.axis,
                probe_ids=[probe.probe_id],
                console_url=self.console_url,
            )
            await self.publish_alert(alert)
        self.store.put_state(STATE, self.state.to_dict())

    async def on_dead_letter(self, letter: DeadLetter) -> None:
        rid = letter.request_id
        if not rid or not rid.startswith(probes.PROBE_ID_PREFIX) or not self.store.is_pending(rid):
            return
        raw = self.store.probe(rid)
        if raw is None:
            return
        now = self.clock()
        probe = probes.Probe.from_dict(raw).fail("failed", letter.reason, now)
        if self.store.finish_probe(rid, probe.to_dict(), probe.state, now):
            self.stats["probes_failed"] += 1

    def expire(self, now: float) -> None:
        for rid in self.store.pending_probes(now - self.config.probe_timeout_s):
            raw = self.store.probe(rid)
            if raw is None:
                continue
            probe = probes.Probe.from_dict(raw).fail("expired", "no result in time", now)
            if self.store.finish_probe(rid, probe.to_dict(), probe.state, now):
                self.stats["probes_expired"] += 1

    def end_window(self) -> list[Change]:
        """A window closed: the axes' alerts that are now resolved."""
        changes = self.state.observe_many(hits=self.hits, seen=self.state.active_keys())
        self.hits = set()
        self.store.put_state(STATE, self.state.to_dict())
        return [c for c in changes if c.kind == "resolve"]
