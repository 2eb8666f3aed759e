"""The quality report's metrics and ``vigil eval`` on a file of the same format."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from vigil.eval.exceptions import EvalError
from vigil.eval.metrics import auroc, flag_stats, recall_at_budget
from vigil.eval.quality import evaluate_file, load_rows
from vigil.streams.checks.config import load_config
from vigil.streams.checks.registry import build_checks
from vigil.streams.triage import Screener


def test_auroc_counts_ties_half_and_needs_both_classes() -> None:
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5
    assert auroc([0.9, 0.5, 0.5, 0.1], [True, True, False, False]) == pytest.approx(0.875)
    assert math.isnan(auroc([0.1, 0.2], [True, True]))


def test_recall_at_budget_and_flag_stats() -> None:
    scores = [0.9, 0.8, 0.7, 0.1, 0.0]
    wrong = [True, False, True, True, False]
    assert recall_at_budget(scores, wrong, 0.2) == pytest.approx(1 / 3)  # top 1 of 5
    assert recall_at_budget(scores, wrong, 0.6) == pytest.approx(2 / 3)  # top 3
    stats = flag_stats([True, True, False, False, False], wrong)
    assert (stats.flagged, stats.true_positives, stats.positives) == (2, 1, 3)
    assert stats.precision == 0.5 and stats.recall == pytest.approx(1 / 3)


def _row(question: str, answers: dict[str, tuple[str, bool]]) -> bytes:
    obj: dict[str, object] = {"question": question, "ground_truth": "A: 0"}
    for variant, (solution, ok) in answers.items():
        obj[variant] = {"is_correct": ok, "solution": solution}
    return orjson.dumps(obj)


def test_another_file_of_the_same_format_is_evaluated(tmp_path: Path) -> None:
    right = "3+4 = <<3+4=7>>7\nA: 7"
    wrong = "3+4 = <<3+4=8>>8\nA: 8"
    other = "3*4 = <<3*4=12>>12\nA: 12"
    lines = [
        _row(
            f"Tom has 3 and {i} more, then 4. Total?",
            {"a": (right, True), "b": (wrong, False), "c": (right if i % 2 else other, i % 2 == 1)},
        )
        for i in range(12)
    ]
    path = tmp_path / "mine.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    config = load_config()
    enabled = [n for n in config.checks.enabled if n not in ("novelty", "pii_leakage")]
    config = config.model_copy(
        update={"checks": config.checks.model_copy(update={"enabled": enabled})}
    )
    screener = Screener(build_checks(config, use_entry_points=False).checks, config)
    reports = evaluate_file(path, screener, with_samples=True)  # cross-model: what ranks c
    assert [r.variant for r in reports] == ["a", "b", "c"]
    b = reports[1]
    assert b.n == 12 and b.wrong == 12 and math.isnan(b.auroc)  # one class only
    c = reports[2]
    assert c.wrong == 6 and c.auroc > 0.9
    assert c.per_check["self_consistency"].precision == 1.0
    with pytest.raises(EvalError, match="no variant"):
        evaluate_file(path, screener, variants=["zzz"])


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no such file"):
        load_rows(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"no_question": 1}\n')
    with pytest.raises(EvalError, match=r"bad\.jsonl:1"):
        load_rows(bad)


def test_vigil_eval_command_reports_per_variant(tmp_path: Path) -> None:
    from vigil.cli import main

    data = Path(__file__).resolve().parents[2].parent / "shared/data/gsm8k"
    rows = (data / "model_solutions.jsonl").read_bytes().splitlines()[:60]
    path = tmp_path / "few.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    result = CliRunner().invoke(
        main, ["eval", "--file", str(path), "--variant", "175b_verification", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report[0]["variant"] == "175b_verification" and report[0]["n"] == 60
    assert 0.5 < report[0]["auroc"] <= 1.0
    assert set(report[0]["recall_at"]) == {"10%", "20%", "30%"}
    assert "pii_leakage" in report[0]["checks"] and "novelty" in report[0]["checks"]
