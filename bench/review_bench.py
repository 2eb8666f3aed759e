"""Review-domain benchmark (run by hand; not part of pytest).

    .venv/bin/python bench/review_bench.py [--items 20000] [--threads 8] [--decisions 500]

Starts its own Redis servers (AOF, ``appendfsync always`` as the project runs it, and
``everysec`` for comparison), Kafka and the outbox relay on free loopback ports, then
measures, side by side on the same Redis:

1. enqueue rate: ``ReviewQueue.enqueue_many`` (one Lua call per 100 items: item hash,
   indexes, deadline, audit event, outbox event) vs raw redis-py ``ZADD`` pipelined in
   batches of 100 (and, for scale, the same bytes pipelined without atomicity or indexes:
   the item serialised into a hash, a ``ZADD`` and an ``XADD`` of it);
2. claim rate: ``ReviewQueue.claim_next`` (lease reaping, eligibility, lease, audit and
   outbox event) vs a raw Lua claim (``ZPOPMIN`` + lease ``HSET`` + ``ZADD``), both from
   ``--threads`` threads, one round trip per claim;
3. decision -> record visible on Kafka (``review.decisions``) through the relay: p50/p99.

Each rate is measured twice, interleaved (raw, domain, raw, domain), and the better run
of each is kept. Prints the numbers and the ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
from kafka import KafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vigil.reviewers.connect import redis_client  # noqa: E402
from vigil.reviewers.policy import ReviewPolicy  # noqa: E402
from vigil.reviewers.queue import ENQUEUE_BATCH, ReviewQueue  # noqa: E402
from vigil.reviewers.redis_server import redis_process  # noqa: E402
from vigil.settings import VigilSettings, load_settings  # noqa: E402
from vigil.streams import topics  # noqa: E402
from vigil.streams.kafka_broker import broker_process  # noqa: E402
from vigil.streams.topics import ensure_topics  # noqa: E402
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready  # noqa: E402
from vigil_client.contracts import CheckResult, Evidence, ReviewDecision, ReviewItem  # noqa: E402

RAW_CLAIM = """
local m = redis.call('ZPOPMIN', KEYS[1])
if #m == 0 then return false end
local t = redis.call('TIME')
local exp = tonumber(t[1]) * 1000 + 60000
redis.call('HSET', KEYS[2], m[1], ARGV[1] .. '|' .. exp)
redis.call('ZADD', KEYS[3], exp, m[1])
return m[1]
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_items(n: int, run: str) -> list[ReviewItem]:
    """Realistic items: a GSM8K-sized prompt and output, two checks, metadata."""
    steps = ["April: 48", "May: 48 / 2 = 24", "Total: 48 + 24 = 70"]
    checks = [
        CheckResult(
            check="arithmetic",
            score=0.9,
            flagged=True,
            evidence=[Evidence(message="48 + 24 = 72, not 70", step_index=2)],
            first_faulty_step=2,
        ),
        CheckResult(check="self_consistency", score=0.4, flagged=False),
    ]
    return [
        ReviewItem(
            request_id=f"{run}-{i}",
            prompt="Natalia sold clips to 48 of her friends in April, and then she sold half "
            "as many clips in May. How many clips did Natalia sell altogether?",
            output="\n".join([*steps, "A: 70"]),
            steps=steps,
            final_answer="70",
            model_name="replay-reasoner",
            model_version="175b_verification",
            risk_score=(i % 100) / 100,
            checks=checks,
            first_faulty_step=2,
            product="tutor",
            metadata={"locale": "en-GB", "user_id": f"u{i % 500}"},
        )
        for i in range(n)
    ]


def best_rate(runs: list[tuple[int, float]]) -> float:
    return max(n / s for n, s in runs)


def bench_enqueue(client: redis.Redis, n: int) -> tuple[float, float, float]:
    raw_runs, domain_runs, store_runs = [], [], []
    for rnd in range(2):
        run = uuid.uuid4().hex[:6]
        items = make_items(n, run)
        key = f"raw-{run}:pending"
        t0 = time.perf_counter()
        for start in range(0, n, ENQUEUE_BATCH):
            pipe = client.pipeline(transaction=False)
            for item in items[start : start + ENQUEUE_BATCH]:
                pipe.zadd(key, {item.request_id: -item.risk_score})
            pipe.execute()
        raw_runs.append((n, time.perf_counter() - t0))

        # Informational: the same bytes stored without atomicity, indexes or dedupe (the item
        # serialised, written as a hash, indexed, and its event appended to a stream).
        t0 = time.perf_counter()
        for start in range(0, n, ENQUEUE_BATCH):
            pipe = client.pipeline(transaction=False)
            for item in items[start : start + ENQUEUE_BATCH]:
                body = item.model_dump_json()
                pipe.hset(f"store-{run}:{item.request_id}", "item", body)
                pipe.zadd(f"store-{run}:pending", {item.request_id: -item.risk_score})
                pipe.xadd(f"store-{run}:outbox", {"value": body})
            pipe.execute()
        store_runs.append((n, time.perf_counter() - t0))

        queue = ReviewQueue(client, prefix=f"bench-{run}")
        t0 = time.perf_counter()
        created = queue.enqueue_many(items)
        domain_runs.append((n, time.perf_counter() - t0))
        assert all(created), "enqueue refused fresh items"
        print(
            f"    round {rnd + 1}: raw ZADD {n / raw_runs[-1][1]:9,.0f}/s   "
            f"enqueue_many {n / domain_runs[-1][1]:9,.0f}/s   "
            f"(same bytes, non-atomic {n / store_runs[-1][1]:9,.0f}/s)",
            flush=True,
        )
    return best_rate(raw_runs), best_rate(domain_runs), best_rate(store_runs)


def _threaded(threads: int, work: Callable[[], bool]) -> tuple[int, float]:
    """Runs ``work`` in ``threads`` threads until each gets False; (calls, seconds)."""
    counts = [0] * threads

    def loop(i: int) -> None:
        while work():
            counts[i] += 1

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts), time.perf_counter() - t0


def bench_claim(client: redis.Redis, n: int, threads: int) -> tuple[float, float]:
    raw_claim = client.register_script(RAW_CLAIM)
    raw_runs, domain_runs = [], []
    for rnd in range(2):
        run = uuid.uuid4().hex[:6]
        items = make_items(n, run)
        raw_key = f"rawclaim-{run}"
        pipe = client.pipeline(transaction=False)
        for i, item in enumerate(items):
            pipe.zadd(f"{raw_key}:open", {item.request_id: i})
        pipe.execute()
        queue = ReviewQueue(client, prefix=f"claim-{run}", policy=ReviewPolicy(lease_s=600))
        queue.enqueue_many(items)

        def raw(raw_key: str = raw_key) -> bool:
            return bool(
                raw_claim(
                    keys=[f"{raw_key}:open", f"{raw_key}:claims", f"{raw_key}:leases"],
                    args=["reviewer"],
                )
            )

        counter = iter(range(10**9))

        def domain(queue: ReviewQueue = queue, counter: Iterator[int] = counter) -> bool:
            return queue.claim_next(f"reviewer-{next(counter) % 50}") is not None

        raw_runs.append(_threaded(threads, raw))
        domain_runs.append(_threaded(threads, domain))
        assert raw_runs[-1][0] == n and domain_runs[-1][0] == n, (raw_runs, domain_runs)
        print(
            f"    round {rnd + 1}: raw Lua claim {n / raw_runs[-1][1]:9,.0f}/s   "
            f"claim_next {n / domain_runs[-1][1]:9,.0f}/s",
            flush=True,
        )
    return best_rate(raw_runs), best_rate(domain_runs)


def bench_decision_latency(settings: VigilSettings, decisions: int) -> list[float]:
    """ms from calling decide() to the record arriving at a Kafka consumer."""
    queue = ReviewQueue.connect(settings.redis_connection)
    items = make_items(decisions, uuid.uuid4().hex[:6])
    queue.enqueue_many(items)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    parts = [
        TopicPartition(topics.DECISIONS, p) for p in consumer.partitions_for_topic(topics.DECISIONS)
    ]
    consumer.assign(parts)
    consumer.seek_to_end(*parts)
    for tp in parts:
        consumer.position(tp)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                now = time.perf_counter()
                for msg in records:
                    seen.setdefault(ReviewDecision.from_json(msg.value).decision_id, now)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(1.0)  # the consumer's first fetch is in flight
    # Let the relay drain the enqueue events first, so decisions don't queue behind them.
    while queue.outbox_length():
        time.sleep(0.1)
    for item in items:
        claim = queue.claim_next("bench")
        assert claim is not None
        d = ReviewDecision(
            request_id=claim.request_id,
            decision="approve",
            reviewer="bench",
            claim_id=claim.claim_id,
            model_name=item.model_name,
            model_version=item.model_version,
        )
        sent[d.decision_id] = time.perf_counter()
        queue.decide(d)
        time.sleep(0.01)  # a steady stream, not a burst
    deadline = time.monotonic() + 60
    while len(seen) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join()
    consumer.close()
    missing = set(sent) - set(seen)
    if missing:
        print(f"    {len(missing)} decisions never seen on Kafka within 60 s")
    return sorted((seen[d] - t) * 1000 for d, t in sent.items() if d in seen)


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(q * (len(sorted_ms) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--decisions", type=int, default=500)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="review-bench-") as tmp,
        Supervisor(Path(tmp) / "logs", echo=lambda _l: None) as sup,
    ):
        base = load_settings(
            run_dir=Path(tmp),
            kafka_bootstrap=f"127.0.0.1:{_free_port()}",
            kafka_controller_port=_free_port(),
            redis_url=f"redis://127.0.0.1:{_free_port()}/0",
            topic_partitions=2,
        )
        results: dict[str, dict[str, float]] = {}
        for fsync in ("always", "everysec"):
            settings = base.model_copy(
                update={
                    "redis_appendfsync": fsync,
                    "redis_url": base.redis_url
                    if fsync == "always"
                    else f"redis://127.0.0.1:{_free_port()}/0",
                    "run_dir": Path(tmp) / fsync,
                }
            )
            spec = redis_process(settings)
            spec.name = f"redis-{fsync}"
            sup.start(spec)
            client = redis_client(settings.redis_connection)
            print(f"\nRedis with appendfsync {fsync} ({args.items} items, {args.threads} threads)")
            print("  enqueue:")
            raw_e, dom_e, store_e = bench_enqueue(client, args.items)
            print("  claim:")
            raw_c, dom_c = bench_claim(client, args.items // 4, args.threads)
            results[fsync] = {
                "raw_e": raw_e,
                "dom_e": dom_e,
                "store_e": store_e,
                "raw_c": raw_c,
                "dom_c": dom_c,
            }
            client.close()

        print("\nKafka + relay for decision -> review.decisions latency ...", flush=True)
        sup.start(broker_process(base))
        ensure_topics(base.kafka_bootstrap, base.topic_partitions)
        sup.start(
            ProcessSpec(
                name="relay",
                argv=[sys.executable, "-m", "vigil.cli", "relay"],
                env={"DO_NOT_TRACK": "1", **base.as_env()},
                ready=marker_ready(base.ready_dir, "relay", lambda: sup.pid("relay")),
                cwd=ROOT,
            )
        )
        lat = bench_decision_latency(base, args.decisions)

    print("\n=== results (best of 2 runs each; same Redis for each pair) ===")
    for fsync, r in results.items():
        print(f"appendfsync {fsync}:")
        print(
            f"  enqueue  raw pipelined ZADD {r['raw_e']:9,.0f}/s   domain enqueue_many "
            f"{r['dom_e']:9,.0f}/s   ratio {r['dom_e'] / r['raw_e']:.2f}  (target >= 0.5)"
        )
        print(
            f"           (informational: the same bytes pipelined without atomicity or indexes "
            f"{r['store_e']:,.0f}/s; domain/that {r['dom_e'] / r['store_e']:.2f})"
        )
        print(
            f"  claim    raw Lua claim      {r['raw_c']:9,.0f}/s   domain claim_next   "
            f"{r['dom_c']:9,.0f}/s   ratio {r['dom_c'] / r['raw_c']:.2f}  (target >= 0.5)"
        )
    if lat:
        print(
            f"decision -> visible on Kafka (appendfsync always, {len(lat)} decisions): "
            f"p50 {statistics.median(lat):.1f} ms   p99 {percentile(lat, 0.99):.1f} ms   "
            f"max {lat[-1]:.1f} ms  (target p99 <= 100 ms)"
        )


if __name__ == "__main__":
    main()
