"""Where checks come from: the built-ins, installed plugins, and plugins named in the config.

Every check, built-in or not, is made the same way: a **factory** called with the options of
its ``[checks.options.<name>]`` table returns an object with a ``name`` and a
``check(item) -> CheckResult`` method (``streams.checks.base.Check``). A plugin package
registers its factory under the entry point group ``vigil.checks``::

    [project.entry-points."vigil.checks"]
    shouting = "my_checks:make_shouting_check"

or, without packaging, the config names it: ``[checks.plugins] shouting = "my_checks:make"``.
Installed plugins run unless ``[checks] disabled`` lists them. A plugin that cannot be
imported, or whose factory fails or returns something that is not a check, stops the worker
at start-up with the reason (a check that silently does not run would be worse).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from vigil.streams.checks.base import Check
from vigil.streams.checks.config import ChecksConfig
from vigil.streams.checks.exceptions import ChecksConfigError

__all__ = ["ENTRY_POINT_GROUP", "BuiltChecks", "CheckFactory", "build_checks", "builtin_factories"]

ENTRY_POINT_GROUP = "vigil.checks"

CheckFactory = Callable[[Mapping[str, Any]], Check]


def _step_verification(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.steps import StepVerificationCheck

    return StepVerificationCheck()


def _self_consistency(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.self_consistency import SelfConsistencyCheck

    return SelfConsistencyCheck()


def _question_coverage(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.coverage import CoverageCheck

    return CoverageCheck()


def _number_provenance(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.provenance import ProvenanceCheck

    return ProvenanceCheck()


def _answer_plausibility(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.plausibility import PlausibilityCheck

    return PlausibilityCheck()


def _self_doubt(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.self_doubt import SelfDoubtCheck

    return SelfDoubtCheck()


def _answer_stability(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.stability import StabilityCheck

    return StabilityCheck()


def _pii_leakage(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.pii import PiiCheck, PiiScanner

    regions = options.get("phone_regions")
    if regions is None:
        return PiiCheck()
    return PiiCheck(lambda: PiiScanner(phone_regions=tuple(regions)))


def _novelty(options: Mapping[str, Any]) -> Check:
    from vigil.streams.checks.novelty import NoveltyCheck, NoveltyIndex

    reference = options.get("reference")
    if not reference:
        raise ChecksConfigError("novelty needs a reference file (option 'reference')")
    return NoveltyCheck(NoveltyIndex.from_jsonl(Path(str(reference))))


def builtin_factories() -> dict[str, CheckFactory]:
    return {
        "step_verification": _step_verification,
        "self_consistency": _self_consistency,
        "question_coverage": _question_coverage,
        "number_provenance": _number_provenance,
        "answer_plausibility": _answer_plausibility,
        "self_doubt": _self_doubt,
        "answer_stability": _answer_stability,
        "pii_leakage": _pii_leakage,
        "novelty": _novelty,
    }


def _import(path: str) -> Any:
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise ChecksConfigError(f"plugin path {path!r} must look like 'package.module:factory'")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ChecksConfigError(f"cannot load check plugin {path!r}: {exc}") from exc
    return obj


def _plugin_factories(config: ChecksConfig, use_entry_points: bool) -> dict[str, CheckFactory]:
    found: dict[str, CheckFactory] = {}
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                found[ep.name] = ep.load()
            except Exception as exc:
                raise ChecksConfigError(
                    f"cannot load check plugin {ep.name!r} ({ep.value}): {exc}"
                ) from exc
    for name, path in config.checks.plugins.items():
        found[name] = _import(path)
    return found


@dataclass(frozen=True)
class BuiltChecks:
    checks: tuple[Check, ...]

    def get(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.checks]


def _make(name: str, factory: CheckFactory, options: Mapping[str, Any]) -> Check:
    if not callable(factory):
        raise ChecksConfigError(f"check {name!r}: {factory!r} is not a factory")
    try:
        made = factory(options)
    except ChecksConfigError:
        raise
    except Exception as exc:
        raise ChecksConfigError(f"check {name!r} could not be built: {exc}") from exc
    if not isinstance(made, Check):
        raise ChecksConfigError(
            f"check {name!r}: its factory returned {type(made).__name__}, which has no "
            "'name' and 'check(item)'"
        )
    if made.name != name:
        raise ChecksConfigError(
            f"check registered as {name!r} calls itself {made.name!r}: use one name"
        )
    return made


def build_checks(
    config: ChecksConfig,
    *,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
    use_entry_points: bool = True,
) -> BuiltChecks:
    """Build every enabled check once; ``defaults`` fill options the config leaves empty."""
    builtins = builtin_factories()
    plugins = _plugin_factories(config, use_entry_points)
    disabled = set(config.checks.disabled)
    unknown = [n for n in config.checks.enabled if n not in builtins and n not in plugins]
    if unknown:
        raise ChecksConfigError(f"unknown checks enabled: {unknown} (known: {sorted(builtins)})")
    order = [n for n in config.checks.enabled if n not in disabled]
    order += [n for n in plugins if n not in order and n not in disabled]
    made = []
    for name in order:
        options = {**(defaults or {}).get(name, {})}
        options.update({k: v for k, v in config.check_options(name).items() if v not in ("", None)})
        made.append(_make(name, plugins.get(name) or builtins[name], options))
    return BuiltChecks(tuple(made))
