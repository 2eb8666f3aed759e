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
# The server's packages sit at the top of the tree and install under ``vigil`` (the links
# vigil/streams -> ../streams, ...), so no generic top-level name lands in site-packages.
SERVER = ("streams", "reviewers", "dashboard", "inference", "eval")
PACKAGES = {
    "vigil": "vigil",
    **{f"vigil.{name}": name for name in SERVER},
    "vigil_client": "sdk/vigil_client",
}
# External systems: a server or the framework that talks to one.
SYSTEMS = ("kafka", "aiokafka", "faust", "mode", "tritonclient", "pytriton", "redis")
# The modules that talk to each system; every other module of the tree talks to none. The
# console is Streamlit through and through, so Streamlit is not listed: it stays in dashboard/.
IO = {
    "vigil.inference.runner": {"aiokafka"},  # the gateway's Kafka loop (transactions)
    "vigil.inference.client": {"tritonclient"},  # every call to Triton
    "vigil.inference.adapters": {"tritonclient"},  # the contracts' tensors (InferInput, no calls)
    "vigil.inference.server": {"pytriton"},  # the embedded Triton serving the replay models
    "vigil.streams.faust_app": {"faust", "mode"},  # the Faust apps' shared transport and settings
    "vigil.streams.screening": {"faust"},  # the screening worker's agent
    "vigil.streams.monitoring.agent": {"faust"},  # the monitor's agents
    "vigil.streams.monitoring.store": {"redis"},  # the monitor's Redis store
    "vigil.streams.calibration.store": {"redis"},  # the fitted risk models in Redis
    "vigil.streams.verification.agent": {"faust"},  # the verifier worker's agent
    "vigil.streams.verification.pending": {"redis"},  # results waiting for their judgement
    # Every kafka-python client of streams/ (topics, the relay, the offset guard, vigil
    # rebuild and vigil tail) is made here, with the settings' Kafka security.
    "vigil.streams.kafka_clients": {"kafka"},
    # The review domain is Redis data and Lua scripts; its mixins share QueueBase's client.
    "vigil.reviewers.base": {"redis"},
    "vigil.reviewers.queue": {"redis"},
    "vigil.reviewers.outbox": {"redis"},
    "vigil.reviewers.sla": {"redis"},
    "vigil.reviewers.rebuild": {"redis"},
    "vigil.reviewers.connect": {"redis"},  # every Redis client, with its login and TLS
    "vigil.reviewers.exceptions": {"redis"},  # which redis errors are transient
    "vigil_client.client": {"kafka"},  # the product SDK's producer and readers
    "vigil_client.security": {"kafka"},  # the Kafka security model; its bootstrap errors
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            if pkg == "vigil" and (ROOT / folder / rel.parts[0]).is_symlink():
                continue  # a server package, listed under its own folder
            out[".".join((pkg, *rel.parts)).removesuffix(".__init__")] = path
    return out


def _package(module: str) -> str:
    """The package a dotted name belongs to (``vigil.streams.x`` -> ``vigil.streams``)."""
    parts = module.split(".")
    two = ".".join(parts[:2])
    return two if two in PACKAGES else parts[0]


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
        "vigil.inference": {"vigil.streams", "vigil.reviewers", "vigil.dashboard"},
        "vigil.reviewers": {"vigil.streams", "vigil.inference", "vigil.dashboard"},
        "vigil.dashboard": {"vigil.streams", "vigil.inference"},
        # The SDK installs alone: nothing of the server.
        "vigil_client": set(PACKAGES) - {"vigil_client"},
    }
    allowed = {"vigil.streams.monitoring.store"}
    core = {"vigil.settings", "vigil.supervisor", "vigil.exceptions"}
    bad = []
    for module, path in _modules().items():
        pkg = _package(module)
        imported = _imports(path, module_level_only=False) - allowed
        targets = {_package(n) for n in imported}
        if module in core:
            targets &= set(PACKAGES) - {"vigil", "vigil_client"}
            if targets:
                bad.append(f"{module} -> {targets}")
        elif targets & forbidden.get(pkg, set()):
            bad.append(f"{module} -> {targets & forbidden[pkg]}")
    assert not bad, bad


def test_server_packages_install_under_vigil() -> None:
    """Every import of a server package goes through ``vigil.``: the bare name would load a
    second copy of the module from the source tree (and fails once installed)."""
    bare = []
    for module, path in _modules().items():
        for name in _imports(path, module_level_only=False):
            if name.split(".")[0] in SERVER:
                bare.append(f"{module} imports {name}")
    assert not bare, bare
    for name in SERVER:
        link = ROOT / "vigil" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve(), link
