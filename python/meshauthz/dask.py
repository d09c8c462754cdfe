"""Dask (issue #17): batch decisions over a Dask DataFrame, and `replay` on a Dask cluster.

    import dask.dataframe as dd
    import meshauthz, meshauthz.dask
    engine = meshauthz.TrafficEngine(meshauthz.load(["policies/"]))
    ddf = dd.read_parquet("logs/*.parquet")
    out = meshauthz.dask.check_batch(ddf, engine)        # + allowed, reason, policy
    out.to_parquet("decisions/")

The engine goes into the graph once, as its content-addressed bundle bytes (one graph key: the
scheduler copies it to a worker once, whatever the number of partitions); each worker process
compiles it once per digest (`meshauthz.scale`) and every partition task gets its own engine object
over that compiled snapshot. Partitions go to the engine through Arrow (zero-copy for Arrow-backed
columns: `string[pyarrow]`, `ArrowDtype`); a bad row is an `error:*` row, never a failed task.

`pip install 'meshauthz[dask]'` (dask[dataframe], distributed, pyarrow).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

try:
    import dask
    import dask.dataframe as dd
    import dask.utils
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError as e:  # pragma: no cover - depends on the installed extras
    raise ImportError(f"meshauthz.dask needs Dask and pyarrow: pip install 'meshauthz[dask]' ({e})") from e

from . import scale
from .api import load
from .errors import InputError, Problem
from .rbac import Authorizer
from .scale import EngineRef, build_counts, engine_ref, format_summary
from .traffic import TrafficEngine

__all__ = ["ReplaySummary", "build_counts", "check_batch", "engine_ref", "replay_distributed", "worker_build_counts"]

_STRING = pd.StringDtype("pyarrow")
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())  # how the engine returns reason / policy


def _fail(msg: str) -> InputError:
    return InputError([Problem(msg, file="<replay>", code="replay")])  # as the local replay reports


def _decisions_meta(meta: pd.DataFrame, prefix: str) -> pd.DataFrame:
    from dask.dataframe.utils import clear_known_categories

    a, r, p = scale.output_names(prefix)
    decided = pd.DataFrame({a: pd.Series([], dtype=bool), r: pd.Series(pd.Categorical([])),
                            p: pd.Series(pd.Categorical([]))})
    decided = clear_known_categories(decided, cols=[r, p])  # each partition has its own categories
    return meta.assign(**{c: decided[c] for c in decided.columns})


def _arrow_input(df: pd.DataFrame, kind: str, columns: Optional[Mapping[str, str]]) -> pa.Table:
    """The engine's input columns of a partition as Arrow (Arrow-backed columns are not copied)."""
    mapping = dict(columns or {})
    wanted = [mapping.get(n, n) for n in scale.input_columns(kind)]
    present = list(dict.fromkeys(c for c in wanted if c in df.columns))
    return pa.Table.from_pandas(df[present], preserve_index=False, nthreads=1)  # a pool per call costs ~3 ms


def _decide_frame(df: pd.DataFrame, engine: Any, kind: str, columns: Optional[Mapping[str, str]],
                  prefix: str) -> pd.DataFrame:
    scale.check_columns(kind, columns, df.columns, prefix)
    table = scale.decide(engine, _arrow_input(df, kind, columns), columns=columns, prefix=prefix, kind=kind,
                         text_type=_DICTIONARY)
    a, r, p = scale.output_names(prefix)
    out = df.copy(deep=False)
    out[a] = table.column(a).to_numpy()
    # The engine's reason / policy columns are dictionary-encoded: pandas categoricals over the same
    # codes (no string is materialised per row; that cast cost ~1/3 of the engine's own time).
    out[r] = _categorical(table.column(r))
    out[p] = _categorical(table.column(p))
    return out


def _categorical(col: Any) -> pd.Categorical:
    """A dictionary column as a pandas categorical over the values the rows use (the engine's
    dictionary lists every policy, and may repeat a name found in two meshes: equal values merge)."""
    import numpy as np

    if not pa.types.is_dictionary(col.type):
        col = col.dictionary_encode()
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr.dictionary)
    idx = arr.indices.fill_null(n).to_numpy(zero_copy_only=False)
    used = np.flatnonzero(np.bincount(idx, minlength=n + 1)[:n])
    values = arr.dictionary.take(pa.array(used, pa.int64())).to_pylist()
    categories = sorted({v for v in values if v is not None})
    pos = {v: i for i, v in enumerate(categories)}
    remap = np.full(n + 1, -1, dtype=np.int64)  # index n: a null row
    remap[used] = [pos.get(v, -1) for v in values]
    return pd.Categorical.from_codes(remap[idx], categories=categories)


def _partition(df: pd.DataFrame, digest: str, kind: str, blob: bytes, columns: Optional[dict[str, str]],
               prefix: str) -> pd.DataFrame:
    engine = scale.engine_for(digest=digest, blob=blob)
    return _decide_frame(df, engine, kind, columns, prefix)


def _blob_key(ref: EngineRef) -> Any:
    """The engine bytes as one graph key named by their digest (copied to each worker once)."""
    return dask.delayed(ref.blob, name=f"meshauthz-engine-{ref.digest}", pure=True, traverse=False)


def check_batch(ddf: dd.DataFrame, engine: Any, *, columns: Optional[Mapping[str, str]] = None,
                prefix: str = "") -> dd.DataFrame:
    """`ddf` with `allowed` (bool), `reason` and `policy` (categorical) appended, lazily.

    `engine`: a `TrafficEngine` or an `Authorizer` (or an `EngineRef` from `engine_ref`, to reuse one
    serialisation). `columns`: the engine's input names mapped to `ddf`'s column names when they
    differ, e.g. `{"source": "downstream", "destination": "upstream"}`. Traffic inputs: `mesh`,
    `source` / `source_tags`, `destination`, `port`; RBAC: `user`, `groups`, `action`, `resource`
    (JSON text). `prefix` names the decision columns `{prefix}allowed`, ..."""
    ref = engine_ref(engine)
    mapping = dict(columns) if columns else None
    meta = ddf._meta
    scale.check_columns(ref.kind, mapping, meta.columns, prefix)
    return ddf.map_partitions(_partition, ref.digest, ref.kind, _blob_key(ref), mapping, prefix,
                              meta=_decisions_meta(meta, prefix), align_dataframes=False)


def worker_build_counts(client: Any) -> dict[str, dict[str, int]]:
    """`{worker address: {digest: engines built}}` from every worker of a distributed `client`."""
    return dict(client.run(build_counts))


# ---- replay on a cluster -------------------------------------------------------------------------


@dataclass
class ReplaySummary:
    """What `replay_distributed` did: the rows per (policy, reason, allowed) and where they went."""

    kind: str
    rows: int
    counts: dict[tuple[Optional[str], str, bool], int]
    sources: list[str]
    output: Optional[str] = None
    partitions: int = 0
    seconds: float = 0.0
    table: str = field(default="", repr=False)

    @property
    def allowed(self) -> int:
        return sum(n for (_, _, a), n in self.counts.items() if a)

    @property
    def errors(self) -> int:
        return sum(n for (_, r, _), n in self.counts.items() if r.startswith("error:"))

    def __str__(self) -> str:
        return self.table


def _expand(logs: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]) -> list[str]:
    items = [logs] if isinstance(logs, (str, os.PathLike)) else list(logs)
    files: list[str] = []
    for item in items:
        text = os.fspath(item)
        if any(ch in text for ch in "*?["):
            hits = sorted(glob(text, recursive=True))
            if not hits:
                raise _fail(f"{text}: no file matches")
            files.extend(hits)
        elif os.path.isdir(text):
            hits = sorted(str(p) for p in Path(text).rglob("*") if p.suffix.lower() in _FORMATS and p.is_file())
            if not hits:
                raise _fail(f"{text}: no .parquet / .jsonl / .csv file in this directory")
            files.extend(hits)
        elif os.path.isfile(text):
            files.append(text)
        else:
            raise _fail(f"{text}: no such file")
    return files


_FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def _format(files: list[str]) -> str:
    kinds = set()
    for f in files:
        fmt = _FORMATS.get(Path(f).suffix.lower())
        if fmt is None:
            raise _fail(f"{f}: not a .parquet, .jsonl or .csv log")
        kinds.add(fmt)
    if len(kinds) != 1:
        raise _fail(f"one log format per run, got {sorted(kinds)}")
    return kinds.pop()


def _normalise_jsonl(rows: list[dict[str, Any]], kind: str, names: list[str]) -> pa.Table:
    """JSON rows as an Arrow table with one type per column, as the local replay writes them."""
    import json

    cols: dict[str, list[Any]] = {n: [] for n in names}
    for r in rows:
        for n in names:
            v = r.get(n)
            if n == "resource" and isinstance(v, (dict, list)):
                v = json.dumps(v, sort_keys=True)
            elif n == "groups":
                if isinstance(v, str):
                    v = [g.strip() for g in v.split(",") if g.strip()]
                elif isinstance(v, list):
                    v = [g if isinstance(g, str) else json.dumps(g) for g in v]
                elif v is not None:
                    v = [json.dumps(v)]
            elif n == "port":
                v = v if isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63 else None
            elif v is not None and not isinstance(v, str):
                v = json.dumps(v, sort_keys=True)
            cols[n].append(v)
    types = {"port": pa.int64(), "groups": pa.list_(pa.string())}
    return pa.table({n: pa.array(cols[n], types.get(n, pa.string())) for n in names})


def _read_jsonl_block(path: str, offset: int, length: int, kind: str, names: list[str]) -> pd.DataFrame:
    """The whole lines that start in [offset, offset + length) of a JSONL file, as a typed frame; a
    line that is not JSON is an `InputError` naming the file and the line's byte offset."""
    import json

    import fsspec
    from fsspec.utils import seek_delimiter

    with fsspec.open(path, "rb") as f:
        start = 0
        if offset:
            f.seek(offset - 1)  # a line starting exactly at `offset` belongs to this block
            seek_delimiter(f, b"\n", 2**16)
            start = f.tell()
        end = offset + length
        if start >= end:
            block = b""
        else:
            f.seek(end - 1)
            seek_delimiter(f, b"\n", 2**16)
            stop = f.tell()
            f.seek(start)
            block = f.read(stop - start)
    rows = []
    pos = start
    for line in block.splitlines(keepends=True):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError as e:
                raise _fail(f"{path}: the line at byte {pos}: not JSON: {e}") from None
            rows.append(row if isinstance(row, dict) else {})  # a list / number line: a row missing every field
        pos += len(line)
    return _normalise_jsonl(rows, kind, names).to_pandas(types_mapper=pd.ArrowDtype)


def _sample_names(files: list[str], fmt: str) -> list[str]:
    """Column names from the first rows of the first file (JSONL / CSV)."""
    import csv
    import json

    names: dict[str, None] = {}
    with open(files[0], encoding="utf-8", newline="") as f:
        if fmt == "csv":
            header = next(csv.reader(f), [])
            return list(dict.fromkeys(header))
        for n, line in enumerate(f):
            if n >= 1000:
                break
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as e:
                    raise _fail(f"{files[0]}:{n + 1}: not JSON: {e}") from None
                if isinstance(row, dict):
                    names.update(dict.fromkeys(row))
    return list(names)


def _csv_port(df: pd.DataFrame) -> pd.DataFrame:
    """CSV ports as the local replay reads them: an integer, or null when not digits."""
    if "port" in df.columns:
        text = df["port"].astype(_STRING)
        ok = text.str.fullmatch(r"-?\d{1,18}").fillna(False).astype(bool)
        df = df.assign(port=pd.array(pd.to_numeric(text.where(ok), errors="coerce"), dtype="Int64"))
    return df


def read_logs(logs: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]], *,
              blocksize: Union[int, str] = "64MiB") -> tuple[dd.DataFrame, str, list[str]]:
    """The log files (Parquet, JSONL or CSV globs) as one Arrow-backed Dask DataFrame."""
    files = _expand(logs)
    fmt = _format(files)
    if fmt == "parquet":
        for f in files:
            try:
                pq.read_schema(f)
            except (pa.ArrowException, OSError) as e:
                raise _fail(f"{f}: not a readable Parquet file: {e}") from None
        return dd.read_parquet(files, dtype_backend="pyarrow"), fmt, files
    names = _sample_names(files, fmt)
    kind = "rbac" if "action" in names else "traffic"
    if fmt == "csv":
        ddf = dd.read_csv(files, dtype=str, keep_default_na=False, na_values=[""], blocksize=blocksize,
                          dtype_backend="pyarrow")
        return ddf.map_partitions(_csv_port), fmt, files
    # Every input column of the engine, even when the sampled lines lack it (a key first seen on a later
    # line still decides its row); other keys as sampled, as text.
    names = list(dict.fromkeys([*scale.input_columns(kind), *names]))
    size = dask.utils.parse_bytes(blocksize) if isinstance(blocksize, str) else int(blocksize)
    parts = [dask.delayed(_read_jsonl_block, pure=True)(f, off, size, kind, names)
             for f in files for off in range(0, max(os.path.getsize(f), 1), size)]
    meta = _normalise_jsonl([], kind, names).to_pandas(types_mapper=pd.ArrowDtype)
    return dd.from_delayed(parts, meta=meta, verify_meta=False), fmt, files


def _replay_partition(df: pd.DataFrame, digest: str, kind: str, blob: bytes, tmpdir: Optional[str],
                      partition_info: Optional[dict[str, Any]] = None) -> pd.DataFrame:
    """Decide one partition, write it (temp file + rename: a retried task rewrites the same file),
    return its counts per (policy, reason, allowed)."""
    engine = scale.engine_for(digest=digest, blob=blob)
    if kind == "traffic" and "port" in df.columns and not (pd.api.types.is_integer_dtype(df["port"])
                                                           or pd.api.types.is_float_dtype(df["port"])):
        df = _csv_port(df)  # a text port column in a log: digits are the port, anything else a bad-port row
    table = scale.decide(engine, pa.Table.from_pandas(df, preserve_index=False, nthreads=1), kind=kind)
    if tmpdir is not None:
        number = (partition_info or {}).get("number", 0)
        final = os.path.join(tmpdir, f"part.{number:06d}.parquet")
        tmp = f"{final}.{uuid.uuid4().hex}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, final)
    return _counts(table)


def _counts(table: pa.Table) -> pd.DataFrame:
    """Rows per (policy, reason, allowed): dictionary codes combined into one key, then `bincount`."""
    import numpy as np
    import pyarrow.compute as pc

    pol = pc.dictionary_encode(table.column("policy")).combine_chunks()
    rea = pc.dictionary_encode(table.column("reason")).combine_chunks()
    pi = pol.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1  # 0 = no policy
    ri = rea.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    ok = table.column("allowed").to_numpy().astype(np.int64)
    nr = max(len(rea.dictionary), 1)
    counts = np.bincount((pi * nr + ri) * 2 + ok)
    keys = np.flatnonzero(counts)
    policies = [None, *pol.dictionary.to_pylist()]
    reasons = rea.dictionary.to_pylist()
    return pd.DataFrame({"policy": pd.Series([policies[k // 2 // nr] for k in keys], dtype=object),
                         "reason": pd.Series([reasons[k // 2 % nr] for k in keys], dtype=object),
                         "allowed": (keys % 2).astype(bool), "rows": counts[keys].astype("int64")})


def _counts_meta() -> pd.DataFrame:
    return pd.DataFrame({"policy": pd.Series([], dtype=object), "reason": pd.Series([], dtype=object),
                         "allowed": pd.Series([], dtype=bool), "rows": pd.Series([], dtype="int64")})


def _load_engine(resources: Any, kind: str) -> Any:
    if not isinstance(resources, (str, os.PathLike, list, tuple)):
        return resources  # an engine or an EngineRef
    paths = [resources] if isinstance(resources, (str, os.PathLike)) else list(resources)
    store = load([os.fspath(p) for p in paths])
    return Authorizer(store) if kind == "rbac" else TrafficEngine(store)


@dataclass
class _Cluster:
    client: Any
    cluster: Any = None
    owned: bool = True

    def close(self) -> None:
        if not self.owned:
            return
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def connect(scheduler: Any = "local") -> _Cluster:
    """A distributed client: `"local"` / `"local:N"` starts a `LocalCluster` of N worker processes
    (one thread each; N defaults to the CPU count), anything else is a scheduler address; a
    `distributed.Client` is used as it is (and left open)."""
    from distributed import Client, LocalCluster

    if not isinstance(scheduler, str):
        return _Cluster(scheduler, None, owned=False)
    if scheduler == "local" or scheduler.startswith("local:"):
        n_text = scheduler.partition(":")[2]
        try:
            n = int(n_text) if n_text else (os.cpu_count() or 1)
        except ValueError:
            raise _fail(f"--dask {scheduler!r}: expected local or local:N") from None
        if n < 1:
            raise _fail(f"--dask {scheduler!r}: N must be at least 1")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        return _Cluster(Client(cluster), cluster)
    return _Cluster(Client(scheduler), None)


def _gather(client: Any, counts_ddf: dd.DataFrame, show: bool, started: float) -> pd.DataFrame:
    """Run every partition; with `show`, a progress line on stderr as partitions finish (stdout keeps
    only the summary)."""
    from distributed import as_completed

    futures = client.compute(counts_ddf.to_delayed())
    try:
        if show:
            total = len(futures)
            for done, _ in enumerate(as_completed(futures), 1):
                rate = done / max(time.perf_counter() - started, 1e-9)
                print(f"\r{done:>6,}/{total:,} partitions  {rate:,.1f}/s", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
        frames = client.gather(futures)
    except BaseException:
        client.cancel(futures)  # partitions not started yet never start
        raise
    return pd.concat(frames, ignore_index=True) if frames else _counts_meta()


def _discard(tmpdir: str) -> None:
    """Remove a failed run's partial output. Renamed first: a partition still running on a worker
    then fails to write (its path is gone) instead of recreating a file while the tree is removed."""
    trash = f"{tmpdir}.discard"
    try:
        os.rename(tmpdir, trash)
    except OSError:
        trash = tmpdir
    shutil.rmtree(trash, ignore_errors=True)


def _publish(tmpdir: str, out: str) -> None:
    """Move the finished temp directory to `out` (an old `out` is replaced only after success)."""
    old = None
    if os.path.lexists(out):
        old = f"{out}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
    os.replace(tmpdir, out)
    if old is not None:
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.unlink(old)


def replay_distributed(logs: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]], resources: Any, *,
                       scheduler: Any = "local", out: Optional[Union[str, os.PathLike]] = None,
                       engine: str = "auto", blocksize: Union[int, str] = "64MiB", progress: Optional[bool] = None,
                       echo: bool = True) -> ReplaySummary:
    """`meshauthz replay` on a Dask cluster.

    `logs`: Parquet, JSONL or CSV files, globs or directories (one format per run). `resources`:
    paths of policies / dataplanes / roles (YAML or a bundle), or an engine. `scheduler`:
    `"local[:N]"`, a scheduler address or a `distributed.Client`. `out`: a directory that receives one
    Parquet file per partition (every input column plus `allowed`, `reason`, `policy`), written
    to a temporary sibling directory and renamed into place only when every partition is written.
    Prints (with `echo`) and returns the summary the local replay prints for the same rows; progress
    goes to stderr when it is a terminal (`progress=` forces it on or off)."""
    started = time.perf_counter()
    ddf, fmt, files = read_logs(logs, blocksize=blocksize)
    kind = engine if engine != "auto" else ("rbac" if "action" in ddf.columns else "traffic")
    if kind not in ("traffic", "rbac"):
        raise _fail(f"engine must be auto, traffic or rbac, not {engine!r}")
    ref = engine_ref(_load_engine(resources, kind))
    if ref.kind != kind:
        raise _fail(f"the log has {kind} columns but the engine is a {ref.kind} engine")
    out_path = os.fspath(out) if out is not None else None
    tmpdir = None
    if out_path is not None:
        parent = os.path.dirname(os.path.abspath(out_path))
        if not os.path.isdir(parent):
            raise _fail(f"{out_path}: no such directory {parent}")
        tmpdir = os.path.join(parent, f".{os.path.basename(out_path)}.tmp-{uuid.uuid4().hex[:12]}")
        os.mkdir(tmpdir)
    conn = connect(scheduler)
    try:
        counts_ddf = ddf.map_partitions(_replay_partition, ref.digest, ref.kind, _blob_key(ref), tmpdir,
                                        meta=_counts_meta(), align_dataframes=False)
        frame = _gather(conn.client, counts_ddf, progress if progress is not None else sys.stderr.isatty(),
                        started)
        if tmpdir is not None and out_path is not None:
            _publish(tmpdir, out_path)
            tmpdir = None
    finally:
        conn.close()
        if tmpdir is not None:
            _discard(tmpdir)
    counts: Counter[tuple[Optional[str], str, bool]] = Counter()
    for policy, reason, allowed, n in frame.itertuples(index=False, name=None):
        counts[(None if policy is None or policy != policy else str(policy), str(reason), bool(allowed))] += int(n)
    rows = sum(counts.values())
    summary = ReplaySummary(kind, rows, dict(counts), files, out_path, ddf.npartitions,
                            time.perf_counter() - started, format_summary(counts))
    if echo:
        where = files[0] if len(files) == 1 else f"{len(files)} {fmt} files"
        print(f"{rows:,} {kind} requests from {where}")
        print(summary.table)
    return summary
