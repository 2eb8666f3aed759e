"""Errors of the review domain, under the one Vigil root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.exceptions import VigilError

if TYPE_CHECKING:
    from vigil_client.contracts import ReviewDecision


class ReviewError(VigilError):
    """Base for errors raised by ``reviewers``."""


class RedisServerError(ReviewError):
    """The embedded redis-server could not be started."""


class RedisAccessError(ReviewError):
    """Redis refused this client: its login (user, password) or the TLS handshake."""


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


class StaleClaim(InvalidDecision):
    """A decision or heartbeat under a claim that is not live (expired, released, another
    reviewer's, or superseded by an escalation)."""


class ClaimRefused(ReviewError):
    """The reviewer may not claim the item now; ``reason`` says why (machine-readable)."""

    def __init__(self, message: str, *, request_id: str | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.request_id = request_id
        self.reason = reason


class RebuildError(ReviewError):
    """The review state could not be rebuilt from the events (e.g. the target is not empty)."""


def transient_errors() -> tuple[type[BaseException], ...]:
    """The errors of a queue call worth retrying, for callers that must not import redis."""
    import redis.exceptions

    # BusyLoadingError (AOF still loading) is a ConnectionError subclass.
    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def queue_errors() -> tuple[type[BaseException], ...]:
    """Every error a queue or monitor-store call can raise for reasons outside the caller
    (the review domain's own, any Redis error), for callers that must not import redis (the
    console shows them instead of a traceback)."""
    import redis.exceptions

    return (ReviewError, redis.exceptions.RedisError)
