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

Meshes with MeshTrafficPermissions: every row, E4 included (an MTP selecting the inbound decides,
M7.1), is decided in Rust by the same core functions as `TrafficEngine.check`.

Strict traffic input (#12): only an explicit null source (or id -1) means a client without a
sidecar; a missing source, an unknown column or key, a non-string value, an invalid dictionary
index, invalid UTF-8, a NaN / fractional / out-of-range numpy id is an `error:*` row. A column or
argument of the wrong type is an `InputError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

from .. import _core
from ..errors import InputError, Problem

if TYPE_CHECKING:
    from ..rbac.authorizer import Authorizer
    from ..traffic.engine import TrafficEngine

BatchResult = _core.BatchResult

# The input columns / row keys each engine reads; any other is an `error:unknown-field` row (#12 item 1),
# so callers holding wider logs (replay, the Dask / Ray adapters) project onto these first.
TRAFFIC_COLUMNS = ("mesh", "source", "source_tags", "destination", "port")
RBAC_COLUMNS = ("user", "groups", "action", "resource", "old_resource", "token_request")


def input_columns(kind: str) -> tuple[str, ...]:
    """The input columns of the `traffic` or `rbac` batch engine."""
    return TRAFFIC_COLUMNS if kind == "traffic" else RBAC_COLUMNS

__all__ = ["BatchResult", "RBAC_COLUMNS", "TRAFFIC_COLUMNS", "check_traffic", "check_rbac", "dataplane_ids",
           "input_columns", "is_arrow"]


def is_arrow(data: Any) -> bool:
    return hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__")


def dataplane_ids(engine: TrafficEngine) -> dict[tuple[str, str], int]:
    """`{(mesh, dataplane): id}` for the numpy id form (valid until the store changes)."""
    return dict(_core.traffic_dataplane_ids(engine.compiled.core))


def _ids(v: Any, what: str) -> tuple[bytes, Optional[Any]]:
    """A numpy id column as int64 bytes plus a per-row "not an exact id" mask (NaN, fraction,
    below -1 or beyond int64 for floats; beyond int64 for unsigned)."""
    import numpy as np

    a = np.asarray(v)
    kind = a.dtype.kind
    if kind == "i":
        return bytes(a.astype("int64", copy=False).tobytes()), None
    if kind == "u":
        bad = a > np.iinfo(np.int64).max
        return bytes(np.where(bad, 0, a).astype("int64").tobytes()), bad
    if kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(a) | (a != np.floor(a)) | (a < -1) | (a >= 2.0**63)
        return bytes(np.where(bad, 0, a).astype("int64").tobytes()), bad
    raise InputError([Problem(f"column {what!r} must hold integer ids, not {a.dtype}", file="<batch>")])


def check_traffic(engine: TrafficEngine, data: Any, *, threads: int = 1) -> BatchResult:
    """Inbound decisions for every row of `data` (see the module docstring for the forms)."""
    core = engine.compiled.core
    if is_arrow(data):
        return _core.traffic_batch_arrow(core, data, threads)
    if isinstance(data, Mapping):
        missing = [k for k in ("source", "destination", "port") if k not in data]
        unknown = [k for k in data if k not in ("source", "destination", "port")]
        if missing or unknown:
            raise InputError([Problem(f"the id form has columns source, destination, port (missing {missing}, "
                                      f"unknown {unknown})", file="<batch>")])
        src, bad_s = _ids(data["source"], "source")
        dst, bad_d = _ids(data["destination"], "destination")
        port, bad_p = _ids(data["port"], "port")
        bad = None
        for m in (bad_s, bad_d, bad_p):
            if m is not None:
                bad = m if bad is None else (bad | m)
        flags = None if bad is None else bytes(bad.astype("uint8").tobytes())
        return _core.traffic_batch_ids(core, src, dst, port, flags, threads)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise InputError([Problem(f"unsupported batch input {type(data).__name__}: Arrow data, a mapping of "
                                  "numpy id arrays, or a list of rows", file="<batch>")])
    return _core.traffic_batch_rows(core, data if isinstance(data, list) else list(data), threads)


def check_rbac(authorizer: Authorizer, data: Any, *, targets: Sequence[Any] = (), threads: int = 1) -> BatchResult:
    """RBAC decisions for every row (`user`, `groups`, `action`, `resource`, optional
    `old_resource` and `token_request`): `Authorizer.check_batch`."""
    return authorizer.check_batch(data, targets=targets, threads=threads)
