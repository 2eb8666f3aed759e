"""Gateway throughput and latency, side by side in one run against the same replay models.

    .venv/bin/python bench/gateway_bench.py -n 2000 -c 32

Starts its own Kafka and Triton (free loopback ports, a temp folder; Triton also serves the
TensorRT-LLM-shaped model without dynamic batching), then, per contract (vLLM, TensorRT-LLM)
and at the same concurrency C:

a. bare: one ``tritonclient.grpc.aio`` client, C requests in flight, nothing else (the ceiling
   for a Python client): requests/s, p50/p99 of each call;
b. gateway, backlog: N requests published to ``llm.requests`` at once; the gateway (``vigil
   gateway``, in-flight bound C) drains them; timed from the first publish until the last
   result is on ``llm.results``; p50/p99 are the gateway's own Triton-call latencies
   (``latency_ms`` in the results), the same quantity the bare loop measures;
c. gateway, closed loop: C requests outstanding through Kafka (a new one for each result
   seen), so p50/p99 are end to end, publish -> result consumed, comparable to the bare loop's.

Then the dynamic-batching gain: the bare loop against the TensorRT-LLM-shaped model with and
without Triton's dynamic batcher. Ratios are of numbers measured in this run. Run by hand:
not a test. The replay "generation" is a dictionary lookup, so this measures the serving path
(client, gRPC, Triton, PyTriton's IPC, Kafka), not a model.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
import tritonclient.grpc.aio as grpcclient
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from vigil.inference.replay_plan import load_replay_book
from vigil.inference.server import triton_process
from vigil.settings import VigilSettings, load_settings
from vigil.stack import SERVICE_ENV, VIGIL
from vigil.streams import topics
from vigil.streams.kafka_broker import broker_process
from vigil.streams.topics import ensure_topics
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready
from vigil_client.contracts import InferenceRequest

UNBATCHED = "replay-trtllm-unbatched"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class CpuMeter:
    """CPU seconds of each part of the stack (process trees), so a phase's cost per request
    can be split: on a 2-core machine they all compete, and this says who spends what."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    def _tree(self, pid: int | None) -> float:
        if pid is None:
            return 0.0
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def snapshot(self) -> dict[str, float]:
        me = psutil.Process().cpu_times()
        return {
            "gateway": self._tree(self.sup.pid("gateway")),
            "triton": self._tree(self.sup.pid("triton")),
            "kafka": self._tree(self.sup.pid("kafka")),
            "bench": me.user + me.system,
        }


async def timed(
    meter: CpuMeter, name: str, n: int, phase: Any, *, latency: str = ""
) -> dict[str, float]:
    """Runs one phase and prints requests/s, p50/p99 and CPU ms per request per part."""
    before = meter.snapshot()
    elapsed, lat_ms = await phase
    after = meter.snapshot()
    rps = n / elapsed
    p50, p99 = pct(lat_ms, 0.50), pct(lat_ms, 0.99)
    cpu = {k: (after[k] - before[k]) * 1000 / n for k in after}
    print(f"  {name:<44} {rps:8.1f} req/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    print(
        "      CPU ms/request: "
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items() if v > 0.005)
        + (f"   ({latency})" if latency else "")
    )
    return {"rps": rps, "p50": p50, "p99": p99, **{f"cpu_{k}": v for k, v in cpu.items()}}


# -- (a) the bare loop -----------------------------------------------------------------------


def vllm_inputs(prompt: str) -> list[grpcclient.InferInput]:
    def t(name: str, value: np.ndarray, dtype: str) -> grpcclient.InferInput:
        x = grpcclient.InferInput(name, list(value.shape), dtype)
        x.set_data_from_numpy(value)
        return x

    yes = np.array([True], dtype=bool)
    sampling = orjson.dumps({"temperature": 0.0, "max_tokens": 512, "seed": 0})
    return [
        t("text_input", np.array([prompt.encode()], dtype=np.object_), "BYTES"),
        t("sampling_parameters", np.array([sampling], dtype=np.object_), "BYTES"),
        t("exclude_input_in_output", yes, "BOOL"),
        t("stream", np.array([False], dtype=bool), "BOOL"),
        t("return_num_input_tokens", yes, "BOOL"),
        t("return_num_output_tokens", yes, "BOOL"),
    ]


def trtllm_inputs(prompt: str) -> list[grpcclient.InferInput]:
    def t(name: str, value: np.ndarray, dtype: str) -> grpcclient.InferInput:
        x = grpcclient.InferInput(name, list(value.shape), dtype)
        x.set_data_from_numpy(value)
        return x

    return [
        t("text_input", np.array([[prompt.encode()]], dtype=np.object_), "BYTES"),
        t("max_tokens", np.array([[512]], dtype=np.int32), "INT32"),
        t("temperature", np.array([[0.0]], dtype=np.float32), "FP32"),
        t("top_p", np.array([[1.0]], dtype=np.float32), "FP32"),
        t("top_k", np.array([[0]], dtype=np.int32), "INT32"),
        t("seed", np.array([[0]], dtype=np.uint64), "UINT64"),
        t("stream", np.array([[False]], dtype=bool), "BOOL"),
        t("exclude_input_in_output", np.array([[True]], dtype=bool), "BOOL"),
    ]


async def bare_loop(
    url: str,
    model: str,
    questions: list[str],
    concurrency: int,
    make_inputs: Callable[[str], list[grpcclient.InferInput]],
    decoupled: bool,
) -> tuple[float, list[float]]:
    client = grpcclient.InferenceServerClient(url)
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    outputs = [grpcclient.InferRequestedOutput("text_output")]

    async def one(i: int, prompt: str) -> None:
        async with sem:
            t0 = time.perf_counter()
            if decoupled:

                async def it() -> Any:
                    yield {
                        "model_name": model,
                        "inputs": make_inputs(prompt),
                        "outputs": outputs,
                        "request_id": str(i),
                    }

                async for _, error in client.stream_infer(it()):
                    if error is not None:
                        raise error
            else:
                await client.infer(model, make_inputs(prompt), outputs=outputs)
            lat.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, q) for i, q in enumerate(questions)))
    elapsed = time.perf_counter() - t0
    await client.close()
    return elapsed, lat


# -- (b), (c) the gateway through Kafka ------------------------------------------------------


def requests_for(questions: list[str], model: str, tag: str) -> list[tuple[str, bytes]]:
    out = []
    for i, q in enumerate(questions):
        r = InferenceRequest(request_id=f"{tag}-{i}", prompt=q, model=model, product="bench")
        out.append((r.request_id, r.to_json()))
    return out


async def _results_consumer(settings: VigilSettings) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        # Results are visible once the gateway's transaction commits.
        isolation_level="read_committed",
    )
    await consumer.start()
    tps = [TopicPartition(topics.RESULTS, p) for p in range(settings.topic_partitions)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)  # resolve "end" now, before anything is published
    return consumer


async def gateway_backlog(
    settings: VigilSettings, reqs: list[tuple[str, bytes]]
) -> tuple[float, list[float]]:
    consumer = await _results_consumer(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    wanted = {rid for rid, _ in reqs}
    model_ms: list[float] = []
    t0 = time.perf_counter()
    sends = [await producer.send(topics.REQUESTS, v, key=rid.encode()) for rid, v in reqs]
    await asyncio.gather(*sends)
    while wanted:
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            for m in records:
                rid = m.key.decode()
                if rid in wanted:
                    wanted.discard(rid)
                    model_ms.append(orjson.loads(m.value)["latency_ms"])
    elapsed = time.perf_counter() - t0
    await producer.stop()
    await consumer.stop()
    return elapsed, model_ms


async def gateway_closed_loop(
    settings: VigilSettings, reqs: list[tuple[str, bytes]], concurrency: int
) -> tuple[float, list[float]]:
    consumer = await _results_consumer(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=0)
    await producer.start()
    sent_at: dict[str, float] = {}
    e2e: list[float] = []
    queue = iter(reqs)

    async def send_next() -> None:
        item = next(queue, None)
        if item is not None:
            sent_at[item[0]] = time.perf_counter()
            await producer.send(topics.REQUESTS, item[1], key=item[0].encode())

    t0 = time.perf_counter()
    for _ in range(concurrency):
        await send_next()
    while len(e2e) < len(reqs):
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            for m in records:
                started = sent_at.pop(m.key.decode(), None)
                if started is not None:
                    e2e.append((time.perf_counter() - started) * 1000)
                    await send_next()
    elapsed = time.perf_counter() - t0
    await producer.stop()
    await consumer.stop()
    return elapsed, e2e


# -- the run ---------------------------------------------------------------------------------


def start(settings: VigilSettings, sup: Supervisor) -> None:
    sup.start(broker_process(settings))
    ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
    sup.start(triton_process(settings, VIGIL))
    sup.start(
        ProcessSpec(
            name="gateway",
            argv=[*VIGIL, "gateway"],
            env={**SERVICE_ENV, **settings.as_env()},
            ready=marker_ready(settings.ready_dir, "gateway", lambda: sup.pid("gateway")),
        )
    )


async def measure(settings: VigilSettings, meter: CpuMeter, n: int, c: int, warmup: int) -> None:
    book = load_replay_book(settings)
    served = book.questions(settings.replay_variant)
    questions = list(itertools.islice(itertools.cycle(served), n))
    url = settings.triton_grpc_url
    contracts = [
        ("vLLM", settings.model_name, vllm_inputs, True),
        ("TensorRT-LLM", settings.trtllm_model_name, trtllm_inputs, False),
    ]
    for label, model, make_inputs, decoupled in contracts:
        print(f"\n{label} contract ({model}), concurrency {c}, {n} requests")
        await bare_loop(url, model, questions[:warmup], c, make_inputs, decoupled)  # warm-up
        await gateway_backlog(settings, requests_for(questions[:warmup], model, f"warm-{model}"))
        a = await timed(
            meter,
            "a. bare tritonclient.aio loop",
            n,
            bare_loop(url, model, questions, c, make_inputs, decoupled),
            latency="per call",
        )
        b = await timed(
            meter,
            "b. gateway, backlog",
            n,
            gateway_backlog(settings, requests_for(questions, model, f"b-{model}")),
            latency="the gateway's Triton-call latency_ms",
        )
        cc = await timed(
            meter,
            "c. gateway, closed loop",
            n,
            gateway_closed_loop(settings, requests_for(questions, model, f"c-{model}"), c),
            latency="end to end: publish -> result consumed",
        )
        print(
            f"  ratio b/a {b['rps'] / a['rps']:.2f} (target >= 0.8); "
            f"gateway p99 / bare p99 {b['p99'] / a['p99']:.2f} (target <= 1.5); "
            f"closed loop: c/a {cc['rps'] / a['rps']:.2f}, "
            f"end-to-end p99 / bare p99 {cc['p99'] / a['p99']:.2f}"
        )
        if b.get("cpu_gateway"):
            print(
                f"  one gateway process would saturate at ~{1000 / b['cpu_gateway']:.0f} req/s "
                f"(its CPU per request); the bare client at ~{1000 / a['cpu_bench']:.0f} req/s"
            )

    print(f"\nDynamic batching (TensorRT-LLM-shaped model, bare loop, concurrency {c})")
    batched_model, unbatched_model = settings.trtllm_model_name, UNBATCHED
    await bare_loop(url, unbatched_model, questions[:warmup], c, trtllm_inputs, False)
    with_db = await timed(
        meter,
        f"{batched_model} (dynamic batching)",
        n,
        bare_loop(url, batched_model, questions, c, trtllm_inputs, False),
    )
    without = await timed(
        meter,
        f"{unbatched_model} (no batcher)",
        n,
        bare_loop(url, unbatched_model, questions, c, trtllm_inputs, False),
    )
    print(
        f"  gain from dynamic batching: {with_db['rps'] / without['rps']:.2f}x requests/s, "
        f"p99 {without['p99'] / with_db['p99']:.2f}x lower"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with tempfile.TemporaryDirectory(prefix="vigil-gateway-bench-") as tmp:
        grpc = free_port()
        settings = load_settings(
            run_dir=Path(tmp),
            kafka_bootstrap=f"127.0.0.1:{free_port()}",
            kafka_controller_port=free_port(),
            triton_http_port=free_port(),
            triton_grpc_port=grpc,
            triton_grpc_url=f"127.0.0.1:{grpc}",
            topic_partitions=4,
            replay_unbatched_model=UNBATCHED,
            gateway_max_in_flight=args.concurrency,
            gateway_max_pending=max(256, 4 * args.concurrency),
        )
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
        with Supervisor(settings.logs_dir, echo=lambda _: None) as sup:
            start(settings, sup)
            meter = CpuMeter(sup)
            asyncio.run(measure(settings, meter, args.requests, args.concurrency, args.warmup))
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
