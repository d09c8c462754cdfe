"""Traffic benchmark on the `workloads.mesh` workloads (issue #11): one run, ratios printed as the
markdown table of bench/RESULTS.md (traffic section).

    maturin develop --release -q   (or pip install -e . with a release profile)
    python bench/mesh_report.py [--quick]

* check vs no-op: `TrafficEngine.check(source=c, destination=(d, port), mesh=m)` against the PyO3
  no-op `core._noop(source=c, destination=(d, port), mesh=m)` taking the same arguments the same way
  (keywords; same run, same pairs), per inbound
  (every client of its mesh), reported as the worst inbound, the MTP inbounds and the TP inbounds;
* scaling: mean check over all pairs on the mesh vs the 100,000-TP and 16,000 equal-rank variants;
* batch: rows/s of `check_batch` on one core (`threads=1`), all pairs repeated, MTP rows included:
  Arrow with dictionary-encoded columns, Arrow plain strings, a list of tuples.

Times are process CPU time (`time.process_time`): the machine is shared, and CPU time is what a
decision costs (wall-clock under preemption measures the neighbours).
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: E402
from meshauthz import TrafficEngine  # noqa: E402


def per_call(fn: Callable[[], Any], n: int, reps: int = 5) -> float:
    """Median over `reps` of the mean ns per call of `fn` run `n` times."""
    out = []
    for _ in range(reps):
        t = time.process_time_ns()
        for _ in range(n):
            fn()
        out.append((time.process_time_ns() - t) / n)
    return statistics.median(out)


def loop_pairs(engine: TrafficEngine, pairs: list[tuple[str, str, int, str]], reps: int = 5) -> tuple[float, float]:
    """(ns per check, ns per no-op) over `pairs`, median of `reps` interleaved runs."""
    check = engine.check
    noop = engine.compiled.core._noop
    args = [(c, (d, p), m) for c, d, p, m in pairs]
    for c, dest, m in args:  # warm the per-target caches (winners, MTP plans)
        check(source=c, destination=dest, mesh=m)
    ts, ns = [], []
    for _ in range(reps):
        gc.disable()
        t = time.process_time_ns()
        for c, dest, m in args:
            check(source=c, destination=dest, mesh=m)
        t1 = time.process_time_ns()
        for c, dest, m in args:
            noop(source=c, destination=dest, mesh=m)
        t2 = time.process_time_ns()
        gc.enable()
        ts.append((t1 - t) / len(args))
        ns.append((t2 - t1) / len(args))
    return statistics.median(ts), statistics.median(ns)


def batch_rate(engine: TrafficEngine, data: Any, n: int, reps: int = 3) -> float:
    best = []
    for _ in range(reps):
        t = time.process_time()
        res = engine.check_batch(data, threads=1)
        best.append(time.process_time() - t)
        assert len(res) == n
    return n / statistics.median(best)


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}", file=sys.stderr)
    docs = workloads.mesh()
    engine = TrafficEngine(workloads.load(docs))
    pairs = workloads.queries(docs)
    mtp_inbounds = {(d, p) for _, d, p, m in pairs if m == "payments"}
    n_tp = sum(1 for d in docs if d["type"] == "TrafficPermission")
    n_mtp = sum(1 for d in docs if d["type"] == "MeshTrafficPermission")
    n_dp = sum(1 for d in docs if d["type"] == "Dataplane")
    reasons: dict[str, int] = {}
    for c, d, p, m in pairs:
        r = engine.check(source=c, destination=(d, p), mesh=m).reason
        reasons[r] = reasons.get(r, 0) + 1
    rows = []
    # Per inbound: every client of the mesh.
    by_inbound: dict[tuple[str, int], list[tuple[str, str, int, str]]] = {}
    for q in pairs:
        by_inbound.setdefault((q[1], q[2]), []).append(q)
    ratios = {}
    for key, qs in by_inbound.items():
        t, n = loop_pairs(engine, qs, reps=3 if quick else 5)
        ratios[key] = (t, n)
    worst = max(ratios.items(), key=lambda kv: kv[1][0] / kv[1][1])
    mtp = [v for k, v in ratios.items() if k in mtp_inbounds]
    tp = [v for k, v in ratios.items() if k not in mtp_inbounds]

    def agg(vs: list[tuple[float, float]]) -> tuple[float, float, float]:
        t = statistics.mean(v[0] for v in vs)
        n = statistics.mean(v[1] for v in vs)
        return t, n, max(v[0] / v[1] for v in vs)

    t_all, n_all = loop_pairs(engine, pairs, reps=3 if quick else 5)
    rows.append(("check, every pair of the mesh", t_all, n_all, t_all / n_all))
    for label, vs in (("check, TP inbounds (mean; worst inbound)", tp), ("check, MTP inbounds (mean; worst inbound)",
                                                                           mtp)):
        t, n, w = agg(vs)
        rows.append((label, t, n, f"{t / n:.2f} (worst {w:.2f})"))
    rows.append((f"worst inbound {worst[0][0]}:{worst[0][1]}", worst[1][0], worst[1][1], worst[1][0] / worst[1][1]))

    scale = []
    variants = [("mesh (900 TPs)", docs)]
    variants.append(("100,000 TPs", workloads.mesh(tps=10_000 if quick else 100_000)))
    variants.append(("16,000 equal-rank '*' TPs", workloads.equal_rank(2_000 if quick else 16_000)))
    base = None
    for label, vdocs in variants:
        t0 = time.perf_counter()
        e = engine if vdocs is docs else TrafficEngine(workloads.load(vdocs))
        build = time.perf_counter() - t0
        t, n = loop_pairs(e, pairs, reps=3)
        base = base or t
        scale.append((label, t, n, t / base, build))

    import pyarrow as pa

    reps = max(1, (300_000 if quick else 2_000_000) // len(pairs))
    big = pairs * reps
    n = len(big)
    cols = {"mesh": [q[3] for q in big], "source": [q[0] for q in big], "destination": [q[1] for q in big]}
    port = pa.array([q[2] for q in big], pa.int32())
    dict_table = pa.table({k: pa.array(v).dictionary_encode() for k, v in cols.items()} | {"port": port})
    plain_table = pa.table({k: pa.array(v) for k, v in cols.items()} | {"port": port})
    tuples = [(q[3], q[0], q[1], q[2]) for q in big]
    distinct = pa.table({k: pa.array(v[: len(pairs)]).dictionary_encode() for k, v in cols.items()}
                        | {"port": port[: len(pairs)]})
    batch = [("Arrow, dictionary-encoded columns", batch_rate(engine, dict_table, n)),
             ("Arrow, plain string columns", batch_rate(engine, plain_table, n)),
             ("list of tuples", batch_rate(engine, tuples, n)),
             (f"Arrow, dictionary-encoded, {len(pairs):,} distinct pairs (median of 30 calls)",
              batch_rate(engine, distinct, len(pairs), reps=30))]

    print(f"### Traffic mesh workload (bench/workloads.py): {n_dp} dataplanes, {n_tp} TrafficPermissions, "
          f"{n_mtp} MeshTrafficPermissions; {len(pairs):,} (client, inbound) pairs\n")
    print("Decisions over all pairs: " + ", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items())) + "\n")
    print("| single check | check (ns) | PyO3 no-op, same arguments (ns) | ratio (target ≤ 2.5) |")
    print("|---|---|---|---|")
    for label, t, nn, r in rows:
        print(f"| {label} | {t:,.0f} | {nn:,.0f} | {r if isinstance(r, str) else f'{r:.2f}'} |")
    print("\n| scaling (mean check over all pairs) | check (ns) | no-op (ns) | ratio to the mesh (target ≤ 2) | "
          "build (s) |")
    print("|---|---|---|---|---|")
    for label, t, nn, r, b in scale:
        print(f"| {label} | {t:,.0f} | {nn:,.0f} | {r:.2f} | {b:.2f} |")
    print(f"\n| batch, one core (`threads=1`), {n:,} rows incl. MTP rows | rows/s | target |")
    print("|---|---|---|")
    targets = {"Arrow, dictionary-encoded columns": "≥ 15 M/s", "list of tuples": "≥ 5 M/s"}
    for label, rate in batch:
        print(f"| {label} | {rate / 1e6:.2f} M/s | {targets.get(label, '–')} |")


if __name__ == "__main__":
    main()
