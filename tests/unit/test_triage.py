"""The screening seam (pure): config, plugins, risk, routing, and Screener batches."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil.streams.checks.config import ChecksConfig, RiskSection, load_config
from vigil.streams.checks.exceptions import CheckFailed, ChecksConfigError
from vigil.streams.checks.registry import build_checks
from vigil.streams.checks.risk import risk_score
from vigil.streams.checks.routing import RANDOM_SAMPLE, route_result, sampled
from vigil.streams.triage import Screener, Triage
from vigil_client.contracts import CheckResult, InferenceResult

GOOD = "He has 3+4 = <<3+4=7>>7 apples\nThen 7*2 = <<7*2=14>>14 apples\nA: 14"
WRONG_MATH = "He has 3+4 = <<3+4=8>>8 apples\nA: 8"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _result(rid: str = "r1", output: str = GOOD, **fields: Any) -> InferenceResult:
    base: dict[str, Any] = {
        "request_id": rid,
        "created_at": NOW,
        "request_created_at": NOW,
        "prompt": "Tom has 3 bags and 4 more. He doubles them. How many?",
        "output": output,
        "model_name": "m",
        "model_version": "v1",
        "latency_ms": 1.0,
    }
    return InferenceResult(**{**base, **fields})


class Shouting(BaseCheck):
    """The README's example plugin: flags outputs written in capitals."""

    name = "shouting"

    def __init__(self, share: float = 0.5) -> None:
        self.share = share

    def check(self, item: CheckInput) -> CheckResult:
        letters = [c for c in item.result.output if c.isalpha()]
        upper = sum(c.isupper() for c in letters) / max(1, len(letters))
        return CheckResult(check=self.name, score=upper, flagged=upper >= self.share)


def make_shouting(options: Mapping[str, Any]) -> Shouting:
    return Shouting(float(options.get("share", 0.5)))


class Broken(BaseCheck):
    name = "broken"

    def check(self, item: CheckInput) -> CheckResult:
        if "boom" in item.result.prompt:
            raise ValueError("cannot handle this")
        return CheckResult(check=self.name, score=0.0, flagged=False)


def make_broken(options: Mapping[str, Any]) -> Broken:
    return Broken()


def make_nothing(options: Mapping[str, Any]) -> object:
    return object()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "checks.toml"
    path.write_text(text)
    return path


def _cheap(config: ChecksConfig) -> ChecksConfig:
    """Without the checks that take seconds to build (tests of the seam, not of them)."""
    enabled = [n for n in config.checks.enabled if n not in ("novelty", "pii_leakage")]
    return config.model_copy(
        update={"checks": config.checks.model_copy(update={"enabled": enabled})}
    )


# --- config ---------------------------------------------------------------------------------


def test_defaults_load_and_override_merges_tables(tmp_path: Path) -> None:
    default = load_config()
    assert "step_verification" in default.checks.enabled
    assert [r.name for r in default.routes] == ["pii", "held", "reasoning", "high-risk"]
    assert default.sampling.clean_rate == 0.02
    path = _write(tmp_path, "[risk.weights]\nnovelty = 0.5\n[sampling]\nclean_rate = 0.1\n")
    custom = load_config(path)
    assert custom.risk.weights["novelty"] == 0.5
    assert custom.risk.weights["step_verification"] == default.risk.weights["step_verification"]
    assert custom.sampling.clean_rate == 0.1
    assert custom.routes == default.routes


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[risk\n", "not valid TOML"),
        ("[sampling]\nclean_rate = 2\n", "clean_rate"),
        ('[[routes]]\nname = "a"\n[[routes]]\nname = "a"\n', "unique"),
        ("[checks]\nfoo = 1\n", "foo"),
    ],
)
def test_bad_config_is_refused_with_the_reason(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ChecksConfigError, match=problem):
        load_config(_write(tmp_path, text))


# --- plugins --------------------------------------------------------------------------------


def test_plugin_from_config_runs_with_its_options(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[checks.plugins]\n"
        'shouting = "tests.unit.test_triage:make_shouting"\n'
        "[checks.options.shouting]\nshare = 0.9\n",
    )
    built = build_checks(_cheap(load_config(path)), use_entry_points=False)
    assert built.names[-1] == "shouting"
    check = built.get("shouting")
    assert isinstance(check, Shouting) and check.share == 0.9


@pytest.mark.parametrize(
    ("plugin", "problem"),
    [
        ('"tests.unit.test_triage:missing"', "cannot load"),
        ('"no_such_module_here:make"', "cannot load"),
        ('"tests.unit.test_triage"', "must look like"),
        ('"tests.unit.test_triage:make_nothing"', "no 'name'"),
        ('"tests.unit.test_triage:make_shouting"', "calls itself"),  # registered as "loud"
    ],
)
def test_a_bad_plugin_stops_start_up_with_the_reason(
    tmp_path: Path, plugin: str, problem: str
) -> None:
    path = _write(tmp_path, f"[checks.plugins]\nloud = {plugin}\n")
    with pytest.raises(ChecksConfigError, match=problem):
        build_checks(_cheap(load_config(path)), use_entry_points=False)


def test_entry_point_plugins_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    import vigil.streams.checks.registry as registry

    ep = EntryPoint("shouting", "tests.unit.test_triage:make_shouting", "vigil.checks")
    monkeypatch.setattr(
        registry, "entry_points", lambda group: [ep] if group == "vigil.checks" else []
    )
    config = _cheap(load_config())
    assert "shouting" in build_checks(config).names
    disabled = config.model_copy(
        update={"checks": config.checks.model_copy(update={"disabled": ["shouting"]})}
    )
    assert "shouting" not in build_checks(disabled).names


def test_unknown_enabled_check_is_refused() -> None:
    config = load_config()
    bad = config.model_copy(
        update={"checks": config.checks.model_copy(update={"enabled": ["step_verificaton"]})}
    )
    with pytest.raises(ChecksConfigError, match="unknown checks"):
        build_checks(bad, use_entry_points=False)


# --- risk and routing ---------------------------------------------------------------------


def _check(name: str, score: float, flagged: bool = False) -> CheckResult:
    return CheckResult(check=name, score=score, flagged=flagged)


def test_risk_is_a_weighted_noisy_or() -> None:
    risk = RiskSection(default_weight=0.5, weights={"a": 1.0, "b": 0.5})
    assert risk_score([], risk) == 0.0
    assert risk_score([_check("a", 1.0)], risk) == 1.0
    assert risk_score([_check("b", 1.0)], risk) == 0.5
    assert risk_score([_check("b", 1.0), _check("c", 0.4)], risk) == pytest.approx(0.6)
    assert risk_score([_check("a", 0.2)], risk) < risk_score([_check("a", 0.3)], risk)


def test_routes_first_match_with_priority_tags_and_sla() -> None:
    config = load_config()
    result = _result()
    pii = route_result(
        result,
        [_check("pii_leakage", 1.0, True), _check("self_consistency", 0.9, True)],
        0.4,
        config,
    )
    assert (pii.verdict, pii.name, pii.priority) == ("queued", "pii", 1.0)
    assert pii.tags == ["pii_leakage", "self_consistency"]
    assert pii.sla_deadline == NOW + timedelta(minutes=30)
    reasoning = route_result(result, [_check("step_verification", 1.0, True)], 1.0, config)
    assert (reasoning.name, reasoning.priority) == ("reasoning", 1.0)
    novel = route_result(result, [_check("novelty", 1.0, True)], 0.25, config)
    assert novel.verdict == "clean" and not novel.review and novel.tags == ["novelty"]
    risky = route_result(result, [_check("novelty", 1.0, True)], 0.85, config)
    assert risky.name == "high-risk"
    held = route_result(_result(hold_for_review=True), [], 0.0, config)
    assert (held.verdict, held.name, held.priority) == ("queued", "held", 0.9)
    assert "hold_for_review" in held.tags


def test_clean_sampling_is_deterministic_tagged_and_keeps_the_verdict() -> None:
    assert not sampled("x", 0.0) and sampled("x", 1.0)
    assert [sampled(f"id-{i}", 0.3) for i in range(50)] == [
        sampled(f"id-{i}", 0.3) for i in range(50)
    ]
    share = sum(sampled(f"id-{i}", 0.1) for i in range(20_000)) / 20_000
    assert 0.09 < share < 0.11
    base = load_config()
    config = base.model_copy(
        update={"sampling": base.sampling.model_copy(update={"clean_rate": 1.0})}
    )
    route = route_result(_result(), [_check("novelty", 0.5)], 0.1, config)
    assert route.verdict == "clean" and route.review
    assert route.name == RANDOM_SAMPLE and route.tags == [RANDOM_SAMPLE]


# --- the Screener -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def screener() -> Screener:
    config = _cheap(load_config())
    return Screener(build_checks(config, use_entry_points=False).checks, config)


def test_clean_and_queued_results(screener: Screener) -> None:
    clean, queued = screener.screen_batch([_result("a"), _result("b", WRONG_MATH)])
    assert isinstance(clean, Triage) and isinstance(queued, Triage)
    assert clean.outcome.verdict == "clean" and clean.item is None
    assert queued.outcome.verdict == "queued" and queued.outcome.route == "reasoning"
    item = queued.item
    assert item is not None
    assert item.first_faulty_step == 0 and item.route == "reasoning"
    assert "step_verification" in item.tags
    assert item.steps == ["He has 3+4 = <<3+4=8>>8 apples"] and item.final_answer == "8"
    assert item.sla_deadline is not None
    assert queued.answer.answer == "8" and queued.answer.request_id == "b"


def test_the_same_result_gets_the_same_outcome(screener: Screener) -> None:
    first = screener.screen(_result("a", WRONG_MATH))
    again = screener.screen(_result("a", WRONG_MATH))
    assert first.outcome.model_dump(exclude={"created_at"}) == again.outcome.model_dump(
        exclude={"created_at"}
    )


def test_batch_mates_count_as_history_in_order(screener: Screener) -> None:
    other = "He has 3*4 = <<3*4=12>>12 apples\nA: 12"
    a, b, c = screener.screen_batch([_result("a"), _result("b", other), _result("c")])
    assert isinstance(a, Triage) and isinstance(b, Triage) and isinstance(c, Triage)

    def stability(t: Triage) -> CheckResult:
        return next(x for x in t.outcome.checks if x.check == "answer_stability")

    assert stability(a).score == 0.0  # first seen
    assert stability(b).flagged  # 12 where 14 was answered before
    assert stability(c).score == 0.5  # 14 again: one of two earlier answers differs
    # Cut into batches the other way, the verdicts are the same.
    (a2,) = screener.screen_batch([_result("a")])
    assert isinstance(a2, Triage)
    b2, c2 = screener.screen_batch([_result("b", other), _result("c")], [[a2.answer], [a2.answer]])
    assert isinstance(b2, Triage) and isinstance(c2, Triage)
    assert stability(b2) == stability(b) and stability(c2) == stability(c)


def test_a_raising_check_fails_only_its_results() -> None:
    config = _cheap(load_config())
    checks = (*build_checks(config, use_entry_points=False).checks, Broken())
    screener = Screener(checks, config)
    ok, failed, ok2 = screener.screen_batch(
        [_result("a"), _result("b", prompt="boom 3 4"), _result("c")]
    )
    assert isinstance(ok, Triage) and isinstance(ok2, Triage)
    assert isinstance(failed, CheckFailed)
    assert failed.check == "broken" and "cannot handle this" in str(failed)
    with pytest.raises(CheckFailed, match="broken"):
        screener.screen(_result("b", prompt="boom"))


def test_k_samples_reach_the_outcome_and_the_item(screener: Screener) -> None:
    wrong = "He has 3+4 = <<3+4=7>>7 apples\nThen 7+2 = <<7+2=9>>9 apples\nA: 9"
    (t,) = screener.screen_batch([_result("s", wrong, samples=[GOOD, GOOD, GOOD])])
    assert isinstance(t, Triage)
    consistency = next(c for c in t.outcome.checks if c.check == "self_consistency")
    assert consistency.flagged
    assert t.item is not None and t.item.samples == [GOOD, GOOD, GOOD]
    assert t.item.first_faulty_step == 1


def test_pii_leak_routes_first_and_the_item_carries_redacted_text() -> None:
    from vigil.streams.checks.pii import PiiCheck

    config = _cheap(load_config())
    screener = Screener((*build_checks(config, use_entry_points=False).checks, PiiCheck()), config)
    output = "He has 3+4 = <<3+4=7>>7 apples\nMail them to tom@example.com\nA: 7"
    (t,) = screener.screen_batch([_result("p", output)])
    assert isinstance(t, Triage)
    assert t.outcome.verdict == "queued" and t.outcome.route == "pii"
    assert t.item is not None and t.item.risk_score == 1.0
    assert t.item.redacted_output is not None
    assert "tom@example.com" not in t.item.redacted_output
    assert "<EMAIL_ADDRESS>" in t.item.redacted_output
    assert t.item.redacted_prompt is None  # nothing to mask in the prompt
    assert t.item.output == output  # the original stays, for roles allowed to see it


def test_the_item_is_masked_when_the_pii_check_is_disabled(screener: Screener) -> None:
    assert screener.pii is None  # the check does not route here; the item is masked anyway
    prompt = "Tom (tom@example.com, +44 20 7946 0958) has 3 bags and 4 more. How many?"
    output = "He has 3+4 = <<3+4=7>>7 bags\nWrite to tom@example.com or +44 20 7946 0958\nA: 7"
    (t,) = screener.screen_batch([_result("m", output, prompt=prompt, hold_for_review=True)])
    assert isinstance(t, Triage) and t.item is not None
    for masked in (t.item.redacted_prompt, t.item.redacted_output):
        assert masked is not None
        assert "tom@example.com" not in masked and "7946 0958" not in masked
        assert "<EMAIL_ADDRESS>" in masked and "<PHONE_NUMBER>" in masked
    assert t.outcome.route == "held" and "pii_leakage" not in [c.check for c in t.outcome.checks]
