"""report.json's JSON Schema: the analyzers' part generated from their typed stats.

The top level (dataset card, findings, plan, recommendations, gate) is written by hand in
``sodaudit/schema/report.schema.json``; ``analyzers.<name>.stats`` and the ``$defs`` it refers
to are generated here from each analyzer's stats Struct with ``msgspec.json.schema_components``,
so the schema cannot drift from the types. ``python -m sodaudit.render.schema`` rewrites the
file; a test checks that the shipped file is what this module generates.

A number in the report may be ``null``: NaN or infinite values (a median over no boxes) become
null in JSON, so every generated number also admits null.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

SCHEMA_FILE = "report.schema.json"
REF_TEMPLATE = "#/$defs/{name}"
HAND_WRITTEN_DEFS = ("count", "fail_on", "analyzer", "finding", "recommendation", "plan_option")
"""``$defs`` of the hand-written part, kept as they are; every other def is generated."""


def schema_path() -> Path:
    """The JSON Schema shipped inside the package."""
    return Path(str(resources.files("sodaudit"))) / "schema" / SCHEMA_FILE


def shipped_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def _nullable_numbers(node: Any) -> Any:
    """Every ``"type": "number"`` also admits null (NaN and infinities are written as null)."""
    if isinstance(node, dict):
        out = {key: _nullable_numbers(value) for key, value in node.items()}
        if out.get("type") == "number":
            out["type"] = ["number", "null"]
        return out
    if isinstance(node, list):
        return [_nullable_numbers(value) for value in node]
    return node


def generated_schema(base: dict[str, Any], stats_types: Mapping[str, type]) -> dict[str, Any]:
    """``base`` with ``properties.analyzers`` and the generated ``$defs`` replaced by the ones
    of ``stats_types`` (analyzer name -> its stats Struct)."""
    names = list(stats_types)
    refs, defs = msgspec.json.schema_components([stats_types[n] for n in names], ref_template=REF_TEMPLATE)
    schema = dict(base)
    schema["$defs"] = {k: v for k, v in base.get("$defs", {}).items() if k in HAND_WRITTEN_DEFS}
    schema["$defs"].update(_nullable_numbers(defs))
    schema["properties"] = dict(base["properties"])
    schema["properties"]["analyzers"] = {
        "type": "object",
        "description": "One entry per analyzer, in report order: its title and its stats.",
        "required": names,
        "properties": {
            name: {
                "type": "object",
                "required": ["title", "stats"],
                "properties": {"title": {"type": "string"}, "stats": ref},
            }
            for name, ref in zip(names, refs, strict=True)
        },
    }
    return schema


def current_schema() -> dict[str, Any]:
    """The schema of this version of sodaudit, from the shipped file's hand-written part."""
    from sodaudit.analyzers import STATS_TYPES

    return generated_schema(shipped_schema(), STATS_TYPES)


def write_schema(path: Path | None = None) -> Path:
    path = path or schema_path()
    path.write_text(json.dumps(current_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_schema())
