"""Errors of the Triton side, under the one Vigil root."""

from vigil.exceptions import VigilError


class InferenceError(VigilError):
    """Base for errors raised by ``inference``."""


class ReplayDataError(InferenceError):
    """The recorded-solutions file is missing or malformed."""


class UnknownQuestion(InferenceError):
    """The replay reasoner has no recorded answer for this prompt."""


class AdapterError(InferenceError):
    """A model contract adapter is unknown, cannot be loaded, or got a response it can't read."""


class ModelCallError(InferenceError):
    """Triton answered with an error, or could not be reached.

    ``kind`` says what the gateway may do about it:

    * ``unavailable``: the server wasn't there (connection refused, UNAVAILABLE) or was
      (un)loading the model; nothing ran, so a retry with backoff is safe.
    * ``not_ready``: the server has no such model: a route to a model it doesn't serve.
      Retried like ``unavailable``, but it says nothing about the server's health.
    * ``timeout``: the deadline passed; the generation may still be running, so it is never
      retried blindly.
    * ``model``: the model refused this request (bad input, unknown question); retrying
      would fail the same way.
    """

    KINDS = ("unavailable", "not_ready", "timeout", "model")

    def __init__(self, message: str, *, kind: str, code: str | None = None) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown ModelCallError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.code = code

    @property
    def retryable(self) -> bool:
        return self.kind in ("unavailable", "not_ready")


class CircuitOpen(InferenceError):
    """The circuit breaker is open and the request's wait for the model ran out."""
