"""Handlers `validate` and `deprecations` (TP §5, MTP §3)."""

from __future__ import annotations

from typing import Any

from .. import parse_resource
from ..validation import deprecations, validate_meta, validate_schema, validate_spec
from .handlers import handler


def _body(resource: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Normalise either form to (kind, Universal-equivalent body) without validating it (a
    `SchemaError` when the envelope cannot be read)."""
    res = parse_resource(resource, check=False, file="<vector>")
    return res.kind, res.body


@handler("validate")
def validate(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    query = vector["query"]
    resource = query["resource"]
    checks = query.get("checks", "spec")
    if query.get("version"):
        raise ValueError(f"unsupported option: version {query['version']}")
    kind, body = _body(resource)
    if checks == "meta":
        mesh = resource.get("mesh")
        violations = validate_meta(kind, resource.get("name") or "", mesh)
    elif checks == "schema":
        violations = validate_schema(kind.name, body)
    elif checks == "spec":
        violations = validate_spec(kind.name, body)
    else:
        raise ValueError(f"unsupported checks: {checks}")
    return {"valid": not violations, "violations": [v.to_dict() for v in violations]}


@handler("deprecations")
def deprecation_warnings(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    kind, body = _body(vector["query"]["resource"])
    return {"warnings": deprecations(kind.name, body)}
