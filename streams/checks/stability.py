"""``answer_stability``: the same (normalised) prompt answered differently over time.

The worker keeps, per prompt key, a bounded history of the answers given (a Faust table;
see ``streams/screening.py``). This module is the pure part: comparing an answer with the
history, appending to it, and its wire format, so it is unit-tested without Kafka.

The history is kept in the order answers were recorded. A result is compared with the
answers recorded *before it*: when Kafka re-delivers a result after a crash and its own
answer is already in the history, only the entries ahead of its own count
(``history_before``), so it gets the verdict it got the first time.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Sequence

import orjson

from vigil.streams.checks.base import AnswerRecord, BaseCheck, CheckInput
from vigil_client.contracts import CheckResult, Evidence

__all__ = [
    "CHECK_NAME",
    "DEFAULT_MAX_HISTORY",
    "RecentPrompts",
    "StabilityCheck",
    "answer_label",
    "append_history",
    "check_stability",
    "decode_history",
    "encode_history",
    "history_before",
]

CHECK_NAME = "answer_stability"
DEFAULT_MAX_HISTORY = 16
# Flag when at least this share of the earlier answers differ from this one.
FLAG_SHARE = 0.5


def answer_label(value: float | None, written: str | None) -> str | None:
    """What is compared over time: the numeric value (``5.00`` is ``5``), else the text."""
    if value is not None and math.isfinite(value):
        return f"{value:.6g}"
    if written:
        return " ".join(written.split()).lower()
    return None


def check_stability(answer: str | None, at: float, history: Sequence[AnswerRecord]) -> CheckResult:
    """Compare ``answer`` (given at ``at``) with the earlier answers in ``history``."""
    earlier = list(history)
    if not earlier:
        return CheckResult(
            check=CHECK_NAME,
            score=0.0,
            flagged=False,
            evidence=[Evidence(message="first time this prompt is seen")],
        )
    differ = [h for h in earlier if h.answer != answer]
    share = len(differ) / len(earlier)
    counts = Counter((h.answer or "no answer") for h in earlier)
    seen = ", ".join(f"{a} x{n}" for a, n in counts.most_common(4))
    message = (
        f"{len(differ)} of {len(earlier)} earlier answers to this prompt differ from "
        f"{answer or 'no answer'} (earlier: {seen})"
    )
    evidence = [Evidence(message=message)]
    versions = {h.model_version for h in differ}
    if differ and versions:
        evidence.append(
            Evidence(message=f"differing answers came from model version(s) {sorted(versions)}")
        )
    return CheckResult(
        check=CHECK_NAME,
        score=round(share, 6),
        flagged=share >= FLAG_SHARE,
        evidence=evidence,
    )


def append_history(
    history: Sequence[AnswerRecord], record: AnswerRecord, max_len: int = DEFAULT_MAX_HISTORY
) -> tuple[AnswerRecord, ...]:
    """The history with ``record`` appended (once per request id), the last ``max_len`` kept."""
    if any(h.request_id == record.request_id for h in history):
        return tuple(history)  # a re-delivery: already recorded, keep its place
    return (*history, record)[-max_len:]


def history_before(history: Sequence[AnswerRecord], request_id: str) -> tuple[AnswerRecord, ...]:
    """What ``request_id`` was compared with: the entries recorded before its own (all of
    them when it is not in the history yet)."""
    for i, h in enumerate(history):
        if h.request_id == request_id:
            return tuple(history[:i])
    return tuple(history)


def encode_history(history: Sequence[AnswerRecord]) -> bytes:
    raw = orjson.dumps([[h.request_id, h.at, h.answer, h.model_version] for h in history])
    # orjson hands back its whole write buffer (about 4 KB, whatever the length): kept for
    # every prompt in the answer-history table, that was 4 KB a prompt. Keep an exact copy.
    return bytes(memoryview(raw))


def decode_history(raw: bytes | None) -> tuple[AnswerRecord, ...]:
    """The stored history; an unreadable value is an empty history, not a failed result."""
    if not raw:
        return ()
    try:
        rows = orjson.loads(raw)
        return tuple(
            AnswerRecord(request_id=str(r[0]), at=float(r[1]), answer=r[2], model_version=str(r[3]))
            for r in rows
        )
    except (orjson.JSONDecodeError, TypeError, ValueError, IndexError):
        return ()


# Prompts whose answer history is kept (by the worker's table and the monitor's copy); past
# it the least recently answered are forgotten first.
MAX_PROMPTS = 100_000


class RecentPrompts:
    """Prompt keys in the order they were last answered, at most ``limit`` of them: what
    bounds the answer-history table. ``touch`` returns the keys it pushes out (the least
    recently answered), whose history the worker then deletes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._order: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._order)

    def touch(self, key: bytes) -> list[bytes]:
        self._order[key] = None
        self._order.move_to_end(key)
        out = []
        while len(self._order) > self.limit:
            out.append(self._order.popitem(last=False)[0])
        return out


class StabilityCheck(BaseCheck):
    name = CHECK_NAME

    def check(self, item: CheckInput) -> CheckResult:
        answer = answer_label(item.parsed.final_value, item.parsed.final_answer)
        return check_stability(answer, item.result.created_at.timestamp(), item.history)
