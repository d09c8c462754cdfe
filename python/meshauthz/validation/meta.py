"""Resource meta on API create: name and mesh (TP §5.3, Kuma meta_validator.go ValidateMeta).

Both use validateIdentifier: empty, then length (> 253 bytes), then charset — the first failure only.
The name uses the RFC 1123 subdomain rule; the mesh keeps the backwards-compatible charset (it may
contain `_`). Kubernetes uses its own name rules.
"""

from __future__ import annotations

import re
from typing import Optional

from ..kinds import Kind
from .dispatch import Violation

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_MSG = ("invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
             "characters, '-' or '.', and must start and end with an alphanumeric character")
_MESH = re.compile(r"[0-9a-z._-]*")
_MESH_MSG = "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols."


def _identifier(field: str, value: str, charset: re.Pattern[str], message: str) -> list:
    if value == "":
        return [Violation((field,), "cannot be empty")]
    if len(value.encode("utf-8")) > 253:
        return [Violation((field,), "value length must less or equal 253")]
    if not charset.fullmatch(value):
        return [Violation((field,), message)]
    return []


def validate_meta(kind: Kind, name: str, mesh: Optional[str]) -> list:
    out = _identifier("name", name or "", _NAME, _NAME_MSG)
    if kind.mesh_scoped:
        out += _identifier("mesh", mesh or "", _MESH, _MESH_MSG)
    return out
