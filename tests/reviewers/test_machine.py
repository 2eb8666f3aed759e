"""Every path of every review script, on real Redis, against the state machine written once in
``reviewers/machine.py``: each event the scripts emit must follow its row (the item state
before and after, version, tier, verdicts, breaches, assignee, release), and after each step
the state rebuilt from the events (``reviewers/rebuild.py``, which replays the same rows)
must equal the live one, claims and votes included."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis

from tests.reviewers.helpers import decision, outbox
from vigil.reviewers.exceptions import InvalidDecision, StaleClaim
from vigil.reviewers.machine import TRANSITIONS
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.rebuild import rebuild, snapshot
from vigil_client.contracts import ReviewEvent, ReviewItem
from vigil_client.names import FIRST_TIER, REVIEW_EVENT_TYPES, TIER_RANK, VERDICTS

MakeItem = Callable[..., ReviewItem]


def _follows(prev: dict[str, Any] | None, ev: dict[str, Any]) -> None:
    """``ev`` (its state) is what its row of the state machine makes of ``prev``."""
    t = TRANSITIONS[ev["type"]]
    st = ev["state"]
    where = f"{ev['event_id']} ({ev['type']})"
    assert (prev["state"] if prev else None) in t.before, where
    assert st["state"] in t.after, where
    if prev is None:
        assert (t.version, t.tier) == ("first", "first"), where
        assert (st["version"], st["tier"], st["done"], st["breaches"], st["released"]) == (
            1,
            FIRST_TIER,
            0,
            t.breaches,
            "",
        ), where
        return
    assert st["version"] == prev["version"] + (t.version == "bump"), where
    if t.tier == "up":
        assert TIER_RANK[st["tier"]] > TIER_RANK[prev["tier"]], where
    else:
        assert st["tier"] == prev["tier"], where
    assert st["required"] == {"keep": prev["required"], "one": 1}[t.required], where
    verdict = t.done == "verdict" and ev["decision"]["decision"] in VERDICTS
    done = 0 if t.done == "zero" else prev["done"] + verdict
    assert st["done"] == done, where
    assert st["breaches"] == prev["breaches"] + t.breaches, where
    assignee = {"keep": prev["assigned"], "reviewer": ev.get("reviewer"), "clear": ""}
    assert st["assigned"] == assignee[t.assignee], where
    assert st["released"] == (ev["outcome"] if t.releases else prev["released"]), where


class Machine:
    """Checks the events of each step against the table, and the rebuilt state."""

    def __init__(self, queue: ReviewQueue) -> None:
        self.queue = queue
        self.seen = 0
        self.last: dict[str, dict[str, Any]] = {}  # request id -> its latest state
        self.kinds: set[str] = set()

    def step(self, *, rebuilt: bool = True) -> dict[str, list[str]]:
        """The new events, per request id, in order. ``rebuilt=False`` where a lease lapses
        before anything reaps it (the rebuild leaves a lapsed claim out, Redis has it)."""
        raws = [e.value for e in outbox(self.queue, "review.events")]
        new, self.seen = raws[self.seen :], len(raws)
        out: dict[str, list[str]] = {}
        for raw in new:
            ReviewEvent.from_json(raw)
            ev = orjson.loads(raw)
            rid = ev["request_id"]
            _follows(self.last.get(rid), ev)
            self.last[rid] = ev["state"]
            out.setdefault(rid, []).append(ev["type"])
            self.kinds.add(ev["type"])
            if TRANSITIONS[ev["type"]].removes:
                assert self.queue.state(rid) is None and self.queue.is_erased(rid)
        if rebuilt:
            self.same_state(raws)
        return out

    def same_state(self, raws: list[bytes]) -> None:
        q = self.queue
        target = f"{q.prefix}-rebuilt"
        rebuild(q.client, target, raws, force=True)
        live, copy = snapshot(q.client, q.prefix), snapshot(q.client, target)
        # The worker's settled outcomes are not review state (kept for a TTL, not rebuilt).
        live = {k[len(q.prefix) :]: v for k, v in live.items() if ":settled:" not in k}
        copy = {k[len(target) :]: v for k, v in copy.items()}
        assert set(live) == set(copy)
        for key in live:
            assert live[key] == copy[key], key


@pytest.fixture
def machine(review_queue: ReviewQueue) -> Machine:
    return Machine(review_queue)


def _ago(s: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=s)


def scenario_enqueue(m: Machine, make_item: MakeItem) -> None:
    q = m.queue
    q.enqueue_many(
        [
            make_item("a"),
            make_item(
                "b",
                reviews_required=2,
                hold_for_review=True,
                assigned_reviewer="r1",
                metadata={"user_id": "u1", "locale": "de"},
            ),
        ]
    )
    assert m.step() == {"a": ["queued"], "b": ["queued"]}
    assert q.enqueue(make_item("a")) is False
    assert m.step() == {}
    # The worker's path: settle an outcome and store its item in the same script.
    assert q.settle([("s", b'{"verdict":"queued"}')], [make_item("s")], ttl_s=60) == {}
    assert m.step() == {"s": ["queued"]}
    again = q.settle([("s", b'{"verdict":"clean"}')], [make_item("s")], ttl_s=60)
    assert again == {"s": b'{"verdict":"queued"}'}
    assert m.step() == {}


def scenario_claims(m: Machine, make_item: MakeItem) -> None:
    q = m.queue
    q.enqueue_many([make_item("x"), make_item("y", reviews_required=2), make_item("z")])
    m.step()
    alice = q.claim("x", "alice")
    assert m.step() == {"x": ["claimed"]}
    q.heartbeat(alice, lease_s=600)
    assert m.step() == {"x": ["claim_renewed"]}
    q.release_claim(alice)
    assert m.step() == {"x": ["claim_released"]}
    got = q.claim_next("bob")
    assert got is not None
    assert m.step() == {got.request_id: ["claimed"]}
    # A lease that lapses is expired by the next claim on the item ...
    q.claim("y", "carol", lease_s=0.05)
    m.step(rebuilt=False)
    time.sleep(0.1)
    q.claim("y", "dave")
    assert m.step() == {"y": ["claim_expired", "claimed"]}
    # ... or by its holder's heartbeat.
    erin = q.claim("z", "erin", lease_s=0.05)
    m.step(rebuilt=False)
    time.sleep(0.1)
    with pytest.raises(StaleClaim):
        q.heartbeat(erin)
    assert m.step() == {"z": ["claim_expired"]}


def scenario_decide(m: Machine, make_item: MakeItem) -> None:
    q = m.queue
    q.enqueue_many(
        [
            make_item("one", hold_for_review=True),
            make_item("two", reviews_required=2),
            make_item("split", reviews_required=2),
            make_item("up"),
            make_item("note"),
        ]
    )
    m.step()
    held = q.claim("one", "alice")
    assert m.step() == {"one": ["claimed"]}
    q.decide(decision("one", reviewer="alice", claim_id=held.claim_id))
    assert m.step() == {"one": ["decided", "released"]}
    # Two verdicts needed (decided without a claim: a free seat is taken in the same step).
    q.decide(decision("two", reviewer="alice"))
    assert m.step() == {"two": ["decided"]}
    assert q.decide(decision("two", reviewer="bob")).final
    assert m.step() == {"two": ["decided"]}
    # Two verdicts that disagree: a lead adjudicates.
    q.decide(decision("split", reviewer="alice"))
    q.decide(decision("split", "reject", reviewer="bob", reason="wrong"))
    assert m.step() == {"split": ["decided", "decided", "escalated"]}
    # Escalations: to the next tier, to a named one, none past the top.
    q.decide(decision("up", "escalate", reviewer="carol"))
    assert m.step() == {"up": ["decided", "escalated"]}
    q.decide(decision("up", "escalate", reviewer="lena", escalate_to="ml_team"), tiers=None)
    assert m.step() == {"up": ["decided", "escalated"]}
    with pytest.raises(InvalidDecision, match="top tier"):
        q.decide(decision("up", "escalate", reviewer="mo"), tiers=None)
    assert m.step() == {}
    # Comments, on a pending and on a settled item.
    q.decide(decision("note", "comment", reviewer="dora"))
    q.decide(decision("one", "comment", reviewer="dora"))
    assert m.step() == {"note": ["commented"], "one": ["commented"]}


def scenario_tick(m: Machine, make_item: MakeItem) -> None:
    q = m.queue
    q.enqueue_many(
        [
            make_item("late", enqueued_at=_ago(2), sla_deadline=_ago(1)),
            make_item(
                "held",
                enqueued_at=_ago(2),
                sla_deadline=_ago(1),
                hold_for_review=True,
                hold_fallback="release_as_is",
            ),
            make_item("leased"),
        ]
    )
    m.step()
    q.claim("leased", "alice", lease_s=0.05)
    m.step(rebuilt=False)
    time.sleep(0.1)
    q.tick()
    assert m.step() == {
        "leased": ["claim_expired"],
        "late": ["sla_breached", "escalated"],
        "held": ["sla_breached", "released", "escalated"],
    }
    # At the top tier a breach is recorded and the item stays there, with no deadline left.
    q.enqueue(make_item("top", enqueued_at=_ago(0), sla_deadline=datetime.now(UTC)))
    q.decide(decision("top", "escalate", reviewer="bob", escalate_to="ml_team"))
    m.step()
    time.sleep(0.1)
    q.tick()
    assert m.step() == {"top": ["sla_breached"]}
    state = q.review_state("top")
    assert state is not None
    assert (state.tier, state.deadline_ms, state.breaches) == ("ml_team", 0, 1)


def scenario_assign(m: Machine, make_item: MakeItem) -> None:
    q = m.queue
    q.enqueue(make_item("a", reviews_required=2))
    q.claim("a", "alice")
    q.claim("a", "bob")
    m.step()
    q.assign("a", "bob")  # alice's claim is void, bob's stays
    assert m.step() == {"a": ["assigned"]}
    assert [c.reviewer for c in q.claims("a")] == ["bob"]
    q.assign("a", None)
    assert m.step() == {"a": ["assigned"]}
    q.enqueue(make_item("done"))
    q.decide(decision("done", reviewer="carol"))
    m.step()
    with pytest.raises(InvalidDecision, match="settled"):
        q.assign("done", "bob")
    assert m.step() == {}


def scenario_erase(m: Machine, make_item: MakeItem) -> None:
    q = m.queue
    subject = {"user_id": "u9"}
    q.enqueue_many(
        [
            make_item("p", metadata=subject, hold_for_review=True),
            make_item("d", metadata=subject),
            make_item("c", metadata=subject),
            make_item("other", metadata={"user_id": "u8"}),
        ]
    )
    q.decide(decision("d", reviewer="alice"))
    q.claim("c", "bob")
    m.step()
    assert sorted(q.erase_subject("u9")) == ["c", "d", "p"]
    assert m.step() == {"p": ["released", "erased"], "d": ["erased"], "c": ["erased"]}
    assert q.enqueue(make_item("p")) is False  # an erased id stays out
    assert m.step() == {}


# Each scenario runs one script's paths (and the steps that lead to them), and emits these.
SCENARIOS: dict[str, tuple[Callable[[Machine, MakeItem], None], set[str]]] = {
    "enqueue": (scenario_enqueue, {"queued"}),
    "claims": (
        scenario_claims,
        {"queued", "claimed", "claim_renewed", "claim_released", "claim_expired"},
    ),
    "decide": (
        scenario_decide,
        {"queued", "claimed", "decided", "released", "escalated", "commented"},
    ),
    "tick": (
        scenario_tick,
        {"queued", "claimed", "claim_expired", "sla_breached", "released", "escalated", "decided"},
    ),
    "assign": (scenario_assign, {"queued", "claimed", "assigned", "decided"}),
    "erase": (scenario_erase, {"queued", "decided", "claimed", "released", "erased"}),
}


def test_the_scenarios_cover_every_event_kind() -> None:
    assert set().union(*(kinds for _, kinds in SCENARIOS.values())) == set(REVIEW_EVENT_TYPES)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_script_path_follows_the_state_machine(
    name: str, machine: Machine, make_item: MakeItem
) -> None:
    run, kinds = SCENARIOS[name]
    run(machine, make_item)
    assert machine.kinds == kinds


def test_a_name_the_preamble_lacks_fails_the_script(redis_client: redis.Redis) -> None:
    from vigil.reviewers import lua

    script = redis_client.register_script(lua.preamble() + "return EV.queued .. ',' .. EV.nope")
    with pytest.raises(redis.ResponseError, match="no event kind named nope"):
        script(keys=[], args=[])
    ok = redis_client.register_script(lua.preamble() + "return {K.item, ST.pending, TOP_TIER}")
    assert ok(keys=[], args=[]) == [b"item", b"pending", b"ml_team"]
