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

# --- MeshTrafficPermission (rust/py/src/mtp.rs) ------------------------------------------------
# targetRef tuple: (kind, name, namespace, labels, tags, proxyTypes, sectionName); "" / {} / [] = unset.
_TargetRef = tuple[str, str, str, dict[str, str], dict[str, str], list[str], str]
# policy: (core name, mesh, labels, targetRef, [(from targetRef, action)])
_Policy = tuple[str, str, dict[str, str], _TargetRef, list[tuple[_TargetRef, str]]]
# dataplane: (core name, mesh, labels, [(port, inbound name, tags, ignored)], (builtin, gateway tags) | None)
_Dataplane = tuple[str, str, dict[str, str], list[tuple[int, str, dict[str, str], bool]],
                   tuple[bool, dict[str, str]] | None]

class MtpSet:
    """Compiled MeshTrafficPermissions + Dataplanes (meshauthz_core::mtp::MtpSet), immutable."""
    def __init__(self, policies: list[_Policy], dataplanes: list[_Dataplane]) -> None: ...
    def __len__(self) -> int: ...
    def has_dataplane(self, mesh: str, name: str) -> bool: ...
    def matched_policies(self, mesh: str, name: str, port: int) -> list[str]:
        """M4: names selecting the inbound, lowest priority first."""
    def decide(self, mesh: str, name: str, port: int, client_mesh: str, client_name: str) -> dict[str, object] | None:
        """M6.2 decision dict, or None when no MTP selects the inbound (TP hook E4 falls through)."""
    def decide_identity(self, mesh: str, name: str, port: int, client_mesh: str,
                        client_tags: list[tuple[str, str]]) -> dict[str, object] | None: ...
    def rules(self, mesh: str, name: str, port: int, as_listed: bool = False) -> list[tuple[list[str], str]] | None:
        """M6.4 rule list; ValueError when it exceeds the size bound."""
    def noop(self, mesh: str, name: str, port: int, client_mesh: str, client_name: str) -> None: ...

def mtp_subset_contains(subset: list[str], element: dict[str, str]) -> bool: ...
def mtp_subset_is_subset(s1: list[str], s2: list[str]) -> bool: ...
def mtp_subset_iter(tag_list: list[str]) -> list[list[str]]: ...
