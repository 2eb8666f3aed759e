"""The names the review code shares are written once: in the SDK (tiers, item states, event and
decision kinds, topics), the contracts (release outcomes) and ``reviewers.keys`` (key parts);
the Lua scripts get them from there through their generated preamble and write none."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from vigil.reviewers import lua
from vigil.reviewers.keys import STATE_FIELDS, Keys, key_parts, queue_hash
from vigil.reviewers.machine import TRANSITIONS
from vigil_client import names, topics
from vigil_client.contracts import ReleaseOutcome, ReviewDecision, ReviewEvent, ReviewState

LUA_DIR = Path(lua.__file__).parent
SCRIPT_FILES = sorted(LUA_DIR.glob("*.lua"))
QUEUED = {
    "member": "m",
    "risk": 0.5,
    "bonus_ms": 1,
    "sla_ms": 2,
    "retention_ms": 3,
    "hold": True,
    "subject": "",
    "checks": [],
    "views": [],
    "fallback": None,
}
# Every field of an item hash (reviewers/keys.py): some are named like an event kind or a key
# part (``assigned``, ``released``, ``views``, ``subject``), and may be written as fields.
HASH_FIELDS = {"item", "seq", "decision", "release", *STATE_FIELDS, *queue_hash(QUEUED)}


def _literals(source: str) -> list[tuple[int, str, str]]:
    """(offset, text, the code before it on its line) of every string literal, comments
    skipped (the scripts use ``--`` line comments and short strings only)."""
    out: list[tuple[int, str, str]] = []
    i, n = 0, len(source)
    while i < n:
        if source.startswith("--", i):
            i = source.find("\n", i)
            i = n if i < 0 else i
        elif source[i] in "'\"":
            quote, start = source[i], i
            i += 1
            while source[i] != quote:
                i += 2 if source[i] == "\\" else 1
            line_start = source.rfind("\n", 0, start) + 1
            out.append((start, source[start + 1 : i], source[line_start:start]))
            i += 1
        else:
            i += 1
    return out


def _calls(code: str, fn: str) -> list[list[str]]:
    """The top-level arguments of every call of ``fn`` (nesting and strings respected)."""
    out = []
    for m in re.finditer(rf"\b{fn}\(", code):
        args, depth, quote, cur = [], 0, "", ""
        for ch in code[m.end() :]:
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch in "({[":
                depth += 1
            elif ch in ")}]":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                args.append(cur.strip())
                cur = ""
                continue
            cur += ch
        out.append([*args, cur.strip()])
    return out


def _code(path: Path) -> str:
    return "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())


def test_the_sdk_names_derive_from_their_literal_types() -> None:
    assert names.REVIEW_TIERS == get_args(names.ReviewTier) == ("reviewer", "lead", "ml_team")
    assert (names.FIRST_TIER, names.TOP_TIER) == ("reviewer", "ml_team")
    assert names.NEXT_TIER == {"reviewer": "lead", "lead": "ml_team"}
    assert names.TIER_RANK == {"reviewer": 1, "lead": 2, "ml_team": 3}
    assert names.tiers_above("reviewer") == ("lead", "ml_team")
    assert names.tiers_above("ml_team") == names.tiers_above("nobody") == ()
    assert set(names.DECISION_KINDS) > names.VERDICTS
    # The contracts use these very types, so the JSON Schemas list the same names.
    assert ReviewEvent.model_fields["type"].annotation is names.ReviewEventType
    assert ReviewState.model_fields["state"].annotation is names.ItemState
    assert ReviewDecision.model_fields["decision"].annotation is names.DecisionKind
    schema = ReviewEvent.model_json_schema()
    assert schema["properties"]["type"]["enum"] == list(names.REVIEW_EVENT_TYPES)


def test_the_state_machine_has_one_row_per_event_kind() -> None:
    assert list(TRANSITIONS) == list(names.REVIEW_EVENT_TYPES)
    for kind, t in TRANSITIONS.items():
        assert t.after <= set(names.ITEM_STATES), kind
        assert t.before <= {None, *names.ITEM_STATES}, kind


def test_each_key_part_is_named_after_its_keys_accessor() -> None:
    parts = key_parts()
    assert parts == {name: name for name in parts}
    assert {"item", "audit", "claims", "open", "pending", "outbox", "settled"} <= set(parts)
    keys = Keys("P")
    assert keys.item("r") == "P:item:r" and keys.pending == "P:pending"
    # The item hash layout: how an item is queued, and its review state.
    assert set(STATE_FIELDS) == set(ReviewState.model_fields)
    assert queue_hash(QUEUED)["hold"] == "1" and queue_hash(QUEUED)["fallback"] == ""


def test_the_preamble_defines_the_names_from_python() -> None:
    pre = lua.preamble()
    assert f"local EVENTS_TOPIC = '{topics.REVIEW_EVENTS}'" in pre
    assert f"local DECISIONS_TOPIC = '{topics.DECISIONS}'" in pre
    assert f"local RELEASES_TOPIC = '{topics.RELEASES}'" in pre
    assert "local NEXT_TIER = {reviewer = 'lead', lead = 'ml_team'}" in pre
    assert "local TIER_RANK = {reviewer = 1, lead = 2, ml_team = 3}" in pre
    assert "local TIERS = {'reviewer', 'lead', 'ml_team'}" in pre
    for name in names.REVIEW_EVENT_TYPES:
        assert f"{name} = '{name}'" in pre
    for script in lua.SCRIPTS:
        assert lua.source(script).startswith("#!lua\n" + pre)


def test_no_shared_name_is_written_in_the_lua_scripts() -> None:
    topic_names = {v for k, v in vars(topics).items() if k.isupper()}
    banned = {
        *topic_names,
        *names.REVIEW_TIERS,
        *names.ITEM_STATES,
        *names.REVIEW_EVENT_TYPES,
        *names.DECISION_KINDS,
        *get_args(ReleaseOutcome),
        *key_parts().values(),
    }
    found = []
    for path in SCRIPT_FILES:
        for _, text, before in _literals(path.read_text()):
            if text not in banned:
                continue
            if text in HASH_FIELDS:
                continue  # a hash field named like an event kind (``assigned``, ``released``)
            if re.search(r"return\s*\{\s*$", before):
                continue  # a reply status to Python (``{'decided'}``, ``{'erased'}``, ...)
            found.append(f"{path.name}: {text!r} after {before.strip()!r}")
    assert not found, "\n".join(found)


def test_the_scripts_use_only_defined_names() -> None:
    tables = {var: set(entries) for var, (_, entries) in lua.NAME_TABLES.items()}
    used: set[tuple[str, str]] = set()
    for path in SCRIPT_FILES:
        for var, name in re.findall(r"\b(EV|ST|DK|OUTCOME|K)\.(\w+)", _code(path)):
            assert name in tables[var], f"{path.name}: {var}.{name} is not defined"
            used.add((var, name))
    # Every event kind but ``queued`` is emitted through ``emit``; all of them appear.
    assert {n for v, n in used if v == "EV"} == set(names.REVIEW_EVENT_TYPES)


def test_every_event_and_key_is_named_through_the_preamble() -> None:
    # The kind argument of emit(rid, h, kind, ...), event_parts(rid, seq, kind, ...) and
    # decide.lua's record(s, kind, ...): a name from EV, or the wrapper's own parameter.
    kind_arg = {"emit": 2, "event_parts": 2, "record": 1}
    for path in SCRIPT_FILES:
        code = _code(path)
        for fn, at in kind_arg.items():
            for args in _calls(code, fn):
                if len(args) <= at:
                    continue
                kind = args[at]
                assert kind == "etype" or re.fullmatch(r"EV\.\w+", kind), (
                    f"{path.name}: {fn}(...{kind}...)"
                )
        for args in _calls(code, "key"):
            assert not args[0].startswith(("'", '"')), f"{path.name}: key({args[0]}, ...)"
