"""The review domain's Lua scripts: each call is one atomic step in one round trip.

Redis runs a script without interleaving other commands, so "check the state, then write"
cannot race with another reviewer, a re-delivered item or the SLA clock. Each script is
``prelude.lua`` (shared helpers: keys, server clock, events, claims, escalation) followed by
its own body. The ``#!lua`` line makes Redis refuse a script that may write up front when
it is out of memory, instead of at its first write; the scripts do their checks before
their writes, so a refused call changes nothing. (A script is not a transaction: a write
that fails half-way, e.g. on a key of the wrong type written by something else, would leave
the earlier writes in place.)
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_DIR = Path(__file__).resolve().parent

SCRIPTS = ("enqueue", "claim", "lease", "decide", "tick", "erase", "assign")


@cache
def source(name: str) -> str:
    """The full text of one script, prelude included."""
    if name not in SCRIPTS:
        raise KeyError(f"no review script {name!r}")
    prelude = (_DIR / "prelude.lua").read_text()
    body = (_DIR / f"{name}.lua").read_text()
    return f"#!lua\n{prelude}\n{body}"
