"""Errors of the reviewer console, under the one Vigil root."""

from __future__ import annotations

from vigil.exceptions import VigilError


class ConsoleError(VigilError):
    """Base for errors raised by ``dashboard``."""


class PermissionDenied(ConsoleError):
    """The user's role does not allow the action (checked on the server, at the action)."""

    def __init__(self, message: str, *, user: str, role: str, action: str) -> None:
        super().__init__(message)
        self.user = user
        self.role = role
        self.action = action
