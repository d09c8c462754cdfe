"""Late-bound entry points between the layers of the package (#11 item 8).

The package imports in one direction (`cli` -> `api` -> engines -> `store` -> `resource` / models;
tests/test_import_contract.py checks it). Where a lower layer must call into a higher one, it calls
through this module, and the higher layer registers the callee when it is imported. Importing any
`meshauthz` submodule runs `meshauthz/__init__` first, which imports every registering module
(`api`, `bundle`, `traffic`, `mtp`, `rbac`), so the slots are always filled before use.

- loading (registered by `meshauthz.api`): engines take resources and never parse; their path
  conveniences (`TrafficEngine.from_paths`, `reload(paths)`, `Authorizer(paths)`) call `load` /
  `load_paths` / `load_objects` here.
- engines (registered by `traffic`, `mtp`, `rbac`): `bundle.py` builds engines from bundles and
  unpickles them through `engine_class(kind)` (the class, with its `_over` constructor).
- pickling (registered by `meshauthz.bundle`): an engine's `__reduce__` calls `reduce_engine`, which
  serialises it as bundle bytes.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .errors import EvaluationError

_LOADERS: dict[str, Callable[..., Any]] = {}
_ENGINES: dict[str, type] = {}
_REDUCER: Optional[Callable[..., tuple[Any, ...]]] = None


def register_loader(name: str, fn: Callable[..., Any]) -> None:
    """`name`: "load" (paths -> ResourceStore, raising), "load_paths" / "load_objects" (-> LoadResult)."""
    _LOADERS[name] = fn


def loader(name: str) -> Callable[..., Any]:
    """The registered entry point (called directly by the engine, so warnings' stack levels hold)."""
    fn = _LOADERS.get(name)
    if fn is None:  # pragma: no cover - meshauthz/__init__ imports meshauthz.api first
        raise EvaluationError(f"no loader {name!r} registered: import meshauthz first")
    return fn


def register_engine(kind: str, cls: type) -> None:
    """`kind`: "traffic", "mtp" or "rbac"; `cls` the engine class."""
    _ENGINES[kind] = cls


def engine_class(kind: str) -> Optional[type]:
    """The engine class registered for `kind` (None when there is none)."""
    return _ENGINES.get(kind)


def register_reducer(fn: Callable[..., tuple[Any, ...]]) -> None:
    global _REDUCER
    _REDUCER = fn


def reduce_engine(engine: Any, kind: str, resources: Any, options: dict[str, Any]) -> tuple[Any, ...]:
    """`__reduce__` of an engine: `meshauthz.bundle.reduce_engine` (bundle bytes, cached)."""
    if _REDUCER is None:  # pragma: no cover - meshauthz/__init__ imports meshauthz.bundle
        raise EvaluationError("no engine pickler registered: import meshauthz first")
    return _REDUCER(engine, kind, resources, options)


__all__ = ["engine_class", "loader", "reduce_engine", "register_engine", "register_loader",
           "register_reducer"]
