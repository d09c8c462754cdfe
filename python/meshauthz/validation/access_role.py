"""AccessRole / AccessRoleBinding checks (rbac.md R2.1, A7, A17). Kong Mesh's own messages are not
public; these use Kuma's wording style. Set-level rules (duplicate names, A14) belong to the loader."""

from __future__ import annotations

from typing import Any

from .dispatch import Violation
from .paths import Path
from .tags import lst, obj, s

ACCESS = ("CREATE", "UPDATE", "DELETE", "GENERATE_DATAPLANE_TOKEN", "GENERATE_USER_TOKEN",
          "GENERATE_ZONE_CP_TOKEN", "GENERATE_ZONE_TOKEN", "VIEW_CONFIG_DUMP", "VIEW_STATS", "VIEW_CLUSTERS")
# qualifier key -> family (A7: one qualifier may not mix families)
FAMILIES = {"targetRef": "targetRef", "to": "targetRef", "from": "targetRef",
            "sources": "legacy-connection", "destinations": "legacy-connection",
            "selectors": "legacy-dataplane", "dpToken": "dp-token"}
SUBJECT_TYPES = ("User", "Group")


def _v(path: Path, message: str) -> Any:
    return Violation(path, message)


def _target_ref(path: Path, ref: Any) -> list:
    if not s(obj(ref).get("kind")):
        return [_v(path + ("kind",), "must be defined")]
    return []


def _qualifier(path: Path, q: Any) -> list:
    q = obj(q)
    if not q:
        return [_v(path, "qualifier cannot be empty")]
    out = [_v(path + (k,), "unknown qualifier") for k in q if k not in FAMILIES]  # A17
    families = sorted({FAMILIES[k] for k in q if k in FAMILIES})
    if len(families) > 1:  # A7
        out.append(_v(path, f"qualifier cannot mix families: {', '.join(families)}"))
    if "targetRef" in q:
        out.extend(_target_ref(path + ("targetRef",), q["targetRef"]))
    for key in ("to", "from"):
        if key in q:
            if obj(q[key]).get("targetRef") is None:
                out.append(_v(path + (key, "targetRef"), "must be defined"))
            else:
                out.extend(_target_ref(path + (key, "targetRef"), obj(q[key])["targetRef"]))
    if "dpToken" in q:
        for i, tag in enumerate(lst(obj(q["dpToken"]).get("tags"))):
            if not s(obj(tag).get("name")):
                out.append(_v(path + ("dpToken", "tags", i, "name"), "must be defined"))
    return out


def validate_role(body: dict[str, Any]) -> list:
    """R2.1: known access values, well-formed qualifiers."""
    out: list = []
    for i, rule in enumerate(lst(body.get("rules"))):
        rpath: Path = ("rules", i)
        rule = obj(rule)
        for j, access in enumerate(lst(rule.get("access"))):
            if s(access) not in ACCESS:
                out.append(_v(rpath + ("access", j), f"unknown access value {s(access)!r}; must be one of: "
                                                       f"{', '.join(ACCESS)}"))
        for j, q in enumerate(lst(rule.get("when"))):
            out.extend(_qualifier(rpath + ("when", j), q))
    return out


def validate_binding(body: dict[str, Any]) -> list:
    """R2.1: subject type User|Group, non-empty subject name."""
    out: list = []
    for i, subject in enumerate(lst(body.get("subjects"))):
        subject = obj(subject)
        if s(subject.get("type")) not in SUBJECT_TYPES:
            out.append(_v(("subjects", i, "type"), "must be one of: User, Group"))
        if not s(subject.get("name")):
            out.append(_v(("subjects", i, "name"), "cannot be empty"))
    return out
