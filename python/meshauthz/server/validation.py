"""PUT body checks in Kuma's order (S2.7 steps 2, 4, 6) on top of meshauthz's validation.

Step 2 (schema) and step 6 (spec) come from `meshauthz.load_dicts` (the public loader): problems of
code `type` and the OpenAPI-layer messages (`in body ...`) are schema problems, code `validation` the
spec ones; unknown fields (a warning in the loader) are a schema error here (SA12). Step 4 (URL/body
consistency, S2.9 names, labels) is this module's own, with Kuma's literal reasons.
"""

from __future__ import annotations

import re
import threading
import warnings
from typing import Any, Optional

import meshauthz

from ..validation import validate_schema
from ..validation.mesh_traffic_permission import json_type
from .errors import Param
from .types import ResourceType

ENVELOPE = ("type", "name", "mesh", "labels", "creationTime", "modificationTime")

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_MSG = ("invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
             "characters, '-' or '.', and must start and end with an alphanumeric character")
_MESH = re.compile(r"^[0-9a-z\-_.]*$")
_MESH_MSG = "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols."

# Kubernetes label syntax (apimachinery validation, the texts Kuma returns; golden put_mtp_02).
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character")
_VALUE_FMT = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character")
_DNS1123_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    ex = ",  or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {ex}, regex used for validation is '{fmt}')"


def go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def label_field(key: str) -> str:
    return f"labels[{go_quote(key)}]"


def _label_key_errors(key: str) -> list[str]:
    parts = key.split("/")
    errs: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if prefix == "":
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part must be no more than 253 characters")
            if not re.fullmatch(_DNS1123_FMT, prefix):
                errs.append("prefix part " + _regex_error(_DNS1123_MSG, _DNS1123_FMT, "example.com"))
    else:
        return ["a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if name == "":
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not re.fullmatch(_QNAME_FMT, name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def _label_value_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(_VALUE_FMT, value):
        errs.append(_regex_error(_VALUE_MSG, _VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _identifier(field: str, value: str, pattern: re.Pattern[str], message: str) -> list[Param]:
    if value == "":
        return [(field, "cannot be empty")]
    if len(value.encode("utf-8")) > 253:
        return [(field, "value length must less or equal 253")]
    if not pattern.match(value):
        return [(field, message)]
    return []


_GO_KIND = {"integer": "number", "number": "number", "boolean": "bool", "array": "array", "object": "object",
            "string": "string"}


def decode_error(rtype: ResourceType, body: dict[str, Any]) -> Optional[str]:
    """Kuma's decoding of the envelope into `ResourceMeta` (Go's encoding/json): a wrong JSON type there is
    a bare `Bad Request` (golden put_dataplanes_08), before any schema check. null is Go's zero value."""
    for key, go_type in (("type", "string"), ("mesh", "string"), ("name", "string"), ("labels", "map[string]string")):
        value = body.get(key)
        if value is None:
            continue
        ok = isinstance(value, dict) if key == "labels" else isinstance(value, str)
        if not ok:
            kind = _GO_KIND[json_type(value)]
            return (f'invalid {rtype.name} object: "json: cannot unmarshal {kind} into Go struct field '
                    f'ResourceMeta.{key} of type {go_type}"')
    for v in (body.get("labels") or {}).values():
        if v is not None and not isinstance(v, str):
            return (f'invalid {rtype.name} object: "json: cannot unmarshal {_GO_KIND[json_type(v)]} into Go '
                    f'struct field ResourceMeta.labels of type string"')
    return None


def envelope_schema(rtype: ResourceType, body: dict[str, Any]) -> list[Param]:
    """Types of the envelope fields (step 2)."""
    out: list[Param] = []
    if rtype.spec_wrapped and body.get("type") != rtype.name:
        out.append(("", f"type in body should be one of [{rtype.name}]"))
    for key in ("type", "name", "mesh"):
        if key in body and not isinstance(body[key], str):
            out.append((key, f'in body must be of type string: "{json_type(body[key])}"'))
    labels = body.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            out.append(("labels", f'in body must be of type object: "{json_type(labels)}"'))
        else:
            for k, v in labels.items():
                if not isinstance(v, str):
                    out.append((label_field(k), f'in body must be of type string: "{json_type(v)}"'))
    if rtype.secret:
        data = body.get("data")
        if not isinstance(data, str):
            out.append(("data", f'in body must be of type string: "{json_type(data)}"'))
        else:
            import base64
            import binascii

            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                out.append(("data", "illegal base64 data"))
        for k in body:
            if k not in ENVELOPE and k != "data":
                out.append((k, "unknown field"))
    if rtype.spec_wrapped:
        for k in body:
            if k not in ENVELOPE and k not in ("spec", "status", "kri"):
                out.append((k, "unknown field"))
        if "spec" in body and not isinstance(body["spec"], dict):
            out.append(("spec", f'in body must be of type object: "{json_type(body["spec"])}"'))
    return out


def consistency(rtype: ResourceType, url_mesh: Optional[str], url_name: str, body: dict[str, Any]) -> list[Param]:
    """Step 4: every violation in one answer, in Kuma's order."""
    out: list[Param] = []
    name = body.get("name", "")
    if name != url_name:
        out.append(("name", "name from the URL has to be the same as in body"))
    if not rtype.spec_wrapped and body.get("type") != rtype.name:
        out.append(("type", "type from the URL has to be the same as in body"))
    mesh = body.get("mesh", "")
    if rtype.mesh_scoped and mesh != url_mesh:
        out.append(("mesh", "mesh from the URL has to be the same as in body"))
    out += _identifier("name", name if isinstance(name, str) else "", _NAME, _NAME_MSG)
    if rtype.mesh_scoped:
        out += _identifier("mesh", mesh if isinstance(mesh, str) else "", _MESH, _MESH_MSG)
    labels = body.get("labels") or {}
    if rtype.mesh_scoped and "kuma.io/mesh" in labels and labels["kuma.io/mesh"] != mesh:
        out.append((label_field("kuma.io/mesh"), "kuma.io/mesh label must not differ from mesh set on resource"))
    for key in sorted(labels):
        for e in _label_key_errors(key):
            out.append((label_field(key), e))
        if isinstance(labels[key], str):
            for e in _label_value_errors(labels[key]):
                out.append((label_field(key), e))
    return out


_LOAD_LOCK = threading.Lock()
_WARNING_PREFIX = re.compile(r"^<objects>, document \d+(?:, line \d+(?:, column \d+)?)?: ")


def _strip_location(text: str, resource: str, field: str) -> str:
    text = _WARNING_PREFIX.sub("", text)
    for part in (resource, field):
        if part and text.startswith(part + ": "):
            text = text[len(part) + 2:]
    return text


class Checked:
    """The outcome of meshauthz's validation of one body."""

    def __init__(self) -> None:
        self.schema: list[Param] = []
        self.spec: list[Param] = []
        self.warnings: list[str] = []


def check_body(rtype: ResourceType, url_mesh: Optional[str], url_name: str, body: dict[str, Any]) -> Checked:
    """Run meshauthz's loader on the body (typed kinds) and sort its problems into steps 2 and 6."""
    out = Checked()
    if not rtype.typed or rtype.secret:
        return out
    name = body.get("name")
    doc: dict[str, Any] = {k: v for k, v in body.items() if k not in ("labels", "creationTime", "modificationTime")}
    doc["type"] = rtype.name
    doc["name"] = name if isinstance(name, str) and _NAME.match(name) and len(name) <= 253 else "x"
    if rtype.mesh_scoped:
        doc["mesh"] = url_mesh
    else:
        doc.pop("mesh", None)
    # The REST/OpenAPI layer first (MTP M3.7), as Kuma's API runs it before decoding into the model.
    # Go decodes JSON numbers as float64, so the REST channel names every number "number".
    body_only = {k: v for k, v in doc.items() if k not in ENVELOPE}
    for v in validate_schema(rtype.name, body_only):
        out.schema.append((v.field, v.message.replace(': "integer"', ': "number"')))
    if out.schema:
        return out
    with _LOAD_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            meshauthz.load_dicts([doc])
            problems: list[Any] = []
        except meshauthz.InputError as e:
            problems = list(e.problems)
    for p in problems:
        field = p.path
        if p.code == "meta":
            continue  # step 4 does these with the URL values
        if p.code in ("type", "unknown-kind") or p.message.startswith("in body"):
            out.schema.append((field, p.message))
        else:
            out.spec.append((field, p.message))
    for w in caught:
        if not issubclass(w.category, meshauthz.MeshauthzWarning):
            continue
        text = str(w.message)
        m = re.match(r"^.*?: (?:\w+ [^:]*?: )?(?:(\S+): )?unknown field, ignored as Kuma does \(TP A18\)$", text)
        if m:
            out.schema.append((m.group(1) or "", "unknown field"))
            continue
        label = f"{rtype.name} {url_mesh}/{doc['name']}" if rtype.mesh_scoped else f"{rtype.name} {doc['name']}"
        stripped = _WARNING_PREFIX.sub("", text)
        if stripped.startswith(label + ": "):
            stripped = stripped[len(label) + 2:]
        # "<field>: <message>": the field has no spaces.
        head, sep, rest = stripped.partition(": ")
        out.warnings.append(rest if sep and " " not in head else stripped)
    return out


# Kuma `Deprecations()` of these types: a name that is not a DNS-1035 label (golden put_meshes_04).
DNS1035_TYPES = ("Mesh", "Zone", "MeshService", "MeshExternalService", "MeshMultiZoneService")
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character")


def name_deprecations(rtype: ResourceType, name: str) -> list[str]:
    if rtype.name not in DNS1035_TYPES:
        return []
    errs = []
    if len(name) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(_DNS1035_FMT, name):
        errs.append(_regex_error(_DNS1035_MSG, _DNS1035_FMT, "my-name", "abc-123"))
    if not errs:
        return []
    return [f"Invalid {rtype.name} resource name: '{name}'. It does not conform to the DNS format (RFC 1035). "
            f"This is deprecated. Errors: {'; '.join(errs)}"]
