"""The event contracts: every record that crosses a Kafka topic, in one place.

All records are JSON objects with ``schema_version`` and ``request_id`` (the idempotency key
everywhere) and UTC timestamps. ``vigil schemas`` exports them as JSON Schema files under
``schemas/`` so products in other languages can publish and consume them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigil.exceptions import ContractError

SCHEMA_VERSION = 1

RequestId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_request_id() -> str:
    return uuid.uuid4().hex


class _Record(BaseModel):
    """Frozen, strict about unknown fields so schema drift is an error, not a silent drop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Any:
        """Parse and validate; any failure is a ``ContractError`` with a readable reason."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ContractError(f"invalid {cls.__name__}: {problems}") from exc


class Sampling(BaseModel):
    """Sampling knobs forwarded to the model (vLLM ``sampling_parameters``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(default=0.0, ge=0.0, le=5.0)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    seed: int | None = None


class InferenceRequest(_Record):
    """What a product publishes on ``llm.requests``."""

    request_id: RequestId = Field(default_factory=new_request_id)
    created_at: datetime = Field(default_factory=utcnow)
    prompt: str = Field(min_length=1)
    model: str = "replay-reasoner"
    product: str | None = None
    tenant: str | None = None
    # Segment attributes (locale, plan, ...): carried untouched to every later record.
    metadata: dict[str, str] = Field(default_factory=dict)
    hold_for_review: bool = False
    samples: int = Field(default=1, ge=1, le=8, description="self-consistency samples wanted")
    sampling: Sampling = Field(default_factory=Sampling)


class InferenceResult(_Record):
    """What the gateway publishes on ``llm.results`` for one request."""

    request_id: RequestId
    created_at: datetime = Field(default_factory=utcnow)
    request_created_at: datetime
    prompt: str
    output: str
    # Extra self-consistency samples (beyond ``output``), when asked for.
    samples: list[str] = Field(default_factory=list)
    model_name: str
    model_version: str
    latency_ms: float = Field(ge=0)
    output_tokens: int | None = None
    product: str | None = None
    tenant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    hold_for_review: bool = False


class Evidence(BaseModel):
    """Why a check fired, anchored on a step of the reasoning where it can be."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: str
    step_index: int | None = None
    span: tuple[int, int] | None = Field(default=None, description="char span within the step")


class CheckResult(BaseModel):
    """One check's outcome: a score in [0, 1] (higher = riskier), a verdict and the evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str
    score: float = Field(ge=0.0, le=1.0)
    flagged: bool
    evidence: list[Evidence] = Field(default_factory=list)
    first_faulty_step: int | None = None


Verdict = Literal["clean", "queued"]


class ScreeningOutcome(_Record):
    """What the screening worker publishes on ``llm.screened``: one per result."""

    request_id: RequestId
    created_at: datetime = Field(default_factory=utcnow)
    verdict: Verdict
    risk_score: float = Field(ge=0.0, le=1.0)
    checks: list[CheckResult]


class ReviewItem(_Record):
    """A flagged result waiting for a human, as stored in the review queue."""

    request_id: RequestId
    enqueued_at: datetime = Field(default_factory=utcnow)
    prompt: str
    output: str
    steps: list[str]
    final_answer: str | None
    model_name: str
    model_version: str
    risk_score: float = Field(ge=0.0, le=1.0)
    checks: list[CheckResult]
    first_faulty_step: int | None = None
    product: str | None = None
    tenant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    hold_for_review: bool = False
    # The k self-consistency samples beyond ``output``, for side-by-side review.
    samples: list[str] = Field(default_factory=list)
    # Output and prompt with personal data masked, for roles that may not see PII.
    redacted_prompt: str | None = None
    redacted_output: str | None = None
    # Why and how it is reviewed: the routing rule that sent it, free tags (check names,
    # "random-sample", "alert"), the alert that sampled it, and the SLA deadline.
    route: str | None = None
    tags: list[str] = Field(default_factory=list)
    alert_id: str | None = None
    sla_deadline: datetime | None = None
    reviews_required: int = Field(default=1, ge=1, le=10)


DecisionKind = Literal["approve", "correct"]


class ReviewDecision(_Record):
    """A reviewer's decision, published on ``review.decisions`` keyed by ``request_id``."""

    decision_id: str = Field(default_factory=new_request_id, description="dedupe key")
    request_id: RequestId
    decided_at: datetime = Field(default_factory=utcnow)
    decision: DecisionKind
    reviewer: str = Field(min_length=1)
    corrected_answer: str | None = None
    first_wrong_step: int | None = Field(default=None, ge=0)
    comment: str | None = None
    model_name: str
    model_version: str
    product: str | None = None
    tenant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class DeadLetter(_Record):
    """A record that could not be processed, with the reason; on ``<topic>.dlq``."""

    request_id: str | None = Field(default=None, description="when it could be read")
    created_at: datetime = Field(default_factory=utcnow)
    source_topic: str
    stage: str = Field(description="which hop gave up: gateway, screening, ...")
    reason: str
    error: str | None = None
    payload: str = Field(description="the original bytes, decoded as UTF-8 with replacement")
    attempts: int = Field(default=1, ge=1)


CONTRACTS: dict[str, type[_Record]] = {
    "inference_request": InferenceRequest,
    "inference_result": InferenceResult,
    "screening_outcome": ScreeningOutcome,
    "review_item": ReviewItem,
    "review_decision": ReviewDecision,
    "dead_letter": DeadLetter,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every contract, keyed by file stem."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in CONTRACTS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:vigil:schema:{name}:v{SCHEMA_VERSION}"
        out[name] = schema
    return out
