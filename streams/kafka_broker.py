"""The embedded Apache Kafka broker: single node, KRaft with static voters, loopback only.

It runs from the Maven Central jars that ``scripts/setup`` copies into a git-ignored cache
(``streams/kafka/pom.xml``), under Java 17, as its own JVM, logging to a file.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from vigil.settings import VigilSettings
from vigil.streams.exceptions import BrokerError
from vigil.supervisor import ProcessSpec

_KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
LOG4J2 = _KAFKA_DIR / "log4j2.properties"


def _host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port)


def server_properties(
    settings: VigilSettings, data_dir: Path, extra: Mapping[str, str] | None = None
) -> str:
    """The broker's config; ``extra`` replaces or adds properties (e.g. a SASL_SSL listener:
    tests/integration/test_secured_kafka.py)."""
    host, port = _host_port(settings.kafka_bootstrap)
    ctl = settings.kafka_controller_port
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{ctl}",
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctl}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        f"num.partitions={settings.topic_partitions}",
        # A single node: every internal topic has exactly one replica.
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        # Faust and the gateway join groups at start: don't wait 3 s for more members.
        "group.initial.rebalance.delay.ms=0",
        # Topics are created explicitly (streams/topics.py); a typo must not make a new one.
        "auto.create.topics.enable=false",
        "log.retention.hours=168",
    ]
    props = dict(line.split("=", 1) for line in lines)
    props.update(extra or {})
    return "".join(f"{key}={value}\n" for key, value in props.items())


def _classpath(settings: VigilSettings) -> str:
    libs = settings.kafka_libs_dir
    if not libs.is_dir() or not any(libs.glob("kafka_2.13-*.jar")):
        raise BrokerError(
            f"Kafka jars not found in {libs}; run scripts/setup (it copies them from Maven Central)"
        )
    return f"{libs}/*"


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java not found on PATH; Kafka needs Java 17+")
    return java


def prepare(
    settings: VigilSettings,
    *,
    fresh: bool = False,
    extra: Mapping[str, str] | None = None,
    format_args: Sequence[str] = (),
) -> Path:
    """Write the broker config and format its storage once; returns the properties file.
    ``format_args`` go to the storage format (``--add-scram ...``: SCRAM users)."""
    base = settings.run_dir / "kafka"
    data_dir = base / "data"
    if fresh and base.exists():
        shutil.rmtree(base)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    props = base / "server.properties"
    props.write_text(server_properties(settings, data_dir, extra))
    props.chmod(0o600)
    if not (data_dir / "meta.properties").exists():
        # KRaft wants a cluster id that is a URL-safe base64 UUID (what `random-uuid` prints).
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # StorageTool calls Exit.exit, so it runs as its own JVM.
        proc = subprocess.run(
            [
                _java(),
                "-cp",
                _classpath(settings),
                *_log_props(settings),
                # "=" form: a generated id may start with "-", which argparse would read as a flag.
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cid}",
                f"--config={props}",
                "--ignore-formatted",
                *format_args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed: {proc.stderr or proc.stdout}")
    return props


def _log_props(settings: VigilSettings) -> list[str]:
    return [f"-Dlog4j2.configurationFile={LOG4J2}", f"-Dkafka.logs.dir={settings.logs_dir}"]


def broker_process(
    settings: VigilSettings,
    *,
    fresh: bool = False,
    extra: Mapping[str, str] | None = None,
    format_args: Sequence[str] = (),
) -> ProcessSpec:
    """The broker as a supervised process; ready once a Kafka client (with the settings'
    security) can list topics."""
    from vigil.streams.topics import broker_ready

    props = prepare(settings, fresh=fresh, extra=extra, format_args=format_args)
    argv = [
        _java(),
        "-Xms256m",
        "-Xmx768m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        *_log_props(settings),
        "-cp",
        _classpath(settings),
        "kafka.Kafka",
        str(props),
    ]
    return ProcessSpec(
        name="kafka",
        argv=argv,
        ready=lambda: broker_ready(settings.kafka_bootstrap, settings.kafka_security),
        ready_timeout_s=120.0,
        extra_log=settings.logs_dir / "kafka-server.log",
    )
