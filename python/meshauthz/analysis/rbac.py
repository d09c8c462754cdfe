"""Reverse RBAC query (`meshauthz what-can`): formatting of the core's answer.

The query itself is `Authorizer.what_can` (the core's `permissions_of`, R5.1-R5.2); the result
types live with the engine (`meshauthz.rbac.capabilities`) and are re-exported here.
"""

from __future__ import annotations

from ..rbac import Authorizer
from ..rbac.capabilities import Capabilities, Permission
from ..rbac.identity import UserLike

__all__ = ["Capabilities", "Permission", "what_can"]


def what_can(authorizer: Authorizer, user: UserLike) -> Capabilities:
    """Every permission of `user` under `authorizer` (see `Capabilities`)."""
    return authorizer.what_can(user)
