"""The ``vigil eval`` command body (click stays in ``vigil/cli.py``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from vigil.eval.exceptions import EvalError
from vigil.eval.quality import VariantReport, evaluate_file, format_report, report_json
from vigil.eval.verified import VerifierTally, offline_config, verifier_rejudge
from vigil.exceptions import VigilError
from vigil.settings import VigilSettings
from vigil.streams.checks.config import VerifierSection
from vigil.streams.triage import Screener


def run_eval(
    settings: VigilSettings,
    path: Path | None,
    *,
    variants: Sequence[str] = (),
    cross_model: bool = False,
    as_json: bool = False,
    reliability_file: Path | None = None,
    verifier: bool = False,
    limit: int | None = None,
) -> int:
    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    source = path or settings.gsm8k_path
    try:
        t0 = time.perf_counter()
        screener = Screener.from_files(settings.checks_config, settings.novelty_reference)
        say(
            f"checks: {', '.join(c.name for c in screener.checks)} "
            f"(built in {time.perf_counter() - t0:.1f}s)"
        )
        say(
            f"replaying {source}"
            + (" with the other variants as samples (cross-model)" if cross_model else ", k = 1")
        )
        reports = evaluate_file(
            source,
            screener,
            variants=variants or None,
            with_samples=cross_model,
            progress=say,
            limit=limit,
        )
        if verifier:
            verified, tally, config = _with_verifier(
                settings, screener, source, variants, limit, say
            )
    except EvalError as exc:
        say(f"error: {exc}")
        return 2
    except VigilError as exc:
        say(f"error: {exc}")
        return 1
    if reliability_file is not None:
        write_reliability(reliability_file, report_json(reports), source)
        say(f"wrote {reliability_file}")
    if as_json:
        print(orjson.dumps(report_json(reports), option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_report(reports, cross_model=cross_model))
    if verifier:
        print(f"\n=== with the verifier (a model's opinion joined): {tally.line(config)}")
        if as_json:
            print(orjson.dumps(report_json(verified), option=orjson.OPT_INDENT_2).decode())
        else:
            print(format_report(verified, cross_model=cross_model))
    return 0


def _with_verifier(
    settings: VigilSettings,
    screener: Screener,
    source: Path,
    variants: Sequence[str],
    limit: int | None,
    say: Callable[[str], None],
) -> tuple[list[VariantReport], VerifierTally, VerifierSection]:
    config = offline_config(screener.config.verifier)
    say(f"judging with {config.model} ({config.mode}) on Triton at {settings.triton_grpc_url}")
    tally = VerifierTally()
    reports = evaluate_file(
        source,
        screener,
        variants=variants or None,
        progress=say,
        limit=limit,
        rejudge=verifier_rejudge(settings, screener, config, tally),
    )
    return reports, tally, config


def write_reliability(out: Path, reports: list[dict[str, Any]], source: Path) -> None:
    """The console's check reliability file (``dashboard/reliability.py`` reads it): the
    eval's report with where it came from."""
    doc = {
        "source": f"vigil eval on {source.parent.name}/{source.name} (labelled GSM8K, "
        f"{reports[0]['n']} questions x {len(reports)} model variants, k = 1)",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": f"vigil eval --file {source.parent.name}/{source.name} "
        f"--reliability-file {out.name}",
        "reports": reports,
    }
    out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
