"""The settings' sections: the env names stay flat (``VIGIL_GATEWAY_MAX_IN_FLIGHT``), each
lands in its component's section (``settings.gateway.max_in_flight``), and back."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil.reviewers.policy import ReviewPolicy
from vigil.settings import (
    GatewaySettings,
    ReviewSettings,
    SampleRule,
    Section,
    VigilSettings,
    load_settings,
)

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No VIGIL_* from the shell: each test sets what it reads."""
    for name in list(os.environ):
        if name.upper().startswith("VIGIL_"):
            monkeypatch.delenv(name)
    yield monkeypatch


def test_section_env_vars_land_in_their_sections(env: pytest.MonkeyPatch) -> None:
    env.setenv("VIGIL_KAFKA_BOOTSTRAP", "kafka:9092")
    env.setenv("VIGIL_GATEWAY_MAX_IN_FLIGHT", "7")
    env.setenv("VIGIL_GATEWAY_MODELS", '{"llama-70b": "trtllm"}')
    env.setenv("VIGIL_GATEWAY_SAMPLE_RULES", '[{"match": {"product": "tutor"}, "samples": 3}]')
    env.setenv("VIGIL_WORKER_BATCH_SIZE", "32")
    env.setenv("VIGIL_REVIEW_SLA_S", "600")
    env.setenv("VIGIL_REVIEW_SEGMENT_KEYS", '["plan"]')
    env.setenv("VIGIL_RELAY_CLAIM_IDLE_S", "90")
    env.setenv("VIGIL_MONITOR_REFERENCE", "gsm8k-train")
    env.setenv("VIGIL_MONITOR_REFERENCE_ROWS", "5000")
    env.setenv("VIGIL_MONITOR_TEXT_DRIFT", "false")
    env.setenv("VIGIL_MONITOR_WEBHOOK_URLS", '["https://hooks.example/a"]')
    env.setenv("vigil_console_address", "0.0.0.0")  # names are case-insensitive, as before
    env.setenv("VIGIL_CONSOLE_PORT", "8601")
    env.setenv("VIGIL_GATEWAY_NO_SUCH_SETTING", "1")  # ignored, as unknown names always were
    s = load_settings()
    assert s.kafka_bootstrap == "kafka:9092"
    assert s.gateway.max_in_flight == 7 and s.gateway.models == {"llama-70b": "trtllm"}
    assert s.gateway.sample_rules == [SampleRule(match={"product": "tutor"}, samples=3)]
    assert s.worker.batch_size == 32
    assert s.review.sla_s == 600 and s.review.segment_keys == ["plan"]
    assert s.relay.claim_idle_s == 90
    assert (s.monitor.reference, s.monitor.reference_rows) == ("gsm8k-train", 5000)
    assert s.monitor.text_drift is False
    assert s.monitor.webhook_urls == ["https://hooks.example/a"]
    assert s.console.url == "http://0.0.0.0:8601"
    # What was not set keeps its default.
    assert s.gateway.batch_size == 64 and s.monitor.window_size == 500


def test_invalid_section_values_are_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("VIGIL_GATEWAY_MAX_IN_FLIGHT", "0")
    with pytest.raises(ValidationError, match="max_in_flight"):
        load_settings()


def test_flat_overrides_win_and_the_rest_of_the_section_comes_from_the_environment(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("VIGIL_GATEWAY_MODELS", '{"a": "vllm"}')
    env.setenv("VIGIL_GATEWAY_MAX_IN_FLIGHT", "7")
    s = load_settings(gateway_max_in_flight=3, monitor_window_size=100, run_dir="/tmp/x")
    assert s.gateway.max_in_flight == 3 and s.gateway.models == {"a": "vllm"}
    assert s.monitor.window_size == 100 and s.run_dir == Path("/tmp/x")
    # A section by name, merged with flat names of it.
    s = load_settings(gateway={"batch_size": 8}, gateway_max_pending=16)
    assert (s.gateway.batch_size, s.gateway.max_pending, s.gateway.max_in_flight) == (8, 16, 7)


def test_as_env_writes_the_flat_names_and_reads_back_the_same(
    env: pytest.MonkeyPatch,
) -> None:
    s = load_settings(
        gateway_models={"m": "trtllm"},
        gateway_sample_rules=[{"match": {"tenant": "t"}, "samples": 2}],
        monitor_text_drift=False,
        monitor_bias_attributes=["locale"],
        console_address="0.0.0.0",
        review_hold_fallback="release_fallback",
    )
    out = s.as_env()
    assert set(out) == {f"VIGIL_{n.upper()}" for n in VigilSettings.flat_fields()}
    assert out["VIGIL_CONSOLE_ADDRESS"] == "0.0.0.0"
    assert out["VIGIL_MONITOR_TEXT_DRIFT"] == "false"
    assert out["VIGIL_GATEWAY_MODELS"] == '{"m":"trtllm"}'
    for name, value in out.items():
        env.setenv(name, value)
    assert load_settings() == s


def test_replace_validates_and_does_not_read_the_environment_again(
    env: pytest.MonkeyPatch,
) -> None:
    s = load_settings(gateway_max_in_flight=3)
    env.setenv("VIGIL_MONITOR_WINDOW_SIZE", "1234")
    t = s.replace(monitor_window_size=50, monitor_webhook_urls=["https://h"], run_dir="/r")
    assert t.monitor.window_size == 50 and t.monitor.webhook_urls == ["https://h"]
    assert t.gateway.max_in_flight == 3 and t.run_dir == Path("/r")
    assert s.replace().monitor.window_size == 500
    with pytest.raises(ValidationError):
        s.replace(monitor_window_size=-1)


def test_every_flat_name_has_one_reading() -> None:
    """Env names split at the first ``_`` after the prefix: no top-level name may look like a
    section's, and the sections are exactly the Section-typed fields."""
    fields = VigilSettings.model_fields
    sections = {
        n
        for n, f in fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, Section)
    }
    assert sections == set(VigilSettings.SECTIONS)
    top = [n for n in fields if n not in sections]
    clashes = [n for n in top if n.split("_")[0] in sections]
    assert not clashes, f"{clashes}: move them into their section"


def test_readme_names_only_real_settings() -> None:
    names = {f"VIGIL_{n.upper()}" for n in VigilSettings.flat_fields()}
    documented = set(re.findall(r"VIGIL_[A-Z0-9_]*[A-Z0-9]", README.read_text()))
    assert documented <= names, documented - names


def test_the_review_policy_defaults_are_the_settings() -> None:
    assert ReviewPolicy.from_settings(ReviewSettings()) == ReviewPolicy()
    policy = ReviewPolicy.from_settings(ReviewSettings(lease_s=5, retention_days=2))
    assert policy.lease_s == 5 and policy.retention_s == 2 * 86400.0


def test_sections_are_frozen() -> None:
    with pytest.raises(ValidationError):
        GatewaySettings().max_in_flight = 1
