"""Type stubs for the native module `meshauthz._core` (Rust, PyO3)."""

from typing import Any, Literal, Optional, Union

from typing_extensions import Self, final

from meshauthz.rbac.identity import User

__all__ = [
    "__version__", "identity_matches", "dataplane_matches", "selector_matches", "selector_rank",
    "rank_compare", "rank_combine", "TrafficSnapshot", "TrafficDecision", "TrafficChecker",
    "default_traffic_permission_name", "RbacPolicySet", "RbacTarget", "rbac_denial_text", "rbac_go_quote",
    "rbac_bind_types", "rbac_kinds", "AccessDecision", "Grant", "MtpSet", "MtpVerdict", "mtp_subset_contains",
    "mtp_subset_is_subset",
    "mtp_subset_iter", "BatchResult", "rbac_check_batch", "traffic_batch_arrow", "traffic_batch_rows",
    "traffic_batch_ids", "traffic_dataplane_ids", "YamlMarks", "yaml_load", "bundle_traffic_sets",
    "bundle_traffic_snapshot", "bundle_rbac_sets", "BundlePolicies", "bundle_rows", "bundle_rows_sets",
]

__version__: str

# --- selectors (rust/py/src/selector.rs) -------------------------------------------------------
def selector_matches(selector: dict[str, str], tags: dict[str, str]) -> bool:
    """T2.2 map matcher: every selector key present in `tags`, value equal or `*`."""

def selector_rank(selector: dict[str, str]) -> tuple[int, int]:
    """T3.1 rank (exact, wildcard) of a selector."""

def rank_compare(a: tuple[int, int], b: tuple[int, int]) -> int:
    """T3.2 Kuma's CompareTo value; positive means `a` is more specific."""

def rank_combine(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Kuma's CombinedWith (informative; unused by TrafficPermission)."""

def identity_matches(selector: dict[str, str], pairs: list[tuple[str, str]]) -> bool:
    """T2.7 identity matcher over a client's (key, value) pairs."""

def dataplane_matches(selector: dict[str, str], maps: list[dict[str, str]]) -> bool:
    """T2.6 dataplane matcher: some single tag map matches."""

# --- traffic: TrafficPermission + MeshTrafficPermission (rust/py/src/traffic.rs) -----------------
# A client: None = non-mesh; a dataplane name (resolved preferring the destination's mesh);
# (mesh, dataplane); or (mesh, [tag maps (T2.6)], [(key, value) pairs (T2.7)]).
_Client = str | tuple[str, str] | tuple[str, list[dict[str, str]], list[tuple[str, str]]] | None
_Ranked = list[tuple[str, int, int]]
_Rules = list[tuple[list[str], str]]

@final
class TrafficDecision:
    """One decision (trafficpermission.md §6, meshtrafficpermission.md §9 fields when an MTP decided).
    `shadowed`, `matched_policies`, `overridden`, `kuma_enforcement_divergence` are computed on access;
    `kuma_enforcement_divergence` is None when not computed (item list above the cap)."""

    _fields: list[str]
    def __new__(cls, allowed: bool, reason: str, policy: str | None, mesh: str, target: dict[str, Any],
        matched_source: int | None = None, shadowed: list[str] | tuple[str, ...] | None = None,
        bypass_possible: bool = False, action: str | None = None, from_index: int | None = None,
        shadow_deny: bool = False, kuma_enforcement_divergence: bool | None = ...,
        matched_policies: list[str] | tuple[str, ...] | None = None,
    ) -> Self: ...
    @property
    def allowed(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def policy(self) -> str | None: ...
    @property
    def mesh(self) -> str: ...
    @property
    def target(self) -> dict[str, Any]: ...
    @property
    def matched_source(self) -> int | None: ...
    @property
    def shadowed(self) -> tuple[str, ...]: ...
    @property
    def bypass_possible(self) -> bool: ...
    @property
    def action(self) -> str | None: ...
    @property
    def from_index(self) -> int | None: ...
    @property
    def shadow_deny(self) -> bool: ...
    @property
    def kuma_enforcement_divergence(self) -> bool | None: ...
    @property
    def matched_policies(self) -> tuple[str, ...]: ...
    @property
    def overridden(self) -> list[tuple[str, int, str]]: ...
    @property
    def tie(self) -> bool: ...
    def mtp_items(self) -> list[tuple[str, int, str, list[tuple[str, str]], bool, bool]]:
        """M6.1 items: (policy, from index, action, M5.2 subset, matched, deciding)."""
    def mtp_rules(self) -> _Rules | None:
        """M6.4 rule list of the deciding plan (EvaluationError above the cap)."""
    def to_dict(self) -> dict[str, Any]: ...

@final
class TrafficSnapshot:
    """Compiled, immutable TP + MTP snapshot (meshauthz_core::traffic::Snapshot). Errors are
    meshauthz.errors classes (NotFoundError, InputError, EvaluationError)."""

    def __new__(cls,
        meshes: list[tuple[str, bool, bool, bool, bool, tuple[int, dict[str, str]] | None]],
        # inbounds: (port, tags) pairs, or the YamlMarks of a deferred Dataplane document
        dataplanes: list[tuple[str, str, list[tuple[int, dict[str, str]]] | YamlMarks, dict[str, str] | None]],
        external_services: list[tuple[str, str, dict[str, str]]],
        # sources / destinations: match maps, or the YamlMarks of a deferred TrafficPermission
        # document (its selectors kept natively by the YAML reader)
        policies: list[tuple[str, str, tuple[int, int] | int, list[dict[str, str]] | YamlMarks,
                             list[dict[str, str]] | YamlMarks]],
        mtp_policies: list[_Policy],
        mtp_dataplanes: list[_Dataplane],
        max_rules: int = ...,
    ) -> Self: ...
    def __len__(self) -> int: ...
    @property
    def mtp_count(self) -> int: ...
    @property
    def max_rules(self) -> int: ...
    def check(self, source: _Client, destination: tuple[str, int], mesh: str | None = None) -> TrafficDecision:
        """§4.1 E0–E7 with the E4 step (M7.1)."""
    def check_inbound(self, source: _Client, dataplane: str, port: Any, mesh: str | None = None) -> TrafficDecision: ...
    def _noop(self, source: Any, destination: Any, mesh: str | None = None) -> None:
        """Same arguments as check, does nothing (benchmark baseline)."""
    def check_external_service(
        self, source: _Client, name: str, mesh: str | None = None, gating: str = "legacy"
    ) -> TrafficDecision:
        """§4.2 (T4.6 direct / T4.7 zone egress with the M7.5 MTP step; A6 gating)."""
    def reachable_external_services(self, client: _Client, mesh: str, gating: str = "legacy") -> list[str]: ...
    def dataplane_mesh(self, name: str, mesh: str | None = None) -> str: ...
    def external_service_mesh(self, name: str, mesh: str | None = None) -> str: ...
    def select_dataplane(self, mesh: str, dataplane: str) -> list[tuple[int, bool, _Ranked]]:
        """Per inbound port: (port, is_prometheus, matching policies most specific first)."""
    def select_external_service(self, mesh: str, name: str) -> _Ranked: ...
    def select_tags(self, mesh: str, tags: dict[str, str]) -> tuple[_Ranked, int]:
        """T3.5 over a tag map: (matching policies, destination selectors evaluated)."""
    def mtp_policies(self, mesh: str, dataplane: str, port: int) -> list[str]: ...
    def mtp_plan_items(
        self, mesh: str, dataplane: str, port: int
    ) -> list[tuple[str, int, list[tuple[str, str]], str]]: ...
    def mtp_rules(self, mesh: str, dataplane: str, port: int) -> _Rules | None: ...
    def mtp_egress_rules(self, mesh: str, name: str) -> _Rules | None: ...
    def client_set(
        self, mesh: str, dataplane: str, port: int, with_admitted: bool = True
    ) -> tuple[str, bool, list[Any], list[str], list[str], list[str]]:
        """Who may reach the inbound (who-can): (basis, non-mesh admitted, terms, policies, admitted
        dataplanes, services all of whose dataplanes are admitted)."""
    def service_matrix(
        self, mesh: str
    ) -> tuple[list[str], list[str], bytes, list[list[str]], list[list[tuple[str, int]]]]:
        """(sources, destinations, codes row-major 0 deny / 1 partial / 2 allow, dataplanes per
        source, (dataplane, port) inbounds per destination)."""

@final
class TrafficChecker:
    """`TrafficEngine.check`: one call into Rust for (name | NON_MESH) -> (dataplane, port)."""

    def __new__(cls, engine: Any, non_mesh: Any, store: Any, version: int, core: TrafficSnapshot) -> Self: ...
    def _set(self, store: Any, version: int, core: TrafficSnapshot) -> None: ...
    def check(self, *, source: Any, destination: Any, mesh: str | None = None) -> TrafficDecision: ...

def default_traffic_permission_name(
    mesh: str,
    skip_creating_initial_policies: list[str],
    create_mesh_routing_resources: bool,
    already_generated: bool,
) -> str | None:
    """T4.12–T4.14: `allow-all-<mesh>` or None."""

# --- bundles (rust/py/src/bundle.rs) ----------------------------------------------------------------

def bundle_traffic_sets(
    meshes: list[Any], dataplanes: list[Any], external_services: list[Any], policies: list[Any],
    mtp_policies: list[Any], mtp_dataplanes: list[Any], resources: bytes,
) -> bytes:
    """A bundle's compiled section: `TrafficSnapshot`'s rows as the core's inputs (postcard), tied to
    the sha256 `resources` of the resource section."""

def bundle_traffic_snapshot(sets: bytes, resources: bytes, max_rules: int = ...) -> TrafficSnapshot:
    """A `TrafficSnapshot` from a compiled section (BundleError: other version, digest, malformed)."""

def bundle_rbac_sets(sets: bytes, roles: list[dict[str, Any]], bindings: list[dict[str, Any]],
                     resources: bytes) -> Optional[bytes]:
    """`sets` with its RBAC part (the documents converted as `RbacPolicySet` converts them, load
    order); None when they do not convert or compile."""

@final
class BundlePolicies:
    """The compile inputs of the TrafficPermission rows `bundle_rows` vouched for (native)."""

    @property
    def duplicates(self) -> bool:
        """Two rows have one store key (type, mesh, name)."""
    def __len__(self) -> int:
        """The vouched TrafficPermissions whose inputs are held (0 once `bundle_rows_sets` took them)."""

def bundle_rows(
    section: bytes,
) -> tuple[list[str], list[int], list[str], list[Optional[str]], bytes, list[int], BundlePolicies] | None:
    """A bundle's inflated resources section read by the core: (kind names, kind of each row, names,
    meshes, flat [start, end] byte spans as native u64s, rows not vouched for, native
    TrafficPermission inputs), or
    None when the section is left to the reference decoder (`meshauthz.bundle._parse_all`)."""

def bundle_rows_sets(
    native: BundlePolicies, meshes: list[Any], dataplanes: list[Any], external_services: list[Any],
    policies: list[Any], mtp_policies: list[Any], mtp_dataplanes: list[Any], resources: bytes,
) -> bytes:
    """`bundle_traffic_sets` for a bundle read by `bundle_rows`: the rows extracted in Python (every
    kind but the vouched TrafficPermissions) with `native`'s inputs (taken: ValueError on reuse)."""

# --- RBAC (rust/py/src/rbac/) ---------------------------------------------------------------------

# A resource for a check: a document (Universal or Kubernetes dict), a loaded Resource or a handle.
_Resource = Any
# (access values, types, names, mesh, has `when`) of one rule
_PermRule = tuple[list[str], list[str], list[str], Optional[str], bool]

@final
class Grant:
    """Which binding gave which role whose rule (0-based index) granted which access value."""

    __match_args__ = ("role", "binding", "rule", "access")
    def __new__(cls, role: str, binding: str, rule: int, access: str) -> Self: ...
    @property
    def role(self) -> str: ...
    @property
    def binding(self) -> str: ...
    @property
    def rule(self) -> int: ...
    @property
    def access(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[Grant], tuple[str, str, int, str]]: ...

@final
class AccessDecision:
    """The outcome of one check, with the exact §8 texts and an explanation. Immutable; compares,
    hashes, prints and pickles like a frozen dataclass over its fields."""

    __match_args__ = ("allowed", "user", "action", "target", "mode", "grant", "old_grant", "denied_side",
                      "uncovered", "reason", "examined", "notes")
    def __new__(cls, allowed: bool, user: User, action: str, target: str, mode: str,
                grant: Optional[Grant] = None, old_grant: Optional[Grant] = None,
                denied_side: Optional[str] = None, uncovered: Optional[tuple[str, ...]] = None,
                reason: Optional[str] = None, examined: Optional[int] = None,
                notes: Optional[tuple[str, ...]] = None) -> Self: ...
    @property
    def allowed(self) -> bool: ...
    @property
    def user(self) -> User:
        """The `User` checked (the caller's own object when a `User` was passed)."""
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str:
        """The target's label (`"<type> <mesh>/<name>"`, or `"token request"`)."""
    @property
    def mode(self) -> str:
        """`"rbac"` or `"static"` (R7.1)."""
    @property
    def grant(self) -> Optional[Grant]: ...
    @property
    def old_grant(self) -> Optional[Grant]:
        """UPDATE: the stored object's grant (R5.9)."""
    @property
    def denied_side(self) -> Optional[str]:
        """UPDATE denials: `"old"` or `"new"`."""
    @property
    def uncovered(self) -> tuple[str, ...]:
        """Denials: the elements no applicable rule covers (R5.6), computed on first access."""
    @property
    def _uncovered_pending(self) -> bool: ...
    @property
    def reason(self) -> Optional[str]:
        """The R8.2 / R8.6 reason (HTTP `detail`)."""
    @property
    def examined(self) -> int:
        """Candidate rules examined."""
    @property
    def notes(self) -> tuple[str, ...]: ...
    @property
    def role(self) -> Optional[str]: ...
    @property
    def binding(self) -> Optional[str]: ...
    @property
    def rule_index(self) -> Optional[int]: ...
    @property
    def http_status(self) -> int: ...
    def __bool__(self) -> bool: ...
    def message(self, channel: Literal["api", "kubernetes-webhook"] = "api") -> Optional[str]:
        """The exact denial text (R8.3 api, R8.4 kubernetes-webhook); None when allowed."""
    def explain(self) -> dict[str, Any]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[AccessDecision], tuple[Any, ...]]:
        """Pickles (and copies) with `uncovered` materialised, never the compiled set."""

@final
class RbacTarget:
    """A pre-normalised target (rbac.md §4): build once, check many times."""

    def __new__(cls, resource: _Resource) -> Self:
        """R4 normalisation of a document (either form) or a loaded Resource, in Rust."""
    @property
    def type_name(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def mesh(self) -> Optional[str]: ...
    @property
    def elements(self) -> list[str]: ...
    @property
    def label(self) -> str:
        """`"<type> <mesh>/<name>"` (no mesh: `"<type> <name>"`), built once."""

@final
class RbacPolicySet:
    """Compiled, immutable AccessRole/AccessRoleBinding set (or the static strategy, R7.1)."""

    def __new__(cls, roles: list[dict[str, Any]], bindings: list[dict[str, Any]], mode: str = "rbac",
                 secret_reads: str = "rbac", static_config: Optional[dict[str, Any]] = None) -> Self: ...
    @staticmethod
    def from_bundle(sets: bytes, resources: bytes, mode: str = "rbac", secret_reads: str = "rbac",
                    static_config: Optional[dict[str, Any]] = None) -> Optional[RbacPolicySet]:
        """The compiled set of a verified bundle's compiled section (its RBAC part compiled, no
        document converted); None when the section has none (BundleError: version, digest,
        malformed)."""
    def check(self, user: Any, action: str, resource: Optional[_Resource] = None,
              old: Optional[_Resource] = None, *, token_request: Optional[dict[str, Any]] = None) -> AccessDecision:
        """The one check path (`Authorizer.check` itself): an `AccessDecision` (raises
        `EvaluationError` when undecidable)."""
    def allowed(self, user: Any, action: str, resource: Optional[_Resource] = None,
                old: Optional[_Resource] = None, *, token_request: Optional[dict[str, Any]] = None) -> bool:
        """`check(...).allowed` without the result object (`Authorizer.allowed` itself)."""
    def _noop(self, user: Any, action: str, resource: Optional[_Resource] = None,
              old: Optional[_Resource] = None, *, token_request: Optional[dict[str, Any]] = None) -> bool:
        """Same arguments as `check`, no work (benchmark floor)."""
    def uncovered(self, name: str, groups: Union[list[str], tuple[str, ...]], action: str,
                  target: _Resource) -> list[str]:
        """R5.6 on demand: the denied side's elements no applicable rule covers."""
    def target(self, resource: _Resource) -> RbacTarget: ...
    def permissions_of(self, user: Any) -> tuple[Any, list[tuple[str, list[str], list[_PermRule]]], list[str]]:
        """Reverse query: (User, [(role, bindings, rules)] sorted by role, missing role names)."""
    def rule_decides(self, role: str, rule: int, action: str, type_name: str, mesh: Optional[str],
                     name: str) -> Optional[bool]:
        """R5.4 items 1-4 of one rule: True, False or None (depends on `when`)."""
    @property
    def examined_total(self) -> int: ...
    @property
    def rule_count(self) -> int: ...
    @property
    def mode(self) -> str: ...

def rbac_denial_text(channel: str, reason: str) -> str:
    """R8.3 / R8.4 text of a denial reason on a channel."""

def rbac_bind_types(user: type, resource: type) -> None:
    """Registers `User` and `Resource` for the bindings."""

def rbac_kinds() -> list[tuple[str, str, str, bool, bool]]:
    """The core's kind registry: (name, scope, family, namespaced, spec_wrapped)."""

def rbac_check_batch(set: RbacPolicySet, data: Any, targets: Optional[list[Any]] = None,
                     threads: int = 1) -> BatchResult:
    """RBAC batch (Arrow or list rows); bad rows are `error:*` rows."""

def rbac_go_quote(s: str) -> str:
    """R8.1 Go %q quoting."""
# --- MeshTrafficPermission (rust/py/src/mtp.rs) ------------------------------------------------
# targetRef tuple: (kind, name, namespace, labels, tags, proxyTypes, sectionName); "" / {} / [] = unset.
_TargetRef = tuple[str, str, str, dict[str, str], dict[str, str], list[str], str]
# policy: (core name, mesh, labels, targetRef, [(from targetRef, action)])
# (name, mesh, labels, targetRef, from items), or (name, mesh, labels, doc, doc) with `doc` the
# YamlMarks of a deferred MeshTrafficPermission document (its inputs kept natively by the reader)
_Policy = (tuple[str, str, dict[str, str], _TargetRef, list[tuple[_TargetRef, str]]]
           | tuple[str, str, dict[str, str], YamlMarks, YamlMarks])
# dataplane: (core name, mesh, labels, [(port, inbound name, tags, ignored)] or the YamlMarks of a
# deferred Dataplane document, (builtin, gateway tags) | None)
_Dataplane = tuple[str, str, dict[str, str], list[tuple[int, str, dict[str, str], bool]] | YamlMarks,
                   tuple[bool, dict[str, str]] | None]

@final
class MtpVerdict:
    """One M6.2 decision; attributes or read-only mapping (`v["reason"]`, `keys()`, `to_dict()`).
    `matched_policies` / `overridden` are built from the cached inbound plan when read."""
    allowed: bool
    reason: str
    action: str | None
    policy: str | None
    from_index: int | None
    shadow_deny: bool
    kuma_enforcement_divergence: bool
    tie: bool
    matched_policies: list[str]
    overridden: list[tuple[str, int, str]]
    def keys(self) -> list[str]: ...
    def __getitem__(self, key: str, /) -> object: ...
    def to_dict(self) -> dict[str, object]: ...

@final
class MtpSet:
    """Compiled MeshTrafficPermissions + Dataplanes (meshauthz_core::mtp::MtpSet), immutable."""
    def __new__(cls, policies: list[_Policy], dataplanes: list[_Dataplane]) -> Self: ...
    def __len__(self) -> int: ...
    def has_dataplane(self, mesh: str, name: str) -> bool: ...
    def matched_policies(self, mesh: str, name: str, port: int) -> list[str]:
        """M4: names selecting the inbound, lowest priority first."""
    def decide(self, mesh: str, name: str, port: int, client_mesh: str, client_name: str) -> MtpVerdict | None:
        """M6.2 decision dict, or None when no MTP selects the inbound (TP hook E4 falls through)."""
    def decide_identity(self, mesh: str, name: str, port: int, client_mesh: str,
                        client_tags: list[tuple[str, str]]) -> MtpVerdict | None: ...
    def rules(self, mesh: str, name: str, port: int, as_listed: bool = False,
              max_rules: int = ...) -> list[tuple[list[str], str]] | None:
        """M6.4 rule list; EvaluationError naming the cap above `max_rules` candidate rules."""
    def noop(self, mesh: str, name: str, port: int, client_mesh: str, client_name: str) -> None: ...

def mtp_subset_contains(subset: list[str], element: dict[str, str]) -> bool: ...
def mtp_subset_is_subset(s1: list[str], s2: list[str]) -> bool: ...
def mtp_subset_iter(tag_list: list[str]) -> list[list[str]]: ...

# ---- batch APIs (issue #6) ------------------------------------------------------------------

@final
class BatchResult:
    """Columns in input order; `__arrow_c_array__` exports struct{allowed, reason, policy}."""

    def __len__(self) -> int: ...
    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]: ...
    @property
    def allowed(self) -> list[bool]: ...
    @property
    def reason(self) -> list[str]: ...
    @property
    def policy(self) -> list[Optional[str]]: ...

def traffic_batch_arrow(snapshot: TrafficSnapshot, data: Any, threads: Any = None) -> BatchResult: ...
def traffic_batch_rows(snapshot: TrafficSnapshot, rows: list[Any], threads: Any = None) -> BatchResult: ...
def traffic_batch_ids(
    snapshot: TrafficSnapshot, sources: bytes, destinations: bytes, ports: bytes,
    bad: bytes | None = None, threads: Any = None,
) -> BatchResult: ...
def traffic_dataplane_ids(snapshot: TrafficSnapshot) -> dict[tuple[str, str], int]: ...

# --- native YAML reader (rust/py/src/yaml.rs) -------------------------------------------------------

@final
class YamlMarks:
    """Positions of one document, path -> (line, column); native until asked for."""

    def mark(self, path: tuple[Any, ...]) -> tuple[int, int] | None: ...
    def items(self) -> list[tuple[tuple[Any, ...], tuple[int, int]]]: ...
    def __len__(self) -> int: ...
    def value(self, make_timestamp: Any, make_date: Any, construct: Any) -> Any:
        """A deferred document's whole value, read again from the stream's text (None: not deferred
        or not readable again)."""
    @property
    def deferred(self) -> bool:
        """The document was deferred (`yaml_load(..., defer=True)`)."""

def yaml_load(
    text: str,
    make_timestamp: Any,
    make_date: Any,
    construct: Any,
    defer: bool = False,
) -> tuple[
    list[tuple[int, Any, YamlMarks, bool, tuple[int, int, int, int, int, int, int, int | None, int] | None,
               bool]] | None,
    tuple[str, int, int, int, str, bool] | None,
]: ...
