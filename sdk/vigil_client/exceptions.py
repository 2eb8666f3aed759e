"""The root of every error Vigil raises on purpose; the server's errors derive from it too."""


class VigilError(Exception):
    """Base class: catch this to catch any error Vigil raises deliberately."""


class ContractError(VigilError):
    """A payload does not satisfy its event contract (bad JSON, wrong schema, oversize)."""


class PublishError(VigilError):
    """A record could not be produced to Kafka."""
