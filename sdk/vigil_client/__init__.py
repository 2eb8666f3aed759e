"""Vigil's product SDK: publish inference requests, act on review decisions and releases.

    from vigil_client import VigilClient

It is its own distribution (``pip install ./sdk``: kafka-python, pydantic and jsonschema
only), and holds what products and the Vigil server share: the event contracts
(``vigil_client.contracts``), the topic names (``vigil_client.topics``), the review names
(tiers, item states, event and decision kinds: ``vigil_client.names``), the root errors
(``vigil_client.exceptions``), the Kafka security settings (``vigil_client.security``) and the
published JSON Schemas (``vigil_client/schemas/``).
"""

from vigil_client.client import VigilClient
from vigil_client.contracts import (
    Alert,
    DeadLetter,
    InferenceRequest,
    InferenceResult,
    ReviewDecision,
    ReviewRelease,
    Sampling,
    ScreeningOutcome,
)
from vigil_client.exceptions import ContractError, PublishError, VigilError
from vigil_client.security import KafkaSecurity

__all__ = [
    "Alert",
    "ContractError",
    "DeadLetter",
    "InferenceRequest",
    "InferenceResult",
    "KafkaSecurity",
    "PublishError",
    "ReviewDecision",
    "ReviewRelease",
    "Sampling",
    "ScreeningOutcome",
    "VigilClient",
    "VigilError",
]
