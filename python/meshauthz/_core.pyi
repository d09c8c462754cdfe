"""Type stubs for the native module `meshauthz._core` (Rust, PyO3)."""

from typing import Any, Optional, Union

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

# --- TrafficPermission (rust/py/src/traffic.rs) ---------------------------------------------------
# A client: None = non-mesh; (mesh, dataplane); or (mesh, [tag maps (T2.6)], [(key, value) pairs (T2.7)]).
_Client = tuple[str, str] | tuple[str, list[dict[str, str]], list[tuple[str, str]]] | None
# (allowed, reason, policy, matched_source, shadowed, bypass_possible)
_DecisionTuple = tuple[bool, str, str | None, int | None, list[str], bool]
_Ranked = list[tuple[str, int, int]]

class TrafficPolicySet:
    """Compiled, immutable TrafficPermission input; raises LookupError (unknown name), ValueError (bad
    input) or RuntimeError (cannot evaluate, e.g. MeshTrafficPermissions present)."""

    def __init__(
        self,
        meshes: list[tuple[str, bool, bool, bool, bool, tuple[int, dict[str, str]] | None, bool]],
        dataplanes: list[tuple[str, str, list[tuple[int, dict[str, str]]], dict[str, str] | None]],
        external_services: list[tuple[str, str, dict[str, str]]],
        policies: list[tuple[str, str, tuple[int, int] | int, list[dict[str, str]], list[dict[str, str]]]],
    ) -> None: ...
    def __len__(self) -> int: ...
    def check_inbound(self, mesh: str, dataplane: str, port: int, client: _Client) -> _DecisionTuple:
        """§4.1 decision (E0–E7)."""
    def _noop(self, mesh: str, dataplane: str, port: int, client: _Client) -> None:
        """Same arguments as check_inbound, does nothing (benchmark baseline)."""
    def check_external_service(
        self, mesh: str, name: str, client: _Client, gating: str = "legacy"
    ) -> _DecisionTuple:
        """§4.2 decision (T4.6 direct / T4.7 zone egress; A6 gating "legacy" | "none")."""
    def reachable_external_services(self, client: _Client, gating: str = "legacy") -> list[str]: ...
    def select_dataplane(self, mesh: str, dataplane: str) -> list[tuple[int, bool, _Ranked]]:
        """Per inbound port: (port, is_prometheus, matching policies most specific first)."""
    def select_external_service(self, mesh: str, name: str) -> _Ranked: ...
    def select_tags(self, mesh: str, tags: dict[str, str]) -> tuple[_Ranked, int]:
        """T3.5 over a tag map: (matching policies, destination selectors evaluated)."""

def default_traffic_permission_name(
    mesh: str,
    skip_creating_initial_policies: list[str],
    create_mesh_routing_resources: bool,
    already_generated: bool,
) -> str | None:
    """T4.12–T4.14: `allow-all-<mesh>` or None."""

# --- RBAC (rust/py/src/rbac.rs) ------------------------------------------------------------------

_Grant = tuple[str, str, int, str]  # (role, binding, rule index, access)
# (allowed, grant, old_grant, denied_side, reason, examined); R5.6 uncovered via `uncovered` (lazy)
_CheckResult = tuple[bool, Optional[_Grant], Optional[_Grant], Optional[str], Optional[str], int]
_Groups = Union[list[str], tuple[str, ...]]
_TargetTuple = tuple[str, str, str, Optional[str], str, Optional[dict[str, Any]]]

class RbacTarget:
    """A pre-normalised target (rbac.md §4): build once, check many times."""

    def __init__(self, type_name: str, scope: str, family: str, mesh: Optional[str], name: str,
                 spec: Optional[dict[str, Any]]) -> None: ...
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

class RbacPolicySet:
    """Compiled, immutable AccessRole/AccessRoleBinding set (or the static strategy, R7.1)."""

    def __init__(self, roles: list[dict[str, Any]], bindings: list[dict[str, Any]], mode: str = "rbac",
                 secret_reads: str = "rbac", static_config: Optional[dict[str, Any]] = None) -> None: ...
    def check(self, name: str, groups: _Groups, action: str,
              target: Union[RbacTarget, _TargetTuple, None] = None,
              old: Union[RbacTarget, _TargetTuple, None] = None,
              token: Optional[dict[str, Any]] = None) -> _CheckResult: ...
    def decide(self, user: Any, action: str, target: RbacTarget) -> Any:
        """`Authorizer.check` hot path: the `AccessDecision` for a `User`, a non-token action
        (not UPDATE) and a handle."""
    def uncovered(self, name: str, groups: _Groups, action: str,
                  target: Union[RbacTarget, _TargetTuple]) -> list[str]:
        """R5.6 on demand: the denied side's elements no applicable rule covers."""
    def _noop(self, name: str, groups: list[str], action: str,
              target: Union[RbacTarget, _TargetTuple, None] = None,
              old: Union[RbacTarget, _TargetTuple, None] = None,
              token: Optional[dict[str, Any]] = None) -> _CheckResult: ...
    @property
    def examined_total(self) -> int: ...
    @property
    def rule_count(self) -> int: ...
    @property
    def mode(self) -> str: ...

def rbac_denial_text(channel: str, reason: str) -> str:
    """R8.3 / R8.4 text of a denial reason on a channel."""

def rbac_bind_types(decision: type, grant: type) -> None:
    """Registers `AccessDecision` and `Grant` for `RbacPolicySet.decide`."""

def rbac_go_quote(s: str) -> str:
    """R8.1 Go %q quoting."""
# --- MeshTrafficPermission (rust/py/src/mtp.rs) ------------------------------------------------
# targetRef tuple: (kind, name, namespace, labels, tags, proxyTypes, sectionName); "" / {} / [] = unset.
_TargetRef = tuple[str, str, str, dict[str, str], dict[str, str], list[str], str]
# policy: (core name, mesh, labels, targetRef, [(from targetRef, action)])
_Policy = tuple[str, str, dict[str, str], _TargetRef, list[tuple[_TargetRef, str]]]
# dataplane: (core name, mesh, labels, [(port, inbound name, tags, ignored)], (builtin, gateway tags) | None)
_Dataplane = tuple[str, str, dict[str, str], list[tuple[int, str, dict[str, str], bool]],
                   tuple[bool, dict[str, str]] | None]

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
    def __getitem__(self, key: str) -> object: ...
    def to_dict(self) -> dict[str, object]: ...

class MtpSet:
    """Compiled MeshTrafficPermissions + Dataplanes (meshauthz_core::mtp::MtpSet), immutable."""
    def __init__(self, policies: list[_Policy], dataplanes: list[_Dataplane]) -> None: ...
    def __len__(self) -> int: ...
    def has_dataplane(self, mesh: str, name: str) -> bool: ...
    def matched_policies(self, mesh: str, name: str, port: int) -> list[str]:
        """M4: names selecting the inbound, lowest priority first."""
    def decide(self, mesh: str, name: str, port: int, client_mesh: str, client_name: str) -> MtpVerdict | None:
        """M6.2 decision dict, or None when no MTP selects the inbound (TP hook E4 falls through)."""
    def decide_identity(self, mesh: str, name: str, port: int, client_mesh: str,
                        client_tags: list[tuple[str, str]]) -> MtpVerdict | None: ...
    def rules(self, mesh: str, name: str, port: int, as_listed: bool = False) -> list[tuple[list[str], str]] | None:
        """M6.4 rule list; ValueError when it exceeds the size bound."""
    def noop(self, mesh: str, name: str, port: int, client_mesh: str, client_name: str) -> None: ...

def mtp_subset_contains(subset: list[str], element: dict[str, str]) -> bool: ...
def mtp_subset_is_subset(s1: list[str], s2: list[str]) -> bool: ...
def mtp_subset_iter(tag_list: list[str]) -> list[list[str]]: ...

# ---- batch APIs (issue #6) ------------------------------------------------------------------

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
    def _patch(
        self, rows: list[int], allowed: list[bool], reasons: list[str], policies: list[Optional[str]]
    ) -> None: ...

# (row, mesh, dataplane, port, client) rows the Python E4 (MeshTrafficPermission) step decides.
E4Row = tuple[int, str, str, int, tuple[Any, ...]]

class TrafficBatch:
    def __init__(self, set: TrafficPolicySet, mtp_meshes: list[str]) -> None: ...
    def dataplane_ids(self) -> dict[tuple[str, str], int]: ...
    def check_arrow(self, data: Any, threads: int = 1) -> tuple[BatchResult, list[E4Row]]: ...
    def check_rows(self, rows: list[Any], threads: int = 1) -> tuple[BatchResult, list[E4Row]]: ...
    def check_ids(
        self, sources: bytes, destinations: bytes, ports: bytes, threads: int = 1
    ) -> tuple[BatchResult, list[E4Row]]: ...

class RbacBatchInput: ...

def rbac_prepare(data: Any) -> tuple[RbacBatchInput, Optional[list[str]]]: ...
def rbac_run(
    set: RbacPolicySet, input: RbacBatchInput, targets: list[Optional[RbacTarget]], threads: int = 1
) -> BatchResult: ...
def rbac_check_rows(
    set: RbacPolicySet,
    rows: list[tuple[Optional[str], Any, Optional[str], int]],
    targets: list[Optional[RbacTarget]],
    threads: int = 1,
) -> BatchResult: ...

# --- native YAML reader (rust/py/src/yaml.rs) -------------------------------------------------------

class YamlMarks:
    """Positions of one document, path -> (line, column); native until asked for."""

    def mark(self, path: tuple[Any, ...]) -> tuple[int, int] | None: ...
    def items(self) -> list[tuple[tuple[Any, ...], tuple[int, int]]]: ...
    def __len__(self) -> int: ...

def yaml_load(
    text: str,
    make_timestamp: Any,
    make_date: Any,
    construct: Any,
) -> tuple[
    list[tuple[int, Any, YamlMarks, bool, tuple[int, int, int, int, int, int, int, int | None, int] | None]] | None,
    tuple[str, int, int, int, str, bool] | None,
]: ...
