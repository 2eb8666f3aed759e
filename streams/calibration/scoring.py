"""Keeping a running ``Screener`` on the risk model in use, without a restart.

``ModelWatcher.fetch`` reads the version in use (one small GET) and, only when it moved,
loads that model; ``apply`` hands it to the screener (``Screener.use_risk_model``). The
screening worker and the monitor fetch in a thread on a timer (``[calibration] poll_s``) and
apply on their event loop, so a batch is never scored by two models. Redis being away keeps
the model already loaded: screening never waits on the model store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vigil.reviewers.exceptions import queue_errors
from vigil.streams.calibration.exceptions import CalibrationError
from vigil.streams.calibration.model import PRIOR_VERSION, RiskModel
from vigil.streams.calibration.store import RiskModelStore
from vigil.streams.triage import Screener

__all__ = ["Found", "ModelWatcher"]

log = logging.getLogger("vigil.calibration")


@dataclass(frozen=True)
class Found:
    """Another model in use: its version and the model (None: the hand weights)."""

    version: str
    model: RiskModel | None


class ModelWatcher:
    def __init__(self, store: RiskModelStore, screener: Screener) -> None:
        self.store = store
        self.screener = screener
        self.loaded = PRIOR_VERSION
        self._errors: tuple[type[BaseException], ...] = (*queue_errors(), CalibrationError)

    def fetch(self) -> Found | None:
        """The model in use when it is not the one loaded (I/O: call it off the loop)."""
        try:
            version = self.store.current_version()
            if version == self.loaded:
                return None
            model = self.store.model(version)
        except self._errors as exc:
            log.warning("risk model store unreadable, keeping %s: %s", self.loaded, exc)
            return None
        if model is None and version != PRIOR_VERSION:
            log.error("risk model %s is in use but not stored; keeping %s", version, self.loaded)
            return None
        return Found(version, model)

    def apply(self, found: Found | None) -> bool:
        """Hand a fetched model to the screener; True when it got another one."""
        if found is None or found.version == self.loaded:
            return False
        self.screener.use_risk_model(found.model)
        log.info("risk model: %s (was %s)", found.version, self.loaded)
        self.loaded = found.version
        return True

    def refresh(self) -> bool:
        """Fetch and apply in one go (for a caller without an event loop)."""
        return self.apply(self.fetch())
