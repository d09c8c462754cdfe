"""Type stubs for the native module `meshauthz._core` (Rust, PyO3)."""

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

# --- RBAC (rust/py/src/rbac.rs) ------------------------------------------------------------------
from typing import Any, Optional, Union

_Grant = tuple[str, str, int, str]  # (role, binding, rule index, access)
_CheckResult = tuple[bool, Optional[_Grant], Optional[_Grant], Optional[str], list[str], Optional[str], int]
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

class RbacPolicySet:
    """Compiled, immutable AccessRole/AccessRoleBinding set (or the static strategy, R7.1)."""

    def __init__(self, roles: list[dict[str, Any]], bindings: list[dict[str, Any]], mode: str = "rbac",
                 secret_reads: str = "rbac", static_config: Optional[dict[str, Any]] = None) -> None: ...
    def check(self, name: str, groups: list[str], action: str,
              target: Union[RbacTarget, _TargetTuple, None] = None,
              old: Union[RbacTarget, _TargetTuple, None] = None,
              token: Optional[dict[str, Any]] = None) -> _CheckResult: ...
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

def rbac_go_quote(s: str) -> str:
    """R8.1 Go %q quoting."""
