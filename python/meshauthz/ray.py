"""Ray Data (issue #17): batch decisions over a `ray.data.Dataset`.

    import ray, meshauthz, meshauthz.ray
    engine = meshauthz.TrafficEngine(meshauthz.load(["policies/"]))
    ds = ray.data.read_parquet("logs/")
    out = meshauthz.ray.check_batch(ds, engine)          # + allowed, reason, policy
    out.write_parquet("decisions/")

The engine is put in the object store once (its content-addressed bundle bytes); `map_batches`
runs on pyarrow batches, and each worker process fetches and compiles the engine once per digest
(`meshauthz.scale`), then gives every batch its own engine object over that compiled snapshot.
Ray Data retries a task whose worker process died (its map tasks default to `max_retries=-1`). A bad row is an `error:*`
row, never a failed task.

`pip install 'meshauthz[ray]'` (ray[data], pyarrow).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

try:
    import pyarrow as pa
    import ray
except ImportError as e:  # pragma: no cover - depends on the installed extras
    raise ImportError(f"meshauthz.ray needs Ray Data and pyarrow: pip install 'meshauthz[ray]' ({e})") from e

from . import scale
from .scale import build_counts, engine_ref

__all__ = ["build_counts", "check_batch", "engine_ref"]


def _decide(batch: pa.Table, digest: str, kind: str, box: list[Any], columns: Optional[dict[str, str]],
            prefix: str) -> pa.Table:
    # `box` holds the ObjectRef inside a list so Ray passes the reference, not the bytes: a worker
    # that already compiled this digest never fetches them again.
    engine = scale.engine_for(digest=digest, blob=lambda: ray.get(box[0]))
    return scale.decide(engine, batch, columns=columns, prefix=prefix, kind=kind)


def check_batch(dataset: Any, engine: Any, *, columns: Optional[Mapping[str, str]] = None, prefix: str = "",
                batch_size: Optional[int] = 65_536, **map_batches_args: Any) -> Any:
    """`dataset` with `allowed`, `reason`, `policy` appended (lazily, as a Ray `Dataset`).

    `engine`: a `TrafficEngine`, an `Authorizer` or an `EngineRef`; `columns` / `prefix` as in
    `meshauthz.dask.check_batch`; `batch_size` rows per engine call; other keywords (`num_cpus`,
    `concurrency`, `memory`, ...) go to `Dataset.map_batches`."""
    ref = engine_ref(engine)
    mapping = dict(columns) if columns else None
    schema = dataset.schema(fetch_if_missing=False)  # never runs the plan; else checked per batch
    if schema is not None:
        scale.check_columns(ref.kind, mapping, schema.names, prefix)
    box = [ray.put(ref.blob)]
    return dataset.map_batches(_decide, batch_format="pyarrow", batch_size=batch_size, zero_copy_batch=True,
                               fn_kwargs={"digest": ref.digest, "kind": ref.kind, "box": box, "columns": mapping,
                                          "prefix": prefix}, **map_batches_args)
