"""Errors of the Kafka/Faust side, under the one Vigil root."""

from vigil.exceptions import VigilError


class StreamsError(VigilError):
    """Base for errors raised by ``streams``."""


class BrokerError(StreamsError):
    """The embedded Kafka broker could not be prepared or started."""


class CritiqueParseError(StreamsError):
    """A verifier model's text could not be read as a verdict on the steps (empty, a refusal,
    no index, an index past the steps, scores that do not match them); the message says why."""
