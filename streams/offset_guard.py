"""The screening worker's guard against records Faust skips, so that no result is lost.

Faust (faust-streaming 0.15) does not always hand a partition's records over in an unbroken
run. In the kill -9 fault test, with this guard logging what it found (in an early version
that read the committed offset at a partition's first batch rather than at its assignment):
streams starting 70-355 records past that offset after a restart, and single records
missing in the middle of a run (offset N-1, then N+1). Faust's commit step lets the
committed offset pass one missing record (it holds back only when the acknowledged offsets
start *more* than one past the committed offset), and one result in 20,000 was lost that
way before this guard. So the worker checks that each partition's records follow on from
the committed offset at assignment and from each other; the records of a hole are read
from Kafka and screened with the batch, before the batch's offsets are acknowledged, and
the hole is logged. A re-read can only repeat work, never drop it: the worker settles each
request id once (``ReviewQueue.settle``), so a re-screened result repeats its first outcome.

Most gaps are not skipped records at all: the gateway writes ``llm.results`` in transactions,
and each commit marker takes an offset that no consumer is handed (nor an aborted record,
under read_committed). Telling the two apart needs a read, so the holes of one partition in a
batch are read in one span, and only holes that held records are logged as skips.

``OffsetGuard`` is what the worker calls; ``OffsetTracker`` its pure bookkeeping and
``HoleReader`` the two Kafka reads it needs (the committed offset, the records of a hole),
blocking: the guard calls them in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.streams import kafka_clients
from vigil.streams.kafka_clients import KafkaConsumer, TopicPartition
from vigil_client.security import KafkaSecurity

__all__ = ["Guarded", "Hole", "HoleReader", "OffsetGuard", "OffsetTracker"]

log = logging.getLogger("vigil.offset_guard")

# (topic, partition)
Partition = tuple[str, int]
_READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Hole:
    """Offsets ``start`` to ``end - 1`` of a partition were not handed to the worker."""

    topic: str
    partition: int
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}] offsets {self.start}-{self.end - 1}"


@dataclass(frozen=True)
class Guarded:
    """A batch's values with the skipped records put back, for ``OffsetGuard.done``."""

    values: list[bytes]
    following: dict[Partition, int]
    holes: list[Hole] = field(default_factory=list)


class OffsetTracker:
    """The next offset expected per partition; finds the holes in what a batch holds.

    ``plan`` does not change the tracker, so a batch that fails (a hole that could not be
    read) is planned again from the same state; ``commit`` records a batch once it is done.
    """

    def __init__(self) -> None:
        self._next: dict[Partition, int] = {}

    def reset(self) -> None:
        """Forget every partition (an assignment: the committed offsets are read again)."""
        self._next.clear()

    def known(self, partition: Partition) -> bool:
        return partition in self._next

    def start(self, partition: Partition, offset: int) -> None:
        """The partition's records start at ``offset`` (its committed offset)."""
        self._next[partition] = offset

    def plan(self, offsets: list[tuple[Partition, int]]) -> tuple[list[Hole], dict[Partition, int]]:
        """The holes before each record, and the next offsets once the batch is done.

        A record below the expected offset is a re-delivery: it is screened again (never
        dropped) and moves nothing back."""
        following = dict(self._next)
        holes: list[Hole] = []
        for partition, offset in offsets:
            expected = following.get(partition)
            if expected is not None and offset > expected:
                holes.append(Hole(partition[0], partition[1], expected, offset))
            if expected is None or offset >= expected:
                following[partition] = offset + 1
        return holes, following

    def commit(self, following: dict[Partition, int]) -> None:
        self._next.update(following)


class HoleReader:
    """Reads committed offsets and the records of holes (one consumer, outside any group)."""

    def __init__(
        self, bootstrap: str, group_id: str, security: KafkaSecurity | None = None
    ) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._security = security
        self._consumer: KafkaConsumer | None = None

    def _client(self) -> KafkaConsumer:
        if self._consumer is None:
            # group_id only to read the group's committed offsets: it never joins the group.
            self._consumer = kafka_clients.consumer(
                self._bootstrap,
                self._security,
                group_id=self._group_id,
                enable_auto_commit=False,
                # What the worker's own consumer sees: no aborted gateway outputs.
                isolation_level="read_committed",
            )
        return self._consumer

    def committed(self, partition: Partition) -> int:
        """Where the worker's group resumes this partition (the log start when it has no
        committed offset: the app starts new groups from the earliest record)."""
        tp = TopicPartition(*partition)
        consumer = self._client()
        offset = consumer.committed(tp)
        if offset is None:
            offset = consumer.beginning_offsets([tp])[tp]
        return int(offset)

    def read(self, hole: Hole) -> list[bytes]:
        """The values of the hole's records, in offset order (none for offsets that hold no
        committed record: a transaction's markers, an aborted transaction's records)."""
        found = self.read_span(hole.topic, hole.partition, hole.start, hole.end)
        return [found[offset] for offset in sorted(found)]

    def read_span(self, topic: str, partition: int, start: int, end: int) -> dict[int, bytes]:
        """The committed records from ``start`` up to ``end`` (excluded): offset -> value."""
        tp = TopicPartition(topic, partition)
        consumer = self._client()
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: dict[int, bytes] = {}
        deadline = time.monotonic() + _READ_TIMEOUT_S
        while consumer.position(tp) < end:
            if time.monotonic() > deadline:
                span = Hole(topic, partition, start, end)
                raise TimeoutError(f"could not read {span} from Kafka within {_READ_TIMEOUT_S}s")
            for records in consumer.poll(timeout_ms=500, max_records=500).values():
                for record in records:
                    if start <= record.offset < end and record.value is not None:
                        found[record.offset] = record.value
        return found

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def _by_partition(holes: list[Hole]) -> dict[Partition, list[Hole]]:
    out: dict[Partition, list[Hole]] = {}
    for hole in holes:
        out.setdefault((hole.topic, hole.partition), []).append(hole)
    return out


class OffsetGuard:
    """The guard of one consumer of ``topic``: told of each assignment, it hands back each
    batch's values with the records the consumer skipped put back in their place.

    Events are Faust's (``event.message.tp``, ``event.message.offset``, ``event.value``).
    ``on_done`` is given each batch's next offsets once it is done (all of them finished,
    skipped records included): the worker commits by them (``faust_app.ProgressCommitter``),
    since the consumer itself may never commit past records it skipped."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        topic: str,
        on_done: Callable[[dict[Partition, int]], Awaitable[None]] | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.topic = topic
        self._tracker = OffsetTracker()
        self._reader = HoleReader(bootstrap, group_id, security)
        self._on_done = on_done

    async def _start(self, partition: Partition) -> None:
        committed = await asyncio.to_thread(self._reader.committed, partition)
        self._tracker.start(partition, committed)

    async def on_assigned(self, assigned: Iterable[Any]) -> None:
        """Where each partition resumes is read now, before its records flow (read later,
        it could already be past records the consumer skipped)."""
        self._tracker.reset()
        for tp in assigned:
            if tp.topic == self.topic:
                partition = (tp.topic, tp.partition)
                try:
                    await self._start(partition)
                except Exception as exc:  # the first batch reads it instead (and retries)
                    log.warning("cannot read where %s resumes yet: %s", partition, exc)

    async def values_of(self, events: Sequence[Any]) -> Guarded:
        """The batch's values, each preceded by the records its partition skipped, and what
        ``done`` records once the batch is screened (nothing changes until then)."""
        offsets = []
        for event in events:
            tp = event.message.tp
            partition = (tp.topic, tp.partition)
            if not self._tracker.known(partition):
                await self._start(partition)
            offsets.append((partition, event.message.offset))
        holes, following = self._tracker.plan(offsets)
        filled: dict[tuple[Partition, int], list[bytes]] = {}
        for part, in_part in _by_partition(holes).items():
            start, end = in_part[0].start, in_part[-1].end
            found = await asyncio.to_thread(self._reader.read_span, *part, start, end)
            for hole in in_part:
                records = [found[o] for o in range(hole.start, hole.end) if o in found]
                if records:
                    log.warning("the consumer skipped %s; read them from Kafka", hole)
                filled[(part, hole.end)] = records
        values: list[bytes] = []
        for event, at in zip(events, offsets, strict=True):
            values += filled.get(at, [])
            values.append(event.value)
        return Guarded(values, following, holes)

    async def done(self, batch: Guarded) -> None:
        """The batch ``values_of`` planned is screened: its partitions move on."""
        self._tracker.commit(batch.following)
        if self._on_done is not None:
            await self._on_done(batch.following)

    def close(self) -> None:
        self._reader.close()
