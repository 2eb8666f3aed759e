"""Errors of drift and bias monitoring, under the streams root."""

from __future__ import annotations

from vigil.streams.exceptions import StreamsError


class MonitoringError(StreamsError):
    """Monitoring could not compute or store a result (bad reference, too few rows...)."""


class ReferenceDataError(MonitoringError):
    """No usable reference: the file is missing, empty or not in a known format."""


class WebhookError(MonitoringError):
    """A webhook did not accept an alert after the retries."""
