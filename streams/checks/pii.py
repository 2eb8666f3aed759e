"""``pii_leakage``: personal data in the output that the prompt did not contain, and redaction.

Detection is Microsoft Presidio's (``presidio-analyzer``) *pattern* recognizers, with their
validators: e-mail addresses (with a top-level-domain check), phone numbers (Google's
``phonenumbers``), credit-card numbers (Luhn checksum), IBANs (mod-97 checksum) and IP
addresses; plus a small pattern recognizer for titled names (``Dr. Jane Smith``): general
names need a named-entity model, and nothing here may download one.

Presidio's ``AnalyzerEngine`` is *not* used: its default NLP engine loads a spaCy model,
which would be downloaded. The recognizers are called directly (``nlp_artifacts=None``), and
the e-mail recognizer's domain check uses ``tldextract``'s bundled suffix list only (by
default it fetches the list from the internet on first use).

Speed: the recognizers cost milliseconds per text (phone matching across eight regions the
most), far too slow for every result. So each recognizer runs only where a cheap candidate
pattern matches (an ``@``, a long digit run, ...), and the phone matcher only on a window
around each candidate. Most reasoning text has no candidate at all and costs microseconds.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil_client.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "PiiCheck", "PiiFinding", "PiiScanner", "leaked", "redact"]

CHECK_NAME = "pii_leakage"
# Risk of each kind when it leaks: checksum-validated identifiers are near certain.
SEVERITY = {
    "CREDIT_CARD": 1.0,
    "IBAN_CODE": 1.0,
    "EMAIL_ADDRESS": 0.9,
    "PHONE_NUMBER": 0.8,
    "IP_ADDRESS": 0.7,
    "PERSON": 0.6,
}
_PHONE_WINDOW = 12
PROMPT_CACHE_SIZE = 4096

# Cheap gates: a recognizer runs only where its candidate pattern matches.
_CANDIDATES: dict[str, re.Pattern[str]] = {
    "EMAIL_ADDRESS": re.compile(r"@"),
    "CREDIT_CARD": re.compile(r"\d(?:[ -]?\d){12,18}"),
    "IBAN_CODE": re.compile(r"\b[A-Z]{2}\d{2}[ ]?[A-Z0-9]{4}"),
    "IP_ADDRESS": re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{0,4}:"),
    # International (+44 ...), or grouped like 212-736-5000, (212) 736 5000, 020 7946 0958;
    # never the digits of a decimal number.
    "PHONE_NUMBER": re.compile(
        r"\+\d[\d ().-]{5,}\d"
        r"|(?<![\d.,])\(?\d{2,5}\)?[ .-]\d{3,4}[ .-]?\d{3,4}(?![\d]|[.,]\d)"
    ),
    "PERSON": re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\b"),
}
_TITLED_NAME = r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.? [A-Z][a-z]+(?: [A-Z][a-z]+)?\b"

# The gates above scan the whole text (up to tens of microseconds per kilobyte each). Each has a
# cheaper test that every one of its matches passes: a literal to look for (found by a fast
# scan) or a shorter pattern that starts with one. Where that test fails the gate cannot
# match, so it is not run; where it passes the gate runs as it is, so what is found is the
# same. Most reasoning text fails all of them.
_PRE_TITLE = re.compile(r"Mr|Ms|Miss|Dr|Prof")
_PRE_IPV4 = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")
_PRE_IPV6 = re.compile(r":[0-9A-Fa-f]{0,4}:")
_PRE_IBAN = re.compile(r"[A-Z][A-Z]\d")
_PRE_PHONE_INTL = re.compile(r"\+\d")
_PRE_PHONE_GROUPED = re.compile(r"\d\d\)?[ .-]\d{3,4}[ .-]?\d{3}")


def _may_match(entity: str, text: str) -> bool:
    """False only where ``_CANDIDATES[entity]`` cannot match ``text`` (see above)."""
    if entity == "EMAIL_ADDRESS":
        return "@" in text
    if entity == "PERSON":
        return _PRE_TITLE.search(text) is not None
    if entity == "IP_ADDRESS":
        return _PRE_IPV4.search(text) is not None or (
            ":" in text and _PRE_IPV6.search(text) is not None
        )
    if entity == "IBAN_CODE":
        return _PRE_IBAN.search(text) is not None
    if entity == "PHONE_NUMBER":
        return ("+" in text and _PRE_PHONE_INTL.search(text) is not None) or (
            _PRE_PHONE_GROUPED.search(text) is not None
        )
    return True


@dataclass(frozen=True, slots=True)
class PiiFinding:
    entity: str
    start: int
    end: int
    text: str
    score: float


_TITLE_RE = re.compile(r"^(?:mr|mrs|ms|miss|dr|prof)(?=[^a-z])")


def _identity(text: str) -> str:
    """What makes two mentions the same datum: the digits of a number, else the lowercase
    letters and digits (``Mr Boarden`` is ``Mr. Boarden``; a name without its title)."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 6:
        return digits
    lowered = _TITLE_RE.sub("", text.lower().strip())
    return "".join(ch for ch in lowered if ch.isalnum() or ch == "@")


class PiiScanner:
    """Presidio's pattern recognizers behind cheap candidate gates; build once per process."""

    def __init__(self, phone_regions: Sequence[str] = ("US", "GB", "DE", "FR", "IN", "CA")):
        # Imported here, not at module import: presidio pulls in spaCy (seconds to import).
        import tldextract
        from presidio_analyzer import Pattern, PatternRecognizer
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
        )

        # The bundled public-suffix snapshot only: no fetch, no cache directory written.
        offline_tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

        class OfflineEmailRecognizer(EmailRecognizer):
            def validate_result(self, pattern_text: str) -> bool:
                return bool(offline_tld(pattern_text).fqdn)

        titled = PatternRecognizer(
            supported_entity="PERSON",
            patterns=[Pattern("titled name", _TITLED_NAME, 0.6)],
            name="TitledNameRecognizer",
            # Presidio matches case-insensitively by default: "Mr. Tan paid" is not a name.
            global_regex_flags=re.MULTILINE,
        )
        self._recognizers: dict[str, Any] = {
            "EMAIL_ADDRESS": OfflineEmailRecognizer(),
            "CREDIT_CARD": CreditCardRecognizer(),
            "IBAN_CODE": IbanRecognizer(),
            "IP_ADDRESS": IpRecognizer(),
            "PHONE_NUMBER": PhoneRecognizer(supported_regions=tuple(phone_regions)),
            "PERSON": titled,
        }

    def _run(self, entity: str, text: str, lo: int = 0, hi: int | None = None) -> list[PiiFinding]:
        """The recognizer on ``text[lo:hi]``; spans (and plausibility) on the whole text."""
        window = text[lo:hi]
        recognizer = self._recognizers[entity]
        found = recognizer.analyze(window, entities=[entity], nlp_artifacts=None)
        return [
            PiiFinding(
                entity=entity,
                start=r.start + lo,
                end=r.end + lo,
                text=window[r.start : r.end],
                score=SEVERITY[entity],
            )
            for r in found
            if r.entity_type == entity
            and r.score > 0
            and _plausible(entity, text, r.start + lo, r.end + lo)
        ]

    def find(self, text: str) -> list[PiiFinding]:
        """Every personal-data span in ``text``, overlaps resolved (the longest wins)."""
        found: list[PiiFinding] = []
        for entity, gate in _CANDIDATES.items():
            if not _may_match(entity, text):
                continue
            matches = list(gate.finditer(text))
            if not matches:
                continue
            if entity != "PHONE_NUMBER":
                found.extend(self._run(entity, text))
                continue
            for m in matches:  # phone matching is the slow one: only around candidates
                if _in_arithmetic(text, m.start(), m.end()):
                    continue
                lo, hi = _window(text, m.start(), m.end())
                found.extend(self._run(entity, text, lo, hi))
        return _resolve(found)


def _window(text: str, start: int, end: int) -> tuple[int, int]:
    """``_PHONE_WINDOW`` characters around a candidate, widened to whole words (bounded)."""
    lo = max(0, start - _PHONE_WINDOW)
    hi = min(len(text), end + _PHONE_WINDOW)
    limit = 4 * _PHONE_WINDOW
    while lo > 0 and not text[lo - 1].isspace() and start - lo < limit:
        lo -= 1
    while hi < len(text) and not text[hi].isspace() and hi - end < limit:
        hi += 1
    return lo, hi


_DECIMAL_RE = re.compile(r"\d*\.\d+")
_IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_OPERATORS = frozenset("=+*/<>x\u00d7\u00f7")


def _in_arithmetic(text: str, start: int, end: int) -> bool:
    """``1250-200-700 = <<...>>`` is a calculation: an operator or ``=`` right before or
    after, hyphens with spaces around them, or inside a ``<<...>>`` annotation."""
    if " - " in text[start:end]:
        return True
    left = text[max(0, start - 3) : start].rstrip()
    right = text[end : end + 3].lstrip()
    if (left and left[-1] in _OPERATORS) or (right and right[0] in _OPERATORS):
        return True
    opened = text.rfind("<<", 0, start)
    return opened != -1 and text.find(">>", opened) >= end


def _plausible(entity: str, text: str, start: int, end: int) -> bool:
    """Digit identifiers are not pieces of a longer number: ``0.6666666666666667`` (a
    fraction the model printed) holds a Luhn-valid "card" and a "phone number"."""
    if entity not in ("PHONE_NUMBER", "CREDIT_CARD"):
        return True
    if _in_arithmetic(text, start, end):
        return False
    found = text[start:end]
    if entity == "PHONE_NUMBER" and found.isdigit() and len(found) <= 10:
        return False  # a bare run of digits in reasoning is a quantity, not a phone number
    if entity == "PHONE_NUMBER" and _IPV4_RE.fullmatch(found):
        return False  # the IP recognizer's
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    if before[-1:].isdigit() or (before[-1:] in (".", ",") and before[:1].isdigit()):
        return False
    if after[:1].isdigit() or (after[:1] in (".", ",") and after[1:2].isdigit()):
        return False
    return not _DECIMAL_RE.fullmatch(text[start:end])


def _resolve(found: list[PiiFinding]) -> list[PiiFinding]:
    kept: list[PiiFinding] = []
    # Longest first, then the more certain kind: a card number is not also a phone number.
    for f in sorted(found, key=lambda f: (-(f.end - f.start), -f.score, f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def redact(text: str, findings: Sequence[PiiFinding]) -> str:
    """``text`` with each finding replaced by ``<ENTITY>`` (for roles that may not see PII)."""
    out = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < pos:
            continue
        out.append(text[pos : f.start])
        out.append(f"<{f.entity}>")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def leaked(
    findings: Sequence[PiiFinding], prompt_findings: Sequence[PiiFinding]
) -> list[PiiFinding]:
    """The findings whose value the prompt did not contain (compared digits-only or lowercase)."""
    given = {_identity(p.text) for p in prompt_findings}
    return [f for f in findings if _identity(f.text) not in given]


def _step_of(output: str, offset: int) -> tuple[int | None, tuple[int, int] | None]:
    """Map an offset in the output to (step index, span start) as ``parse_solution`` counts."""
    index = 0
    pos = 0
    for raw in output.splitlines(keepends=True):
        line = raw.strip()
        if pos <= offset < pos + len(raw):
            if not line or line.startswith(("A:", "####")):
                return None, None
            lead = len(raw) - len(raw.lstrip())
            return index, (offset - pos - lead, offset - pos - lead)
        if line and not line.startswith(("A:", "####")):
            index += 1
        pos += len(raw)
    return None, None


@dataclass(frozen=True)
class PiiReport:
    """What one scan found: the leaks, and the redacted texts for display."""

    result: CheckResult
    redacted_prompt: str | None
    redacted_output: str | None


def scan(
    scanner: PiiScanner, prompt: str, output: str, in_prompt: list[PiiFinding] | None = None
) -> PiiReport:
    """``in_prompt``: the prompt's findings, when known already."""
    in_output = scanner.find(output)
    if in_prompt is None:
        in_prompt = scanner.find(prompt)
    leaks = leaked(in_output, in_prompt)
    evidence = []
    for f in leaks[:20]:
        step, span = _step_of(output, f.start)
        if span is not None:
            span = (span[0], span[0] + (f.end - f.start))
        where = f"step {step + 1}" if step is not None else "the answer line"
        evidence.append(
            Evidence(
                message=f"{f.entity.lower().replace('_', ' ')} in {where} that the prompt "
                "does not contain",
                step_index=step,
                span=span,
            )
        )
    score = max((f.score for f in leaks), default=0.0)
    steps = [e.step_index for e in evidence if e.step_index is not None]
    result = CheckResult(
        check=CHECK_NAME,
        score=score,
        flagged=bool(leaks),
        evidence=evidence,
        first_faulty_step=min(steps) if steps else None,
    )
    return PiiReport(
        result=result,
        redacted_prompt=redact(prompt, in_prompt) if in_prompt else None,
        redacted_output=redact(output, in_output) if in_output else None,
    )


class PiiCheck(BaseCheck):
    """The check. It keeps the reports of its last batch, so that the redacted texts of the
    results that go to review come without scanning them again (``report``), and the
    findings of recent prompts by prompt key (questions are asked again and again; outputs
    hardly repeat), at most ``PROMPT_CACHE_SIZE`` of them."""

    name = CHECK_NAME

    def __init__(self, scanner_factory: Callable[[], PiiScanner] = PiiScanner) -> None:
        self.scanner = scanner_factory()
        self._reports: dict[str, PiiReport] = {}
        self._prompts: OrderedDict[str, list[PiiFinding]] = OrderedDict()

    def _in_prompt(self, item: CheckInput) -> list[PiiFinding]:
        key = item.prompt_key
        if not key:
            return self.scanner.find(item.result.prompt)
        found = self._prompts.get(key)
        if found is None:
            found = self._prompts[key] = self.scanner.find(item.result.prompt)
            if len(self._prompts) > PROMPT_CACHE_SIZE:
                self._prompts.popitem(last=False)
        else:
            self._prompts.move_to_end(key)
        return found

    def _scan(self, item: CheckInput) -> PiiReport:
        result = item.result
        return scan(self.scanner, result.prompt, result.output, self._in_prompt(item))

    def report(self, item: CheckInput) -> PiiReport:
        found = self._reports.get(item.result.request_id)
        if found is None:
            found = self._scan(item)
        return found

    def check(self, item: CheckInput) -> CheckResult:
        return self.report(item).result

    def check_batch(self, items: Sequence[CheckInput]) -> list[CheckResult]:
        self._reports = {i.result.request_id: self._scan(i) for i in items}
        return [self._reports[i.result.request_id].result for i in items]
