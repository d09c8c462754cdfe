"""Scale out (issue #17): the pieces that Dask, Ray and Spark share.

An engine travels to workers as its pickle, which is its bundle bytes (`meshauthz.bundle`): an
`EngineRef` is those bytes plus their sha256, so it is content-addressed. Each worker process keeps a
cache keyed by that digest: the first task that needs an engine builds it (one compile per digest
per process, counted in `build_counts()`), every later task reuses it, and nothing is re-sent per
partition (the frameworks ship the bytes once per worker: a Dask graph key, a Ray object, a Spark
broadcast variable).

Every task gets its own engine object: `engine_for(ref)` unpickles the cached bytes, which returns a
fresh engine over the process's cached compiled snapshot where `meshauthz.bundle` provides that
(issue #12 item 7); with a `bundle.py` that still hands back one shared engine per digest, that shared
engine is what a task gets (the public API offers no other way to wrap the compiled snapshot).

`decide(engine, table)` is the one evaluation step: an Arrow table in, the same table with `allowed`,
`reason` and `policy` appended out (columns read zero-copy by the engine's Arrow path; a bad row is
an `error:*` row, never an abort). Everything here needs pyarrow (`meshauthz[dask]` / `[ray]`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Optional

from .batch import RBAC_COLUMNS, TRAFFIC_COLUMNS, input_columns
from .errors import InputError, Problem
from .rbac import Authorizer
from .traffic import TrafficEngine

if TYPE_CHECKING:
    import pyarrow as pa

DECISION_COLUMNS = ("allowed", "reason", "policy")

__all__ = ["DECISION_COLUMNS", "RBAC_COLUMNS", "TRAFFIC_COLUMNS", "EngineRef", "build_counts", "cache_stats",
           "check_columns", "decide", "decide_batches", "engine_for", "engine_kind", "engine_ref", "format_summary",
           "summary_groups", "replay_distributed"]


def _fail(msg: str) -> InputError:
    return InputError([Problem(msg, file="<scale>", code="scale")])


def engine_kind(engine: Any) -> str:
    """`"traffic"` or `"rbac"` (the two engines with a batch API)."""
    if isinstance(engine, TrafficEngine):
        return "traffic"
    if isinstance(engine, Authorizer):
        return "rbac"
    raise _fail(f"scale-out needs a TrafficEngine or an Authorizer, not {type(engine).__name__}")


@dataclass(frozen=True)
class EngineRef:
    """An engine as content-addressed bytes: its pickle (= bundle bytes + options) and their sha256."""

    digest: str
    kind: str
    blob: bytes = field(repr=False)

    def __len__(self) -> int:
        return len(self.blob)


def engine_ref(engine: Any) -> EngineRef:
    """Serialise `engine` once (its bundle bytes); pass the result to workers, not the engine."""
    if isinstance(engine, EngineRef):
        return engine
    kind = engine_kind(engine)
    blob = pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL)
    return EngineRef(hashlib.sha256(blob).hexdigest(), kind, blob)


# ---- the per-process cache -----------------------------------------------------------------------

_LOCK = threading.Lock()
_BLOBS: dict[str, bytes] = {}  # digest -> bytes whose engine this process has built
_BUILDS: Counter[str] = Counter()  # digest -> engines compiled in this process (1 expected)
_TASKS: Counter[str] = Counter()  # digest -> engine objects handed to tasks in this process


def cached(digest: str) -> bool:
    """Whether this process has already built the engine with this digest."""
    return digest in _BLOBS


def engine_for(ref: Optional[EngineRef] = None, *, digest: Optional[str] = None, blob: Any = None) -> Any:
    """An engine object for one task: built on the first call per digest in this process, then
    unpickled from the cached bytes over the cached compiled snapshot.

    `blob` may be a zero-argument callable fetching the bytes (e.g. `ray.get`), called only on a
    cache miss, so a worker that has the engine never fetches them again."""
    if ref is not None:
        digest, blob = ref.digest, ref.blob
    if digest is None:
        raise _fail("engine_for needs an EngineRef or a digest")
    with _LOCK:
        data = _BLOBS.get(digest)
        if data is None:
            if blob is None:
                raise _fail(f"engine {digest[:12]} is not cached in process {os.getpid()} and no bytes were given")
            data = blob() if callable(blob) else blob
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise _fail(f"engine {digest[:12]}: expected bytes, got {type(data).__name__}")
            data = bytes(data)
            if hashlib.sha256(data).hexdigest() != digest:  # content-addressed: never trust a mislabelled blob
                raise _fail(f"engine bytes do not match their digest {digest[:12]}")
            engine = pickle.loads(data)  # the one compile of this digest in this process
            _BLOBS[digest] = data
            _BUILDS[digest] += 1
            _TASKS[digest] += 1
            return engine
        _TASKS[digest] += 1
    return pickle.loads(data)  # a fresh engine object over the cached compiled snapshot


def build_counts() -> dict[str, int]:
    """`{digest: engines built}` in this process (tests collect it from every worker)."""
    with _LOCK:
        return dict(_BUILDS)


def task_counts() -> dict[str, int]:
    """`{digest: engine objects handed to tasks}` in this process (builds + cache hits)."""
    with _LOCK:
        return dict(_TASKS)


def cache_stats() -> dict[str, tuple[int, int]]:
    """`{digest: (builds, tasks)}` in this process, read under one lock."""
    with _LOCK:
        return {d: (_BUILDS[d], _TASKS[d]) for d in _TASKS}


def _reset_cache() -> None:
    """Forget this process's engines (tests only)."""
    with _LOCK:
        _BLOBS.clear()
        _BUILDS.clear()
        _TASKS.clear()


# ---- evaluation ----------------------------------------------------------------------------------


def output_names(prefix: str = "") -> tuple[str, str, str]:
    return (f"{prefix}allowed", f"{prefix}reason", f"{prefix}policy")


def check_columns(kind: str, columns: Optional[Mapping[str, str]], available: Iterable[str],
                  prefix: str = "") -> None:
    """Reject a `columns=` mapping that names no engine input or a missing column, and decision
    columns that would overwrite input columns (before any task runs)."""
    names = input_columns(kind)
    mapping = dict(columns or {})
    unknown = sorted(set(mapping) - set(names))
    if unknown:
        raise _fail(f"columns= names {unknown} are not {kind} inputs (those are {list(names)})")
    have = set(available)
    missing = sorted(v for v in mapping.values() if v not in have)
    if missing:
        raise _fail(f"columns= maps to {missing}, which the input does not have")
    clash = [n for n in output_names(prefix) if n in have]
    if clash:
        raise _fail(f"the input already has column(s) {clash}: pass prefix= to name the decision columns")


def _engine_input(table: pa.Table, kind: str, columns: Optional[Mapping[str, str]]) -> pa.Table:
    """The engine's columns of `table` under the engine's names (no copy: column references)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = input_columns(kind)
    mapping = dict(columns or {})
    check_columns(kind, mapping, table.column_names)
    arrays, fields = [], []
    for name in names:
        col = mapping.get(name, name)
        if col not in table.column_names:
            continue
        arr = table.column(col)
        if name == "port" and pa.types.is_floating(arr.type):
            # pandas stores an integer column with nulls as float64 (NaN); an integral value is
            # that port, anything else (NaN, 80.5, inf) is null, which the engine reports as a bad row.
            ok = pc.and_(pc.is_finite(arr), pc.equal(pc.floor(arr), arr))
            arr = pc.if_else(ok, pc.cast(pc.if_else(ok, arr, 0.0), pa.int64()), pa.scalar(None, pa.int64()))
        arrays.append(arr)
        fields.append(name)
    return pa.Table.from_arrays(arrays, names=fields)


def decide(engine: Any, table: pa.Table, *, columns: Optional[Mapping[str, str]] = None, prefix: str = "",
           kind: Optional[str] = None, text_type: Optional[pa.DataType] = None) -> pa.Table:
    """`table` with `allowed`, `reason`, `policy` appended (same rows, same order); `reason` and
    `policy` as `text_type` (default `pa.string()`)."""
    import pyarrow as pa

    text_type = text_type or pa.string()

    kind = kind or engine_kind(engine)
    names = output_names(prefix)
    check_columns(kind, columns, table.column_names, prefix)
    res = engine.check_batch(_engine_input(table, kind, columns))
    rb = pa.record_batch(res)
    out = table
    for name, src in zip(names, DECISION_COLUMNS):
        col = rb.column(src)
        if src != "allowed" and col.type != text_type:
            col = col.cast(text_type)
        out = out.append_column(name, col)
    return out


def decide_batches(ref: EngineRef, batches: Iterable[pa.RecordBatch], *,
                   columns: Optional[Mapping[str, str]] = None, prefix: str = "") -> Iterator[pa.RecordBatch]:
    """Decisions for a stream of record batches with one engine (Spark `mapInArrow`, Ray)."""
    import pyarrow as pa

    engine = engine_for(ref)
    for batch in batches:
        table = decide(engine, pa.Table.from_batches([batch]), columns=columns, prefix=prefix, kind=ref.kind)
        yield from table.combine_chunks().to_batches()


# ---- the replay summary --------------------------------------------------------------------------


def summary_groups(counts: Mapping[tuple[Optional[str], str, bool], int]) -> list[dict[str, Any]]:
    """The replay summary's rows, `{policy, reason, allowed, denied}` most frequent first, from counts
    keyed by (policy, reason, allowed): the same groups `meshauthz replay` reports for the same rows."""
    verdict: dict[tuple[str, str], list[int]] = {}
    for (policy, reason, allowed), n in counts.items():
        if n:
            verdict.setdefault((policy or "-", reason), [0, 0])[0 if allowed else 1] += n
    ordered = sorted(verdict.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))
    return [{"policy": p, "reason": r, "allowed": a, "denied": d} for (p, r), (a, d) in ordered]


def format_summary(counts: Mapping[tuple[Optional[str], str, bool], int]) -> str:
    """The replay table (allowed / denied per deciding policy and reason) as plain text."""
    groups = summary_groups(counts)
    width = max([len("policy")] + [len(g["policy"]) for g in groups])
    rwidth = max([len("reason")] + [len(g["reason"]) for g in groups])
    lines = [f"{'policy':<{width}}  {'reason':<{rwidth}}  {'allowed':>9}  {'denied':>9}"]
    lines += [f"{g['policy']:<{width}}  {g['reason']:<{rwidth}}  {g['allowed']:>9,}  {g['denied']:>9,}"
              for g in groups]
    total_a = sum(g["allowed"] for g in groups)
    total_d = sum(g["denied"] for g in groups)
    lines.append(f"{'total':<{width}}  {'':<{rwidth}}  {total_a:>9,}  {total_d:>9,}")
    return "\n".join(lines)


def replay_distributed(logs: Any, resources: Any, **kwargs: Any) -> Any:
    """`meshauthz.dask.replay_distributed` for callers that must not import Dask themselves (the CLI's
    `replay --dask`): a missing Dask is an `InputError` naming the extra to install."""
    try:
        from . import dask as _dask  # lazy: the `dask` extra (dask, pandas, pyarrow) may be missing
    except ImportError as e:
        raise _fail(f"--dask needs Dask: pip install 'meshauthz[dask]' ({e})") from None
    return _dask.replay_distributed(logs, resources, **kwargs)
