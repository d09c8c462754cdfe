"""The traffic engine's compiled sets for a bundle read without a verified signature (issue #13).

`meshauthz.bundle` reads such a bundle's resources section natively (`_core.bundle_rows`): the
core checks every row, vouches for the rows the loader's checks pass with nothing to report, and
builds the compile inputs of the vouched TrafficPermissions itself. The sets here are derived
from the resources only (the bundle's own compiled section is never read): those native inputs,
plus every other compile input extracted by the compile step's own code (`compile._rows`: Mesh,
Dataplane, ExternalService and MeshTrafficPermission rows, and TrafficPermissions the core did not
vouch for), in the store's order. The engine then activates them exactly as a verified bundle's
compiled section (`compile.compiled_from_sets`).
"""

from __future__ import annotations

from typing import AbstractSet, Any, Callable

from .. import _core
from ..errors import EvaluationError
from ..resource import Resource
from ..store import StoreSnapshot
from .compile import KINDS, _indexes, _rows

_TP = "TrafficPermission"


def rows_sets(native: Any, kinds: list[Any], row: Callable[[int], Resource], unvouched: AbstractSet[int],
              resources_digest: bytes) -> bytes:
    """The compiled section for a bundle's rows (`kinds`: each row's kind, load order; `row(i)`:
    its resource) whose vouched TrafficPermissions' inputs are `native` (every TrafficPermission
    row not in `unvouched`); EvaluationError as the compile step raises it."""
    by_type: dict[str, list[Resource]] = {t: [] for t in KINDS}
    for i, k in enumerate(kinds):
        t = k.name
        group = by_type.get(t)
        if group is not None and (t != _TP or i in unvouched):
            group.append(row(i))
    for group in by_type.values():
        group.sort(key=_key)  # as a store lists them (keys are unique: checked by the caller)
    snap = StoreSnapshot(0, by_type)
    try:
        return _core.bundle_rows_sets(native, *_rows(snap, _indexes(snap).meshes), resources_digest)
    except (ValueError, TypeError, OverflowError) as e:
        raise EvaluationError(f"cannot compile the traffic policy set: {e}") from None


def _key(r: Resource) -> tuple[str, str, str]:
    return r.key
