from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from vigil.exceptions import ContractError
from vigil.schema_export import render_schemas
from vigil_client.contracts import CONTRACTS, InferenceRequest, json_schemas

# The published schemas are the SDK's package data, committed where `vigil schemas` writes them.
SCHEMAS = Path(__file__).resolve().parents[2] / "sdk" / "vigil_client" / "schemas"


def test_committed_schema_files_match_the_contracts() -> None:
    rendered = render_schemas()
    on_disk = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert on_disk == rendered, "sdk/vigil_client/schemas/ is stale: run `vigil schemas`"


def test_every_contract_has_version_and_request_id() -> None:
    for name, schema in json_schemas().items():
        props = schema["properties"]
        assert "schema_version" in props, name
        # An alert is about a window of traffic, not one request: keyed by its alert_id.
        key = "alert_id" if name == "alert" else "request_id"
        assert key in props, name


def test_a_request_validates_against_its_exported_schema() -> None:
    request = InferenceRequest(prompt="What is 2+2?", metadata={"locale": "en-GB"})
    schema = json_schemas()["inference_request"]
    jsonschema.validate(json.loads(request.to_json()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"prompt": ""}, schema)


def test_round_trip_and_clear_errors() -> None:
    for model in CONTRACTS.values():
        assert model.model_fields["schema_version"].default == 1
    req = InferenceRequest(prompt="q")
    assert InferenceRequest.from_json(req.to_json()) == req
    with pytest.raises(ContractError, match="prompt"):
        InferenceRequest.from_json(b'{"prompt": ""}')
    with pytest.raises(ContractError, match="invalid InferenceRequest"):
        InferenceRequest.from_json(b"{nope")
    with pytest.raises(ContractError, match="unexpected"):
        InferenceRequest.from_json(b'{"prompt": "q", "unexpected": 1}')
