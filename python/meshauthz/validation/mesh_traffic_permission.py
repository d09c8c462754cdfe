"""MeshTrafficPermission (Kuma v2.10.11): spec rules M3.1–M3.6, schema layer M3.7, deprecations M3.8.

The body is `{"spec": {...}}`; every path starts with "spec".
"""

from __future__ import annotations

from typing import Any, Optional

from .dispatch import Violation
from .paths import MapKey, Path
from .tags import lst, obj, s, validate_target_ref

TOP_KINDS = ("Mesh", "MeshSubset", "MeshService", "MeshServiceSubset", "Dataplane")  # M3.3.2
FROM_KINDS = ("Mesh", "MeshSubset", "MeshService", "MeshServiceSubset")
ACTIONS = ("Allow", "Deny", "AllowWithShadowDeny")
SCHEMA_KINDS = ("Mesh", "MeshSubset", "MeshGateway", "MeshService", "MeshExternalService", "MeshMultiZoneService",
                "MeshServiceSubset", "MeshHTTPRoute", "Dataplane")


def _v(path: Path, message: str) -> Any:
    return Violation(path, message)


def validate(body: dict[str, Any]) -> list:
    spec = obj(body.get("spec"))
    root: Path = ("spec",)
    items = lst(spec.get("from"))
    out: list = []
    if spec.get("targetRef") is not None:  # M3.1 (1); an omitted targetRef is not validated (M2.4)
        out.extend(validate_target_ref(root + ("targetRef",), spec["targetRef"], TOP_KINDS,
                                       inbound_policy=bool(items)))
    if not items:
        out.append(_v(root + ("from",), "needs at least one item"))  # M3.2
    for i, item in enumerate(items):  # M3.1 (3)
        item = obj(item)
        out.extend(validate_target_ref(root + ("from", i, "targetRef"), item.get("targetRef"), FROM_KINDS))
        if s(obj(item.get("default")).get("action")) == "":
            out.append(_v(root + ("from", i, "default", "action"), "must be defined"))  # M3.6
    return out


# --- M3.7 schema layer: OpenAPI types, required fields and enums --------------------------------------

def json_type(value: Any) -> str:
    """The OpenAPI type name Kuma's schema errors use for a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(path: Path, want: str, value: Any) -> Optional[Any]:
    got = json_type(value)
    if got == want or value is None:  # null = absent for optional fields
        return None
    return _v(path, f'in body must be of type {want}: "{got}"')


def _enum(path: Path, value: Any, allowed: tuple[str, ...]) -> list:
    if isinstance(value, str) and value not in allowed:
        return [_v(path, f"in body should be one of [{' '.join(allowed)}]")]
    return []


def _string_map(path: Path, value: Any) -> list:
    err = _type_error(path, "object", value)
    if err is not None:
        return [err]
    out = []
    for k, v in obj(value).items():
        e = _type_error(path + (MapKey(str(k)),), "string", v)
        if e is not None:
            out.append(e)
    return out


def _target_ref_schema(path: Path, ref: Any) -> list:
    err = _type_error(path, "object", ref)
    if err is not None:
        return [err]
    r = obj(ref)
    out: list = []
    if r.get("kind") is None:
        out.append(_v(path + ("kind",), "in body is required"))
    for field in ("kind", "mesh", "name", "namespace", "sectionName"):
        e = _type_error(path + (field,), "string", r.get(field))
        if e is not None:
            out.append(e)
        elif field == "kind":
            out.extend(_enum(path + ("kind",), r.get("kind"), SCHEMA_KINDS))
    for field in ("labels", "tags"):
        out.extend(_string_map(path + (field,), r.get(field)))
    proxy = r.get("proxyTypes")
    e = _type_error(path + ("proxyTypes",), "array", proxy)
    if e is not None:
        out.append(e)
    else:
        for i, p in enumerate(lst(proxy)):
            e = _type_error(path + ("proxyTypes", i), "string", p)
            out.extend([e] if e is not None else _enum(path + ("proxyTypes", i), p, ("Sidecar", "Gateway")))
    return out


def validate_schema(body: dict[str, Any]) -> list:
    """M3.7: rejects enum/type/required failures before the spec rules run (field, "in body ..." message)."""
    root: Path = ("spec",)
    spec = body.get("spec")
    err = _type_error(root, "object", spec)
    if err is not None:
        return [err]
    spec = obj(spec)
    out: list = []
    if spec.get("targetRef") is not None:
        out.extend(_target_ref_schema(root + ("targetRef",), spec["targetRef"]))
    items = spec.get("from")
    err = _type_error(root + ("from",), "array", items)
    if err is not None:
        return out + [err]
    for i, item in enumerate(lst(items)):
        ipath = root + ("from", i)
        err = _type_error(ipath, "object", item)
        if err is not None:
            out.append(err)
            continue
        item = obj(item)
        if item.get("targetRef") is None:
            out.append(_v(ipath + ("targetRef",), "in body is required"))
        else:
            out.extend(_target_ref_schema(ipath + ("targetRef",), item["targetRef"]))
        default = item.get("default")
        err = _type_error(ipath + ("default",), "object", default)
        if err is not None:
            out.append(err)
            continue
        action = obj(default).get("action")
        err = _type_error(ipath + ("default", "action"), "string", action)
        out.extend([err] if err is not None else _enum(ipath + ("default", "action"), action, ACTIONS))
    return out


# --- M3.8 deprecations ---------------------------------------------------------------------------------

def deprecations(body: dict[str, Any]) -> list[str]:
    spec = obj(body.get("spec"))
    out: list[str] = []
    top = spec.get("targetRef")
    if isinstance(top, dict):
        kind = s(top.get("kind"))
        if kind == "MeshService":
            out.append("MeshService value for 'targetRef.kind' is deprecated, use MeshSubset with "
                       "'kuma.io/service' tag instead")
        elif kind == "MeshSubset":
            out.append("MeshSubset value for 'targetRef.kind' is deprecated, use Dataplane with labels instead")
    for item in lst(spec.get("from")):
        if s(obj(obj(item).get("targetRef")).get("kind")) == "MeshService":
            out.append("MeshService value for 'from[].targetRef.kind' is deprecated, use MeshSubset with "
                       "'kuma.io/service' instead")
    return out
