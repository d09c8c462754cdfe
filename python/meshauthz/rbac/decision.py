"""`AccessDecision`: the outcome of one check, with the exact §8 texts and an explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from .._core import rbac_denial_text
from .identity import User

Channel = Literal["api", "kubernetes-webhook"]


@dataclass(frozen=True)
class Grant:
    """Which binding gave which role whose rule (0-based index) granted which access value."""

    role: str
    binding: str
    rule: int
    access: str

    def __str__(self) -> str:
        return f"role {self.role!r} rule {self.rule} ({self.access}) via binding {self.binding!r}"


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    user: User
    action: str
    target: str
    mode: str
    grant: Optional[Grant] = None
    old_grant: Optional[Grant] = None  # UPDATE: the stored object's grant (R5.9)
    denied_side: Optional[str] = None  # UPDATE denials: "old" or "new"
    uncovered: tuple[str, ...] = ()  # denials: elements no applicable rule covers (R5.6)
    reason: Optional[str] = None  # R8.2 / R8.6 reason (HTTP `detail`)
    examined: int = 0  # candidate rules examined
    notes: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.allowed

    def __getstate__(self) -> dict[str, Any]:
        # Materialise a lazy R5.6 `uncovered` so the state never carries the compiled policy set.
        self.uncovered  # noqa: B018
        return {k: v for k, v in self.__dict__.items() if k != "_explain"}

    @property
    def role(self) -> Optional[str]:
        return self.grant.role if self.grant else None

    @property
    def binding(self) -> Optional[str]:
        return self.grant.binding if self.grant else None

    @property
    def rule_index(self) -> Optional[int]:
        return self.grant.rule if self.grant else None

    def message(self, channel: Channel = "api") -> Optional[str]:
        """The exact denial text (R8.3 api, R8.4 kubernetes-webhook); None when allowed."""
        if self.allowed or self.reason is None:
            return None
        return rbac_denial_text(channel, self.reason)

    @property
    def http_status(self) -> int:
        return 200 if self.allowed else 403

    def explain(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "mode": self.mode,
            "user": {"name": self.user.name, "groups": list(self.user.groups)},
            "action": self.action,
            "target": self.target,
            "grant": None if self.grant is None else vars(self.grant).copy(),
            "old_grant": None if self.old_grant is None else vars(self.old_grant).copy(),
            "denied_side": self.denied_side,
            "uncovered": list(self.uncovered),
            "reason": self.reason,
            "examined": self.examined,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        head = f"{'ALLOW' if self.allowed else 'DENY'} {self.action} {self.target} for {self.user}"
        lines = [head]
        if self.grant:
            lines.append(f"  granted by {self.grant}")
        if self.old_grant:
            lines.append(f"  stored object granted by {self.old_grant}")
        if not self.allowed:
            if self.denied_side:
                lines.append(f"  UPDATE not granted on the {self.denied_side} object (R5.9)")
            for u in self.uncovered:
                lines.append(f"  not covered: {u}")
            if self.reason:
                lines.append(f"  {self.message('api')}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class _LazyUncovered:
    """R5.6 on demand: a denial made by `Authorizer.check` carries `_explain` (the core's
    `RbacPolicySet.uncovered`, the compiled set and the call's arguments) instead of the list;
    the first read computes and stores it in the instance (a non-data descriptor, so the stored
    value wins afterwards). Instances built through `__init__` store `uncovered` directly."""

    def __get__(self, obj: Optional[AccessDecision], owner: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        d = obj.__dict__
        lazy = d.get("_explain")
        if lazy is None:
            return d.get("uncovered", ())  # type: ignore[no-any-return]
        fn, *args = lazy
        value = tuple(fn(*args))
        d["uncovered"] = value
        d.pop("_explain", None)
        return value


# After the dataclass is built: its `__init__` keeps `()` as the field default.
AccessDecision.uncovered = _LazyUncovered()  # type: ignore[assignment]
