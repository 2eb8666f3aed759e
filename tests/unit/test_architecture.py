"""The layout rules, checked.

- Packages by what they do, each with all of its I/O: ``inference/`` the gateway (its Kafka
  loop, its Triton client, the replay model server), ``streams/`` screening and monitoring
  (their Faust apps, the monitor's Redis store), ``reviewers/`` the review domain (its Redis
  scripts), ``dashboard/`` the console, ``vigil/`` settings and the CLI shell, and the SDK
  (``sdk/vigil_client``) the contracts and the product's Kafka client.
- Inside a package, only the modules named in ``IO`` talk to an external system; the logic
  beside them is testable without it.
- No module-level import cycles (imports under ``if TYPE_CHECKING:`` count: a cycle the type
  checker sees is still one), and the lower packages do not import the higher ones.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Package -> its folder (the SDK is a distribution of its own under sdk/).
PACKAGES = {
    "vigil": "vigil",
    "streams": "streams",
    "reviewers": "reviewers",
    "dashboard": "dashboard",
    "inference": "inference",
    "eval": "eval",
    "vigil_client": "sdk/vigil_client",
}
# External systems: a server or the framework that talks to one.
SYSTEMS = ("kafka", "aiokafka", "faust", "mode", "tritonclient", "pytriton", "redis")
# The modules that talk to each system; every other module of the tree talks to none. The
# console is Streamlit through and through, so Streamlit is not listed: it stays in dashboard/.
IO = {
    "inference.runner": {"aiokafka"},  # the gateway's Kafka loop (transactions)
    "inference.client": {"tritonclient"},  # every call to Triton
    "inference.adapters": {"tritonclient"},  # the contracts' tensors (InferInput, no calls)
    "inference.server": {"pytriton"},  # the embedded Triton serving the replay models
    "streams.faust_app": {"faust", "mode"},  # the Faust apps' shared transport and settings
    "streams.screening": {"faust"},  # the screening worker's agent
    "streams.monitoring.agent": {"faust"},  # the monitor's agents
    "streams.monitoring.store": {"redis"},  # the monitor's Redis store
    "streams.offset_guard": {"kafka"},  # reading back records the consumer skipped
    "streams.topics": {"kafka"},  # topic creation
    "streams.outbox_relay": {"kafka"},  # the review outbox -> Kafka
    "streams.review_log": {"kafka"},  # reading review.events back for vigil rebuild
    "streams.tail": {"kafka"},  # vigil tail
    # The review domain is Redis data and Lua scripts; its mixins share QueueBase's client.
    "reviewers.base": {"redis"},
    "reviewers.queue": {"redis"},
    "reviewers.outbox": {"redis"},
    "reviewers.sla": {"redis"},
    "reviewers.rebuild": {"redis"},
    "reviewers.redis_server": {"redis"},
    "reviewers.exceptions": {"redis"},  # which redis errors are transient
    "vigil_client.client": {"kafka"},  # the product SDK's producer and readers
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            out[".".join((pkg, *rel.parts)).removesuffix(".__init__")] = path
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


def test_only_the_named_modules_talk_to_external_systems() -> None:
    violations = []
    for module, path in _modules().items():
        for name in _imports(path, module_level_only=False):
            system = name.split(".")[0]
            if system in SYSTEMS and system not in IO.get(module, set()):
                violations.append(f"{module} imports {name}: not one of the {system} modules")
    assert not violations, "\n".join(violations)
    stale = [m for m in IO if m not in _modules()]
    assert not stale, f"IO names modules that do not exist: {stale}"


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
    # modules (settings, supervisor, exceptions) import none of the packages, and the console
    # reads the monitor's store but never imports the check engine or the gateway.
    forbidden = {
        "inference": {"streams", "reviewers", "dashboard"},
        "reviewers": {"streams", "inference", "dashboard"},
        "dashboard": {"streams", "inference"},
        # The SDK installs alone: nothing of the server.
        "vigil_client": set(PACKAGES) - {"vigil_client"},
    }
    allowed = {"streams.monitoring.store"}
    core = {"vigil.settings", "vigil.supervisor", "vigil.exceptions"}
    bad = []
    for module, path in _modules().items():
        pkg = module.split(".")[0]
        imported = _imports(path, module_level_only=False) - allowed
        targets = {n.split(".")[0] for n in imported}
        if module in core:
            targets &= set(PACKAGES) - {"vigil", "vigil_client"}
            if targets:
                bad.append(f"{module} -> {targets}")
        elif targets & forbidden.get(pkg, set()):
            bad.append(f"{module} -> {targets & forbidden[pkg]}")
    assert not bad, bad
