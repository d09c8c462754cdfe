"""§1 identities: a user is a name plus ordered groups (R1.1); well-known names (R1.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Union

from ..errors import InputError, Problem

ADMIN = "mesh-system:admin"
ANONYMOUS = "mesh-system:anonymous"
CONTROL_PLANE = "mesh-system:control-plane"
AUTHENTICATED = "mesh-system:authenticated"
UNAUTHENTICATED = "mesh-system:unauthenticated"


@dataclass(frozen=True)
class User:
    """R1.1: groups keep their order — it shows in denial messages (R8.1)."""

    name: str
    groups: tuple[str, ...] = ()

    def __init__(self, name: str, groups: Iterable[str] = ()) -> None:
        if isinstance(groups, (str, bytes)):  # never split a name into characters
            raise InputError([Problem(f"groups must be a list of strings, not {type(groups).__name__}",
                                      code="type")])
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "groups", tuple(groups))

    def __str__(self) -> str:
        # Kuma `User.String()` (R8.1): zero groups keep the trailing `/`.
        return f"{self.name}/{','.join(self.groups)}"


UserLike = Union[User, tuple[str, Iterable[str]], str]

ADMIN_USER = User(ADMIN, [ADMIN])
ANONYMOUS_USER = User(ANONYMOUS, [UNAUTHENTICATED])
CONTROL_PLANE_USER = User(CONTROL_PLANE, [])


def authenticated(user: UserLike) -> User:
    """R1.2 / R1.4: what the API server's authenticator does — append `mesh-system:authenticated`
    at the end, even when already present."""
    u = as_user(user)
    return User(u.name, (*u.groups, AUTHENTICATED))


def as_user(user: UserLike) -> User:
    if isinstance(user, User):
        return user
    if isinstance(user, str):
        return User(user)
    name, groups = user
    return User(name, groups)
