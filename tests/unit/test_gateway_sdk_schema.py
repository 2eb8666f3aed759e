"""The product SDK validates against the published JSON Schema before anything is sent."""

from __future__ import annotations

import json

import orjson
import pytest

from vigil.exceptions import ContractError
from vigil_client.client import (
    PUBLISHED_SCHEMA,
    VigilClient,
    request_validator,
    validate_request_json,
)
from vigil_client.contracts import InferenceRequest, json_schemas


def offline_client(product: str = "tutor") -> VigilClient:
    """The client's validation path without a producer (the Kafka path is integration)."""
    client = VigilClient.__new__(VigilClient)
    client.product, client.tenant = product, None
    client._validator = request_validator(PUBLISHED_SCHEMA)
    return client


def test_the_sdk_uses_the_committed_schema_file() -> None:
    assert PUBLISHED_SCHEMA.is_file()
    assert request_validator().schema == json.loads(PUBLISHED_SCHEMA.read_text())
    assert request_validator().schema == json_schemas()["inference_request"]


def test_a_built_request_matches_the_published_schema() -> None:
    request = offline_client().build(
        "What is 2+2?", metadata={"locale": "en-GB"}, hold_for_review=True, samples=3
    )
    assert (request.product, request.hold_for_review, request.samples) == ("tutor", True, 3)
    validate_request_json(request.to_json(), request_validator())


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"prompt": "q", "samples": 99}, "samples"),
        ({"prompt": ""}, "prompt"),
        ({"metadata": {}}, "'prompt' is a required property"),
        ({"prompt": "q", "metadata": {"plan": 3}}, "metadata.plan"),
        ({"prompt": "q", "surprise": 1}, "Additional properties"),
        ({"prompt": "q", "request_id": "has spaces"}, "request_id"),
    ],
)
def test_payloads_the_schema_rejects_never_reach_kafka(
    payload: dict[str, object], problem: str
) -> None:
    with pytest.raises(ContractError, match=problem):
        validate_request_json(orjson.dumps(payload), request_validator())


def test_build_rejects_bad_fields_with_a_readable_error() -> None:
    client = offline_client()
    with pytest.raises(ContractError, match="samples"):
        client.build("q", samples=0)
    with pytest.raises(ContractError, match="metadata"):
        client.build("q", metadata={"plan": 3})  # type: ignore[dict-item]
    with pytest.raises(ContractError):
        client.build("q", sampling={"temperature": -1})


def test_the_schema_and_the_contract_agree_on_a_full_request() -> None:
    full = InferenceRequest(
        prompt="q",
        model="replay-trtllm",
        product="p",
        tenant="t",
        metadata={"a": "b"},
        hold_for_review=True,
        samples=4,
        sampling={"temperature": 0.5, "max_tokens": 64, "seed": 7, "top_p": 0.9, "top_k": 40},
    )
    validate_request_json(full.to_json(), request_validator())
