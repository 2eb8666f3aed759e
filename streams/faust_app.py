"""The settings every Vigil Faust app shares, and the raw topics they read and write.

Apps are built by their process's entry point, never at import: a Faust app belongs to one
event loop and opens sockets when it starts, so importing a module must not make one.

- ``at_least_once``: offsets are committed after an agent is done with a message, so a crash
  re-delivers rather than loses; consumers dedupe by request id. Agents run with
  concurrency 1 (Faust can commit past an unfinished message otherwise, stack notes #606):
  scale by partitions and worker processes instead.
- ``producer_acks=-1``: a record counts as sent once every in-sync replica has it.
- Commits every second: bounds what a crash re-delivers.
- ``earliest``: a new consumer group starts from the beginning of its topics, so nothing
  written before the app first ran is skipped.
- ``memory://`` store: tables are rebuilt from their changelog topics (Kafka is the record).
- No web server: readiness is a file (``vigil.supervisor.mark_ready``), not an HTTP port.

Topics are raw bytes in and out: values are validated by the pydantic contracts in our code
(a Faust Record would fail to deserialize bad input before our code could dead-letter it).
"""

from __future__ import annotations

from typing import Any

import faust

from vigil.settings import VigilSettings


def new_app(app_id: str, settings: VigilSettings, **overrides: Any) -> faust.App:
    """A Faust app with the shared settings; ``overrides`` are an app's own (Faust keywords)."""
    conf: dict[str, Any] = {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        "store": "memory://",
        "web_enabled": False,
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "topic_partitions": settings.topic_partitions,
        "producer_acks": -1,
        "broker_commit_interval": 1.0,
    }
    conf.update(overrides)
    return faust.App(app_id, **conf)


def raw_topic(app: faust.App, name: str) -> Any:
    """Topic ``name`` with bytes keys and values, passed through unparsed."""
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
