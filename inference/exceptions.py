"""Errors of the Triton side, under the one Vigil root."""

from vigil.exceptions import VigilError


class InferenceError(VigilError):
    """Base for errors raised by ``inference``."""


class ReplayDataError(InferenceError):
    """The recorded-solutions file is missing or malformed."""


class UnknownQuestion(InferenceError):
    """The replay reasoner has no recorded answer for this prompt."""


class ModelCallError(InferenceError):
    """Triton answered with an error, or could not be reached.

    ``retryable`` is true only for transport failures (server unavailable, connection refused):
    a deadline on generation is never retried blindly, the work may still be running.
    """

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
