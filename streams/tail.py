"""``vigil tail TOPIC``: print a topic's records as they arrive."""

from __future__ import annotations

import click

from vigil.settings import VigilSettings
from vigil.streams import kafka_clients


def tail_topic(
    settings: VigilSettings, topic: str, *, from_beginning: bool, max_messages: int
) -> None:
    consumer = kafka_clients.consumer(
        settings.kafka_bootstrap,
        settings.kafka_security,
        topic,
        client_id="vigil-tail",
        group_id=None,  # a reader, not a member: never moves anyone's offsets
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        # What consumers see: not the records of aborted gateway transactions.
        isolation_level="read_committed",
    )
    seen = 0
    try:
        for msg in consumer:
            key = msg.key.decode(errors="replace") if msg.key else "-"
            value = msg.value.decode(errors="replace") if msg.value else ""
            click.echo(f"{msg.partition}:{msg.offset} {key} {value}")
            seen += 1
            if max_messages and seen >= max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
