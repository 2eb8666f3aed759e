"""The layout rules, checked: one external system per package, no module-level import cycles
(imports under ``if TYPE_CHECKING:`` count: a cycle the type checker sees is still one)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vigil", "streams", "reviewers", "dashboard", "inference")
# Which package may talk to which external system.
OWNER = {
    "kafka": "streams",
    "aiokafka": "streams",
    "faust": "streams",
    "mode": "streams",
    "tritonclient": "inference",
    "pytriton": "inference",
    "redis": "reviewers",
    "streamlit": "dashboard",
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            out[".".join(rel.parts).removesuffix(".__init__")] = path
    return out


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run at import, or seen by the type checker as such: the module body and
    what is nested in its ``if`` (``if TYPE_CHECKING:`` included), ``try``, ``with`` and class
    bodies, but not function bodies (an import there is a deliberate deferral)."""
    for node in body:
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _module_level(getattr(node, name, []))
        for handler in getattr(node, "handlers", []):
            yield from _module_level(handler.body)


def _imports(path: Path, *, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = list(_module_level(tree.body)) if module_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_each_external_system_is_used_by_its_own_package_only() -> None:
    violations = []
    for module, path in _modules().items():
        pkg = module.split(".")[0]
        for name in _imports(path, module_level_only=False):
            owner = OWNER.get(name.split(".")[0])
            if owner is not None and owner != pkg:
                violations.append(f"{module} imports {name} (belongs in {owner}/)")
    assert not violations, "\n".join(violations)


def test_no_module_level_import_cycles() -> None:
    modules = _modules()
    graph = {
        m: {d for d in _imports(p, module_level_only=True) if d in modules}
        for m, p in modules.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                cycles.append([*trail, m, d])
            elif d not in state:
                visit(d, [*trail, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])
    assert not cycles, cycles


def test_lower_packages_do_not_import_higher_ones() -> None:
    # inference and reviewers are leaves (they serve streams and dashboard), vigil's core
    # modules (contracts, settings, supervisor, exceptions) import none of the packages.
    forbidden = {
        "inference": {"streams", "reviewers", "dashboard"},
        "reviewers": {"streams", "inference", "dashboard"},
        "dashboard": {"streams", "inference"},
    }
    core = {"vigil.contracts", "vigil.settings", "vigil.supervisor", "vigil.exceptions"}
    bad = []
    for module, path in _modules().items():
        pkg = module.split(".")[0]
        targets = {n.split(".")[0] for n in _imports(path, module_level_only=False)}
        if module in core:
            targets &= set(PACKAGES) - {"vigil"}
            if targets:
                bad.append(f"{module} -> {targets}")
        elif targets & forbidden.get(pkg, set()):
            bad.append(f"{module} -> {targets & forbidden[pkg]}")
    assert not bad, bad
