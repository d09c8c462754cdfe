"""`Authorizer`: compile AccessRoles/AccessRoleBindings once, answer checks (rbac.md §5, §7).

Every decision, batch row, explanation and reverse query is computed by the core
(`_core.RbacPolicySet`); this module only holds the compiled set and its source.
"""

from __future__ import annotations

import functools
import operator
import os
import threading
from typing import Any, Callable, Literal, Optional, Sequence, TypeVar

from .. import _core, registry
from .._core import BatchResult, RbacPolicySet, RbacTarget, rbac_bind_types
from ..errors import EvaluationError
from ..resource import Resource
from ..store import ResourceStore
from .capabilities import Capabilities, capabilities
from .decision import AccessDecision
from .documents import Source, collect, plain_binding, plain_role
from .identity import User, UserLike
from .target import ResourceLike

Mode = Literal["rbac", "static"]
SecretReads = Literal["rbac", "open", "static-admin"]

TOKEN_KINDS = {
    "dataplane": "GENERATE_DATAPLANE_TOKEN", "user": "GENERATE_USER_TOKEN", "zone": "GENERATE_ZONE_TOKEN",
    "zone-cp": "GENERATE_ZONE_CP_TOKEN",
}
ACTIONS = ("CREATE", "UPDATE", "DELETE", "GET", "LIST", "VIEW_CONFIG_DUMP", "VIEW_STATS", "VIEW_CLUSTERS",
           *TOKEN_KINDS.values())

# The bindings recognise users and loaded resources.
rbac_bind_types(User, Resource)


_F = TypeVar("_F", bound=Callable[..., Any])


def _text_only(fn: _F) -> _F:
    """Text reaches the core as UTF-8: a lone surrogate in a name, action or document is an
    `EvaluationError` like any other bad value, never a `UnicodeEncodeError` (#12 item 9)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UnicodeError:
            raise EvaluationError("names, actions and documents must be valid UTF-8 text (no lone surrogates)"
                                  ) from None

    return wrapper  # type: ignore[return-value]


def _threads(threads: Any) -> int:
    """`threads=` of a batch: an int, clamped to [1, CPUs] (one shared pool sized to the machine)."""
    if isinstance(threads, bool):
        raise EvaluationError("threads must be an int, not bool")
    try:
        n = operator.index(threads)
    except TypeError:
        raise EvaluationError(f"threads must be an int, not {type(threads).__name__}") from None
    return max(1, min(n, os.cpu_count() or 1))


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
        self._set, self.roles, self.bindings, self.documents, self._resources = self._compile(source)
        self._source: Source = self._kept(source)
        self._bind()

    @classmethod
    def _from_sets(cls, resources: Callable[[], Sequence[Any]], sets: bytes, resources_digest: bytes, *,
                   mode: Mode = "rbac", secret_reads: SecretReads = "rbac",
                   static_config: Optional[dict[str, Any]] = None) -> Authorizer:
        """An Authorizer activated from a verified bundle's compiled section (issue #13): the core
        set is compiled from the section's RBAC part (the core's roles and bindings, no document
        converted); the names, documents and resources (explanations' role documents in
        `what_can`, `refresh`) are built from `resources()` (the bundle's, load order) on first
        use. A section without an RBAC part (written before it existed, or whose roles did not
        compile) compiles from the resources, as from YAML. BundleError: an unusable section."""
        compiled = RbacPolicySet.from_bundle(sets, resources_digest, mode, secret_reads, static_config)
        if compiled is None:
            return cls(list(resources()), mode, secret_reads=secret_reads, static_config=static_config)
        self = object.__new__(cls)
        self.mode = mode
        self.secret_reads = secret_reads
        self.static_config = static_config
        self._lock = threading.Lock()
        self._set = compiled
        self._pending = resources  # `roles` ... `_source`: `__getattr__` builds them on first use
        self._bind()
        return self

    @staticmethod
    def _bundle_sets(resources: Sequence[Any], sets: bytes, resources_digest: bytes) -> Optional[bytes]:
        """The compiled section `sets` with its RBAC part for `resources` (load order): the
        AccessRoles / AccessRoleBindings as `_compile` collects and converts them; None when they
        do not convert or compile (the bundle's Authorizer then compiles from the resources and
        reports the error as from YAML)."""
        roles, bindings = collect(list(resources))
        return _core.bundle_rbac_sets(sets, [plain_role(r) for r in roles], [plain_binding(b) for b in bindings],
                                      resources_digest)

    _LAZY = frozenset({"roles", "bindings", "documents", "_resources", "_source"})

    def __getattr__(self, name: str) -> Any:
        """The parts of an activated Authorizer (`_from_sets`) other than its compiled set, built
        from the bundle's resources on first use (only reached while they are missing)."""
        pending = self.__dict__.get("_pending")
        if name not in Authorizer._LAZY or pending is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        with self._lock:
            if "_pending" in self.__dict__:
                source = list(pending())
                roles, bindings, docs, res = self._parts(source)
                self.__dict__.update(roles=roles, bindings=bindings, documents=docs, _resources=res)
                self._source = self._kept(source)
                del self.__dict__["_pending"]
        return self.__dict__[name]

    def _parts(self, source: Source) -> tuple[list[str], list[str], tuple[list[Any], list[Any]], list[Any]]:
        """Names, plain documents and resources of the AccessRoles / AccessRoleBindings of `source`."""
        roles, bindings = collect(source) if self.mode == "rbac" else ([], [])
        docs = ([plain_role(r) for r in roles], [plain_binding(b) for b in bindings])
        return [r.name for r in roles], [b.name for b in bindings], docs, roles + bindings

    def _bind(self) -> None:
        """`self.check` / `self.allowed` are the compiled set's native methods (same signature,
        same errors, a lone surrogate included): one call from Python into Rust per check, no
        Python frame (issue #11: the wrapper frames cost more than the decision). Rebound on
        every `reload` / `refresh`; the methods below serve unbound calls and document them."""
        self.check = self._set.check  # type: ignore[method-assign]
        self.allowed = self._set.allowed  # type: ignore[method-assign]

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as bundle bytes (meshauthz.bundle)
        return registry.reduce_engine(self, "rbac", self._resources, {
            "mode": self.mode, "secret_reads": self.secret_reads, "static_config": self.static_config})

    def _compile(
        self, source: Source
    ) -> tuple[RbacPolicySet, list[str], list[str], tuple[list[Any], list[Any]], list[Any]]:
        roles, bindings, docs, resources = self._parts(source)
        # The core re-checks R2.1 / A14 while converting (errors are MeshauthzError subclasses).
        compiled = RbacPolicySet(docs[0], docs[1], self.mode, self.secret_reads, self.static_config)
        return compiled, roles, bindings, docs, resources

    def _kept(self, source: Source) -> Source:
        """What `refresh()` recompiles from: a store or paths as given (their current content),
        otherwise the resources resolved from the source (a one-shot iterable is not re-read)."""
        if isinstance(source, (ResourceStore, str, os.PathLike)):
            return source
        return list(self._resources)

    def reload(self, source: Source) -> None:
        """Replace the source and recompile; on any problem the previous compiled set stays."""
        compiled = self._compile(source)
        with self._lock:
            self._set, self.roles, self.bindings, self.documents, self._resources = compiled
            self._source = self._kept(source)
            self.__dict__.pop("_pending", None)  # an activated Authorizer: now compiled from `source`
            self._bind()

    def refresh(self) -> None:
        """Recompile from the current source (a ResourceStore: its current content)."""
        self.reload(self._source)

    @property
    def policy_set(self) -> RbacPolicySet:
        return self._set

    @_text_only
    def target(self, resource: ResourceLike) -> RbacTarget:
        """A pre-normalised handle for hot loops (R4)."""
        return self._set.target(resource)

    @_text_only
    def check(self, user: UserLike, action: str, resource: Optional[ResourceLike] = None,
              old: Optional[ResourceLike] = None, *,
              token_request: Optional[dict[str, Any]] = None) -> AccessDecision:
        """CREATE / UPDATE (needs `old`, A10) / DELETE (stored object, R5.10) / GET / LIST (R3.1,
        A12) / VIEW_* (the inspected dataplane, A16); GENERATE_* with `token_request`.
        `resource` / `old`: a document (either form), a `Resource` or an `RbacTarget`."""
        return self._set.check(user, action, resource, old, token_request=token_request)

    @_text_only
    def allowed(self, user: UserLike, action: str, resource: Optional[ResourceLike] = None,
                old: Optional[ResourceLike] = None, *, token_request: Optional[dict[str, Any]] = None) -> bool:
        """`check(...).allowed` without building the decision object (hot loops): the same
        conversion, decision and errors."""
        return self._set.allowed(user, action, resource, old, token_request=token_request)

    @_text_only
    def explain(self, user: UserLike, action: str, resource: Optional[ResourceLike] = None,
                old: Optional[ResourceLike] = None, *,
                token_request: Optional[dict[str, Any]] = None) -> AccessDecision:
        """`check` with the explanation computed: R5.6 `uncovered` elements of a denial are
        filled in (`AccessDecision.explain()` / `str()` render it)."""
        d = self.check(user, action, resource, old, token_request=token_request)
        d.uncovered  # noqa: B018 - materialise the lazy R5.6 list
        return d

    @_text_only
    def check_token(self, user: UserLike, kind: str, request: dict[str, Any]) -> AccessDecision:
        """`kind`: dataplane | user | zone | zone-cp (or the GENERATE_* value)."""
        action = TOKEN_KINDS.get(kind, kind) if isinstance(kind, str) else kind
        if action not in TOKEN_KINDS.values():
            raise EvaluationError(f"unknown token kind {kind!r} (expected one of {', '.join(TOKEN_KINDS)})")
        return self.check(user, action, token_request=request)

    @_text_only
    def what_can(self, user: UserLike) -> Capabilities:
        """Reverse query: every permission of `user` (R5.1-R5.2), computed by the core."""
        return capabilities(self._set, user, self.mode, {r["name"]: r for r in self.documents[0]})

    @_text_only
    def check_batch(self, data: Any, *, targets: Sequence[Any] = (), threads: int = 1) -> BatchResult:
        """Many checks at once (Arrow or a list of rows; see `meshauthz.batch`): every row decided
        by the core like `check`; a bad row is an `error:*` row, never an abort."""
        n = _threads(threads)
        if targets is None or isinstance(targets, (str, bytes)) or not hasattr(targets, "__iter__"):
            raise EvaluationError(f"targets must be a sequence of RbacTarget handles or documents, not "
                                  f"{type(targets).__name__}")
        return _core.rbac_check_batch(self._set, data, list(targets) if targets else None,  # type: ignore[no-any-return]
                                      n)


__all__ = ["ACTIONS", "TOKEN_KINDS", "Authorizer"]


registry.register_engine("rbac", Authorizer)  # bundles and pickles build it (meshauthz.bundle)
