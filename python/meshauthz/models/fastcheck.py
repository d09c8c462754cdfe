"""A fast, conservative "is this body clean?" check derived from the pydantic models.

`clean(kind, body)` is True only when pydantic would accept `body` with no error and no unknown
field: every key known (by its alias), every value of exactly the annotated type (no coercion).
Then the loader needs no pydantic object on the hot path (the typed model is built on access,
`Resource.model`); anything else — a type error, an unknown field, a value pydantic would coerce
such as a port written "8080" — answers False and takes the pydantic path, which words the problem.
The checkers are compiled once per model from its annotations, so they follow the models.
"""

from __future__ import annotations

import typing
from typing import Any, Callable, Literal, Optional, Union

from pydantic import BaseModel

from .table import MODELS

Check = Callable[[Any], bool]


def _never(_: Any) -> bool:
    return False


def _compile(annotation: Any, seen: dict[type, Check]) -> Check:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Union:
        inner = [a for a in args if a is not type(None)]
        checks = [_compile(a, seen) for a in inner]
        allows_none = len(inner) < len(args)
        if len(checks) == 1:
            c = checks[0]
            return (lambda v: v is None or c(v)) if allows_none else c
        return lambda v: (allows_none and v is None) or any(c(v) for c in checks)
    if origin is typing.Annotated:
        base, *meta = args
        if base is int:
            lo = next((getattr(m, "ge", None) for m in _metadata(meta) if getattr(m, "ge", None) is not None), None)
            hi = next((getattr(m, "le", None) for m in _metadata(meta) if getattr(m, "le", None) is not None), None)
            return lambda v: type(v) is int and (lo is None or v >= lo) and (hi is None or v <= hi)
        if base is str:
            return lambda v: type(v) is str
        if base is bool:
            return lambda v: type(v) is bool
        return _never
    if origin is Literal:
        allowed = frozenset(a for a in args if type(a) is str)
        return lambda v: type(v) is str and v in allowed
    if origin in (list, typing.List):
        item = _compile(args[0], seen) if args else (lambda v: True)
        return lambda v: type(v) is list and all(item(x) for x in v)
    if origin in (dict, typing.Dict):
        key = _compile(args[0], seen) if args else (lambda v: True)
        val = _compile(args[1], seen) if len(args) > 1 else (lambda v: True)
        return lambda v: type(v) is dict and all(key(k) and val(x) for k, x in v.items())
    if annotation is Any:
        return lambda v: True
    if annotation is str:  # Payload keys (lax str: pydantic takes only str there as well)
        return lambda v: type(v) is str
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_check(annotation, seen)
    return _never


def _metadata(meta: list[Any]) -> list[Any]:
    out: list[Any] = []
    for m in meta:
        out.append(m)
        out.extend(getattr(m, "metadata", ()) or ())
    return out


def _model_check(model: type[BaseModel], seen: dict[type, Check]) -> Check:
    if model in seen:
        return seen[model]
    fields: dict[str, Check] = {}

    def check(v: Any) -> bool:
        if type(v) is not dict:
            return False
        for k, x in v.items():
            c = fields.get(k) if type(k) is str else None
            if c is None or not c(x):
                return False
        return True

    seen[model] = check
    for name, info in model.model_fields.items():
        fields[info.alias or name] = _compile(info.annotation, seen)
    return check


_CHECKS: dict[str, Check] = {}


def clean(kind: str, body: dict[str, Any]) -> bool:
    """True iff pydantic would accept `body` for `kind` with no error and no unknown field."""
    check = _CHECKS.get(kind)
    if check is None:
        model: Optional[type[BaseModel]] = MODELS.get(kind)
        check = _CHECKS[kind] = _model_check(model, {}) if model is not None else _never
    return check(body)
