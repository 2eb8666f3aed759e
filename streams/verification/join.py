"""The screening worker's side of the verifier: hold a result, join its judgement, or time out.

``hold`` takes the triages the config sends to the verifier (``selection.py``), stores each
as waiting (``pending.py``) and hands back the ``VerifyRequest`` records to send; nothing is
settled for them yet. ``on_judgements`` joins judgements with their waiting results: the
verifier check's result (``opinion.py``) is added to the cheap checks', the triage is built
again (risk, route, review item: ``Screener.finish``), settled once and published. ``sweep``
settles the results whose judgement did not come within ``max_wait_s`` ("not verified:
timeout"). A judgement for an id no longer waiting (it timed out, or came twice) is dropped:
the outcome of an id is the one it was first settled with (``ReviewQueue.settle``).

No I/O of its own: the store, settling and sending are handed in by ``streams/screening.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from vigil.exceptions import ContractError
from vigil.streams.checks.config import VerifierSection
from vigil.streams.triage import Screener, Triage
from vigil.streams.verification.opinion import not_verified, verifier_check
from vigil.streams.verification.pending import PendingVerifications, Waiting
from vigil.streams.verification.selection import wants_verification
from vigil_client.contracts import InferenceResult, Judgement, VerifyRequest

log = logging.getLogger("vigil.screening.verifier")

# (triage, outcome JSON) pairs -> (ids settled before with their outcome, ids not settled).
Settle = Callable[
    [list[tuple[Triage, bytes]]], Awaitable[tuple[dict[str, bytes], dict[str, BaseException]]]
]
# (request id, outcome JSON) -> the delivery to await.
Publish = Callable[[str, bytes], Awaitable[Awaitable[Any]]]


class VerificationJoin:
    def __init__(
        self,
        screener: Screener,
        store: PendingVerifications,
        settle: Settle,
        publish: Publish,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.screener = screener
        self.config: VerifierSection = screener.config.verifier
        self.store = store
        self.settle = settle
        self.publish = publish
        self.clock = clock
        self.dropped = 0  # judgements for ids no longer waiting (late, or twice)

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def select(
        self, screened: Sequence[tuple[InferenceResult, Triage]]
    ) -> tuple[set[str], list[tuple[str, bytes]]]:
        """Which of ``screened`` wait for the verifier (their ids) and the ``llm.verify``
        records to send. Stores them as waiting (blocking: run it off the event loop)."""
        if not self.enabled:
            return set(), []
        chosen = [
            (r, t) for r, t in screened if wants_verification(self.config, r, t.outcome.risk_score)
        ]
        if not chosen:
            return set(), []
        room = self.config.max_pending - self.store.count()
        if room < len(chosen):
            # Past the budget of waiting results: the rest are settled on the cheap checks.
            log.warning("verifier backlog full: %d results not sent", len(chosen) - max(room, 0))
            chosen = chosen[: max(room, 0)]
        now = self.clock()
        deadline = now + self.config.max_wait_s
        self.store.hold(
            [
                Waiting(result=r, checks=t.outcome.checks, deadline_ms=int(deadline * 1000))
                for r, t in chosen
            ]
        )
        at = datetime.fromtimestamp(deadline, UTC)
        requests = [
            (r.request_id, VerifyRequest(request_id=r.request_id, deadline=at, result=r).to_json())
            for r, _ in chosen
        ]
        return {r.request_id for r, _ in chosen}, requests

    async def on_judgements(self, values: Sequence[bytes]) -> None:
        """Join these ``llm.judgements`` records with their waiting results."""
        judgements: dict[str, Judgement] = {}
        for value in values:
            try:
                j = Judgement.from_json(value)
            except ContractError as exc:
                log.error("not a judgement, dropped: %s", exc)
                continue
            judgements.setdefault(j.request_id, j)
        waiting = await asyncio.to_thread(self.store.get, list(judgements))
        self.dropped += len(judgements) - len(waiting)
        await self._finish([(w, judgements[rid]) for rid, w in waiting.items()])

    async def sweep(self) -> None:
        """Settle the results that waited past their deadline, without a judgement."""
        now_ms = int(self.clock() * 1000)
        overdue = await asyncio.to_thread(self.store.overdue, now_ms)
        why = f"timeout: no judgement within {self.config.max_wait_s:g}s"
        await self._finish([(w, not_verified(rid, self.config, why)) for rid, w in overdue.items()])

    async def _finish(self, joined: list[tuple[Waiting, Judgement]]) -> None:
        done: list[tuple[Triage, bytes]] = []
        for w, j in joined:
            try:
                t = self.screener.finish(w.result, [*w.checks, verifier_check(j)])
            except Exception:
                # The cheap verdict alone, rather than nothing (the join's own failure).
                log.exception("joining the judgement of %s failed", w.result.request_id)
                t = self.screener.finish(w.result, w.checks)
            done.append((t, t.outcome.to_json()))
        if not done:
            return
        earlier, not_settled = await self.settle(done)
        deliveries: list[Awaitable[Any]] = []
        finished = []
        for t, payload in done:
            rid = t.outcome.request_id
            if rid in not_settled:
                continue  # still waiting: the next sweep settles it
            deliveries.append(await self.publish(rid, earlier.get(rid, payload)))
            finished.append(rid)
        # Forgotten only once their outcome is delivered: a worker killed before that leaves
        # them waiting, and the next sweep publishes the same settled outcome again.
        await asyncio.gather(*deliveries)
        await asyncio.to_thread(self.store.release, finished)
