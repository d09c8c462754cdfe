"""Kong Mesh RBAC: AccessRole / AccessRoleBinding decisions and the static access mode (rbac.md).

    from meshauthz.rbac import Authorizer, User, authenticated
    authz = Authorizer("roles/")
    d = authz.check(authenticated(User("alice")), "CREATE", policy_dict)
    d.allowed, d.message()
"""

from __future__ import annotations

from .._core import RbacTarget
from .authorizer import ACTIONS, TOKEN_KINDS, Authorizer
from .decision import AccessDecision, Grant
from .defaults import admin_role, default_binding, default_objects
from .identity import ADMIN_USER, ANONYMOUS_USER, AUTHENTICATED, UNAUTHENTICATED, User, authenticated

__all__ = [
    "ACTIONS", "ADMIN_USER", "ANONYMOUS_USER", "AUTHENTICATED", "AccessDecision", "Authorizer", "Grant",
    "RbacTarget", "TOKEN_KINDS", "UNAUTHENTICATED", "User", "admin_role", "authenticated", "default_binding",
    "default_objects",
]
