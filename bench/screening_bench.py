"""Screening throughput, side by side on one broker: a raw consumer vs the screening worker.

    .venv/bin/python bench/screening_bench.py -n 100000
    .venv/bin/python bench/screening_bench.py -n 100000 --repeat-prompts

Starts its own Kafka and Redis (free loopback ports, a temp folder), pre-produces N results
built from the recorded GSM8K outputs (one self-consistency sample each, about 1.3 KB), then:

1. a raw aiokafka consumer reads the N records (no parsing): the broker/client ceiling;
2. for attribution, the worker's own ``Screener`` runs offline in this process over the
   first ``--offline-n`` of the same results, in the worker's batch size, and the CPU time
   of each stage is printed in microseconds per result (parsing the record, parsing the
   solutions, each check, building the records, serialising the outcome);
3. the screening worker (``vigil worker``: all checks, Redis review queue, outcomes to
   Kafka) processes the same N records.

Prints events/s of both and their ratio, the worker's CPU seconds per 1,000 results, and its
resident memory sampled every tenth of the run (growth shows there), with the machine's load
average before and after. Prompts are unique by default (the novelty check's worst case:
every prompt is new to its cache); ``--repeat-prompts`` keeps the 1,055 GSM8K questions as
they are. Either way the outputs are the 4,220 recorded GSM8K solutions over and over, so
the calculator-expression memo hits more often than on real traffic. Run by hand: not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from vigil.reviewers.redis_server import redis_process
from vigil.settings import VARIANTS, VigilSettings, load_settings
from vigil.streams import topics
from vigil.streams.kafka_broker import broker_process
from vigil.streams.topics import ensure_topics
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready
from vigil_client.contracts import InferenceResult

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def build_results(settings: VigilSettings, n: int, samples: int, unique: bool) -> list[bytes]:
    rows = [orjson.loads(x) for x in settings.gsm8k_path.read_bytes().splitlines()]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i, (row, variant) in enumerate(zip(itertools.cycle(rows), itertools.cycle(VARIANTS))):
        if i == n:
            break
        others = [row[v]["solution"] for v in VARIANTS if v != variant][:samples]
        prompt = row["question"] + (f" (case {i})" if unique else "")
        result = InferenceResult(
            request_id=f"bench-{i}",
            created_at=start + timedelta(milliseconds=i),
            request_created_at=start,
            prompt=prompt,
            output=row[variant]["solution"],
            samples=others,
            model_name="replay-reasoner",
            model_version=variant,
            latency_ms=10.0,
        )
        out.append(result.to_json())
    return out


def produce(settings: VigilSettings, values: list[bytes]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20, batch_size=524288
    )
    for i, v in enumerate(values):
        producer.send(topics.RESULTS, v, key=f"bench-{i}".encode())
    producer.flush()
    producer.close()


async def raw_consume(settings: VigilSettings, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topics.RESULTS,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen = 0
        t0 = time.perf_counter()
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for msgs in batches.values():
                seen += len(msgs)
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


def offline_costs(settings: VigilSettings, values: Sequence[bytes]) -> None:
    """CPU microseconds per result of each stage of the worker's screening, offline."""
    from vigil.streams.checks.base import prompt_key
    from vigil.streams.triage import Screener, Triage

    t0 = time.perf_counter()
    screener = Screener.from_files(settings.checks_config, settings.novelty_reference)
    print(f"offline: checks built in {time.perf_counter() - t0:.1f}s; screening {len(values):,}")
    stages: dict[str, float] = {}
    size = settings.worker.batch_size
    for start in range(0, len(values), size):
        began = time.thread_time()
        results = [InferenceResult.from_json(v) for v in values[start : start + size]]
        keys = [prompt_key(r.prompt) for r in results]
        stages["record in"] = stages.get("record in", 0.0) + time.thread_time() - began
        out = screener.screen_batch(results, None, keys, timings=stages)
        began = time.thread_time()
        for t in out:
            if isinstance(t, Triage):
                t.outcome.to_json()
                if t.item is not None:
                    t.item.to_json()
        stages["records out"] = stages.get("records out", 0.0) + time.thread_time() - began
    total = sum(stages.values())
    width = max(len(s) for s in stages)
    for stage, seconds in stages.items():
        print(f"  {stage:<{width}}  {seconds / len(values) * 1e6:8.1f} us/result")
    print(f"  {'total':<{width}}  {total / len(values) * 1e6:8.1f} us/result")


def finished(consumer: KafkaConsumer, parts: list[TopicPartition]) -> int:
    return sum(consumer.end_offsets(parts).values())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="results (default 100,000)")
    parser.add_argument("--samples", type=int, default=1, help="samples per result (default 1)")
    parser.add_argument(
        "--repeat-prompts",
        action="store_true",
        help="GSM8K questions as they are (1,055 distinct: the novelty cache hits); "
        "default: every prompt unique (the worst case)",
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--checks-config", default="", help="a checks TOML (default: built-in)")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="the worker's batch size (default: its own)"
    )
    parser.add_argument(
        "--offline-n", type=int, default=5000, help="results screened offline for attribution"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the bench folder (Kafka log: ~6 GB at 1M)"
    )
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    try:
        return _run(args, run_dir)
    finally:
        if args.keep:
            print(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


def _run(args: argparse.Namespace, run_dir: Path) -> int:
    settings = load_settings(
        run_dir=run_dir,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        topic_partitions=args.partitions,
        redis_appendfsync="everysec",
        checks_config=args.checks_config,
        **({"worker_batch_size": args.batch_size} if args.batch_size else {}),
    )
    prompts = "GSM8K prompts as they are" if args.repeat_prompts else "unique prompts"
    print(f"bench dir {run_dir}; {args.n:,} results, {args.samples} sample(s) each, {prompts}")
    print(f"before: {load()}")
    with Supervisor(settings.logs_dir, echo=lambda s: None) as sup:
        sup.start(redis_process(settings))
        sup.start(broker_process(settings))
        ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
        values = build_results(settings, args.n, args.samples, unique=not args.repeat_prompts)
        size = sum(len(v) for v in values) / len(values)
        t0 = time.perf_counter()
        produce(settings, values)
        print(
            f"produced {args.n:,} results of {size:,.0f} bytes on average in "
            f"{time.perf_counter() - t0:.1f}s"
        )
        sample = values[: args.offline_n]
        del values

        raw_s = asyncio.run(raw_consume(settings, args.n))
        raw_rate = args.n / raw_s
        print(f"raw aiokafka consumer:  {raw_rate:10,.0f} events/s  ({raw_s:.1f}s)")

        if sample:
            offline_costs(settings, sample)
        del sample

        sup.start(
            ProcessSpec(
                name="worker",
                argv=[sys.executable, "-m", "vigil.cli", "worker"],
                env={"DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1", **settings.as_env()},
                ready=marker_ready(settings.ready_dir, "worker", lambda: sup.pid("worker")),
                ready_timeout_s=180.0,
                cwd=REPO,
            )
        )
        pid = sup.pid("worker")
        assert pid is not None
        proc = psutil.Process(pid)
        start_rss = proc.memory_info().rss / 2**20
        watch = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        parts = [
            TopicPartition(t, p)
            for t, count in ((topics.SCREENED, args.partitions), (topics.RESULTS_DLQ, 1))
            for p in range(count)
        ]
        cpu0 = sum(proc.cpu_times()[:2])
        first_at = None
        start_done = 0
        rss: list[tuple[int, float]] = []
        tenth = 1
        deadline = time.monotonic() + 4 * 3600
        done = 0
        while done < args.n and time.monotonic() < deadline:
            time.sleep(0.2)
            done = finished(watch, parts)
            if first_at is None and done > 0:
                first_at, start_done = time.perf_counter(), done
                cpu0 = sum(proc.cpu_times()[:2])
            while tenth <= 10 and done >= tenth * args.n / 10:
                rss.append((done, proc.memory_info().rss / 2**20))
                tenth += 1
        end = time.perf_counter()
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        watch.close()
        if first_at is None or done < args.n:
            print(f"worker did not finish: {done:,} of {args.n:,}", file=sys.stderr)
            return 1
        measured = done - start_done
        rate = measured / (end - first_at)
        print(
            f"screening worker:       {rate:10,.0f} events/s  ({end - first_at:.1f}s for "
            f"{measured:,}, after its first outcome)"
        )
        print(f"ratio worker / raw:     {rate / raw_rate:10.3f}")
        print(f"worker CPU:             {cpu / measured * 1000:10.2f} CPU-s per 1k results")
        print(f"worker RSS:             {start_rss:,.0f} MB when ready, then")
        for at, mb in rss:
            print(f"    {mb:6,.0f} MB after {at:,}")
        print(f"after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
