"""Where the monitor's output goes: alerts to ``monitor.alerts``, probe requests to the gateway.

A Protocol of its own so that the monitor and the probe desk both depend on it, not on
each other (``agent.py`` gives them the Kafka implementation; tests give them a list).
"""

from __future__ import annotations

from typing import Protocol

from vigil_client.contracts import Alert, InferenceRequest

__all__ = ["Publisher"]


class Publisher(Protocol):
    async def alert(self, alert: Alert) -> None: ...

    async def request(self, request: InferenceRequest) -> None: ...
