"""Shared Kuma checks: tag maps (ValidateTags / ValidateSelector), selector lists and targetRefs.

Field paths are relative tuples; map keys are wrapped in `MapKey`. Every helper tolerates wrong
types (the models layer reports those): a non-mapping counts as an empty map, `None` as "".
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Optional

from .dispatch import Violation
from .paths import MapKey, Path, go_quote

SERVICE_TAG = "kuma.io/service"
PROTOCOL_TAG = "kuma.io/protocol"
PROTOCOLS = ("grpc", "http", "http2", "kafka", "tcp")  # SupportedProtocols, in Kuma's listing order

TAG_NAME = re.compile(r"[a-zA-Z0-9.\-_:/]*")
TAG_VALUE = re.compile(r"[a-zA-Z0-9.\-_:]*")
SELECTOR_VALUE = re.compile(r"[a-zA-Z0-9.\-_:/]*|\*")
NAME = re.compile(r"[0-9a-z.\-_]*")

MSG_TAG_NAME_EMPTY = "tag name must be non-empty"
MSG_TAG_NAME = "tag name must consist of alphanumeric characters, dots, dashes, slashes and underscores"
MSG_TAG_VALUE_EMPTY = "tag value must be non-empty"
MSG_TAG_VALUE = "tag value must consist of alphanumeric characters, dots, dashes and underscores"
MSG_SELECTOR_VALUE = ('tag value must consist of alphanumeric characters, dots, dashes, slashes and underscores '
                      'or be "*"')

Violations = list  # list[Violation]; kept loose to avoid an import cycle
TagsCheck = Callable[[Path, dict[str, str]], list]


def _v(path: Path, message: str) -> Any:
    return Violation(path, message)


def s(value: Any) -> str:
    """A scalar as Kuma's decoder would see it; None / containers become ""."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def smap(value: Any) -> dict[str, str]:
    """A string map; anything that is not a mapping counts as empty."""
    if not isinstance(value, dict):
        return {}
    return {s(k): s(v) for k, v in value.items()}


def lst(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_protocol(value: str) -> Optional[str]:
    """ParseProtocol: case-insensitive; None = unknown."""
    low = value.lower()
    return low if low in PROTOCOLS else None


def protocol_check(path: Path, tags: dict[str, str]) -> list:
    """T5.2 / DP: `kuma.io/protocol` must be a supported protocol (emitted before the per-key checks)."""
    if PROTOCOL_TAG in tags and parse_protocol(tags[PROTOCOL_TAG]) is None:
        value = tags[PROTOCOL_TAG]
        return [_v(path + (MapKey(PROTOCOL_TAG),),
                   f"tag {go_quote(PROTOCOL_TAG)} has an invalid value {go_quote(value)}. "
                   f"Allowed values: {', '.join(PROTOCOLS)}")]
    return []


def _key_values(path: Path, tags: dict[str, str], value_re: re.Pattern[str], value_msg: str, *,
                require_one: bool, require_service: bool, extra: Iterable[TagsCheck]) -> list:
    out: list = []
    if require_one and not tags:
        out.append(_v(path, "must have at least one tag"))  # T5.2
    for check in extra:
        out.extend(check(path, tags))
    for key in sorted(tags):  # sorted byte order (UTF-8 order == code point order)
        kpath = path + (MapKey(key),)
        if key == "":
            out.append(_v(path, MSG_TAG_NAME_EMPTY))  # T5.3
        if not TAG_NAME.fullmatch(key):
            out.append(_v(kpath, MSG_TAG_NAME))  # T5.4
        value = tags[key]
        if value == "":
            out.append(_v(kpath, MSG_TAG_VALUE_EMPTY))  # T5.5
        if not value_re.fullmatch(value):
            out.append(_v(kpath, value_msg))  # T5.6 / §5.2
    if require_service and SERVICE_TAG not in tags:
        out.append(_v(path, f'mandatory tag "{SERVICE_TAG}" is missing'))
    return out


def validate_tags(path: Path, tags: Any, *, require_one: bool = False, require_service: bool = False,
                  extra: Iterable[TagsCheck] = ()) -> list:
    """ValidateTags (TP §5.2, MTP M3.4): value charset without `/` and `*`."""
    return _key_values(path, smap(tags), TAG_VALUE, MSG_TAG_VALUE, require_one=require_one,
                       require_service=require_service, extra=extra)


def validate_selector(path: Path, tags: Any, *, require_one: bool = False) -> list:
    """ValidateSelector (TP T5.3–T5.6, MTP M3.5): value charset with `/`, or exactly `*`."""
    return _key_values(path, smap(tags), SELECTOR_VALUE, MSG_SELECTOR_VALUE, require_one=require_one,
                       require_service=False, extra=())


def validate_selectors(path: Path, selectors: Any) -> list:
    """ValidateSelectors as TrafficPermission uses it (T5.1, T5.2): >= 1 selector, >= 1 tag each."""
    items = lst(selectors)
    out: list = []
    if not items:
        out.append(_v(path, "must have at least one element"))  # T5.1
    for i, selector in enumerate(items):
        out.extend(validate_selector(path + (i, "match"), obj(selector).get("match"), require_one=True))
    return out


# --- targetRef (Kuma v2.10.11 ValidateTargetRef, MTP M3.3) -------------------------------------------

def _not_set(path: Path, field: str, kind: str) -> Any:
    return _v(path + (field,), f"must not be set with kind {kind}")


def _name_charset(path: Path, name: str) -> list:
    if not NAME.fullmatch(name):
        return [_v(path + ("name",), "invalid characters: must consist of lower case alphanumeric characters, "
                                     "'-', '.' and '_'.")]
    return []


def validate_target_ref(path: Path, ref: Any, supported: Iterable[str], *, inbound_policy: bool = False,
                        gateway_tags_allowed: bool = False) -> list:
    """M3.3: kind defined, kind supported (both stop the checks of this ref), then per-kind field rules."""
    r = obj(ref)
    kind = s(r.get("kind"))
    if kind == "":
        return [_v(path + ("kind",), "must be defined")]
    if kind not in supported:
        return [_v(path + ("kind",), "value is not supported")]
    name, mesh, namespace, section = (s(r.get(f)) for f in ("name", "mesh", "namespace", "sectionName"))
    tags, labels = smap(r.get("tags")), smap(r.get("labels"))
    proxy_raw = r.get("proxyTypes")
    proxy = lst(proxy_raw)
    proxy_empty_list = isinstance(proxy_raw, list) and not proxy_raw
    out: list = []

    def not_set(field: str, is_set: bool) -> None:
        if is_set:
            out.append(_not_set(path, field, kind))

    def proxy_types() -> None:
        if proxy_empty_list:
            out.append(_v(path + ("proxyTypes",), "must be undefined or have at least one element"))

    if kind == "Mesh":
        if name:
            out.append(_v(path + ("name",), f"using name with kind {kind} is not yet supported"))
        not_set("mesh", bool(mesh))
        not_set("tags", bool(tags))
        not_set("labels", bool(labels))
        not_set("namespace", bool(namespace))
        not_set("sectionName", bool(section))
        proxy_types()
    elif kind == "Dataplane":
        not_set("tags", bool(tags))
        not_set("mesh", bool(mesh))
        not_set("proxyTypes", bool(proxy))
        if labels and (name or namespace):
            out.append(_v(path + ("labels",), "either labels or name and namespace must be specified"))
        if not inbound_policy and section:
            out.append(_v(path + ("sectionName",), "can only be used with inbound policies"))
    elif kind == "MeshSubset":
        not_set("name", bool(name))
        not_set("mesh", bool(mesh))
        out.extend(validate_tags(path + ("tags",), tags))  # M3.4
        not_set("labels", bool(labels))
        not_set("namespace", bool(namespace))
        not_set("sectionName", bool(section))
        proxy_types()
    elif kind in ("MeshService", "MeshHTTPRoute"):
        out.extend(_name_charset(path, name))
        not_set("mesh", bool(mesh))
        not_set("tags", bool(tags))
        not_set("proxyTypes", bool(proxy))
        if not labels and not name:
            out.append(_v(path + ("name",), f"must be set with kind {kind}"))
        if labels and (name or namespace):
            out.append(_v(path + ("labels",), "either labels or name and namespace must be specified"))
    elif kind in ("MeshServiceSubset", "MeshGateway"):
        if not name:
            out.append(_v(path + ("name",), f"must be set with kind {kind}"))
        out.extend(_name_charset(path, name))
        not_set("mesh", bool(mesh))
        not_set("proxyTypes", bool(proxy))
        out.extend(validate_selector(path + ("tags",), tags))  # M3.5
        if kind == "MeshGateway" and tags and not gateway_tags_allowed:
            out.append(_not_set(path, "tags", kind))
        not_set("labels", bool(labels))
        not_set("namespace", bool(namespace))
        not_set("sectionName", bool(section))
    elif kind == "MeshExternalService":
        out.extend(_name_charset(path, name))
        not_set("mesh", bool(mesh))
        not_set("tags", bool(tags))
        not_set("proxyTypes", bool(proxy))
        if not labels and not name:
            out.append(_v(path + ("name",), f"must be set with kind {kind}"))
        if labels and (name or namespace):
            out.append(_v(path + ("labels",), "either labels or name must be specified"))
        not_set("sectionName", bool(section))
    return out
