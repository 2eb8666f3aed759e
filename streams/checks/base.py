"""The one interface every check implements, built-in or plugin.

A check is an object with a ``name`` and a ``check(item) -> CheckResult`` method. It gets a
``CheckInput``: the result, its solution already parsed (once, shared by all checks), the
parsed self-consistency samples, the prompt's key and the earlier answers to the same prompt
(for checks that look over time). It must be pure: no I/O, no clocks, no randomness, so the
same result gives the same verdict when Kafka re-delivers it and when ``vigil eval`` replays
it offline. Raising is allowed: the worker dead-letters that result (reason ``check_failed``,
naming the check) and goes on.

A check that is cheaper per batch (a vectorised index lookup) may also override
``check_batch``; the worker calls that with the results of one poll.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from vigil.streams.checks.solution import ParsedSolution, parse_solution
from vigil_client.contracts import CheckResult, InferenceResult

__all__ = [
    "AnswerRecord",
    "Check",
    "CheckInput",
    "normalise_prompt",
    "prompt_key",
]

_SPACES = re.compile(r"\s+")


def normalise_prompt(prompt: str) -> str:
    """Whitespace and case do not change a question; everything else does."""
    return _SPACES.sub(" ", prompt).strip().lower()


def prompt_key(prompt: str) -> str:
    """A short stable key of the normalised prompt (the answer-history table is keyed by it)."""
    return hashlib.blake2b(normalise_prompt(prompt).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One earlier answer to a prompt, as kept in the answer history."""

    request_id: str
    # Seconds since the epoch of the result's ``created_at``: orders answers over time.
    at: float
    answer: str | None
    model_version: str


@dataclass(frozen=True, slots=True)
class CheckInput:
    """Everything a check may look at for one result."""

    result: InferenceResult
    parsed: ParsedSolution
    samples: tuple[ParsedSolution, ...] = ()
    prompt_key: str = ""
    # Answers to the same normalised prompt recorded before this one, oldest first.
    history: tuple[AnswerRecord, ...] = field(default=())
    # True when this result's own answer was already recorded: Kafka re-delivered it.
    redelivered: bool = False

    @classmethod
    def of(
        cls, result: InferenceResult, history: Sequence[AnswerRecord] = (), key: str = ""
    ) -> CheckInput:
        """``key``: the prompt's key when the caller has it already (else it is computed)."""
        own = next((i for i, h in enumerate(history) if h.request_id == result.request_id), None)
        return cls(
            result=result,
            parsed=parse_solution(result.output),
            samples=tuple(parse_solution(s) for s in result.samples),
            prompt_key=key or prompt_key(result.prompt),
            # A re-delivered result is compared with what it was compared with the first time.
            history=tuple(history if own is None else history[:own]),
            redelivered=own is not None,
        )


@runtime_checkable
class Check(Protocol):
    """What the worker calls. ``name`` is what routing rules and reviewers see."""

    name: str

    def check(self, item: CheckInput) -> CheckResult: ...


class BaseCheck:
    """Convenience base: a ``check_batch`` that loops; subclasses set ``name``, ``check``."""

    name: str = "unnamed"

    def check(self, item: CheckInput) -> CheckResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_batch(self, items: Sequence[CheckInput]) -> list[CheckResult]:
        return [self.check(i) for i in items]


def run_batch(check: Check, items: Sequence[CheckInput]) -> list[CheckResult]:
    """A check's results for a batch, through its ``check_batch`` when it has one."""
    batch = getattr(check, "check_batch", None)
    if batch is not None:
        out = list(batch(items))
        if len(out) != len(items):
            raise ValueError(
                f"check {check.name!r} returned {len(out)} results for {len(items)} inputs"
            )
        return out
    return [check.check(i) for i in items]
