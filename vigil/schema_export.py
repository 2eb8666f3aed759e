"""Writes the contracts' JSON Schemas, so non-Python products can validate what they publish.

The committed files are the SDK's package data (``vigil_client.contracts.SCHEMAS_DIR``,
``sdk/vigil_client/schemas/``): the client validates every request against them.
"""

from __future__ import annotations

import json
from pathlib import Path

from vigil_client.contracts import SCHEMA_VERSION, json_schemas


def render_schemas() -> dict[str, str]:
    """File name -> file text, deterministic (the committed files must match it)."""
    return {
        f"{name}.v{SCHEMA_VERSION}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }


def write_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = out / name
        path.write_text(text)
        written.append(path)
    return written
