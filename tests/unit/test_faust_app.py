"""The shared Faust app settings and raw topics (built only, no broker needed)."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP
from faust.types.enums import ProcessingGuarantee
from faust.types.tuples import Message

from vigil.settings import VigilSettings
from vigil.streams.faust_app import ProgressCommitter, new_app, raw_topic

SETTINGS = VigilSettings(kafka_bootstrap="kafka.test:9092", topic_partitions=7)


def test_new_app_has_the_shared_settings() -> None:
    conf = new_app("vigil-test", SETTINGS).conf
    assert conf.id == "vigil-test"
    assert [str(url) for url in conf.broker] == ["kafka://kafka.test:9092"]
    assert conf.store.scheme == "memory"
    assert conf.web_enabled is False
    assert conf.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE
    assert conf.consumer_auto_offset_reset == "earliest"
    assert conf.topic_partitions == 7
    assert conf.producer_acks == -1
    assert conf.broker_commit_interval == 1.0


def test_overrides_are_an_apps_own_settings() -> None:
    conf = new_app(
        "vigil-test",
        SETTINGS,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=2.0,
        stream_buffer_maxsize=8192,
        broker_commit_interval=0.5,
    ).conf
    assert conf.broker_session_timeout == 6.0
    assert conf.broker_heartbeat_interval == 2.0
    assert conf.stream_buffer_maxsize == 8192
    assert conf.broker_commit_interval == 0.5
    # The shared settings not overridden stay.
    assert conf.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE
    # Without overrides an app keeps Faust's defaults for the rest.
    default = new_app("vigil-test", SETTINGS).conf
    assert default.stream_buffer_maxsize != 8192
    assert default.broker_session_timeout != 6.0


def test_raw_topic_passes_bytes_through() -> None:
    topic = raw_topic(new_app("vigil-test", SETTINGS), "llm.results")
    assert topic.get_topic_name() == "llm.results"
    assert topic.key_type is bytes
    assert topic.value_type is bytes
    assert topic.key_serializer == "raw"
    assert topic.value_serializer == "raw"


def test_raw_topic_hands_bad_input_to_our_code_unchanged() -> None:
    # Not JSON, not even UTF-8: it must reach the agent (which dead-letters it), not fail
    # in Faust's deserializer.
    app = new_app("vigil-test", SETTINGS)
    topic = raw_topic(app, "llm.results")
    bad = b"\xff{not json"
    message = Message("llm.results", 0, 0, 0.0, 0, None, b"\xfekey", bad, None)
    assert topic.schema.loads_key(app, message) == b"\xfekey"
    assert topic.schema.loads_value(app, message) == bad
    assert topic.prepare_value(bad, None) == (bad, None)


async def test_the_apps_consumer_reads_only_committed_records() -> None:
    # The gateway writes llm.results in transactions: an aborted one must never be screened.
    app = new_app("vigil-test", SETTINGS)
    consumer = app.consumer._thread._create_consumer(loop=asyncio.get_running_loop())
    try:
        assert consumer._isolation_level == "read_committed"
    finally:
        await consumer.stop()


async def test_faust_alone_stops_committing_where_it_resumed_past_its_offset() -> None:
    # Faust resumed 155 records past its committed offset 10 (the guard read 10-164 back):
    # by its own count it never commits that partition again.
    consumer = new_app("vigil-test", SETTINGS).consumer
    tp = TP("llm.results", 0)
    consumer._committed_offset[tp] = 10
    consumer._acked[tp].extend([165, 166])
    consumer._acked_index[tp].update([165, 166])
    assert consumer._new_offset(tp) is None


async def test_the_progress_committer_commits_the_guards_count_at_most_once_an_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = new_app("vigil-test", SETTINGS)
    consumer = app.consumer
    committed: list[dict[TP, int]] = []

    async def commit(offsets: dict[TP, int]) -> bool:
        committed.append(dict(offsets))
        consumer._committed_offset.update(offsets)
        return True

    monkeypatch.setattr(consumer, "_commit_offsets", commit)
    committer = ProgressCommitter(app, interval_s=60.0)
    a, b = ("llm.results", 0), ("llm.results", 1)
    await committer({a: 167, b: 5})
    await committer({a: 200})  # within the interval: kept for the next commit
    assert committed == [{TP(*a): 167, TP(*b): 5}]
    await committer.flush()  # the timer's: what is pending goes now
    assert committed[-1] == {TP(*a): 200}
    await committer({b: 5})
    await committer.flush()  # b did not move: nothing to commit
    assert len(committed) == 2
