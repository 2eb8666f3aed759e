"""The product SDK is its own distribution (sdk/): three dependencies, nothing of the server."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SDK = REPO / "sdk"
# Distribution -> the top-level module it provides.
SDK_DEPENDENCIES = {
    "kafka-python>=3.0.11,<3.1": "kafka",
    "pydantic>=2.7,<3": "pydantic",
    "jsonschema>=4.21": "jsonschema",
}


def _project(path: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads(path.read_text())["project"]
    return project


def test_the_sdk_declares_exactly_its_three_dependencies() -> None:
    project = _project(SDK / "pyproject.toml")
    assert project["name"] == "vigil-client"
    assert project["requires-python"] == ">=3.11"
    assert sorted(project["dependencies"]) == sorted(SDK_DEPENDENCIES)


def test_the_server_depends_on_the_sdk_by_name() -> None:
    assert "vigil-client" in _project(REPO / "pyproject.toml")["dependencies"]


def test_the_sdk_imports_only_the_standard_library_its_dependencies_and_itself() -> None:
    allowed = {*sys.stdlib_module_names, *SDK_DEPENDENCIES.values(), "vigil_client"}
    bad = []
    for path in (SDK / "vigil_client").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] not in allowed]
    assert not bad, bad
