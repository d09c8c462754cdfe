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
