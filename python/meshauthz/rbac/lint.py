"""§9 security lint of AccessRoles / AccessRoleBindings (codes L001–L013)."""

from __future__ import annotations

from typing import Any, Literal

from ..findings import Finding
from ..kinds import lookup
from ..resource import Resource
from .documents import Source, collect

Severity = Literal["info", "warn", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warn", "high", "critical")
WRITES = {"CREATE", "UPDATE", "DELETE"}
EVERYONE = {
    "mesh-system:unauthenticated",
    "mesh-system:authenticated",
    "system:authenticated",
    "system:unauthenticated",
}
FAMILY_OF_QUALIFIER = {
    "targetRef": "targetRef",
    "to": "targetRef",
    "from": "targetRef",
    "sources": "legacy-connection",
    "destinations": "legacy-connection",
    "selectors": "legacy-dataplane",
}


def _finding(code: str, sev: Severity, msg: str, res: Resource, path: tuple[Any, ...] = ()) -> Finding:
    mark = res.mark(path)
    return Finding(
        code,
        sev,
        msg,
        res.describe(),
        res.document.file if res.document else "<objects>",
        mark[0] if mark else None,
        ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "["),
        res.document.index if res.document else None,
    )


def _is_builtin_admin_rule(role: Resource, rule: dict[str, Any]) -> bool:
    return role.name == "admin" and set(rule) == {"access"}


def _star_refs(q: dict[str, Any]) -> bool:
    refs = [q.get("targetRef")] + [(q.get(k) or {}).get("targetRef") for k in ("to", "from")]
    return any(
        isinstance(v, str) and "*" in v
        for r in refs
        if isinstance(r, dict)
        for k, v in r.items()
        if k != "kind"
    )


def lint_rule(role: Resource, i: int, rule: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    path = ("rules", i)
    types, names, mesh = rule.get("types") or [], rule.get("names") or [], rule.get("mesh") or ""
    access, when = set(rule.get("access") or []), rule.get("when") or []
    writes = access & WRITES
    add = lambda code, sev, msg, p=path: out.append(_finding(code, sev, msg, role, p))  # noqa: E731
    if writes and not types and not mesh and not _is_builtin_admin_rule(role, rule):
        add("L001", "critical", "grants writes on every type, GlobalSecrets and AccessRoles included")
    if writes and not types and mesh:
        add("L002", "high", f"grants writes on every type of mesh {mesh!r}, Secrets included")
    if writes and set(types) & {"Secret", "GlobalSecret"}:
        add("L003", "critical", "grants writes on secrets (a write grant implies reading them, A12)")
    if writes and set(types) & {"AccessRole", "AccessRoleBinding"}:
        add("L004", "critical", "grants writes on AccessRoles/Bindings (privilege escalation)")
    if "GENERATE_USER_TOKEN" in access and role.name != "admin":
        add("L005", "critical", "GENERATE_USER_TOKEN: tokens may carry any group, e.g. mesh-system:admin")
    if access & {"GENERATE_ZONE_TOKEN", "GENERATE_ZONE_CP_TOKEN"}:
        add("L006", "high", "zone token generation allows impersonating a zone")
    if "GENERATE_DATAPLANE_TOKEN" in access and not any("dpToken" in q for q in when if isinstance(q, dict)):
        add("L007", "high", "dataplane tokens for any dataplane" + (" in every mesh" if not mesh else ""))
    if (
        writes
        and set(types) & {"Mesh", "MeshProxyPatch", "ProxyTemplate", "AccessAudit"}
        and not names
        and not when
    ):
        add("L008", "high", "unrestricted writes on a sensitive type (Mesh / proxy patching / audit)")
    known = [lookup(t) for t in types]
    kinds = [k for k in known if k is not None]
    if when and kinds and all(k.family == "none" for k in kinds):
        add("L010", "warn", "dead rule: `when` can never match these types (family none, A7)")
    elif when and kinds:
        fams = {k.family for k in kinds}
        for j, q in enumerate(when):
            qf = (
                {FAMILY_OF_QUALIFIER[k] for k in q if k in FAMILY_OF_QUALIFIER}
                if isinstance(q, dict)
                else set()
            )
            if qf and not qf & fams:
                add(
                    "L010",
                    "warn",
                    f"qualifier of family {sorted(qf)[0]} matches none of the types",
                    (*path, "when", j),
                )
    if mesh and kinds and all(k.scope == "global" for k in kinds):
        add("L010", "warn", "dead rule: `mesh` never matches global-scoped types (A8)")
    for j, q in enumerate(when):
        if not isinstance(q, dict):
            continue
        for key in ("sources", "destinations", "selectors"):
            m = (q.get(key) or {}).get("match") or {}
            for tag, pattern in m.items():
                if isinstance(pattern, str) and pattern and set(pattern) == {"*"}:
                    add(
                        "L011",
                        "warn",
                        f"{key} pattern {tag}: {pattern!r} does not restrict anything",
                        (*path, "when", j, key),
                    )
        if _star_refs(q):
            add(
                "L011",
                "warn",
                "targetRef field contains '*', which is literal there (R5.7)",
                (*path, "when", j),
            )
    for j, t in enumerate(types):
        if lookup(t) is None:
            add("L012", "warn", f"unknown type {t!r} never matches", (*path, "types", j))
    if not access:
        add("L012", "warn", "empty access grants nothing")
    if (types or names) and any(a.startswith("GENERATE_") for a in access):
        add("L013", "info", "types/names do not restrict GENERATE_* actions (A9)")
    return out


def lint(source: Source) -> list[Finding]:
    """Findings for every role and binding in `source` (which must load cleanly)."""
    roles, bindings = collect(source)
    out: list[Finding] = []
    role_names = {r.name for r in roles}
    bound: set[str] = set()
    for b in bindings:
        for i, name in enumerate(b.body.get("roles") or []):
            bound.add(name)
            if name not in role_names:
                out.append(_finding("L012", "warn", f"binds missing role {name!r}", b, ("roles", i)))
        if b.name == "default":
            groups = {s.get("name") for s in b.body.get("subjects") or [] if s.get("type") == "Group"}
            if groups & EVERYONE:
                out.append(
                    _finding(
                        "L009",
                        "warn",
                        "default binding still makes everyone admin: " + ", ".join(sorted(groups & EVERYONE)),
                        b,
                        ("subjects",),
                    )
                )
    for r in roles:
        if r.name not in bound:
            out.append(_finding("L012", "warn", "role is bound by nothing", r))
        for i, rule in enumerate(r.body.get("rules") or []):
            out += lint_rule(r, i, rule)
    return out


def at_least(findings: list[Finding], severity: Severity) -> list[Finding]:
    floor = SEVERITIES.index(severity)
    return [f for f in findings if f.severity in SEVERITIES and SEVERITIES.index(f.severity) >= floor]


# code -> (severity, one-line description), for SARIF rule metadata
RULES: dict[str, tuple[str, str]] = {
    "L001": ("critical", "writes on every type with no mesh"),
    "L002": ("high", "writes on every type of a mesh"),
    "L003": ("critical", "writes on secrets"),
    "L004": ("critical", "writes on AccessRoles / AccessRoleBindings"),
    "L005": ("critical", "GENERATE_USER_TOKEN outside admin"),
    "L006": ("high", "zone token generation"),
    "L007": ("high", "dataplane tokens without a dpToken qualifier"),
    "L008": ("high", "unrestricted writes on a sensitive type"),
    "L009": ("warn", "the default binding makes everyone admin"),
    "L010": ("warn", "a rule that can never grant anything"),
    "L011": ("warn", "a qualifier that restricts nothing"),
    "L012": ("warn", "unknown type, missing or unbound role, empty access"),
    "L013": ("info", "types / names next to GENERATE_* actions"),
}
