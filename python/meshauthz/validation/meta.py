"""Resource meta on API create: name and mesh (TP §5.3). Kubernetes uses its own name rules."""

from __future__ import annotations

import re
from typing import Optional

from ..kinds import Kind

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MESH = re.compile(r"^[0-9a-z._-]*$")


def validate_meta(kind: Kind, name: str, mesh: Optional[str]) -> list:
    from . import Violation

    out = []
    if not name:
        out.append(Violation(("name",), "cannot be empty"))
    elif len(name) > 253:
        out.append(Violation(("name",), "value length must less or equal 253"))
    elif not _NAME.match(name):
        out.append(Violation(("name",), "invalid characters. A lowercase RFC 1123 subdomain must consist of lower "
                             "case alphanumeric characters, '-' or '.', and must start and end with an "
                             "alphanumeric character"))
    if kind.mesh_scoped:
        if not mesh:
            out.append(Violation(("mesh",), "cannot be empty"))
        elif not _MESH.match(mesh):
            out.append(Violation(("mesh",), "invalid characters. Valid characters are numbers, lowercase latin "
                                 "letters and '-', '_', '.' symbols."))
    return out
