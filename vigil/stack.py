"""``vigil up``: the whole local stack in the foreground, each part really ready before the next.

Order: Redis, Kafka (+ topics), then side by side Triton, the screening worker, the outbox
relay, the drift and bias monitor and the console, with the gateway once Triton is ready (a
demo's publishers start with the topics). Parts marked not embedded
(``VIGIL_EMBEDDED_*=false``) are expected to be running already at the configured addresses.
Ctrl-C (or a dead child) stops everything.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable

from vigil.settings import VigilSettings
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready

VIGIL = [sys.executable, "-m", "vigil.cli"]
SERVICE_ENV = {"DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"}


def service_process(sup: Supervisor, settings: VigilSettings, name: str) -> ProcessSpec:
    """The spec of one Vigil service (`vigil <name>`), ready once it marks itself ready."""
    return ProcessSpec(
        name=name,
        argv=[*VIGIL, name],
        env={**SERVICE_ENV, **settings.as_env()},
        ready=marker_ready(settings.ready_dir, name, lambda: sup.pid(name)),
        ready_timeout_s=90.0,
    )


def verifier_enabled(settings: VigilSettings) -> bool:
    """Whether the checks config turns the verifier on (its worker is then started)."""
    from vigil.streams.verification.agent import verifier_config

    return verifier_config(settings).enabled


def start_stack(
    sup: Supervisor,
    settings: VigilSettings,
    *,
    fresh: bool = False,
    console: bool = True,
    echo: Callable[[str], None] = print,
    on_topics: Callable[[], None] | None = None,
) -> None:
    """Starts every part in order; raises StackError (with the log tail) if one fails.
    ``on_topics`` runs once the topics exist (the demo's publishers: requests wait in Kafka
    for the gateway, so the traffic need not wait for the rest of the stack)."""
    from vigil.dashboard.server import console_process
    from vigil.inference.server import triton_process
    from vigil.reviewers.redis_server import redis_process, redis_ready
    from vigil.streams.kafka_broker import broker_process
    from vigil.streams.topics import broker_ready, ensure_topics

    if fresh and settings.run_dir.exists():
        for sub in ("redis", "kafka", "ready"):
            shutil.rmtree(settings.run_dir / sub, ignore_errors=True)
    shutil.rmtree(settings.ready_dir, ignore_errors=True)

    if settings.embedded_redis:
        sup.start(redis_process(settings))
    elif not redis_ready(settings.redis_connection):
        echo(f"  redis     not reachable at {settings.redis_connection.describe()}")
    if settings.embedded_kafka:
        sup.start(broker_process(settings))
    elif not broker_ready(settings.kafka_bootstrap, settings.kafka_security):
        echo(f"  kafka     not reachable at {settings.kafka_bootstrap}")
    created = ensure_topics(
        settings.kafka_bootstrap, settings.topic_partitions, settings.kafka_security
    )
    echo(f"  topics    {'created ' + ', '.join(created) if created else 'all present'}")
    if on_topics is not None:
        on_topics()
    # What needs only Kafka and Redis starts side by side (most of each start is Python
    # imports); the gateway waits for Triton, whose model it calls from its first request.
    triton = sup.spawn(triton_process(settings, VIGIL)) if settings.embedded_triton else None
    names = ["worker", "relay", "monitor", *(["verifier"] if verifier_enabled(settings) else [])]
    others = [sup.spawn(service_process(sup, settings, n)) for n in names]
    if console:
        others.append(sup.spawn(console_process(settings)))
    if triton is not None:
        sup.wait_ready(triton)
    sup.start(service_process(sup, settings, "gateway"))
    for running in others:
        sup.wait_ready(running)


def demo_publishers(settings: VigilSettings, rate: float) -> list[ProcessSpec]:
    """The demo's traffic: one publisher per product (``vigil/demo.py``)."""
    from vigil.demo import BIAS_LOCALE, PRODUCTS

    return [
        ProcessSpec(
            name="demo" if i == 0 else f"demo-{product}",
            argv=[
                *VIGIL,
                "publish",
                "--count",
                "0",
                "--rate",
                str(rate),
                "--product",
                product,
                "--seed",
                str(i),
                "--swapped-locale",
                BIAS_LOCALE,
            ],
            env={**SERVICE_ENV, **settings.as_env()},
            ready=lambda: True,
        )
        for i, product in enumerate(PRODUCTS)
    ]


def sim_reviewers_process(settings: VigilSettings, count: int, speed: float) -> ProcessSpec:
    """The demo's simulated reviewers (``vigil sim-reviewers``)."""
    return ProcessSpec(
        name="sim-reviewers",
        argv=[*VIGIL, "sim-reviewers", "--count", str(count), "--speed", f"{speed:g}"],
        env={**SERVICE_ENV, **settings.as_env()},
        ready=lambda: True,
    )


def run_stack(
    settings: VigilSettings,
    *,
    demo: bool,
    rate: float,
    fresh: bool,
    demo_speed: float = 1.0,
    demo_reviewers: int = 0,
) -> int:
    t0 = time.monotonic()
    started_at = time.time()
    plan = None
    if demo:
        from vigil.demo import demo_plan

        plan = demo_plan(
            settings, speed=demo_speed, rate=rate, now=started_at, reviewers=demo_reviewers
        )
        settings = plan.settings
    print(f"Vigil: starting the local stack (logs in {settings.logs_dir})", flush=True)
    # A demo file left by an earlier run would show its banner on this stack's console.
    settings.demo_file.unlink(missing_ok=True)
    with Supervisor(settings.logs_dir) as sup:
        traffic_at = 0.0

        def start_traffic() -> None:
            # As soon as the topics exist: the requests wait in Kafka for the gateway, and
            # the first queued item comes once the rest is up, not a start's length later.
            nonlocal traffic_at
            if plan is not None:
                for spec in demo_publishers(settings, plan.rate_per_product):
                    sup.start(spec)
                traffic_at = time.time()

        try:
            start_stack(sup, settings, fresh=fresh, on_topics=start_traffic)
            print(f"\nAll parts ready in {time.monotonic() - t0:.1f}s.")
            print(f"  console:  {settings.console.url}")
            print("  login:    reviewer / vigil-demo   (lead / vigil-demo)")
            print(
                f"  kafka:    {settings.kafka_bootstrap} ({settings.kafka_security.describe()})"
                f"   redis: {settings.redis_connection.describe()}"
            )
            label = f" as v{settings.replay_version}" if settings.replay_version else ""
            print(
                f"  triton:   {settings.triton_grpc_url} (gRPC), {settings.model_name} serving "
                f"{settings.replay_variant}{label}"
                + "".join(f", {n} = {v}" for n, v in settings.replay_models.items())
            )
            if plan is not None:
                if plan.reviewers:
                    sup.start(sim_reviewers_process(settings, plan.reviewers, plan.speed))
                plan.write(settings.demo_file, started_at, traffic_at)
                print(plan.banner(started_at, traffic_at))
            print("\nCtrl-C stops everything.", flush=True)
            while True:
                dead = sup.check_alive()
                if dead:
                    print(
                        f"\n{', '.join(dead)} stopped unexpectedly; see {settings.logs_dir}",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nStopping...", flush=True)
            return 0
        finally:
            settings.demo_file.unlink(missing_ok=True)
            sup.stop_all()
            print("Stopped: no Vigil process left running.", flush=True)
