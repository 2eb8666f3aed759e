from __future__ import annotations

from click.testing import CliRunner

from vigil.cli import main


def test_every_subcommand_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    for name in main.commands:  # type: ignore[attr-defined]
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage:" in result.output, name
