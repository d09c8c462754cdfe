"""Reverse RBAC query: what may a user do (`Authorizer.what_can`, `meshauthz what-can`).

Derived from the user's bindings -> roles -> rules (R5.1-R5.2), never from enumerating requests.
Each `Permission` is one rule of one reachable role and reads exactly as R5.4:

* `access`: the access values granted;
* `types` / `names`: empty = any type / any name (R5.4.2-3; ignored for GENERATE_* tokens, A9);
* `mesh`: None = no mesh restriction (global-scoped targets too); `'*'` = any mesh-scoped target;
  otherwise only mesh-scoped targets of that mesh (R5.5);
* `when`: empty = unconditional; otherwise the target must be covered by these qualifiers (R5.6).

Reads (GET/LIST/inspect) are always allowed except Secrets (R5.11, A12) and are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from ..kinds import lookup
from ..rbac.identity import UserLike, as_user

if TYPE_CHECKING:  # pragma: no cover
    from ..rbac import Authorizer, User

TOKEN_ACCESS = frozenset({"GENERATE_DATAPLANE_TOKEN", "GENERATE_USER_TOKEN", "GENERATE_ZONE_TOKEN",
                          "GENERATE_ZONE_CP_TOKEN"})


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

    def decides(self, action: str, type_name: str, mesh: Optional[str], name: str) -> Optional[bool]:
        """For a resource action: True = this rule grants it, False = cannot, None = depends on the
        `when` qualifiers (R5.6)."""
        if action not in self.access:
            return False
        if self.types and type_name not in self.types:
            return False
        if self.names and name not in self.names:
            return False
        if self.mesh:  # R5.5: only mesh-scoped targets; '*' is the only wildcard (A8)
            kind = lookup(type_name)
            scoped = mesh is not None and (kind is None or kind.mesh_scoped)
            if not scoped or (self.mesh != "*" and self.mesh != mesh):
                return False
        return None if self.when else True

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


def what_can(authorizer: Authorizer, user: UserLike) -> Capabilities:
    u = as_user(user)
    notes = ["reads (GET/LIST/inspect) are always allowed except Secret/GlobalSecret (R5.11, A12)"]
    if authorizer.mode == "static":
        notes.append("static access mode: admin users/groups of the static configuration may do everything (R7)")
        return Capabilities(u, "static", (), (), (), tuple(notes))
    roles, bindings = authorizer.documents
    by_name = {r["name"]: r for r in roles}
    via: dict[str, list[str]] = {}
    groups = set(u.groups)
    for b in bindings:  # R5.1: subject match by exact user name or group membership
        if any((s.get("type") == "User" and s.get("name") == u.name)
               or (s.get("type") == "Group" and s.get("name") in groups) for s in b["subjects"]):
            for role in b["roles"]:
                via.setdefault(role, [])
                if b["name"] not in via[role]:
                    via[role].append(b["name"])
    perms = []
    for role in sorted(r for r in via if r in by_name):
        for i, rule in enumerate(by_name[role]["rules"]):
            perms.append(Permission(role, tuple(via[role]), i, tuple(rule.get("access") or ()),
                                    tuple(rule.get("types") or ()), tuple(rule.get("names") or ()),
                                    rule.get("mesh") or None, tuple(rule.get("when") or ())))
    if any(set(p.access) & TOKEN_ACCESS for p in perms):
        notes.append("types/names do not restrict GENERATE_* token actions (A9)")
    return Capabilities(u, "rbac", tuple(perms), tuple(sorted(r for r in via if r in by_name)),
                        tuple(sorted(r for r in via if r not in by_name)), tuple(notes))
