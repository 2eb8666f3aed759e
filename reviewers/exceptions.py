"""Errors of the review domain, under the one Vigil root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.exceptions import VigilError

if TYPE_CHECKING:
    from vigil.contracts import ReviewDecision


class ReviewError(VigilError):
    """Base for errors raised by ``reviewers``."""


class RedisServerError(ReviewError):
    """The embedded redis-server could not be started."""


class ItemNotFound(ReviewError):
    """No review item with that request id."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class InvalidDecision(ReviewError):
    """A decision that the item's state or the reviewer's role does not allow."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        existing: ReviewDecision | None = None,
    ) -> None:
        super().__init__(message)
        self.request_id = request_id
        # The decision already recorded for the item, when that is why this one was refused.
        self.existing = existing
