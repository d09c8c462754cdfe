"""Ray Data scale-out (issue #17): a local Ray cluster (2 CPUs) decides exactly what a local
`check_batch` decides, row for row, whatever the blocks; a worker process killed mid-job is retried;
each worker process compiles an engine once per bundle digest."""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

pa = pytest.importorskip("pyarrow")
try:
    import ray
except ImportError:  # pragma: no cover - `pip install '.[test]'` brings ray[data] where PyPI has it
    pytest.skip("ray is not installed (pip install 'meshauthz[ray]')", allow_module_level=True)

import meshauthz.ray as mray  # noqa: E402
import scale_gen  # noqa: E402
from meshauthz import InputError, scale  # noqa: E402

ROWS = 200_000
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")
TESTS = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    path = os.pathsep.join(p for p in (TESTS, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=300 * 2**20, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def traffic() -> tuple[Any, Any, list[tuple[Any, ...]]]:
    engine = scale_gen.traffic_engine()
    table = pa.table(scale_gen.traffic_rows(ROWS))
    return engine, table, _rows(pa.record_batch(engine.check_batch(scale_gen.inputs_only(table))))


def _rows(rb: Any) -> list[tuple[Any, ...]]:
    return list(zip(rb.column("allowed").to_pylist(), rb.column("reason").to_pylist(),
                    rb.column("policy").to_pylist()))


def _collect(ds: Any) -> Any:
    table = pa.concat_tables(ray.get(ds.to_arrow_refs())).sort_by("id")
    assert table.column("id").to_pylist() == list(range(table.num_rows))  # every row exactly once
    return table


@pytest.mark.parametrize(("blocks", "batch_size"), [(1, 65_536), (6, 10_000), (23, 4_096)])
def test_traffic_equals_local_row_for_row(cluster: None, traffic: Any, blocks: int, batch_size: int) -> None:
    engine, table, want = traffic
    ds = ray.data.from_arrow(table).repartition(blocks)
    got = _collect(mray.check_batch(ds, engine, batch_size=batch_size))
    assert got.num_rows == ROWS and _rows(got) == want
    assert sum(1 for _, r, _ in want if r.startswith("error:")) > 10_000  # bad rows stay rows


def test_rbac_equals_local_row_for_row(cluster: None) -> None:
    authz = scale_gen.authorizer()
    table = pa.table(scale_gen.rbac_rows(ROWS))
    want = _rows(pa.record_batch(authz.check_batch(scale_gen.inputs_only(table))))
    got = _collect(mray.check_batch(ray.data.from_arrow(table).repartition(5), authz, batch_size=20_000))
    assert _rows(got) == want
    assert any(a for a, _, _ in want) and any(r.startswith("error:") for _, r, _ in want)


def _die_once(batch: Any, marker: str) -> Any:
    """The first batch holding row 100,000 kills its worker process (no cleanup, as a crash would)."""
    ids = batch.column("id")
    if batch.num_rows and ids[0].as_py() <= 100_000 <= ids[-1].as_py():
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return batch
        os.close(fd)
        os._exit(1)
    return batch


def test_worker_killed_mid_job_is_retried(cluster: None, traffic: Any, tmp_path: Path) -> None:
    engine, table, want = traffic
    marker = str(tmp_path / "killed")
    ds = ray.data.from_arrow(table).repartition(8)
    ds = ds.map_batches(_die_once, fn_kwargs={"marker": marker}, batch_format="pyarrow")
    got = _collect(mray.check_batch(ds, engine))  # Ray Data retries tasks lost to a dead worker
    assert os.path.exists(marker)  # a worker process did die during the job
    assert _rows(got) == want  # and the result is complete and equal


def _report(batch: Any, digest: str) -> Any:
    builds, tasks = scale.cache_stats().get(digest, (0, 0))
    return pa.table({"pid": [os.getpid()], "builds": [builds], "tasks": [tasks], "rows": [batch.num_rows]})


def test_engine_built_once_per_worker(cluster: None, traffic: Any) -> None:
    _, table, _ = traffic
    engine = scale_gen.traffic_engine(extra=f"m-{uuid.uuid4().hex[:8]}")  # a digest no other test used
    ref = scale.engine_ref(engine)
    ds = mray.check_batch(ray.data.from_arrow(table.slice(0, 50_000)).repartition(4), ref, batch_size=2_500)
    # Fused into the same task as check_batch: reports the process's cache right after each batch.
    reports = pa.concat_tables(ray.get(ds.map_batches(_report, fn_kwargs={"digest": ref.digest},
                                                      batch_format="pyarrow", batch_size=2_500).to_arrow_refs()))
    assert sum(reports.column("rows").to_pylist()) == 50_000
    per_pid: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pid, b, t in zip(*(reports.column(c).to_pylist() for c in ("pid", "builds", "tasks"))):
        per_pid[pid].append((b, t))
    assert all(b == 1 for seen in per_pid.values() for b, _ in seen), per_pid  # one compile per process
    most = max(max(t for _, t in seen) for seen in per_pid.values())
    assert most > 1  # and a process reused it for later batches
    # One engine object per batch: 4 blocks of 12,500 rows, 5 batches each.
    assert reports.num_rows == 20 and sum(max(t for _, t in seen) for seen in per_pid.values()) == 20


def test_columns_checked_before_running(cluster: None, traffic: Any) -> None:
    engine, table, want = traffic
    small = table.slice(0, 3_000).rename_columns(["id", "mesh", "src", "source_tags", "destination", "port"])
    ds = ray.data.from_arrow(small)
    with pytest.raises(InputError, match="prefix"):
        mray.check_batch(ray.data.from_arrow(table.slice(0, 10).append_column("reason", pa.nulls(10, pa.string()))),
                         engine)
    got = _collect(mray.check_batch(ds, engine, columns={"source": "src"}, prefix="x_"))
    assert list(zip(got.column("x_allowed").to_pylist(), got.column("x_reason").to_pylist(),
                    got.column("x_policy").to_pylist())) == want[:3_000]
