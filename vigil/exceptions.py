"""The server's errors, under the SDK's root ``VigilError`` (one root for both distributions).

``VigilError`` and ``ContractError`` are defined by the SDK (``vigil_client.exceptions``),
whose contracts raise the latter; they are named here so server code has one place to import
its errors from.
"""

from vigil_client.exceptions import ContractError, VigilError

__all__ = ["ConfigError", "ContractError", "StackError", "VigilError"]


class ConfigError(VigilError):
    """The configuration is invalid or incomplete."""


class StackError(VigilError):
    """A local-stack component failed to start or to become ready."""
