"""Per-result checks on model reasoning: pure functions, no I/O, fast enough per message."""

from vigil.streams.checks.arithmetic import evaluate, parse_number
from vigil.streams.checks.exceptions import ArithmeticParseError, ChecksError
from vigil.streams.checks.solution import (
    Annotation,
    ParsedSolution,
    Step,
    final_answer,
    normalise_answer,
    parse_solution,
)
from vigil.streams.checks.steps import check_steps

__all__ = [
    "Annotation",
    "ArithmeticParseError",
    "ChecksError",
    "ParsedSolution",
    "Step",
    "check_steps",
    "evaluate",
    "final_answer",
    "normalise_answer",
    "parse_number",
    "parse_solution",
]
