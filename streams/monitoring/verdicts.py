"""The screening worker's verdict on each result, as the monitor counts it.

The monitor runs the worker's own ``Screener``, built from the same settings
(``VIGIL_CHECKS_CONFIG`` and ``VIGIL_NOVELTY_REFERENCE``, through ``Screener.from_files`` as
``streams/screening.py`` builds it), so its check columns, ``flagged``, ``risk_score`` and the
bias flag rates built on them use the checks, options and weights the queue's verdicts use.

Chosen over reading the worker's outcomes from ``llm.screened``: a reference built from a file
has no outcomes and must be judged the way the windows are; the monitor may read a topic no
worker screens (``VIGIL_MONITOR_SOURCE_TOPIC``); and joining two topics by request id needs
buffers and expiry of its own. The price is CPU: the checks run a second time, in the
monitor's batches (about 0.5 ms per result on the 2-core dev machine).

``answer_stability`` compares an answer with the prompt's earlier answers: the monitor keeps
that history itself, in memory, the way the worker keeps its table (the same encoding and
bound, the least recently answered prompts forgotten). A restarted monitor starts with an
empty one: until prompts come again, its stability scores are lower than the worker's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vigil.streams.checks.base import prompt_key
from vigil.streams.checks.exceptions import CheckFailed
from vigil.streams.checks.stability import (
    MAX_PROMPTS,
    RecentPrompts,
    append_history,
    decode_history,
    encode_history,
)
from vigil.streams.triage import Screener
from vigil_client.contracts import InferenceResult, ScreeningOutcome

__all__ = ["Judged", "Verdicts"]


@dataclass(frozen=True)
class Judged:
    """A product result with the outcome the worker's checks give it."""

    result: InferenceResult
    outcome: ScreeningOutcome


class Verdicts:
    def __init__(self, screener: Screener, max_prompts: int = MAX_PROMPTS) -> None:
        self.screener = screener
        self._history: dict[bytes, bytes] = {}
        self._recent = RecentPrompts(max_prompts)

    def judge(self, results: Sequence[InferenceResult]) -> list[Judged]:
        """The results whose checks all ran, with their outcomes, in order; their answers are
        recorded. A result a check raised on is left out: the worker dead-letters it, so it
        is in none of the queue's numbers either."""
        keys = [prompt_key(r.prompt) for r in results]
        stored = {k: decode_history(self._history.get(k.encode())) for k in dict.fromkeys(keys)}
        screened = self.screener.screen_batch(results, [stored[k] for k in keys], keys)
        judged: list[Judged] = []
        answered: dict[str, None] = {}  # the prompt keys whose history changed, in order
        for result, out in zip(results, screened, strict=True):
            if isinstance(out, CheckFailed):
                continue
            key = out.prompt_key
            stored[key] = append_history(stored[key], out.answer, self.screener.max_history)
            answered[key] = None
            judged.append(Judged(result, out.outcome))
        for key in answered:
            raw = key.encode()
            self._history[raw] = encode_history(stored[key])
            for oldest in self._recent.touch(raw):
                self._history.pop(oldest, None)
        return judged

    def judge_alone(self, result: InferenceResult) -> ScreeningOutcome | None:
        """The outcome without any history, recording nothing (None: a check raised): for a
        result the worker never screens, such as a probe's shadow result."""
        (out,) = self.screener.screen_batch([result])
        return None if isinstance(out, CheckFailed) else out.outcome
