"""Reads topics in the background, as Vigil's consumers read them (committed records only),
for the fault tests: topic -> request id -> raw values, for the keys with one prefix."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence

from kafka import KafkaConsumer

from vigil.settings import VigilSettings


class TopicReader:
    def __init__(self, settings: VigilSettings, names: Sequence[str], prefix: str) -> None:
        self.names = tuple(names)
        self.prefix = prefix.encode()
        self.by_topic: dict[str, dict[str, list[bytes]]] = {n: defaultdict(list) for n in names}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.consumer = KafkaConsumer(
            *self.names,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def keep(self, topic: str, rid: str, value: bytes) -> None:
        """One record (under the lock); subclasses may parse it."""
        self.by_topic[topic][rid].append(value)

    def _run(self) -> None:
        while not self.stop.is_set():
            for tp, msgs in self.consumer.poll(timeout_ms=200, max_records=5000).items():
                with self.lock:
                    for m in msgs:
                        if m.key is not None and m.key.startswith(self.prefix):
                            self.keep(tp.topic, m.key.decode(), m.value)

    def ids(self, *names: str) -> set[str]:
        """The request ids seen on any of ``names``."""
        with self.lock:
            return set().union(*(set(self.by_topic[n]) for n in names))

    def wait_for(self, names: Sequence[str], count: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while len(self.ids(*names)) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return len(self.ids(*names))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.consumer.close()
