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
@click.option(
    "--rate", default=4.0, show_default=True, help="Demo requests per second, per product."
)
@click.option("--fresh", is_flag=True, help="Wipe local Kafka/Redis data before starting.")
@click.option(
    "--demo-speed",
    type=float,
    default=None,
    show_default="1",
    help="Play the demo story (two products, a silent regression, a biased segment; see "
    "the banner) at this speed; implies --demo.",
)
@click.option(
    "--demo-reviewers",
    type=click.IntRange(0, 20),
    default=0,
    show_default=True,
    help="Simulated reviewers (sim-reviewer-1..N, labelled as such) deciding the demo's "
    "queue, so the Team, Checks and agreement pages fill in; implies --demo.",
)
@click.pass_context
def up(
    ctx: click.Context,
    demo: bool,
    rate: float,
    fresh: bool,
    demo_speed: float | None,
    demo_reviewers: int,
) -> None:
    """Start the local stack in the foreground; Ctrl-C stops every process.

    With --demo (or --demo-speed), a five-minute story: traffic from two products, the
    monitor's reference in the first minute, a silent swap to a weaker model under the same
    name and version label (a drift alert), a segment treated differently (a bias finding).
    """
    from vigil.stack import run_stack

    sys.exit(
        run_stack(
            _settings(ctx),
            demo=demo or demo_speed is not None or demo_reviewers > 0,
            rate=rate,
            fresh=fresh,
            demo_speed=demo_speed or 1.0,
            demo_reviewers=demo_reviewers,
        )
    )


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
@click.option("--swapped-locale", default="", help="Swap pronouns in this locale's questions.")
@click.pass_context
def publish(
    ctx: click.Context,
    count: int,
    rate: float,
    samples: int,
    seed: int,
    product: str,
    swapped_locale: str,
) -> None:
    """Publish GSM8K questions as inference requests (with a progress bar)."""
    from vigil.streams.demo_traffic import publish_gsm8k

    sent = publish_gsm8k(
        _settings(ctx),
        count=count,
        rate=rate,
        samples=samples,
        seed=seed,
        product=product,
        swapped_locale=swapped_locale,
    )
    click.echo(f"published {sent} requests")


@main.command()
@click.argument("question")
@click.option("--wait-s", default=60.0, show_default=True, help="How long to wait.")
@click.pass_context
def ask(ctx: click.Context, question: str, wait_s: float) -> None:
    """Ask the served model one question; print its answer, or why there is none."""
    from vigil.streams.ask import ask as ask_question

    answer = ask_question(_settings(ctx), question, wait_s=wait_s)
    click.echo(answer.explain())
    sys.exit(0 if answer.result is not None else 1)


@main.command("sim-reviewers")
@click.option("--count", type=click.IntRange(1, 20), default=2, show_default=True)
@click.option("--speed", type=float, default=1.0, show_default=True, help="Pace multiplier.")
@click.option("--seed", default=0, show_default=True)
@click.pass_context
def sim_reviewers(ctx: click.Context, count: int, speed: float, seed: int) -> None:
    """Simulated reviewers (the demo's; never people) deciding the review queue."""
    from vigil.inference.replay_plan import load_replay_book
    from vigil.reviewers.policy import ReviewPolicy
    from vigil.reviewers.queue import ReviewQueue
    from vigil.reviewers.simulated import SimulatedTeam

    s = _settings(ctx)
    book = load_replay_book(s)
    queue = ReviewQueue.connect(s.redis_connection, policy=ReviewPolicy.from_settings(s.review))
    team = SimulatedTeam(
        queue, lambda item: book.label(item.prompt, item.output), count, speed=speed, seed=seed
    )
    click.echo(f"{count} SIMULATED reviewers (sim-reviewer-1..{count}) at speed x{speed:g}")
    try:
        team.run()
    except KeyboardInterrupt:
        click.echo(f"decided: {team.decided}")


@main.command()
@click.pass_context
def config(ctx: click.Context) -> None:
    """Print the settings in effect (VIGIL_* names), secrets masked."""
    for name, value in _settings(ctx).shown().items():
        click.echo(f"{name}={value}")


@main.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the earliest offset.")
@click.option("-n", "--max-messages", default=0, help="Stop after this many (0 = follow).")
@click.pass_context
def tail(ctx: click.Context, topic: str, from_beginning: bool, max_messages: int) -> None:
    """Print the records of a Kafka topic as they arrive (key and JSON value)."""
    from vigil.streams.tail import tail_topic

    tail_topic(_settings(ctx), topic, from_beginning=from_beginning, max_messages=max_messages)


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Directory to write to  [default: the SDK's package data, sdk/vigil_client/schemas]",
)
def schemas(out: Path | None) -> None:
    """Export the event contracts as JSON Schema files."""
    from vigil.schema_export import write_schemas
    from vigil_client.contracts import SCHEMAS_DIR

    for path in write_schemas(out or SCHEMAS_DIR):
        click.echo(path)


@main.command()
@click.pass_context
def topics(ctx: click.Context) -> None:
    """Create the Kafka topics (idempotent)."""
    from vigil.streams.topics import ensure_topics

    s = _settings(ctx)
    created = ensure_topics(s.kafka_bootstrap, s.topic_partitions, s.kafka_security)
    click.echo(f"created: {', '.join(created) or 'none (all exist)'}")


@main.command()
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.pass_context
def triton(ctx: click.Context, bind: str) -> None:
    """Run tritonserver with the replay reasoner (foreground)."""
    from vigil.inference.server import serve

    serve(_settings(ctx), bind_address=bind)


@main.command()
@click.pass_context
def gateway(ctx: click.Context) -> None:
    """Run the inference gateway: llm.requests -> Triton -> llm.results."""
    from vigil.inference.runner import run_gateway

    run_gateway(_settings(ctx))


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the Faust screening worker: llm.results -> checks -> review queue."""
    from vigil.streams.screening import run_worker

    run_worker(_settings(ctx))


@main.command()
@click.pass_context
def verifier(ctx: click.Context) -> None:
    """Run the verifier worker: llm.verify -> the verifier model on Triton -> llm.judgements."""
    from vigil.streams.verification.agent import run_verifier

    run_verifier(_settings(ctx))


@main.command()
@click.pass_context
def relay(ctx: click.Context) -> None:
    """Publish the review outbox (Redis) to Kafka and run the review SLA clock."""
    from vigil.streams.outbox_relay import run_relay

    run_relay(_settings(ctx))


@main.command("export")
@click.option("--out", type=click.Path(path_type=Path), default=Path("exports"), show_default=True)
@click.pass_context
def export_(ctx: click.Context, out: Path) -> None:
    """Write reviewed corrections as JSONL datasets (SFT pairs, per-step labels)."""
    from vigil.reviewers.export import SFT_FILE, STEP_LABELS_FILE, export_datasets
    from vigil.reviewers.policy import ReviewPolicy
    from vigil.reviewers.queue import ReviewQueue

    s = _settings(ctx)
    queue = ReviewQueue.connect(s.redis_connection, policy=ReviewPolicy.from_settings(s.review))
    stats = export_datasets(queue, out)
    click.echo(f"{out / SFT_FILE}: {stats.sft} SFT pairs")
    click.echo(f"{out / STEP_LABELS_FILE}: {stats.step_labels} step-labelled solutions")
    click.echo(
        f"settled items read: {stats.settled}; skipped: {stats.skipped_answer_only} corrections "
        f"of the answer only (no SFT pair), {stats.skipped_no_first_wrong} verdicts without a "
        f"first wrong step (no step labels), {stats.gone} expired or erased meanwhile"
    )


@main.command()
@click.option("--force", is_flag=True, help="Replace the review state that is there.")
@click.pass_context
def rebuild(ctx: click.Context, force: bool) -> None:
    """Rebuild the review state in Redis from the review.events topic on Kafka."""
    from vigil.reviewers.exceptions import RebuildError
    from vigil.streams.review_log import run_rebuild

    try:
        stats = run_rebuild(_settings(ctx), force=force)
    except RebuildError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"read {stats.events} events ({stats.duplicates} duplicates skipped, {stats.gaps} gaps); "
        f"rebuilt {stats.items} items; {stats.erased} erased, {stats.expired} past retention; "
        f"{stats.claims} live claims restored, {stats.lapsed_claims} lapsed"
    )


@main.command()
@click.argument("subject")
@click.option("--actor", default="system:erasure", show_default=True, help="Who asked (audit).")
@click.pass_context
def erase(ctx: click.Context, subject: str, actor: str) -> None:
    """Erase every review item of one data subject (VIGIL_REVIEW_SUBJECT_KEY in metadata)."""
    from vigil.reviewers.queue import ReviewQueue

    queue = ReviewQueue.connect(_settings(ctx).redis_connection)
    erased = queue.erase_subject(subject, actor=actor)
    click.echo(f"erased {len(erased)} items" + (f": {', '.join(erased)}" if erased else ""))


@main.command()
@click.pass_context
def agreement(ctx: click.Context) -> None:
    """Reviewer agreement (Cohen's kappa, Krippendorff's alpha) per reviewer and check."""
    from vigil.reviewers.agreement import agreement_report, format_report
    from vigil.reviewers.queue import ReviewQueue

    queue = ReviewQueue.connect(_settings(ctx).redis_connection)
    click.echo(format_report(agreement_report(queue.ratings())))


@main.command()
@click.option(
    "--rebuild-reference", is_flag=True, help="Forget the stored reference and build it again."
)
@click.pass_context
def monitor(ctx: click.Context, rebuild_reference: bool) -> None:
    """Run the drift and bias monitor: windows, alerts on monitor.alerts, probes."""
    from vigil.streams.monitoring.agent import run_monitor

    run_monitor(_settings(ctx), rebuild_reference=rebuild_reference)


@main.command("monitor-report")
@click.argument("window_id", required=False)
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.pass_context
def monitor_report(ctx: click.Context, window_id: str | None, html_out: Path | None) -> None:
    """List the monitor's recent windows and alerts, or one window (and its Evidently HTML)."""
    from vigil.streams.monitoring.report import print_report

    sys.exit(print_report(_settings(ctx), window_id, html_out, echo=click.echo))


@main.command()
@click.pass_context
def console(ctx: click.Context) -> None:
    """Run the Streamlit reviewer console (foreground)."""
    from vigil.dashboard.server import run_console

    sys.exit(run_console(_settings(ctx)))


@main.command("eval")
@click.option(
    "--file",
    "file_",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Labelled solutions (model_solutions.jsonl format). Default: VIGIL_GSM8K_PATH.",
)
@click.option("--variant", "variants", multiple=True, help="Only these variants (repeatable).")
@click.option(
    "--cross-model-samples",
    is_flag=True,
    help="Pass the other variants' outputs as samples (cross-model agreement, not k = 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--reliability-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the console's check reliability file (dashboard/check_reliability.json).",
)
@click.option(
    "--verifier",
    is_flag=True,
    help="Also judge with the verifier model (the [verifier] config; Triton must serve it) "
    "and report the figures beside the model-free ones.",
)
@click.option("--limit", type=int, default=None, help="Only the first N rows of the file.")
@click.pass_context
def eval_(
    ctx: click.Context,
    file_: Path | None,
    variants: tuple[str, ...],
    cross_model_samples: bool,
    as_json: bool,
    reliability_file: Path | None,
    verifier: bool,
    limit: int | None,
) -> None:
    """Replay labelled solutions through the checks offline; print AUROC, recall, precision."""
    from vigil.eval.cli import run_eval

    sys.exit(
        run_eval(
            _settings(ctx),
            file_,
            variants=list(variants),
            cross_model=cross_model_samples,
            as_json=as_json,
            reliability_file=reliability_file,
            verifier=verifier,
            limit=limit,
        )
    )


@main.command()
@click.option(
    "--file",
    "file_",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Labelled solutions (model_solutions.jsonl format) instead of the review store.",
)
@click.option("--dry-run", is_flag=True, help="Fit and compare only: store nothing.")
@click.pass_context
def calibrate(ctx: click.Context, file_: Path | None, dry_run: bool) -> None:
    """Fit the risk model to reviewers' verdicts; print AUROC and calibration, before/after."""
    from vigil.streams.calibration.cli import run_calibrate

    sys.exit(run_calibrate(_settings(ctx), file_, dry_run=dry_run, echo=click.echo))


if __name__ == "__main__":
    main()
