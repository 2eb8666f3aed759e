"""The product SDK (kafka-python): submit inference requests, consume review decisions.

from streams.client import VigilClient
with VigilClient("127.0.0.1:19092", product="checkout") as vigil:
    request_id = vigil.submit("What is 2 + 2?", metadata={"locale": "en"})
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from streams import topics
from streams.exceptions import PublishError
from vigil.contracts import InferenceRequest, ReviewDecision
from vigil.exceptions import ContractError


class VigilClient:
    def __init__(
        self,
        bootstrap: str,
        *,
        product: str | None = None,
        tenant: str | None = None,
        linger_ms: int = 5,
    ) -> None:
        self.bootstrap = bootstrap
        self.product = product
        self.tenant = tenant
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=f"vigil-sdk-{product or 'anon'}",
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
        )

    def __enter__(self) -> VigilClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def build(self, prompt: str, **fields: Any) -> InferenceRequest:
        """Validate against the published contract before anything is sent."""
        fields.setdefault("product", self.product)
        fields.setdefault("tenant", self.tenant)
        try:
            return InferenceRequest.model_validate({"prompt": prompt, **fields})
        except Exception as exc:
            raise ContractError(f"invalid request: {exc}") from exc

    def submit(self, prompt: str, *, wait: bool = False, **fields: Any) -> str:
        """Publish one request; returns its ``request_id`` (the idempotency key).

        ``wait=True`` blocks until the broker has it; otherwise call :meth:`flush`.
        """
        request = self.build(prompt, **fields)
        return self.send(request, wait=wait)

    def send(self, request: InferenceRequest, *, wait: bool = False) -> str:
        future = self._producer.send(
            topics.REQUESTS, value=request.to_json(), key=request.request_id.encode()
        )
        if wait:
            try:
                future.get(timeout=30)
            except Exception as exc:
                raise PublishError(f"request {request.request_id} not published: {exc}") from exc
        return request.request_id

    def flush(self, timeout: float | None = 30) -> None:
        self._producer.flush(timeout=timeout)

    def decisions(
        self,
        *,
        group_id: str | None = None,
        from_beginning: bool = False,
        timeout_ms: int | None = None,
    ) -> Iterator[ReviewDecision]:
        """Decisions on this product's requests, as they are made (``group_id`` to resume)."""
        consumer = KafkaConsumer(
            topics.DECISIONS,
            bootstrap_servers=self.bootstrap,
            group_id=group_id,
            auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=group_id is not None,
            consumer_timeout_ms=timeout_ms if timeout_ms is not None else float("inf"),
        )
        try:
            for msg in consumer:
                decision: ReviewDecision = ReviewDecision.from_json(msg.value)
                if self.product is None or decision.product == self.product:
                    yield decision
        finally:
            consumer.close()

    def close(self) -> None:
        self._producer.close(timeout=30)
