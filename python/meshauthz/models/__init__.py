"""pydantic v2 models of the typed kinds (one module per kind).

`parse_model(kind, body)` checks the *types* of a Universal-equivalent body and returns the typed
model plus the paths of unknown fields (warnings, TP A18). Kuma's semantic rules are in
`meshauthz.validation`, not here.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ValidationError

from ..validation.paths import MapKey, Path, go_quote, render_path
from .access_role import AccessRole, AccessRoleBinding
from .base import MAP_FIELDS
from .dataplane import Dataplane
from .external_service import ExternalService
from .mesh import Mesh
from .mesh_traffic_permission import MeshTrafficPermission
from .table import MODELS
from .traffic_permission import TrafficPermission

__all__ = ["ModelError", "parse_model", "MODELS", "AccessRole", "AccessRoleBinding", "Dataplane",
           "ExternalService", "Mesh", "MeshTrafficPermission", "TrafficPermission"]

# pydantic error type -> what the field expects (third element of each ModelError entry)
_EXPECTED = {
    "string_type": "a string", "bool_type": "a boolean", "int_type": "an integer", "int_parsing": "an integer",
    "int_from_float": "an integer", "greater_than_equal": "a non-negative integer",
    "less_than_equal": "an unsigned 32-bit integer", "list_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "literal_error": "one of the allowed values",
}


class ModelError(Exception):
    """Type errors of one body: a list of (path, message, expected)."""

    def __init__(self, errors: list[tuple[Path, str, str]]):
        super().__init__("; ".join(m for _, m, _ in errors))
        self.errors = errors


def _path(loc: tuple[Any, ...]) -> Path:
    """A pydantic `loc` as a meshauthz path: children of map fields become `MapKey`s."""
    out: list[Any] = []
    prev: Optional[Any] = None
    for el in loc:
        if el == "[key]":
            continue  # the key itself was wrong: report at the key
        if isinstance(el, str) and prev in MAP_FIELDS and not isinstance(prev, MapKey):
            out.append(MapKey(el))
        else:
            out.append(el)
        prev = el
    return tuple(out)


def _unknown(value: Any, path: Path, out: list[Path]) -> None:
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            out.append(path + (key,))
        for name, field in type(value).model_fields.items():
            _unknown(getattr(value, name), path + (field.alias or name,), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _unknown(item, path + (i,), out)


def parse_model(kind: str, body: dict[str, Any]) -> tuple[Any, list[Path]]:
    """Return (typed model, unknown field paths) or raise ModelError; (None, []) for untyped kinds."""
    model = MODELS.get(kind)
    if model is None:
        return None, []
    try:
        parsed = model.model_validate(body)
    except ValidationError as e:
        errors: list[tuple[Path, str, str]] = []
        for err in e.errors(include_url=False):
            path = _path(tuple(err["loc"]))
            detail = f"{render_path(path) or '<root>'}: {err['msg']}"
            errors.append((path, f"invalid {kind} object: {go_quote(detail)}",
                           _EXPECTED.get(err["type"], err["type"])))
        raise ModelError(errors) from None
    unknown: list[Path] = []
    _unknown(parsed, (), unknown)
    return parsed, unknown
