"""The product SDK (kafka-python): submit inference requests, consume the review decisions.

    from vigil_client import VigilClient

    with VigilClient("127.0.0.1:19092", product="checkout") as vigil:
        request_id = vigil.submit("What is 2 + 2?", metadata={"locale": "en"}, samples=3)
        vigil.flush()
        for decision in vigil.decisions(request_ids={request_id}, timeout_ms=60_000):
            print(decision.decision, decision.corrected_answer)

Every request is validated twice before it is sent: by the pydantic contract (which fills the
defaults) and then, as the exact JSON that goes on the wire, against the *published* JSON
Schema (``vigil_client/schemas/inference_request.v1.json``, shipped in this package), the
same file non-Python products use. Sends are asynchronous and batched; a send that fails is
reported by :meth:`VigilClient.flush` (or at once with ``wait=True``), never dropped silently.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

import jsonschema
from kafka import KafkaConsumer, KafkaProducer

from vigil_client.contracts import (
    SCHEMA_VERSION,
    SCHEMAS_DIR,
    InferenceRequest,
    ReviewDecision,
    ReviewRelease,
)
from vigil_client.exceptions import ContractError, PublishError
from vigil_client.security import KafkaSecurity, explain_kafka_errors
from vigil_client.topics import DECISIONS, RELEASES, REQUESTS

PUBLISHED_SCHEMA = SCHEMAS_DIR / f"inference_request.v{SCHEMA_VERSION}.json"


@lru_cache(maxsize=4)
def request_validator(path: Path = PUBLISHED_SCHEMA) -> jsonschema.protocols.Validator:
    """The validator of the published request schema (the file shipped in this package)."""
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_request_json(payload: bytes, validator: jsonschema.protocols.Validator) -> None:
    """Raise :class:`ContractError` listing every violation of the published schema."""
    errors = sorted(validator.iter_errors(json.loads(payload)), key=lambda e: list(e.path))
    if errors:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.path) or '<root>'}: {e.message}" for e in errors
        )
        raise ContractError(f"request does not match the published schema: {problems}")


class VigilClient:
    def __init__(
        self,
        bootstrap: str,
        *,
        product: str | None = None,
        tenant: str | None = None,
        linger_ms: int = 5,
        schema_path: Path = PUBLISHED_SCHEMA,
        security: KafkaSecurity | None = None,
    ) -> None:
        """``security``: TLS and SASL for a secured cluster (default: an open one); see
        :class:`~vigil_client.security.KafkaSecurity` (``KafkaSecurity.from_env()`` reads
        ``VIGIL_KAFKA_*``)."""
        self.bootstrap = bootstrap
        self.product = product
        self.tenant = tenant
        self.security = security or KafkaSecurity()
        self._validator = request_validator(schema_path)
        with explain_kafka_errors(bootstrap, self.security):
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                **self.security.kafka_python_kwargs(),
                client_id=f"vigil-sdk-{product or 'anon'}",
                acks="all",
                enable_idempotence=True,
                linger_ms=linger_ms,
            )
        self._failed: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> VigilClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def build(
        self,
        prompt: str,
        *,
        metadata: Mapping[str, str] | None = None,
        hold_for_review: bool = False,
        samples: int = 1,
        **fields: Any,
    ) -> InferenceRequest:
        """The request as it will be sent, validated by the contract and the published schema.

        ``fields`` are the other request fields: ``model``, ``sampling``, ``request_id``,
        ``tenant``, ``product``.
        """
        fields.setdefault("product", self.product)
        fields.setdefault("tenant", self.tenant)
        body = {
            "prompt": prompt,
            "metadata": dict(metadata or {}),
            "hold_for_review": hold_for_review,
            "samples": samples,
            **fields,
        }
        try:
            request = InferenceRequest.model_validate(body)
        except Exception as exc:
            raise ContractError(f"invalid request: {exc}") from exc
        validate_request_json(request.to_json(), self._validator)
        return request

    def submit(
        self,
        prompt: str,
        *,
        metadata: Mapping[str, str] | None = None,
        hold_for_review: bool = False,
        samples: int = 1,
        wait: bool = False,
        **fields: Any,
    ) -> str:
        """Publish one request; returns its ``request_id`` (the idempotency key).

        ``hold_for_review`` sends the result to a human whatever the checks say; ``samples``
        asks for k self-consistency samples. ``wait=True`` blocks until the broker has the
        request; otherwise call :meth:`flush` before relying on it.
        """
        request = self.build(
            prompt, metadata=metadata, hold_for_review=hold_for_review, samples=samples, **fields
        )
        return self.send(request, wait=wait)

    def send(self, request: InferenceRequest, *, wait: bool = False) -> str:
        payload = request.to_json()
        validate_request_json(payload, self._validator)
        rid = request.request_id
        future = self._producer.send(REQUESTS, value=payload, key=rid.encode())
        if wait:
            try:
                future.get(timeout=30)
            except Exception as exc:
                raise PublishError(f"request {rid} not published: {exc}") from exc
        else:
            future.add_errback(lambda exc: self._record_failure(rid, exc))
        return rid

    def _record_failure(self, rid: str, exc: BaseException) -> None:
        with self._lock:
            self._failed.append(f"{rid}: {exc}")

    def flush(self, timeout: float | None = 30) -> None:
        """Wait until every request sent so far is on the broker; raise if any failed."""
        self._producer.flush(timeout=timeout)
        with self._lock:
            failed, self._failed = self._failed, []
        if failed:
            raise PublishError(f"{len(failed)} request(s) not published: {'; '.join(failed)}")

    def decisions(
        self,
        *,
        group_id: str | None = None,
        from_beginning: bool = False,
        timeout_ms: int | None = None,
        request_ids: Iterable[str] | None = None,
        corrections_only: bool = False,
    ) -> Iterator[ReviewDecision]:
        """Review decisions on this product's requests (``review.decisions``), as they are made.

        Only this client's product (and tenant, when set) is yielded; ``request_ids`` narrows it
        to those requests, ``corrections_only`` to corrections. Delivery is at-least-once:
        duplicates (the same ``decision_id``) are dropped here. ``group_id`` makes progress
        durable across restarts; ``timeout_ms`` ends the iteration after that long idle.
        """
        wanted = set(request_ids) if request_ids is not None else None
        seen: set[str] = set()
        for raw in self._read(DECISIONS, group_id, from_beginning, timeout_ms):
            decision: ReviewDecision = ReviewDecision.from_json(raw)
            if not self._mine(decision, wanted, corrections_only):
                continue
            if decision.decision_id in seen:
                continue
            seen.add(decision.decision_id)
            yield decision

    def _read(
        self, topic: str, group_id: str | None, from_beginning: bool, timeout_ms: int | None
    ) -> Iterator[bytes]:
        """The raw values of ``topic`` as they arrive; the consumer closes with the iterator."""
        with explain_kafka_errors(self.bootstrap, self.security):
            consumer = KafkaConsumer(
                topic,
                bootstrap_servers=self.bootstrap,
                **self.security.kafka_python_kwargs(),
                group_id=group_id,
                client_id=f"vigil-sdk-{self.product or 'anon'}",
                auto_offset_reset="earliest" if from_beginning else "latest",
                enable_auto_commit=group_id is not None,
                consumer_timeout_ms=timeout_ms if timeout_ms is not None else float("inf"),
            )
        try:
            for msg in consumer:
                yield msg.value
        finally:
            consumer.close()

    def corrections(self, **kwargs: Any) -> Iterator[ReviewDecision]:
        """Like :meth:`decisions`, corrections only (what a product must act on)."""
        return self.decisions(corrections_only=True, **kwargs)

    def _mine(
        self, decision: ReviewDecision, wanted: set[str] | None, corrections_only: bool
    ) -> bool:
        if self.product is not None and decision.product != self.product:
            return False
        if self.tenant is not None and decision.tenant != self.tenant:
            return False
        if wanted is not None and decision.request_id not in wanted:
            return False
        return not corrections_only or decision.decision == "correct"

    def releases(
        self,
        *,
        group_id: str | None = None,
        from_beginning: bool = False,
        timeout_ms: int | None = None,
        request_ids: Iterable[str] | None = None,
    ) -> Iterator[ReviewRelease]:
        """Releases of this product's held requests (``hold_for_review``) on
        ``review.releases``: one per request, when a review settles it or its SLA fallback
        fires. Show ``answer``/``output`` only if ``deliver``. Duplicates are dropped here."""
        wanted = set(request_ids) if request_ids is not None else None
        seen: set[str] = set()
        for raw in self._read(RELEASES, group_id, from_beginning, timeout_ms):
            release: ReviewRelease = ReviewRelease.from_json(raw)
            if self.product is not None and release.product != self.product:
                continue
            if wanted is not None and release.request_id not in wanted:
                continue
            if release.release_id not in seen:
                seen.add(release.release_id)
                yield release

    def close(self) -> None:
        self._producer.close(timeout=30)
