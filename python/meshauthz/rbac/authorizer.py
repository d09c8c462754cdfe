"""`Authorizer`: compile AccessRoles/AccessRoleBindings once, answer checks (rbac.md §5, §7)."""

from __future__ import annotations

import threading
from typing import Any, Literal, Optional

from .._core import RbacPolicySet, RbacTarget, rbac_bind_types
from ..errors import EvaluationError, InputError, Problem
from .decision import AccessDecision, Grant
from .documents import Source, collect, plain_binding, plain_role
from .identity import User, UserLike, as_user
from .target import ResourceLike, as_target, describe, make_target

Mode = Literal["rbac", "static"]
SecretReads = Literal["rbac", "open", "static-admin"]

TOKEN_KINDS = {
    "dataplane": "GENERATE_DATAPLANE_TOKEN", "user": "GENERATE_USER_TOKEN", "zone": "GENERATE_ZONE_TOKEN",
    "zone-cp": "GENERATE_ZONE_CP_TOKEN",
}
ACTIONS = ("CREATE", "UPDATE", "DELETE", "GET", "LIST", "VIEW_CONFIG_DUMP", "VIEW_STATS", "VIEW_CLUSTERS",
           *TOKEN_KINDS.values())


_TOKEN_ACTIONS = frozenset(TOKEN_KINDS.values())
_ACTION_SET = frozenset(ACTIONS)
# Checked straight through with a handle and no stored object (UPDATE needs `old`, A10).
_FAST_ACTIONS = frozenset(("CREATE", "DELETE", "GET", "LIST", "VIEW_CONFIG_DUMP", "VIEW_STATS", "VIEW_CLUSTERS"))
# Denials of these explain R5.6 coverage (lazily, `AccessDecision.uncovered`).
_EXPLAINED = frozenset(("CREATE", "UPDATE", "DELETE"))
_TOKEN_NOTES = ("types/names do not restrict token actions (A9)",)
_NEW = object.__new__
_SET = object.__setattr__


# `RbacPolicySet.decide` (the check hot path) builds these directly.
rbac_bind_types(AccessDecision, Grant)


def _new_grant(g: tuple[str, str, int, str]) -> Grant:
    # Grant(*g) without the frozen dataclass's per-field setattr (same instance dict).
    grant = _NEW(Grant)
    _SET(grant, "__dict__", {"role": g[0], "binding": g[1], "rule": g[2], "access": g[3]})
    return grant


class Authorizer:
    """RBAC (default) or static access (R7.1).

    `source`: a ResourceStore, LoadResult, path(s), or documents / Resources; only AccessRole and
    AccessRoleBinding are used. Malformed input raises (fail closed) with file/line/field.
    `secret_reads` (A12): "rbac" (write grant implies read), "open" (literal doc) or
    "static-admin" (Kuma's static adminResources list). `static_config` overrides the §7 lists:
    {"adminResources": {"users": [...], "groups": [...]}, "generateDpToken": ..., ...}.
    """

    def __init__(self, source: Source = (), mode: Mode = "rbac", *, secret_reads: SecretReads = "rbac",
                 static_config: Optional[dict[str, Any]] = None) -> None:
        self.mode = mode
        self.secret_reads = secret_reads
        self.static_config = static_config
        self._lock = threading.Lock()
        # Grants are immutable and fully determined by their tuple: one instance per tuple.
        self._grants: dict[tuple[str, str, int, str], Grant] = {}
        self._set, self.roles, self.bindings, self.documents, self._resources = self._compile(source)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as bundle bytes (meshauthz.bundle)
        from ..bundle import reduce_engine

        return reduce_engine(self, "rbac", self._resources, {"mode": self.mode, "secret_reads": self.secret_reads,
                                                             "static_config": self.static_config})

    def _compile(
        self, source: Source
    ) -> tuple[RbacPolicySet, list[str], list[str], tuple[list[Any], list[Any]], list[Any]]:
        roles, bindings = collect(source) if self.mode == "rbac" else ([], [])
        try:
            compiled = RbacPolicySet([plain_role(r) for r in roles], [plain_binding(b) for b in bindings],
                                     self.mode, self.secret_reads, self.static_config)
        except (ValueError, TypeError) as e:  # defensive: the Rust compile re-checks R2.1
            raise InputError([Problem(str(e), code="rbac")]) from None
        docs = ([plain_role(r) for r in roles], [plain_binding(b) for b in bindings])
        return compiled, [r.name for r in roles], [b.name for b in bindings], docs, roles + bindings

    def reload(self, source: Source) -> None:
        """Swap in a new set; on any problem the previous compiled set stays in force."""
        compiled = self._compile(source)
        with self._lock:
            self._set, self.roles, self.bindings, self.documents, self._resources = compiled

    @property
    def policy_set(self) -> RbacPolicySet:
        return self._set

    def target(self, resource: ResourceLike) -> RbacTarget:
        """A pre-normalised handle for hot loops (R4)."""
        try:
            return make_target(resource)
        except (ValueError, TypeError) as e:
            raise EvaluationError(f"cannot normalise {describe(resource)}: {e}") from None

    def _grant(self, g: Optional[tuple[str, str, int, str]]) -> Optional[Grant]:
        if g is None:
            return None
        grant = self._grants.get(g)
        if grant is None:
            grant = self._grants[g] = _new_grant(g)
        return grant

    def _decision(self, rset: RbacPolicySet, user: User, action: str, target: str, t: Any, o: Any,
                  result: tuple[Any, ...]) -> AccessDecision:
        allowed, grant, old_grant, side, reason, examined = result
        notes: tuple[str, ...] = ()
        if action in _TOKEN_ACTIONS and self.mode == "rbac":
            notes = _TOKEN_NOTES
        state = {
            "allowed": allowed, "user": user, "action": action, "target": target, "mode": self.mode,
            "grant": None if grant is None else self._grant(grant),
            "old_grant": None if old_grant is None else self._grant(old_grant), "denied_side": side,
            "uncovered": (), "reason": reason, "examined": examined, "notes": notes}
        if not allowed and action in _EXPLAINED and self.mode == "rbac":
            # R5.6 is computed only when asked (`AccessDecision.uncovered` / explain / str).
            del state["uncovered"]
            state["_explain"] = (rset.uncovered, user.name, user.groups, action, o if side == "old" else t)
        # AccessDecision(...) without the frozen dataclass's per-field setattr (same fields, same dict).
        d = _NEW(AccessDecision)
        _SET(d, "__dict__", state)
        return d

    def _run(self, user: User, action: str, resource: Optional[ResourceLike], old: Optional[ResourceLike],
             token: Optional[dict[str, Any]]) -> AccessDecision:
        if action not in _ACTION_SET:
            raise EvaluationError(f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
        rset = self._set
        try:
            t = None if resource is None else resource if type(resource) is RbacTarget else as_target(resource)
            o = None if old is None else as_target(old)
            result = rset.check(user.name, user.groups, action, t, o, token)
        except (ValueError, TypeError) as e:  # fail closed: no decision without valid input
            raise EvaluationError(f"cannot check {action}: {e}") from None
        target = describe(resource) if resource is not None else "token request"
        return self._decision(rset, user, action, target, t, o, result)

    def check(self, user: UserLike, action: str, resource: Optional[ResourceLike] = None,
              old: Optional[ResourceLike] = None, *,
              token_request: Optional[dict[str, Any]] = None) -> AccessDecision:
        """CREATE / UPDATE (needs `old`, A10) / DELETE (stored object, R5.10) / GET / LIST (R3.1,
        A12) / VIEW_* (the inspected dataplane, A16); GENERATE_* with `token_request`."""
        if type(resource) is RbacTarget and old is None and type(user) is User and action in _FAST_ACTIONS:
            # Hot path: a handle, a User, no stored object or token; the decision is built in Rust
            # with the same fields as `_run` (R5.6 `uncovered` lazy on denials).
            try:
                return self._set.decide(user, action, resource)  # type: ignore[no-any-return]
            except (ValueError, TypeError) as e:  # fail closed
                raise EvaluationError(f"cannot check {action}: {e}") from None
        if action in _TOKEN_ACTIONS:
            return self._run(as_user(user), action, None, None, token_request or {})
        return self._run(user if type(user) is User else as_user(user), action, resource, old, None)

    def check_token(self, user: UserLike, kind: str, request: dict[str, Any]) -> AccessDecision:
        """`kind`: dataplane | user | zone | zone-cp (or the GENERATE_* value)."""
        action = TOKEN_KINDS.get(kind, kind)
        if action not in TOKEN_KINDS.values():
            raise EvaluationError(f"unknown token kind {kind!r} (expected one of {', '.join(TOKEN_KINDS)})")
        return self._run(as_user(user), action, None, None, request)

    def what_can(self, user: UserLike) -> Any:
        """Reverse query: every permission of `user` (analysis.rbac.Capabilities)."""
        from ..analysis.rbac import what_can

        return what_can(self, user)

    def check_batch(self, data: Any, *, targets: Any = (), threads: int = 1) -> Any:
        """Many checks at once: see `meshauthz.batch.check_rbac`."""
        from ..batch import check_rbac

        return check_rbac(self, data, targets=targets, threads=threads)
