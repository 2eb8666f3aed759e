"""The broker-free seam of screening: results in, outcomes (and review items) out.

Pure logic, so it is unit-tested without Kafka and replayed offline over GSM8K by
``vigil eval`` with exactly the code the worker runs; the Faust agent in
``streams/screening.py`` only moves bytes and state around it.

For a batch of results the ``Screener`` parses each output once, runs every check (batched
where a check can do better per batch), combines the scores into the risk score, routes by
the config's rules and builds the outcome, the review item (``streams/review_items.py``: the
text masked for roles that may not see personal data) and the answer to remember for the
stability check. A check that raises fails only the results it raised on (``CheckFailed``,
naming the check).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vigil.streams.calibration.model import PRIOR_VERSION, RiskModel
from vigil.streams.checks.base import AnswerRecord, Check, CheckInput, run_batch
from vigil.streams.checks.config import ChecksConfig, load_config
from vigil.streams.checks.exceptions import CheckFailed
from vigil.streams.checks.localise import first_faulty_step
from vigil.streams.checks.pii import PiiCheck
from vigil.streams.checks.registry import BuiltChecks, build_checks
from vigil.streams.checks.risk import risk_score
from vigil.streams.checks.routing import Route, route_result
from vigil.streams.checks.stability import DEFAULT_MAX_HISTORY, answer_label
from vigil.streams.review_items import review_item
from vigil_client.contracts import CheckResult, InferenceResult, ReviewItem, ScreeningOutcome

__all__ = ["Screener", "Triage"]


def _add(timings: dict[str, float], stage: str, started: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + time.thread_time() - started


@dataclass(frozen=True)
class Triage:
    outcome: ScreeningOutcome
    item: ReviewItem | None
    # This result's answer, to append to its prompt's history.
    answer: AnswerRecord
    prompt_key: str


def answer_record(item: CheckInput) -> AnswerRecord:
    """The answer of ``item`` as the stability history keeps it."""
    return AnswerRecord(
        request_id=item.result.request_id,
        at=item.result.created_at.timestamp(),
        answer=answer_label(item.parsed.final_value, item.parsed.final_answer),
        model_version=item.result.model_version,
    )


def _with_batch_answers(inputs: list[CheckInput]) -> list[CheckInput]:
    """Each result's history: what was recorded before it, then the same prompt's answers
    earlier in this batch (so cutting results into batches does not change a verdict).

    A re-delivered result whose answer is already recorded sees only what came before it.
    """
    earlier_in_batch: dict[str, list[AnswerRecord]] = {}
    out = []
    for item in inputs:
        mates = earlier_in_batch.setdefault(item.prompt_key, [])
        if not item.redelivered and mates:
            known = {h.request_id for h in item.history}
            extra = tuple(a for a in mates if a.request_id not in known)
            item = dataclasses.replace(item, history=(*item.history, *extra))
        mates.append(answer_record(item))
        out.append(item)
    return out


class Screener:
    """The checks, built once, and what to do with their results."""

    def __init__(self, checks: Sequence[Check], config: ChecksConfig) -> None:
        self.checks = tuple(checks)
        self.config = config
        # The review items' masked text reuses this check's findings when it is enabled.
        self.pii: PiiCheck | None = next((c for c in self.checks if isinstance(c, PiiCheck)), None)
        stability = config.check_options("answer_stability").get("max_history")
        self.max_history = int(stability) if stability else DEFAULT_MAX_HISTORY
        # The fitted risk model (streams/calibration/); None: the hand weights alone.
        self.risk_model: RiskModel | None = None

    @classmethod
    def from_config(
        cls,
        config: ChecksConfig,
        *,
        novelty_reference: Path | None = None,
        use_entry_points: bool = True,
    ) -> Screener:
        defaults = {"novelty": {"reference": str(novelty_reference or "")}}
        built: BuiltChecks = build_checks(
            config, defaults=defaults, use_entry_points=use_entry_points
        )
        return cls(built.checks, config)

    @classmethod
    def from_files(cls, config_path: str, novelty_reference: Path) -> Screener:
        config = load_config(Path(config_path) if config_path else None)
        return cls.from_config(config, novelty_reference=novelty_reference)

    def use_risk_model(self, model: RiskModel | None) -> None:
        """Score risk with ``model`` from the next batch on (None: the hand weights)."""
        self.risk_model = model

    @property
    def risk_version(self) -> str:
        return PRIOR_VERSION if self.risk_model is None else self.risk_model.version

    def risk_of(self, checks: Sequence[CheckResult]) -> float:
        """The risk score: the fitted P(wrong) when a model is in use, built on the hand
        weights' noisy-OR (its prior), else that noisy-OR itself."""
        prior = risk_score(checks, self.config.risk)
        model = self.risk_model
        return prior if model is None else model.p_wrong(checks, prior)

    # --- running the checks ---------------------------------------------------------------

    def _run_checks(
        self, inputs: Sequence[CheckInput], timings: dict[str, float] | None = None
    ) -> tuple[list[list[CheckResult]], dict[int, CheckFailed]]:
        results: list[list[CheckResult]] = [[] for _ in inputs]
        failed: dict[int, CheckFailed] = {}
        for check in self.checks:
            live = [i for i in range(len(inputs)) if i not in failed]
            if not live:
                break
            started = time.thread_time() if timings is not None else 0.0
            try:
                out = run_batch(check, [inputs[i] for i in live])
                for i, r in zip(live, out, strict=True):
                    results[i].append(r)
            except Exception:
                # Find which results it fails on, one by one.
                for i in live:
                    try:
                        results[i].append(check.check(inputs[i]))
                    except Exception as exc:
                        failed[i] = CheckFailed(check.name, exc)
            if timings is not None:
                _add(timings, check.name, started)
        return results, failed

    def screen_batch(
        self,
        results: Sequence[InferenceResult],
        histories: Sequence[Sequence[AnswerRecord]] | None = None,
        keys: Sequence[str] | None = None,
        timings: dict[str, float] | None = None,
    ) -> list[Triage | CheckFailed]:
        """One entry per result, in order: its triage, or the failure of a check on it.

        ``keys``: the results' prompt keys, when the caller computed them already.
        ``timings``: when given, the calling thread's CPU seconds are added to it per stage
        (``parse``, each check by name, ``records``): where the time goes (the benchmark).
        """
        started = time.thread_time() if timings is not None else 0.0
        hist = histories if histories is not None else [() for _ in results]
        known = keys if keys is not None else ["" for _ in results]
        inputs = _with_batch_answers(
            [CheckInput.of(r, h, k) for r, h, k in zip(results, hist, known, strict=True)]
        )
        if timings is not None:
            _add(timings, "parse", started)
        checked, failed = self._run_checks(inputs, timings)
        started = time.thread_time() if timings is not None else 0.0
        out: list[Triage | CheckFailed] = []
        for i, item in enumerate(inputs):
            if i in failed:
                out.append(failed[i])
                continue
            try:
                out.append(self._triage(item, checked[i]))
            except Exception as exc:  # building the records failed: still per result
                out.append(CheckFailed("triage", exc))
        if timings is not None:
            _add(timings, "records", started)
        return out

    def screen(self, result: InferenceResult, history: Sequence[AnswerRecord] = ()) -> Triage:
        """One result; raises ``CheckFailed`` when a check raised on it."""
        (out,) = self.screen_batch([result], [history])
        if isinstance(out, CheckFailed):
            raise out
        return out

    def finish(self, result: InferenceResult, checks: Sequence[CheckResult]) -> Triage:
        """The triage of a result screened before, with more check results (the cheap checks'
        and the verifier's): risk, route and records again. Its answer was remembered when
        it was first screened; nothing here touches the history."""
        return self._triage(CheckInput.of(result), list(checks))

    # --- from check results to records ----------------------------------------------------

    def _triage(self, item: CheckInput, checks: list[CheckResult]) -> Triage:
        result = item.result
        risk = self.risk_of(checks)
        route = route_result(result, checks, risk, self.config)
        outcome = ScreeningOutcome(
            request_id=result.request_id,
            verdict="queued" if route.verdict == "queued" else "clean",
            risk_score=risk,
            checks=checks,
            route=route.name,
            tags=route.tags,
            first_faulty_step=first_faulty_step(checks),
        )
        answer = answer_record(item)
        review = None
        if route.review:
            review = self._review_item(item, checks, route.priority, route)
        return Triage(outcome=outcome, item=review, answer=answer, prompt_key=item.prompt_key)

    def _review_item(
        self, item: CheckInput, checks: list[CheckResult], priority: float, route: Route
    ) -> ReviewItem:
        result = item.result
        return review_item(
            result,
            checks,
            risk_score=priority,
            route=route.name,
            tags=route.tags,
            parsed=item.parsed,
            # The check's findings where it ran: the worker never scans a text twice.
            pii=self.pii.report(item) if self.pii is not None else None,
            hold_for_review=result.hold_for_review,
            sla_deadline=route.sla_deadline,
            reviews_required=route.reviews_required,
        )
