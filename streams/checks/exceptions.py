"""Errors of the per-result checks, under the ``streams`` root."""

from __future__ import annotations

from streams.exceptions import StreamsError


class ChecksError(StreamsError):
    """Base for errors raised by ``streams.checks``."""


class ArithmeticParseError(ChecksError):
    """Text is not a calculator expression (or number) the safe evaluator accepts.

    Raised for syntax errors, anything but numbers and arithmetic operators, inputs over
    the length bound, exponents or results over the magnitude bounds, and division by zero;
    the message says which, in words a reviewer can read.
    """
