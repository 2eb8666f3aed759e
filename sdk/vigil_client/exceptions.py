"""The root of every error Vigil raises on purpose; the server's errors derive from it too."""


class VigilError(Exception):
    """Base class: catch this to catch any error Vigil raises deliberately."""


class ContractError(VigilError):
    """A payload does not satisfy its event contract (bad JSON, wrong schema, oversize)."""


class PublishError(VigilError):
    """A record could not be produced to Kafka."""


class KafkaConnectError(VigilError):
    """Kafka could not be reached, or refused the connection: the login (SASL), the TLS
    handshake or the address. The message says which, and as whom (never a secret)."""
