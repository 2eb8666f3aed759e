"""Errors of the offline evaluation, under the one Vigil root."""

from __future__ import annotations

from vigil.exceptions import VigilError


class EvalError(VigilError):
    """The labelled file cannot be evaluated (missing, wrong format, no labels)."""
