"""Reading the numbers models write, in plain text, Markdown and LaTeX.

Models write ``1,200``, ``$5.27``, ``\\$1{,}200``, ``25%``, ``25\\%``, ``3/4``,
``\\frac{3}{4}``, ``\\dfrac{12}{4}``, ``2.5 hours``, ``-4``, ``١٢`` (other scripts' digits)
and words (``twice``, ``a dozen``). ``to_plain`` rewrites the LaTeX and Unicode notation of a
piece of text into the plain arithmetic the evaluator (``arithmetic.evaluate``) reads;
``read_number`` reads one written quantity (its first number, with a fraction or percent),
and ``numbers_in`` finds every number in a text with its span, for the provenance and answer
checks. All of it is bounded regex work: a hostile text costs linear time.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from vigil.streams.checks.arithmetic import evaluate, parse_number
from vigil.streams.checks.exceptions import ArithmeticParseError

__all__ = [
    "NUMBER_WORDS",
    "numbers_in",
    "read_number",
    "to_plain",
]

# ``\frac{a}{b}`` (and ``\dfrac``, ``\tfrac``), one level of braces inside each part.
_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
# ``\frac12`` (single-digit shorthand).
_FRAC_SHORT_RE = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
_TEXT_RE = re.compile(r"\\(?:text|mathrm|textbf|mathbf|operatorname|mbox)\s*\{([^{}]*)\}")
_LATEX_SYMBOLS = (
    (re.compile(r"\\(?:times|cdot|ast)\b"), "*"),
    (re.compile(r"\\div\b"), "/"),
    (re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)\b"), ""),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\[,;:! ]"), " "),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$"), "$"),
    (re.compile(r"\\(?:approx|sim|simeq)\b"), "≈"),
    (re.compile(r"\\(?:quad|qquad)\b"), " "),
)
_SUPERSCRIPT_RE = re.compile(r"\^\{([^{}]*)\}")
# Digits of other scripts (Arabic-Indic, Devanagari, full-width, ...) read as ASCII digits.
_NON_ASCII_DIGIT_RE = re.compile(r"[^\x00-\x7f]")


def _ascii_digits(text: str) -> str:
    if text.isascii():
        return text

    def one(m: re.Match[str]) -> str:
        ch = m.group(0)
        digit = unicodedata.decimal(ch, None)
        return str(digit) if digit is not None else ch

    return _NON_ASCII_DIGIT_RE.sub(one, text)


def to_plain(text: str) -> str:
    """LaTeX and Unicode math written as plain arithmetic text; prose is left as it is.

    Not length-preserving: use it on a piece to evaluate, not to find spans.
    """
    text = _ascii_digits(text)
    if "\\" in text or "{" in text:
        text = _TEXT_RE.sub(r" \1 ", text)
        for _ in range(3):  # nested fractions, innermost first
            new = _FRAC_RE.sub(r"((\1)/(\2))", text)
            if new == text:
                break
            text = new
        text = _FRAC_SHORT_RE.sub(r"((\1)/(\2))", text)
        for pattern, repl in _LATEX_SYMBOLS:
            text = pattern.sub(repl, text)
        text = _SUPERSCRIPT_RE.sub(r"^(\1)", text)
        text = text.replace("\\(", " ").replace("\\)", " ").replace("\\[", " ")
        text = text.replace("\\]", " ").replace("{", "(").replace("}", ")")
    return (
        text.replace("\u2212", "-")
        .replace("\u2013", "-")
        .replace("\u00d7", "*")
        .replace("\u00f7", "/")
    )


# One written quantity: sign, currency, digits with separators, decimals, then an optional
# ``/ b`` fraction and an optional percent.
_QUANTITY_RE = re.compile(
    r"(?P<num>[-+]?\s*[$€£]?\s*[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+))"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?(?P<pct>\s*%)?"
)
# A number's digits: thousands separators in groups of three, decimals. A unit may follow
# glued (``240g``, ``5km``), an ordinal's suffix may not (``3rd``).
_DIGITS_RE = re.compile(r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
_ORDINALS = ("st", "nd", "rd", "th")
_UNIT_WORDS_RE = re.compile(r"[A-Za-z]+\.?|[$€£]")
_ARITHMETIC_ONLY_RE = re.compile(r"[\d\s.,()+\-*/]+")

# Number words as questions and models write them (values; ``half`` is 0.5, a share).
NUMBER_WORDS: dict[str, float] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "dozen": 12,
    "twice": 2,
    "double": 2,
    "triple": 3,
    "thrice": 3,
    "half": 0.5,
    "third": 1 / 3,
    "quarter": 0.25,
    "fourth": 0.25,
    "fifth": 0.2,
    "tenth": 0.1,
}
_WORD_RE = re.compile(r"[a-z]+")
NUMBERS_CACHE_SIZE = 8192


@functools.lru_cache(maxsize=32_768)
def read_number(text: str) -> float | None:
    """The value of one written quantity (``$1,200.50``, ``3/4``, ``\\frac{3}{4}``, ``25%``,
    ``2.5 hours``): its first number, read with what follows it. ``None`` if it holds none.

    A percent keeps its written value (``25%`` is 25): answers are compared in the unit the
    question asks for; callers that need the share divide by 100 themselves.
    """
    plain = to_plain(text).strip()
    if len(plain) > 400:
        plain = plain[:400]
    plain = plain.strip("*_ ")
    bare = _UNIT_WORDS_RE.sub("", plain).strip()
    if "(" in bare and _ARITHMETIC_ONLY_RE.fullmatch(bare):
        try:
            return evaluate(bare)  # ``\\frac{3}{4}`` came out as ``((3)/(4))``
        except ArithmeticParseError:
            pass
    match = _QUANTITY_RE.search(plain)
    if match is None:
        return None
    num = match.group("num").replace(" ", "")
    try:
        value = parse_number(num)
    except ArithmeticParseError:
        return None
    den = match.group("den")
    if den is not None and "," not in num:
        try:
            value = evaluate(f"{value}/{den}")
        except ArithmeticParseError:
            return None
    return value


@functools.lru_cache(maxsize=NUMBERS_CACHE_SIZE)
def numbers_in(text: str) -> tuple[tuple[float, tuple[int, int]], ...]:
    """Every number written in ``text`` with its span (digits only, not words): ``1,200``,
    ``$5.27``, ``-4``, ``.5``; the digits inside a word (``x2``, ``3rd``) are not numbers.
    Cached: the step, provenance and answer checks read the same steps.

    The scan finds each run of digits first (a cheap pattern) and then looks at the few
    characters around it, rather than trying the whole pattern at every position."""
    out: list[tuple[float, tuple[int, int]]] = []
    text = _ascii_digits(text)
    n = len(text)
    for m in _DIGITS_RE.finditer(text):
        start, end = m.span()
        if start and text[start - 1] == ".":
            start -= 1  # ``.5``
        before = text[start - 1] if start else ""
        if before.isalnum() or before == "_" or before in ".,/":
            continue  # ``x2``, ``3.5``'s tail, ``1/2``'s denominator
        if end < n and (text[end].isdigit() or text[end] == "_"):
            continue
        if text.startswith(_ORDINALS, end) and (end + 2 >= n or not text[end + 2].isalnum()):
            continue  # ``3rd``
        raw = text[start:end]
        if before == "-" and (start < 2 or not text[start - 2].isalnum()):
            start -= 1
            raw = "-" + raw
        try:
            out.append((float(raw.replace(",", "")), (start, end)))
        except ValueError:
            continue
    return tuple(out)


def words_in(text: str) -> list[float]:
    """The values of the number words in ``text`` (``three``, ``twice``, ``a dozen``)."""
    return [NUMBER_WORDS[w] for w in _WORD_RE.findall(text.lower()) if w in NUMBER_WORDS]
