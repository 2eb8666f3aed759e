"""``self_doubt``: the reasoning doubts itself.

A model that writes "wait", "that doesn't make sense", "let me recheck", "assuming ..." or
"this is not possible" has met a contradiction it may not have resolved; on the shared
labelled files such outputs are wrong more often than the rest (single-output AUROC of the
signal alone 0.55-0.67). A model-free, format-free signal, so it only adds to the risk: it
never flags on its own and names no faulty step (the doubt comes after the error, if any).
The phrases are general English, not tuned to any data set.
"""

from __future__ import annotations

import re

from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil_client.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "SelfDoubtCheck", "check_self_doubt"]

CHECK_NAME = "self_doubt"
# Two distinct doubts give the full score.
FULL_AT = 2
_DOUBT_RE = re.compile(
    r"\b(?:wait|hmm|mistake|re-?evaluate|re-?check|recalculate|let me (?:re|try|check)\w*|"
    r"doesn'?t make sense|does not make sense|not possible|impossible|contradict\w*|"
    r"incorrect|error in|assum(?:e|ing|ption)|ambiguous|unclear)\b",
    re.IGNORECASE,
)
# A runaway output is read from its start: that is where a doubt matters.
_MAX_CHARS = 20_000


def check_self_doubt(steps: tuple[str, ...]) -> CheckResult:
    found: list[Evidence] = []
    read = 0
    for index, text in enumerate(steps):
        if read > _MAX_CHARS:
            break
        read += len(text)
        for m in _DOUBT_RE.finditer(text):
            found.append(
                Evidence(
                    message=f"step {index + 1}: {m.group(0)!r}: the reasoning doubts itself",
                    step_index=index,
                    span=m.span(),
                )
            )
    score = min(1.0, len(found) / FULL_AT)
    return CheckResult(check=CHECK_NAME, score=score, flagged=False, evidence=found[:5])


class SelfDoubtCheck(BaseCheck):
    name = CHECK_NAME

    def check(self, item: CheckInput) -> CheckResult:
        return check_self_doubt(tuple(s.text for s in item.parsed.steps))
