"""The root of every error Vigil raises on purpose."""


class VigilError(Exception):
    """Base class: catch this to catch any error Vigil raises deliberately."""


class ConfigError(VigilError):
    """The configuration is invalid or incomplete."""


class ContractError(VigilError):
    """A payload does not satisfy its event contract (bad JSON, wrong schema, oversize)."""


class StackError(VigilError):
    """A local-stack component failed to start or to become ready."""
