"""Errors of the per-result checks, under the ``streams`` root."""

from __future__ import annotations

from vigil.streams.exceptions import StreamsError


class ChecksError(StreamsError):
    """Base for errors raised by ``streams.checks``."""


class ArithmeticParseError(ChecksError):
    """Text is not a calculator expression (or number) the safe evaluator accepts.

    Raised for syntax errors, anything but numbers and arithmetic operators, inputs over
    the length bound, exponents or results over the magnitude bounds, and division by zero;
    the message says which, in words a reviewer can read.
    """


class ChecksConfigError(ChecksError):
    """The checks configuration (file, plugin or option) is invalid; raised at start-up."""


class CheckFailed(ChecksError):
    """A check raised on one result; the worker dead-letters that result and goes on."""

    def __init__(self, check: str, error: BaseException) -> None:
        detail = f"{type(error).__name__}: {error}"
        super().__init__(f"check {check!r} failed: {detail}")
        self.check = check
        self.error = error
