"""Which verifier models a server binds, and the PRM model's input format (no model loaded:
the integration test runs the real one on the real tritonserver)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.exceptions import ConfigError
from vigil.inference.exceptions import InferenceError
from vigil.inference.verifier_model import (
    format_scores,
    model_file,
    read_prm_input,
    unavailable,
    verifier_names,
)
from vigil.settings import VerifierModelSettings
from vigil.streams.verification.critique import prm_input


def test_off_binds_nothing_and_auto_binds_nothing_without_a_model_file(tmp_path: Path) -> None:
    assert verifier_names(VerifierModelSettings(serve="off")) == []
    missing = str(tmp_path / "none.gguf")
    assert verifier_names(VerifierModelSettings(serve="auto", model_path=missing)) == []
    assert "no model file" in (unavailable(VerifierModelSettings(model_path=missing)) or "")


def test_on_without_a_model_file_fails_the_start_saying_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"VIGIL_VERIFIER_SERVE=on.*pip install"):
        verifier_names(VerifierModelSettings(serve="on", model_path=str(tmp_path / "x.gguf")))


def test_a_configured_file_is_the_model_file(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    assert model_file(VerifierModelSettings(model_path=str(path))) == path


def test_the_prm_input_reads_back_what_the_check_writes() -> None:
    assert read_prm_input(prm_input("How many?", ["a", "b"])) == ("How many?", ["a", "b"])


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"question": "q"}', '{"question": "q", "steps": [1]}'],
)
def test_other_prm_input_is_refused(text: str) -> None:
    with pytest.raises(InferenceError):
        read_prm_input(text)


def test_scores_are_one_per_line() -> None:
    assert format_scores([0.5, 0.12345]) == "0.5000\n0.1235\n"
