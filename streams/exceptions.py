"""Errors of the Kafka/Faust side, under the one Vigil root."""

from vigil.exceptions import VigilError


class StreamsError(VigilError):
    """Base for errors raised by ``streams``."""


class BrokerError(StreamsError):
    """The embedded Kafka broker could not be prepared or started."""


class CritiqueParseError(StreamsError):
    """The verifier model's answer could not be read (malformed, a refusal, a step out of
    range): the result is "not verified", with this message as the reason."""
