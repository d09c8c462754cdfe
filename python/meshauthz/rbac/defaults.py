"""§6 default objects: the `admin` AccessRole (R6.1) and the `default` binding (R6.2 / R6.3 / R6.4).

Never injected implicitly (R6.5): callers pass them to an Authorizer when they want them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Optional

from .identity import ADMIN, AUTHENTICATED, UNAUTHENTICATED

Environment = Literal["universal", "kubernetes"]
CpMode = Literal["global", "zone", "standalone"]

SEVEN = ["CREATE", "UPDATE", "DELETE", "GENERATE_DATAPLANE_TOKEN", "GENERATE_USER_TOKEN",
         "GENERATE_ZONE_CP_TOKEN", "GENERATE_ZONE_TOKEN"]
VIEWS = ["VIEW_CONFIG_DUMP", "VIEW_STATS", "VIEW_CLUSTERS"]
K8S_EVERYONE = ["system:authenticated", "system:unauthenticated"]
RESTRICTED = {"universal": [ADMIN],
              "kubernetes": [ADMIN, "system:masters", "system:serviceaccounts:kube-system"]}


def _version(v: str) -> tuple[int, int]:
    major, minor = (v.split(".") + ["0"])[:2]
    return int(major), int(minor.rstrip("x") or 0)


def admin_role(environment: Environment = "universal", version: str = "2.6") -> dict[str, Any]:
    """R6.1: one rule, every access value (VIEW_* from 2.0, A16), no other field."""
    access = SEVEN + (VIEWS if _version(version) >= (2, 0) else [])
    if environment == "kubernetes":
        return {"apiVersion": "kuma.io/v1alpha1", "kind": "AccessRole", "metadata": {"name": "admin"},
                "spec": {"rules": [{"access": access}]}}
    return {"type": "AccessRole", "name": "admin", "rules": [{"access": access}]}


def default_binding(environment: Environment = "universal", cp_mode: CpMode = "global",
                    version: str = "2.6", *,
                    admin_groups: Optional[Sequence[str]] = None, admin_users: Sequence[str] = (),
                    restricted: bool = False) -> dict[str, Any]:
    """R6.2 default binding (everyone is admin); `restricted=True` or a ≤2.5 zone CP → R6.4 / A15.

    `admin_groups` / `admin_users` = KMESH_ACCESS_RBAC_DEFAULT_ADMIN_ROLE_GROUPS / _USERS (they
    replace the default group list)."""
    if admin_groups is not None:
        groups = list(admin_groups)
    elif restricted or (cp_mode == "zone" and _version(version) <= (2, 5)):
        groups = list(RESTRICTED[environment])
    else:
        groups = [AUTHENTICATED, UNAUTHENTICATED] + (K8S_EVERYONE if environment == "kubernetes" else [])
    subjects = [{"type": "User", "name": u} for u in admin_users]
    subjects += [{"type": "Group", "name": g} for g in groups]
    if environment == "kubernetes":
        return {"apiVersion": "kuma.io/v1alpha1", "kind": "AccessRoleBinding",
                "metadata": {"name": "default"},
                "spec": {"subjects": subjects, "roles": ["admin"]}}
    return {"type": "AccessRoleBinding", "name": "default", "subjects": subjects, "roles": ["admin"]}


def default_objects(environment: Environment = "universal", cp_mode: CpMode = "global",
                    version: str = "2.6", *,
                    admin_groups: Optional[Sequence[str]] = None, admin_users: Sequence[str] = (),
                    skip_admin_role_creation: bool = False, restricted: bool = False) -> list[dict[str, Any]]:
    """The objects a fresh CP creates (R6.5: `skip_admin_role_creation` =
    KMESH_ACCESS_RBAC_SKIP_ADMIN_ROLE_CREATION creates neither)."""
    if skip_admin_role_creation:
        return []
    return [admin_role(environment, version),
            default_binding(environment, cp_mode, version, admin_groups=admin_groups, admin_users=admin_users,
                            restricted=restricted)]
