"""Offsets commit only past finished work; consumption pauses when work piles up; durable
producer settings."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from vigil.inference.backpressure import FlowControl, OffsetTracker
from vigil.inference.runner import consumer_config, producer_config
from vigil.settings import load_settings


def test_commits_stop_at_the_lowest_unfinished_offset() -> None:
    t: OffsetTracker[str] = OffsetTracker()
    for off in (10, 11, 12, 13):
        t.take("p0", off)
    t.take("p1", 0)
    assert t.pending == 5
    t.finish("p0", 11)
    t.finish("p0", 13)  # out of order
    assert t.committable() == {"p0": 10, "p1": 0}
    t.committed(t.committable())
    assert t.committable() == {}  # nothing advanced
    t.finish("p0", 10)
    assert t.committable() == {"p0": 12}
    t.finish("p0", 12)
    t.finish("p1", 0)
    assert t.committable() == {"p0": 14, "p1": 1}
    assert t.pending == 0


def test_revoked_partitions_are_forgotten() -> None:
    t: OffsetTracker[str] = OffsetTracker()
    t.take("p0", 5)
    t.take("p1", 7)
    assert t.pending_in({"p0"}) == 1
    t.forget({"p0"})
    t.finish("p0", 5)  # a late finish of a revoked record is harmless
    assert t.committable() == {"p1": 7}


def test_flow_pauses_when_pending_fills_and_resumes_below_half() -> None:
    f = FlowControl(max_pending=10)
    assert not f.decide(9, breaker_open=False).pause
    assert f.room(9) == 1
    assert f.decide(10, breaker_open=False).reason == "pending"
    assert f.room(10) == 0
    assert f.decide(6, breaker_open=False).pause  # hysteresis: not yet
    assert not f.decide(4, breaker_open=False).pause


def test_an_open_circuit_pauses_consumption_whatever_is_pending() -> None:
    f = FlowControl(max_pending=10)
    decision = f.decide(0, breaker_open=True)
    assert decision.pause and decision.reason == "circuit_open"
    assert not f.decide(0, breaker_open=False).pause


async def test_the_gateway_producer_is_durable_and_commits_are_manual() -> None:
    settings = load_settings()
    config = producer_config(settings)
    assert config["acks"] == "all" and config["enable_idempotence"] is True
    # Outputs and consumed offsets commit in one transaction, under a stable id.
    assert config["transactional_id"] == "vigil-gateway-0"
    assert consumer_config(settings)["enable_auto_commit"] is False
    assert consumer_config(settings)["isolation_level"] == "read_committed"
    # The settings really reach the client (no network until start()).
    producer = AIOKafkaProducer(**config)
    try:
        assert producer._txn_manager is not None  # aiokafka's idempotent-producer state
        assert producer._sender._acks == -1  # acks=all
    finally:
        await producer.stop()
