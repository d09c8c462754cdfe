"""Engine builders by kind ("traffic", "mtp", "rbac"), registered by the engine packages.

`meshauthz.bundle` builds engines and compiles a bundle's compiled sets through this registry, so
it never imports an engine module (layering: engines sit above the store and the bundle reader).
Each engine package registers itself when imported (`meshauthz/__init__.py` imports them all).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional


class EngineKind(NamedTuple):
    # build(resources, store, options, sets) -> engine; `resources()` gives the bundle's resources
    # in load order (built on demand), `store` its store or None, `sets` (compiled section,
    # resources digest) of a bundle whose signature verified (None: compile from the resources).
    build: Callable[[Callable[[], list[Any]], Any, dict[str, Any], Optional[tuple[bytes, bytes]]], Any]
    # compile_sets(store, resources digest) -> compiled section bytes, or None when this kind keeps none.
    compile_sets: Optional[Callable[[Any, bytes], Optional[bytes]]] = None


_KINDS: dict[str, EngineKind] = {}


def register(kind: str, entry: EngineKind) -> None:
    _KINDS[kind] = entry


def get(kind: str) -> Optional[EngineKind]:
    if kind not in _KINDS:
        import meshauthz  # noqa: F401  (the package imports every engine, which registers itself)
    return _KINDS.get(kind)


def kinds() -> list[str]:
    import meshauthz  # noqa: F401

    return sorted(_KINDS)
