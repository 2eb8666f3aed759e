"""What can go wrong when fitting the risk model or estimating the error rate."""

from __future__ import annotations

from vigil.exceptions import VigilError


class CalibrationError(VigilError):
    """A fit or an estimate that cannot be made (too few labels, a bad model record)."""


class NotEnoughLabels(CalibrationError):
    """Fewer settled labels than a fit needs: the hand weights stay the prior."""
