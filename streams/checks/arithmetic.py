"""A safe evaluator for the calculator expressions models write, and a written-number parser.

Model text carries arithmetic such as ``16-3``, ``130000*.15``, ``(3+4)*2/7``, ``1,000*2`` or
``$5*3``. The text is untrusted (it comes from a model, and through it from whoever wrote the
prompt), so it is never handed to ``eval``: it is parsed with ``ast`` in ``eval`` mode and
only numeric constants, ``+ - * / // % **``, unary ``+``/``-`` and parentheses are walked.
Everything else (names, calls, attributes, subscripts, comparisons, ...) is refused.

Written-math conveniences, applied before parsing (each documented where it is done):
thousands separators, currency signs, ``x`` and the times, division and minus signs,
``^`` as power, vulgar
fractions such as ``¾``, and a postfix percent (``5%`` means ``0.05`` unless an operand
follows, in which case ``%`` is Python's modulo as in ``5%2``).

Bounds keep a hostile input cheap: at most ``MAX_EXPRESSION_CHARS`` characters, exponents
of at most ``MAX_EXPONENT`` in magnitude, and every intermediate result within
``MAX_MAGNITUDE``. Anything refused raises ``ArithmeticParseError`` with a readable reason.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from collections.abc import Callable

from vigil.streams.checks.exceptions import ArithmeticParseError

__all__ = [
    "MAX_EXPONENT",
    "MAX_EXPRESSION_CHARS",
    "MAX_MAGNITUDE",
    "ArithmeticParseError",
    "evaluate",
    "parse_number",
]

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 100
# Far above any grade-school quantity, far below where float arithmetic gets silly.
MAX_MAGNITUDE = 1e18

Number = int | float

# Vulgar fractions models sometimes type (``¾*12``); mapped to an exact division.
_VULGAR = {
    "½": "1/2",
    "⅓": "1/3",
    "⅔": "2/3",
    "¼": "1/4",
    "¾": "3/4",
    "⅕": "1/5",
    "⅖": "2/5",
    "⅗": "3/5",
    "⅘": "4/5",
    "⅙": "1/6",
    "⅚": "5/6",
    "⅛": "1/8",
    "⅜": "3/8",
    "⅝": "5/8",
    "⅞": "7/8",
}
_VULGAR_RE = re.compile(r"(\d+)?([" + "".join(_VULGAR) + r"])")
_SYMBOLS = str.maketrans(
    {"\u00d7": "*", "\u00f7": "/", "\u2212": "-", "\u2013": "-", "$": None, "€": None, "£": None}
)
# A comma between digits followed by exactly three digits is a thousands separator.
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# ``5%`` with no operand after it is a percent; ``5%2`` / ``5 % (2)`` stay modulo.
_PERCENT_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*%(?!\s*[\d.(])")
# ``2 x 3`` / ``2X3`` between operands is multiplication (never a hex literal: done first).
_TIMES_RE = re.compile(r"(?<=[\d).])\s*[xX]\s*(?=[\d.(])")
# After the rewrites only these characters may remain; ``e`` is for ``1e-05``-style floats.
_ALLOWED_RE = re.compile(r"[0-9.+\-*/%()eE\s]*")

_BINOPS: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_OP_SYMBOL = {
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}


def _normalise(expr: str) -> str:
    """Rewrite written-math notation into the Python arithmetic subset the walker accepts."""
    text = _VULGAR_RE.sub(
        lambda m: (
            f"({m.group(1)}+{_VULGAR[m.group(2)]})" if m.group(1) else f"({_VULGAR[m.group(2)]})"
        ),
        expr,
    )
    text = text.translate(_SYMBOLS)
    text = _THOUSANDS_RE.sub("", text)
    text = _PERCENT_RE.sub(r"(\1/100)", text)
    text = _TIMES_RE.sub("*", text)
    return text.replace("^", "**")


def _bounded(value: Number, expr: str) -> Number:
    if isinstance(value, complex):  # (-8)**(1/3) is complex in Python
        raise ArithmeticParseError(f"{expr!r} has no real value")
    if isinstance(value, float) and not math.isfinite(value):
        raise ArithmeticParseError(f"{expr!r} is out of range")
    if abs(value) > MAX_MAGNITUDE:
        raise ArithmeticParseError(f"{expr!r} exceeds the magnitude bound {MAX_MAGNITUDE:g}")
    return value


def _walk(node: ast.AST, expr: str) -> Number:
    if isinstance(node, ast.Constant):
        value = node.value
        # bool is an int subclass; complex (``1j``) and strings are not arithmetic here.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ArithmeticParseError(f"{expr!r} contains a non-numeric constant")
        return _bounded(value, expr)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        operand = _walk(node.operand, expr)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left = _walk(node.left, expr)
        right = _walk(node.right, expr)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right, expr)
        elif right == 0 and type(node.op) in _OP_SYMBOL:
            raise ArithmeticParseError(f"division by zero in {expr!r}")
        try:
            result = _BINOPS[type(node.op)](left, right)
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            raise ArithmeticParseError(f"{expr!r} cannot be evaluated: {exc}") from None
        return _bounded(result, expr)
    raise ArithmeticParseError(
        f"{expr!r} is not plain arithmetic (found {type(node).__name__}; only numbers, "
        "parentheses and + - * / // % ** are allowed)"
    )


def _check_power(base: Number, exponent: Number, expr: str) -> None:
    """Refuse a power before computing it, so ``9**99**99`` never costs anything."""
    if abs(exponent) > MAX_EXPONENT:
        raise ArithmeticParseError(f"exponent {exponent:g} in {expr!r} exceeds {MAX_EXPONENT}")
    if base == 0 and exponent < 0:
        raise ArithmeticParseError(f"division by zero in {expr!r}")
    if abs(base) > 1 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE) + 1:
        raise ArithmeticParseError(f"{expr!r} exceeds the magnitude bound {MAX_MAGNITUDE:g}")


def evaluate(expr: str) -> float:
    """Evaluate a calculator expression safely; raise ``ArithmeticParseError`` if refused.

    >>> evaluate("130000*.15")
    19500.0
    >>> evaluate("1,000*2 + $5")
    2005.0
    """
    if len(expr) > MAX_EXPRESSION_CHARS:
        raise ArithmeticParseError(
            f"expression of {len(expr)} characters exceeds the bound of {MAX_EXPRESSION_CHARS}"
        )
    value, refused = _evaluate_memo(expr)
    if refused is not None:
        raise ArithmeticParseError(refused)
    return value


# Models write the same calculations again and again (``2*3``, ``48/2``), and parsing one
# (``ast.parse`` compiles it) costs far more than a lookup. The outcome, value or reason for
# refusing, depends on the text alone; bounded, so memory stays flat on endless new ones.
EVALUATE_CACHE_SIZE = 32_768


@functools.lru_cache(maxsize=EVALUATE_CACHE_SIZE)
def _evaluate_memo(expr: str) -> tuple[float, str | None]:
    try:
        return _evaluate(expr), None
    except ArithmeticParseError as exc:
        return math.nan, str(exc)


def _evaluate(expr: str) -> float:
    text = _normalise(expr).strip()
    if not text:
        raise ArithmeticParseError("empty expression")
    if not _ALLOWED_RE.fullmatch(text):
        bad = next(ch for ch in text if not _ALLOWED_RE.fullmatch(ch))
        raise ArithmeticParseError(
            f"{expr!r} contains {bad!r}; only numbers, parentheses and + - * / // % ** are allowed"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ArithmeticParseError(f"{expr!r} is not a valid arithmetic expression") from None
    return float(_walk(tree.body, expr))


# Optional sign (before or after the currency sign, not both), an optional currency sign,
# an integer part with thousands separators in groups of three, decimals, an exponent.
_NUMBER_RE = re.compile(
    r"\s*(?P<s1>[-+\u2212]?)\s*[$€£]?\s*(?P<s2>[-+\u2212]?)"
    r"(?P<digits>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)"
    r"(?P<exp>[eE][-+]?\d+)?\s*"
)


def parse_number(text: str) -> float:
    """Parse one written number: ``13``, ``-4``, ``.5``, ``195,000``, ``$1,200.50``, ``1e-05``.

    Accepted: an optional sign (``-$5`` or ``$-5``), one optional currency sign, thousands
    separators only in groups of three (``1,00`` is refused: it is not a number anyone
    writes), a trailing decimal point (``5.``), and scientific notation (Python's float repr,
    which calculator annotations use). Not accepted: fractions, percents, units: those are
    expressions or prose, see ``evaluate`` and ``normalise_answer``.
    """
    if len(text) > MAX_EXPRESSION_CHARS * 10:
        # Runaway digits ("0.3333…" for a page) are still a number; bound only the absurd.
        raise ArithmeticParseError(f"number of {len(text)} characters is too long")
    if text.isdigit() and text.isascii() and len(text) <= _MEMO_MAX_CHARS:
        return float(text)  # what the pattern below makes of plain digits, at a glance
    if len(text) > _MEMO_MAX_CHARS:
        return _parse_number(text)
    value, refused = _parse_number_memo(text)
    if refused is not None:
        raise ArithmeticParseError(refused)
    return value


# The same few numbers are read over and over; a lookup is cheaper than the regex. Long
# texts (runaway digits) are not kept.
_MEMO_MAX_CHARS = 64


@functools.lru_cache(maxsize=EVALUATE_CACHE_SIZE)
def _parse_number_memo(text: str) -> tuple[float, str | None]:
    try:
        return _parse_number(text), None
    except ArithmeticParseError as exc:
        return math.nan, str(exc)


def _parse_number(text: str) -> float:
    match = _NUMBER_RE.fullmatch(text)
    if match is None or (match.group("s1") and match.group("s2")):
        raise ArithmeticParseError(f"{text[:40]!r} is not a number")
    value = float(match.group("digits").replace(",", "") + (match.group("exp") or ""))
    if not math.isfinite(value):
        raise ArithmeticParseError(f"{text[:40]!r} is out of range")
    negative = (match.group("s1") or match.group("s2")) in ("-", "\u2212")
    return -value if negative else value
