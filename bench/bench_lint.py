"""Traffic lint of a generated 1,000-service mesh with 10,000 TrafficPermissions (issue #16; target
<= 2 s), with the brute-force reference (every pair through `engine.check`) timed beside it.

    python bench/bench_lint.py            # one run: lint time, brute-force time, ratio
    pytest bench/bench_lint.py --benchmark-only
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from analysis_gen import generated_mesh  # noqa: E402
from meshauthz.api import load_dicts  # noqa: E402
from meshauthz.traffic import TrafficEngine  # noqa: E402
from meshauthz.traffic.lint import lint_traffic  # noqa: E402
from traffic_lint_reference import reference  # noqa: E402

N_SERVICES, N_TPS = 1000, 10_000


def lint_mesh(n_services: int = N_SERVICES, n_tps: int = N_TPS) -> list[dict[str, Any]]:
    """generated_mesh plus `n_tps` TrafficPermissions: per-service policies (some more specific by
    version, some older duplicates that lose, some with typo'd sources or destinations)."""
    docs = generated_mesh(n_services)
    for k in range(n_tps):
        i, j = k % n_services, (k * 7919) % n_services
        dest: dict[str, str] = {"kuma.io/service": f"svc-{i:04d}"}
        if k % 5 == 1:
            dest["version"] = f"v{k % 3}"
        if k % 97 == 0:
            dest = {"kuma.io/service": f"svx-{i:04d}"}  # typo: matches nothing
        src = {"kuma.io/service": f"svc-{j:04d}" if k % 89 else f"scv-{j:04d}"}
        docs.append({"type": "TrafficPermission", "name": f"tp-{k:05d}", "mesh": "big",
                     "creationTime": f"2024-01-{1 + k % 28:02d}T00:00:00Z",
                     "sources": [{"match": src}], "destinations": [{"match": dest}]})
    return docs


def engine() -> TrafficEngine:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TrafficEngine(load_dicts(lint_mesh()))


def test_lint_1000_services_10000_tps(benchmark: Any) -> None:
    e = engine()
    lint_traffic(e)  # warm
    found = benchmark(lint_traffic, e)
    assert found


if __name__ == "__main__":
    e = engine()
    lint_traffic(e)  # warm the compiled snapshot
    t0 = time.perf_counter()
    found = lint_traffic(e)
    t_lint = time.perf_counter() - t0
    print(f"lint: {len(found)} findings in {t_lint:.3f} s "
          f"({N_SERVICES} services, {len(e.compiled.policies['big'])} TPs)")
    if "--no-brute" not in sys.argv:
        t0 = time.perf_counter()
        ref = reference(e)
        t_ref = time.perf_counter() - t0
        print(f"brute force: {len(ref)} findings in {t_ref:.3f} s; ratio {t_ref / t_lint:.1f}x")
