"""Batch APIs (issue #6): many decisions per call, columns in, columns out.

Input forms (every one evaluated in Rust with the GIL released):

* any object exposing the Arrow PyCapsule interface (`__arrow_c_stream__` / `__arrow_c_array__`:
  pyarrow Table / RecordBatch, polars, duckdb), read zero-copy; string, large_string,
  string_view and dictionary-encoded string columns;
* traffic only: a mapping of numpy integer arrays of pre-interned ids
  (`{"source": ..., "destination": ..., "port": ...}`, ids from `dataplane_ids(engine)`, source
  -1 = a client without a sidecar);
* a list of tuples or dicts.

Traffic columns: `mesh` (optional), `source` (dataplane name) or `source_tags` ("k=v,k=v"; both
null = a client without a sidecar), `destination` (dataplane name), `port`.
RBAC columns: `user`, `groups` (list<string> or "a,b"), `action`, `resource` and the optional
`old_resource` (UPDATE's stored object) (JSON text of a resource document, or an integer index
into `targets=`, a list of `Authorizer.target()` handles or documents), and the optional
`token_request` (JSON text, GENERATE_* rows). List rows: `(user, groups, action, resource
[, old_resource [, token_request]])` tuples or dicts with those keys (documents as dicts).

The result (`_core.BatchResult`) holds `allowed`, `reason` and `policy` columns in input order and
exposes `__arrow_c_array__` (so `pyarrow.record_batch(result)` works; pyarrow stays optional).
A bad row gets an `error:*` reason and `allowed = False`; it never aborts the batch.

Meshes with MeshTrafficPermissions: the TrafficPermission outcome is computed in Rust; rows whose
outcome the E4 MTP step may replace are then decided row-wise by the MTP engine in Python, exactly
as `TrafficEngine.check` does (correct first; those rows run at single-check speed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from .. import _core
from ..errors import MeshauthzError
from ..traffic.model import Inbound

if TYPE_CHECKING:
    from ..rbac.authorizer import Authorizer
    from ..traffic.engine import TrafficEngine

BatchResult = _core.BatchResult

__all__ = ["BatchResult", "check_traffic", "check_rbac", "dataplane_ids", "is_arrow"]


def is_arrow(data: Any) -> bool:
    return hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__")


def _traffic_batch(engine: TrafficEngine) -> Any:
    c = engine.compiled
    cached = getattr(engine, "_batch", None)
    if cached is not None and cached[0] is c.core:
        return cached[1]
    tb = _core.TrafficBatch(c.core, sorted(c.mtp_meshes))
    engine._batch = (c.core, tb)  # type: ignore[attr-defined]
    return tb


def dataplane_ids(engine: TrafficEngine) -> dict[tuple[str, str], int]:
    """`{(mesh, dataplane): id}` for the numpy id form (valid until the store changes)."""
    return dict(_traffic_batch(engine).dataplane_ids())


def _ids(v: Any) -> bytes:
    return bytes(v.astype("int64", copy=False).tobytes())  # numpy: one memcpy


def check_traffic(engine: TrafficEngine, data: Any, *, threads: int = 1) -> BatchResult:
    """Inbound decisions for every row of `data` (see the module docstring for the forms)."""
    tb = _traffic_batch(engine)
    threads = max(1, int(threads))
    if is_arrow(data):
        res, e4 = tb.check_arrow(data, threads)
    elif isinstance(data, Mapping):
        res, e4 = tb.check_ids(_ids(data["source"]), _ids(data["destination"]), _ids(data["port"]), threads)
    elif isinstance(data, list):
        res, e4 = tb.check_rows(data, threads)
    else:
        res, e4 = tb.check_rows(list(data), threads)
    if e4:
        _apply_e4(engine, res, e4)
    return res


def _apply_e4(engine: TrafficEngine, res: BatchResult, e4: list[Any]) -> None:
    """E4: a selecting MeshTrafficPermission replaces the TP outcome (TrafficEngine.check)."""
    rows: list[int] = []
    allowed: list[bool] = []
    reasons: list[str] = []
    policies: list[Optional[str]] = []
    memo: dict[Any, Any] = {}
    for row, mesh, dp, port, client in e4:
        key = (mesh, dp, port, client[1] if len(client) == 2 else tuple(client[2]))
        if key not in memo:
            try:
                memo[key] = engine._mtp_decision(mesh, Inbound(dp, port), client)
            except MeshauthzError:
                memo[key] = "error"
        mtp = memo[key]
        if mtp is None:
            continue
        rows.append(row)
        if mtp == "error":
            allowed.append(False)
            reasons.append("error:invalid")
            policies.append(None)
        else:
            allowed.append(bool(mtp.allowed))
            reasons.append(mtp.reason)
            policies.append(mtp.policy)
    if rows:
        res._patch(rows, allowed, reasons, policies)


def check_rbac(authorizer: Authorizer, data: Any, *, targets: Sequence[Any] = (), threads: int = 1) -> BatchResult:
    """RBAC decisions for every row (`user`, `groups`, `action`, `resource`, optional
    `old_resource` and `token_request`): `Authorizer.check_batch`."""
    return authorizer.check_batch(data, targets=targets, threads=threads)
