"""Reverse RBAC query results (`Authorizer.what_can`): what a user may do.

Computed by the core (`RbacPolicySet.permissions_of`: the user's bindings -> roles -> rules, R5.1-R5.2,
never by enumerating requests); `Permission.decides` asks the core's R5.4 rule check. Each
`Permission` is one rule of one reachable role and reads exactly as R5.4:

* `access`: the access values granted;
* `types` / `names`: empty = any type / any name (R5.4.2-3; ignored for GENERATE_* tokens, A9);
* `mesh`: None = no mesh restriction (global-scoped targets too); `'*'` = any mesh-scoped target;
  otherwise only mesh-scoped targets of that mesh (R5.5);
* `when`: empty = unconditional; otherwise the target must be covered by these qualifiers (R5.6).

Reads (GET/LIST/inspect) are always allowed except Secrets (R5.11, A12) and are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .._core import RbacPolicySet
from .identity import User


@dataclass(frozen=True)
class Permission:
    role: str
    bindings: tuple[str, ...]
    rule: int
    access: tuple[str, ...]
    types: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    mesh: Optional[str] = None
    when: tuple[Any, ...] = ()
    _set: Optional[RbacPolicySet] = field(default=None, repr=False, compare=False)

    def decides(self, action: str, type_name: str, mesh: Optional[str], name: str) -> Optional[bool]:
        """For an action on a target: True = this rule grants it, False = cannot, None = depends on
        the `when` qualifiers (R5.6). Decided by the core (R5.4 items 1-4)."""
        if self._set is None:
            return False
        return self._set.rule_decides(self.role, self.rule, action, type_name, mesh, name)

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "bindings": list(self.bindings), "rule": self.rule, "access": list(self.access),
                "types": list(self.types) or None, "names": list(self.names) or None, "mesh": self.mesh,
                "when": list(self.when) or None}


@dataclass(frozen=True)
class Capabilities:
    user: User
    mode: str
    permissions: tuple[Permission, ...]
    roles: tuple[str, ...]  # roles reached through bindings (existing ones only, R5.2)
    missing_roles: tuple[str, ...] = ()  # bound but undefined (skipped, R5.2)
    notes: tuple[str, ...] = ()

    def decides(self, action: str, type_name: str, mesh: Optional[str], name: str) -> Optional[bool]:
        """Union of grants (R5.3): True if some permission grants unconditionally, None if only
        conditionally, False if none can."""
        out: Optional[bool] = False
        for p in self.permissions:
            d = p.decides(action, type_name, mesh, name)
            if d:
                return True
            if d is None:
                out = None
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user.name, "groups": list(self.user.groups), "mode": self.mode,
                "roles": list(self.roles), "missing_roles": list(self.missing_roles),
                "permissions": [p.to_dict() for p in self.permissions], "notes": list(self.notes)}

    def __str__(self) -> str:
        head = f"user {self.user}  mode {self.mode}  roles: {', '.join(self.roles) or '-'}"
        rows = [("ROLE[RULE]", "ACCESS", "TYPES", "NAMES", "MESH", "WHEN")]
        for p in self.permissions:
            rows.append((f"{p.role}[{p.rule}]", ",".join(p.access), ",".join(p.types) or "any",
                         ",".join(p.names) or "any", "any" if p.mesh is None else p.mesh,
                         f"{len(p.when)} qualifier(s)" if p.when else "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [head] + ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        if len(rows) == 1:
            lines.append("(no permissions: every write is denied)")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


READS_NOTE = "reads (GET/LIST/inspect) are always allowed except Secret/GlobalSecret (R5.11, A12)"
STATIC_NOTE = "static access mode: admin users/groups of the static configuration may do everything (R7)"
TOKEN_NOTE = "types/names do not restrict GENERATE_* token actions (A9)"
TOKEN_ACCESS = frozenset({"GENERATE_DATAPLANE_TOKEN", "GENERATE_USER_TOKEN", "GENERATE_ZONE_TOKEN",
                          "GENERATE_ZONE_CP_TOKEN"})


def capabilities(rset: RbacPolicySet, user: Any, mode: str, role_docs: dict[str, Any]) -> Capabilities:
    """Wrap the core's reverse query (`user` converted strictly by the bindings, as in `check`):
    `role_docs` (name -> plain role) only supplies the `when` qualifiers as written, for display."""
    user, roles, missing = rset.permissions_of(user)
    if mode == "static":
        return Capabilities(user, "static", (), (), (), (READS_NOTE, STATIC_NOTE))
    perms = []
    for role, bindings, rules in roles:
        written = (role_docs.get(role) or {}).get("rules") or []
        for i, (access, types, names, mesh, _has_when) in enumerate(rules):
            when = written[i].get("when") if i < len(written) and isinstance(written[i], dict) else None
            perms.append(Permission(role, tuple(bindings), i, tuple(access), tuple(types), tuple(names),
                                    mesh or None, tuple(when or ()), rset))
    notes = [READS_NOTE]
    if any(set(p.access) & TOKEN_ACCESS for p in perms):
        notes.append(TOKEN_NOTE)
    return Capabilities(user, "rbac", tuple(perms), tuple(r[0] for r in roles), tuple(missing), tuple(notes))
