"""The ``vigil`` command. Settings are read once here and passed down."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vigil.settings import VigilSettings, load_settings


def _settings(ctx: click.Context) -> VigilSettings:
    settings = ctx.obj
    assert isinstance(settings, VigilSettings)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vigil")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Vigil: monitoring and human review of LLM reasoning on Triton and Kafka.

    Every option is also an env var VIGIL_<NAME> (see the README's configuration table).
    """
    ctx.obj = load_settings()


@main.command()
@click.option("--demo/--no-demo", default=False, help="Publish GSM8K traffic continuously.")
@click.option("--rate", default=2.0, show_default=True, help="Demo requests per second.")
@click.option("--fresh", is_flag=True, help="Wipe local Kafka/Redis data before starting.")
@click.pass_context
def up(ctx: click.Context, demo: bool, rate: float, fresh: bool) -> None:
    """Start the local stack in the foreground; Ctrl-C stops every process."""
    from vigil.stack import run_stack

    sys.exit(run_stack(_settings(ctx), demo=demo, rate=rate, fresh=fresh))


@main.command()
@click.option(
    "-n", "--count", default=200, show_default=True, help="How many requests (0 = forever)."
)
@click.option("--rate", default=0.0, help="Requests per second (0 = as fast as possible).")
@click.option(
    "--samples", default=1, show_default=True, help="Self-consistency samples per request."
)
@click.option("--seed", default=0, show_default=True, help="Which questions, reproducibly.")
@click.option("--product", default="demo", show_default=True)
@click.pass_context
def publish(
    ctx: click.Context, count: int, rate: float, samples: int, seed: int, product: str
) -> None:
    """Publish GSM8K questions as inference requests (with a progress bar)."""
    from streams.demo_traffic import publish_gsm8k

    sent = publish_gsm8k(
        _settings(ctx), count=count, rate=rate, samples=samples, seed=seed, product=product
    )
    click.echo(f"published {sent} requests")


@main.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the earliest offset.")
@click.option("-n", "--max-messages", default=0, help="Stop after this many (0 = follow).")
@click.pass_context
def tail(ctx: click.Context, topic: str, from_beginning: bool, max_messages: int) -> None:
    """Print the records of a Kafka topic as they arrive (key and JSON value)."""
    from streams.tail import tail_topic

    tail_topic(_settings(ctx), topic, from_beginning=from_beginning, max_messages=max_messages)


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("schemas"), show_default=True)
def schemas(out: Path) -> None:
    """Export the event contracts as JSON Schema files."""
    from vigil.schema_export import write_schemas

    for path in write_schemas(out):
        click.echo(path)


@main.command()
@click.pass_context
def topics(ctx: click.Context) -> None:
    """Create the Kafka topics (idempotent)."""
    from streams.topics import ensure_topics

    s = _settings(ctx)
    created = ensure_topics(s.kafka_bootstrap, s.topic_partitions)
    click.echo(f"created: {', '.join(created) or 'none (all exist)'}")


@main.command()
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.pass_context
def triton(ctx: click.Context, bind: str) -> None:
    """Run tritonserver with the replay reasoner (foreground)."""
    from inference.server import serve

    serve(_settings(ctx), bind_address=bind)


@main.command()
@click.pass_context
def gateway(ctx: click.Context) -> None:
    """Run the inference gateway: llm.requests -> Triton -> llm.results."""
    from streams.gateway_runner import run_gateway

    run_gateway(_settings(ctx))


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the Faust screening worker: llm.results -> checks -> review queue."""
    from streams.screening import run_worker

    run_worker(_settings(ctx))


@main.command()
@click.pass_context
def relay(ctx: click.Context) -> None:
    """Publish the review outbox (Redis) to Kafka (review.decisions)."""
    from streams.outbox_relay import run_relay

    run_relay(_settings(ctx))


@main.command()
@click.pass_context
def console(ctx: click.Context) -> None:
    """Run the Streamlit reviewer console (foreground)."""
    from dashboard.server import run_console

    sys.exit(run_console(_settings(ctx)))


if __name__ == "__main__":
    main()
