"""Scale-out throughput (issue #17): a 2M-row Parquet access log decided on a Dask LocalCluster of
1 and 2 worker processes vs a local `check_batch` of the same files, reading included.

    maturin develop --release -q && python bench/bench_scale.py [--rows 2000000] [--runs 3]

Reports rows/s (min and median of `--runs`) for 1 and 2 workers, the 2-vs-1 scaling ratio, the
per-core cost ratio versus the local run, the fixed overhead (a one-row job on fresh workers: engine
bytes shipped and compiled), and the projection for 1 billion Parquet rows on 16 cores:
fixed overhead + 1e9 / (16 x per-core rate). Also the CPU seconds per million rows in the workers and
in the client + scheduler process: on a machine whose cores are busy with other work, wall-clock
scaling cannot show, while equal worker CPU per row for 1 and 2 workers says the work divides without
overhead. Nothing is asserted (this is not a test).
Not collected by the default pytest run; the one-line figures go in the issue's closing note.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import dask.dataframe as dd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import meshauthz  # noqa: E402
import meshauthz.dask as mdask  # noqa: E402
from meshauthz import TrafficEngine, scale  # noqa: E402

DPS = 1_000
FILES = 8


def engine() -> TrafficEngine:
    from bench_traffic import _world

    docs, _ = _world(10_000)
    for i in range(DPS):
        docs.append({"type": "Dataplane", "mesh": "default", "name": f"dp-{i}", "networking": {
            "address": "10.1.0.1", "inbound": [{"port": 9000, "tags": {"kuma.io/service": f"svc-{i}"}}]}})
    return TrafficEngine(meshauthz.load_dicts(docs))


def write_log(directory: Path, rows: int) -> None:
    """`rows` requests over 1,000 dataplanes in FILES Parquet files (dictionary-encoded strings)."""
    rng = random.Random(6)
    names = [f"dp-{i}" for i in range(DPS)] + ["web-1"]
    per = rows // FILES
    for f in range(FILES):
        n = per if f < FILES - 1 else rows - per * (FILES - 1)
        pq.write_table(pa.table({
            "mesh": pa.array(["default"] * n).dictionary_encode(),
            "source": pa.array([rng.choice(names) for _ in range(n)]).dictionary_encode(),
            "destination": pa.array([f"dp-{rng.randrange(DPS)}" for _ in range(n)]).dictionary_encode(),
            "port": pa.array([9000] * n, pa.int32()),
        }), directory / f"part-{f}.parquet", row_group_size=64_000)


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def local_run(directory: Path, eng: TrafficEngine) -> int:
    table = pq.read_table(directory, use_threads=False)  # one core, as one worker has
    res = pa.record_batch(eng.check_batch(table))
    return int(res.column("allowed").to_numpy(zero_copy_only=False).sum())


def dask_run(directory: Path, ref: scale.EngineRef) -> int:
    out = mdask.check_batch(dd.read_parquet(str(directory), dtype_backend="pyarrow"), ref)
    return int(out["allowed"].sum().compute())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2-CPU machine shared with other work)")
    eng = engine()
    ref = scale.engine_ref(eng)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        directory = Path(tmp) / "log"
        directory.mkdir()
        write_log(directory, args.rows)
        size = sum(p.stat().st_size for p in directory.iterdir())
        print(f"log: {args.rows:,} rows in {FILES} Parquet files ({size / 2**20:.1f} MiB); engine bundle "
              f"{len(ref):,} bytes")
        want = local_run(directory, eng)
        results: dict[int, tuple[list[float], float, float]] = {}
        cpu: dict[int, tuple[float, float]] = {}  # workers' CPU s, this process's (client + scheduler) CPU s
        lo_cpu0 = time.process_time()
        local = timed(lambda: local_run(directory, eng), args.runs)
        lo_cpu = time.process_time() - lo_cpu0
        for workers in (1, 2):
            t = time.perf_counter()
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   memory_limit="4GiB")
            client = Client(cluster)
            startup = time.perf_counter() - t
            try:
                tiny = dd.from_pandas(pa.table({"source": ["dp-1"], "destination": ["dp-2"], "port": [9000]})
                                      .to_pandas(), npartitions=1)
                t = time.perf_counter()
                mdask.check_batch(tiny, ref).compute()  # fresh workers: bytes shipped, engine compiled
                fixed = time.perf_counter() - t
                got = dask_run(directory, ref)
                assert got == want, (got, want)
                cpu0 = sum(client.run(time.process_time).values())
                main0 = time.process_time()
                results[workers] = (timed(lambda: dask_run(directory, ref), args.runs), fixed, startup)
                cpu[workers] = (sum(client.run(time.process_time).values()) - cpu0, time.process_time() - main0)
            finally:
                client.close()
                cluster.close()

    def rate(ts: list[float]) -> tuple[float, float]:
        return args.rows / max(ts), args.rows / statistics.median(ts)  # (min rate, median rate)

    lo_min, lo_med = rate(local)
    print(f"\nlocal check_batch (read + decide, 1 thread): min {lo_min:,.0f} rows/s, median {lo_med:,.0f} rows/s")
    for w, (ts, fixed, startup) in results.items():
        mn, md = rate(ts)
        print(f"dask {w} worker(s): min {mn:,.0f} rows/s, median {md:,.0f} rows/s "
              f"(first job on fresh workers {fixed * 1000:.0f} ms, cluster start {startup:.1f} s)")
    total = args.rows * args.runs
    print(f"CPU per million rows: local {lo_cpu / total * 1e6:.3f} s"
          + "".join(f"; dask {w} worker(s) {c / total * 1e6:.3f} s in workers + {m / total * 1e6:.3f} s in "
                    f"client/scheduler" for w, (c, m) in cpu.items()))
    one_min, one_med = rate(results[1][0])
    two_min, two_med = rate(results[2][0])
    print(f"\nscaling 2 vs 1 worker: min {two_min / one_min:.2f}x, median {two_med / one_med:.2f}x (goal >= 1.5x)")
    print(f"per-core cost vs local (reading included): median {lo_med / one_med:.2f}x, "
          f"best run {min(results[1][0]) / min(local):.2f}x (goal <= 1.3x)")
    per_core = one_med
    fixed = results[2][1]
    projection = fixed + 1e9 / (16 * per_core)
    print(f"projection, 1e9 Parquet rows on 16 cores at the 1-worker median rate {per_core:,.0f} rows/s/core "
          f"+ {fixed:.2f} s fixed: {projection:,.0f} s (goal <= 70 s, needs >= 0.9 M rows/s per core)")


if __name__ == "__main__":
    main()
