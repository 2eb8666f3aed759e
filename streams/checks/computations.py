"""The computations a step writes in free form, found and recomputed.

``3 * 60 = 180``, ``50 - (10 + 5) = 35``, ``\\frac{12}{4} = 3``, ``2 books x 2 pounds/book =
4 pounds``, ``\\( 1.25 \\text{ pounds/week} \\times 5 = 6.25 \\)``, chains ``8.75 + 6.25 = 15``
after ``... = 8.75 - (-6.25)``, and words: "twice 8 is 16", "12 divided by 4 is 3".

A step's text is scanned for *runs*: numbers (with currency, separators, percent, LaTeX
fractions and a unit word such as ``pounds`` or ``\\text{ cups}``) joined by operators. Two
runs with only ``=`` (or ``\\approx``) between them are a claim that they are equal. A run that
starts right after an operator or a letter (``x + 5 = 10``, ``2x + 3 = 11``) or ends right
before one is part of an expression the scan cannot read whole (algebra, a variable), so it
is never compared: a wrong verdict there would cost a reviewer's time for nothing.

Each claim is recomputed with the safe evaluator (``arithmetic.evaluate``) and compared with
tolerance: float noise, the written number's own precision (``1/3 = 0.33``, ``1.55`` for
1.5556), percent against share (``100 - 25 = 75%``), and for ``\\approx`` / "about" one
percent or the nearest whole number.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from vigil.streams.checks.arithmetic import evaluate
from vigil.streams.checks.exceptions import ArithmeticParseError
from vigil.streams.checks.numbers import to_plain

__all__ = ["Claim", "agreement", "claims_in", "operand_values"]

_NUM = (
    r"(?:(?:\\\$|[$€£])\s*)?-?(?:(?:\d{1,3}(?:(?:,|\{,\})\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:\s*\\?%)?"
)
# Fraction parts of numbers and operators only: ``\\frac{2x}{3}`` is algebra.
_FRAC = r"\\[dt]?frac\s*\{[\d\s.,+\-*/()$]{1,40}\}\s*\{[\d\s.,+\-*/()$]{1,40}\}"
_STOP = (
    r"is|are|was|were|be|equals?|and|or|of|the|to|for|per|each|in|on|at|by|an?|which|that|"
    r"so|then|gives?|makes?|plus|minus|times|divided|multiplied|more|less|than|from|with|"
    r"after|over|into|would|will|can|we|he|she|they|it|this|these|gets?|has|have|had|"
    r"becomes?|means|if|as|but|not|left|remain\w*|total|altogether|approximately|about|"
    r"roughly|around|nearly|exactly|only|just|also|hence|thus|therefore|since|because"
)
_UNIT = (
    r"(?:\s*(?:\\(?:text|mathrm|mbox)\s*\{[^{}\d]{0,40}\}"
    r"|(?!(?:" + _STOP + r")\b)[A-Za-z]{2,}(?:\s*/\s*[A-Za-z]+)*"
    r"(?:\s+per\s+(?!(?:" + _STOP + r")\b)[A-Za-z]+)?))?"
)
_OPEN = r"(?:\\left\s*)?\("
_CLOSE = r"(?:\\right\s*)?\)"
_TERM = r"(?:" + _OPEN + r"\s*)*-?\s*(?:" + _FRAC + r"|" + _NUM + r")" + _UNIT
_TERM += r"(?:\s*" + _CLOSE + r")*"
_OP = (
    r"\s*(?:[-+*/\u00d7\u00f7\u2212\u00b7^]|\*\*|\\times|\\cdot|\\div|\\ast"
    r"|(?<=[\d\s)}])x(?=\s*[\d($\\(]))\s*"
)
_RUN_RE = re.compile(r"(?:" + _TERM + r")(?:" + _OP + r"(?:" + _TERM + r"))*")
_EQ_RE = re.compile(
    r"\s*(?:=|\\approx|≈|\\simeq|\\sim)\s*(?:\\\(\s*)?(?:\\(?:boxed|fbox)\s*\{\s*|\\[a-z]+\s*)?"
    r"(?:(?P<approx>approximately|about|roughly|around|nearly)\s+)?"
)
_APPROX_SIGNS = ("\\approx", "≈", "\\simeq", "\\sim")
# An operator between two operands, in a run's plain text (``_plain_text``).
_HAS_OP_RE = re.compile(r"[\d)%]\s*[-+*/^]\s*[-\d(.$]")
_FRAC_IN_RE = re.compile(r"\\[dt]?frac")
_WORDS_RE = re.compile(r"[A-Za-z]+(?:\s*/\s*[A-Za-z]+)*")
_EMPTY_PARENS_RE = re.compile(r"\(\s*\)")
_IMPLICIT_TIMES_RE = re.compile(r"(?<=[\d)])\s*(?=\()|(?<=\))\s*(?=\d)")
_OPERAND_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_TIMES_X_RE = re.compile(r"(?<=[\d\s)])x(?=\s*[\d(])")
_TIGHT_FRACTION_RE = re.compile(r"(?<![\d.)])(\d+)/(\d+)(?![\d.(])")
# ``$100 + 6%`` written for a 6 % increase (and ``- 10%`` for a decrease).
_PERCENT_CHANGE_RE = re.compile(r"([-+])\s*(\d+(?:\.\d+)?)\s*\\?%(?!\s*(?:\*|of|x|\\times))")
_DECIMALS_RE = re.compile(r"\.(\d+)\s*\\?%?\s*$")
# What may not touch a run from outside: a letter or digit glued to it (``2x``, ``x2``), an
# operator (the run is part of a longer expression), a power, a ratio or a time (``2:30``).
_BAD_BEFORE = set("+-*/\u00d7\u00f7\u2212\u00b7^_<>|")
# Bad only when glued to the run: ``2:30`` is a time, ``Left: 50 - 15`` a label.
_BAD_GLUED = set(":.,")
_BAD_AFTER = set("+*/\u00d7\u00f7\u2212\u00b7^_:<>|[")
_LATEX_OPS = ("\\times", "\\cdot", "\\div", "\\ast")
_OF_BEFORE_RE = re.compile(r"\bof\s*\}?$")
_OP_AFTER_RE = re.compile(r"\s*(?:[-+*/\u00d7\u00f7\u2212\u00b7^=]|\\times|\\cdot|\\div)")
_ATOM_RE = re.compile(_FRAC + r"|" + _NUM)

# Words: "twice 8 is 16", "12 divided by 4 is 3", "3 times 4 equals 12".
_W_NUM = r"(-?\$?\d+(?:,\d{3})*(?:\.\d+)?)"
_W_IS = r"\s+(?:is|equals|gives|makes|=)\s+(?:a\s+total\s+of\s+)?"
_VERBAL = (
    (re.compile(_W_NUM + r"\s+(?:times|multiplied\s+by)\s+" + _W_NUM + _W_IS + _W_NUM), "*"),
    (re.compile(_W_NUM + r"\s+divided\s+by\s+" + _W_NUM + _W_IS + _W_NUM), "/"),
    (re.compile(_W_NUM + r"\s+plus\s+" + _W_NUM + _W_IS + _W_NUM), "+"),
    (re.compile(_W_NUM + r"\s+minus\s+" + _W_NUM + _W_IS + _W_NUM), "-"),
    (re.compile(r"\b(?:twice|double)\s+(?:of\s+)?" + _W_NUM + _W_IS + _W_NUM, re.I), "2*"),
    (re.compile(r"\b(?:triple|three\s+times)\s+" + _W_NUM + _W_IS + _W_NUM, re.I), "3*"),
    (re.compile(r"\bhalf\s+of\s+" + _W_NUM + _W_IS + _W_NUM, re.I), "0.5*"),
)
# A step of prose with no ``=``, no operator word: nothing to look for (most steps).
_VERBAL_HINT_RE = re.compile(r"times|divided|plus|minus|twice|double|triple|half", re.I)
MAX_CLAIMS_PER_STEP = 40
CLAIMS_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Claim:
    """``lhs`` = ``rhs`` as written in a step: their texts, values and the claim's span."""

    lhs: str
    rhs: str
    lhs_value: float
    rhs_value: float
    span: tuple[int, int]
    approx: bool
    # Whether the right side is a plain number (the claimed result) rather than arithmetic.
    rhs_plain: bool


@functools.lru_cache(maxsize=CLAIMS_CACHE_SIZE)
def _plain_text(run: str) -> str:
    """A run as plain arithmetic: LaTeX rewritten, unit words and empty brackets dropped."""
    text = _TIMES_X_RE.sub("*", to_plain(run))
    text = _WORDS_RE.sub(" ", text)
    return _EMPTY_PARENS_RE.sub(" ", text).strip()


def _plain_value(run: str) -> float | None:
    """The value of a run (``_plain_text``), ``None`` when it is not arithmetic."""
    text = _plain_text(run)
    if not text:
        return None
    text = _IMPLICIT_TIMES_RE.sub("*", text)
    # ``7.5 / 1/2``: a fraction written tight is one number (``7.5 / (1/2)``).
    text = _TIGHT_FRACTION_RE.sub(r"(\1/\2)", text)
    # Unbalanced brackets at the edges (a run cut at a bracket of the prose around it).
    while text.count("(") > text.count(")") and text.startswith("("):
        text = text[1:].lstrip()
    while text.count(")") > text.count("(") and text.endswith(")"):
        text = text[:-1].rstrip()
    try:
        return evaluate(text)
    except ArithmeticParseError:
        return None


def _has_op(run: str) -> bool:
    return bool(_HAS_OP_RE.search(_plain_text(run))) or bool(_FRAC_IN_RE.search(run))


def _clean_edges(text: str, start: int, end: int) -> bool:
    """Whether the run at ``start:end`` stands alone (module docstring)."""
    if text[start] == "-" and text[start + 1 : start + 2] == " ":
        return False  # ``price - 5``: a binary minus whose left operand is prose
    i = start - 1
    while i >= 0 and text[i] == " ":
        i -= 1
    if i >= 0:
        before = text[i]
        glued = i == start - 1
        if before in _BAD_BEFORE or (
            (before.isalnum() or before in ")" or before in _BAD_GLUED) and glued
        ):
            return False
        if text[max(0, i - 5) : i + 1].endswith(_LATEX_OPS):
            return False
        if _OF_BEFORE_RE.search(text, max(0, i - 12), i + 1):
            return False  # ``25% of 40 = 10``: the run is the end of a product in words
    j = end
    while j < len(text) and text[j] == " ":
        j += 1
    if j < len(text):
        after = text[j]
        if after in _BAD_AFTER or ((after.isalnum() or after == "(") and j == end):
            return False
        if text.startswith(_LATEX_OPS, j):
            return False
        if after == "-" and j + 1 < len(text) and (text[j + 1].isdigit() or text[j + 1] == " "):
            return False
    return True


def _runs(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _RUN_RE.finditer(text):
        run = m.group(0)
        if run.strip():
            # The spans hold the run's own characters, not the spaces the pattern allows.
            out.append(
                (m.start() + len(run) - len(run.lstrip()), m.end() - len(run) + len(run.rstrip()))
            )
    return out


def _first_term_value(run: str) -> float | None:
    m = _ATOM_RE.search(run)
    return _plain_value(m.group(0)) if m is not None else None


@functools.lru_cache(maxsize=CLAIMS_CACHE_SIZE)
def claims_in(text: str) -> tuple[Claim, ...]:
    """Every ``run = run`` claim of a step (module docstring), in reading order. Cached: the
    step check and the provenance check both read a step's claims."""
    out: list[Claim] = []
    if "=" in text or "\\approx" in text or "≈" in text:
        out.extend(_symbolic(text))
    if _VERBAL_HINT_RE.search(text):
        out.extend(_verbal(text))
        out.sort(key=lambda c: c.span)
    return tuple(out[:MAX_CLAIMS_PER_STEP])


def _symbolic(text: str) -> Iterator[Claim]:
    runs = _runs(text)
    values: dict[int, float | None] = {}

    def value(k: int) -> float | None:
        if k not in values:
            a, b = runs[k]
            values[k] = _plain_value(text[a:b])
        return values[k]

    for k in range(len(runs) - 1):
        (a1, b1), (a2, b2) = runs[k], runs[k + 1]
        eq = _EQ_RE.fullmatch(text, b1, a2)
        if eq is None:
            continue
        lhs, rhs = text[a1:b1], text[a2:b2]
        # The left side computes; a plain number on the left (``20 kb = \\frac{20}{1000} Mb``,
        # ``25% of 40 = 0.25 * 40``) is a conversion or a restatement, not a claim to check.
        if not _has_op(lhs):
            continue
        # The left side of a chain link may start mid-run only at the chain's first link.
        first_link = k == 0 or _EQ_RE.fullmatch(text, runs[k - 1][1], a1) is None
        if first_link and not _clean_edges(text, a1, b1):
            continue
        if not _clean_edges(text, a2, b2) and not (
            k + 2 < len(runs) and _EQ_RE.fullmatch(text, b2, runs[k + 2][0])
        ):
            continue
        lv, rv = value(k), value(k + 1)
        if lv is None or rv is None:
            continue
        if _PERCENT_CHANGE_RE.search(lhs):
            changed = _plain_value(_PERCENT_CHANGE_RE.sub(r"*(1\1\2/100)", lhs))
            if changed is not None and agreement(changed, rv, rhs, False):
                continue
        eq_text = eq.group(0)
        approx = any(s in eq_text for s in _APPROX_SIGNS) or eq.group("approx") is not None
        if "cent" in lhs and "$" in rhs and agreement(lv / 100, rv, rhs, approx):
            continue  # ``20 * 25 cents = $5``
        rhs_plain = not _has_op(rhs)
        if not rhs_plain and not agreement(lv, rv, rhs, approx):
            # A running total written as one chain, ``3 * 4 = 12 + 5 = 17``: the right side
            # starts with the left side's value and goes on computing.
            first = _first_term_value(rhs)
            if first is not None and agreement(lv, first, rhs, approx):
                continue
        yield Claim(lhs.strip(), rhs.strip(), lv, rv, (a1, b2), approx, rhs_plain)


def _verbal(text: str) -> Iterator[Claim]:
    for pattern, op in _VERBAL:
        for m in pattern.finditer(text):
            if _OP_AFTER_RE.match(text, m.end()):
                continue  # "half of 26 is 26/2 = 13": the number goes on being computed
            groups = [g.replace("$", "").replace(",", "") for g in m.groups()]
            try:
                if op.endswith("*") and len(groups) == 2:
                    lhs_value = evaluate(f"{op}{groups[0]}")
                    written = groups[1]
                else:
                    lhs_value = evaluate(f"{groups[0]}{op}{groups[1]}")
                    written = groups[2]
                rhs_value = evaluate(written)
            except ArithmeticParseError:
                continue
            lhs = m.group(0)[: m.start(m.lastindex or 0) - m.start()].strip()
            yield Claim(lhs, written, lhs_value, rhs_value, m.span(), False, True)


def _decimals(rhs: str) -> int:
    m = _DECIMALS_RE.search(_WORDS_RE.sub(" ", to_plain(rhs)).strip())
    return len(m.group(1)) if m else 0


def agreement(lv: float, rv: float, rhs: str, approx: bool) -> bool:
    """Whether a claimed result agrees with its computation, with the module's tolerance."""
    if math.isclose(lv, rv, rel_tol=1e-6, abs_tol=1e-9):
        return True
    places = _decimals(rhs)
    tol = 10.0**-places + 1e-9 if places else 1e-9
    candidates = [lv]
    if "%" in rhs or "percent" in rhs:
        candidates.extend((lv * 100, lv / 100))
        # ``1/3 = 33%``: the written precision is in percent points.
        tol = max(tol, 10.0**-places / 100 + 1e-9)
    for c in candidates:
        if abs(c - rv) < tol:
            return True
        if approx and (abs(c - rv) <= max(0.01 * abs(c), tol) or abs(c - rv) < 1):
            return True
    return False


def rounded_to_whole(lv: float, rv: float, rhs: str) -> bool:
    """A whole number written for a fractional value within one: rounded or cut."""
    return (
        _decimals(rhs) == 0 and not float(lv).is_integer() and rv.is_integer() and abs(lv - rv) < 1
    )


def operand_values(lhs: str) -> list[float]:
    """The numbers a computation uses, as written (a fraction's parts, a percent's number)."""
    plain = _plain_text(lhs).replace(",", "")
    return [float(m.group(0)) for m in _OPERAND_RE.finditer(plain)]
