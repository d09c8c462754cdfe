"""Loading a realistic mesh (issue #13): mostly Dataplanes, TrafficPermissions and
MeshTrafficPermissions (some with Kuma's deprecation warnings), end to end vs PyYAML's bare
CSafeLoader — the unfavourable counterpart of `bench_load.py`'s policy-only file.

One run with ratios (a --release build)::

    .venv/bin/python bench/bench_load_mesh.py     # 1,000 services x 5 dataplanes, 2,000 TPs, 100 MTPs;
                                                  # then 10,000 Kubernetes-form TrafficPermissions

Workload `workloads.mesh` (the traffic benchmarks' generator). Best of `ROUNDS` interleaved rounds;
baseline `yaml.load_all(data, Loader=yaml.CSafeLoader)` of the same bytes (bare values: no
positions, no checks, no validation, no engine).
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import warnings
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import meshauthz  # noqa: E402
import workloads  # noqa: E402
from bench_load import best  # noqa: E402


def main() -> None:
    warnings.simplefilter("ignore")  # the MTPs' deprecation warnings are part of the work, not output
    rounds = int(os.environ.get("ROUNDS", "5"))
    docs = workloads.mesh(services=1000, dataplanes_per_service=5, tps=2000, mtps=100)
    kinds = collections.Counter(d["type"] for d in docs)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "mesh.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        data = path.read_bytes()
        print(f"load average at start: {os.getloadavg()[0]:.2f}; best of {rounds} interleaved rounds")
        print(f"mesh: {dict(kinds)}, {len(data) / 1e6:.1f} MB")
        t = best(rounds,
                 csafe=lambda: list(yaml.load_all(data, Loader=yaml.CSafeLoader)),
                 load=lambda: meshauthz.load(path),
                 engine=lambda: meshauthz.TrafficEngine(meshauthz.load(path)))
        print(f"  CSafeLoader.load_all (bare values)      {t['csafe'] * 1e3:7.0f} ms")
        print(f"  meshauthz.load (checks + validation)    {t['load'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['load']:.2f}x faster")
        print(f"  load + TrafficEngine ready              {t['engine'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['engine']:.2f}x faster")


def kubernetes_yaml(n: int = 10_000) -> str:
    """`n` Kubernetes-form TrafficPermissions (legacy top-level `mesh`, TP A13) after their Mesh."""
    docs = ["apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: default\n"]
    for i in range(n):
        docs.append(f"apiVersion: kuma.io/v1alpha1\nkind: TrafficPermission\nmesh: default\nmetadata:\n"
                    f"  name: tp-{i}\n  creationTimestamp: '2024-01-01T00:00:00Z'\nspec:\n  sources:\n"
                    f"    - match:\n        kuma.io/service: client-{i % 700}\n  destinations:\n"
                    f"    - match:\n        kuma.io/service: svc-{i % 1000}\n")
    return "---\n".join(docs)


def kubernetes_form(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "k8s.yaml"
        path.write_text(kubernetes_yaml())
        data = path.read_bytes()
        t = best(rounds,
                 csafe=lambda: list(yaml.load_all(data, Loader=yaml.CSafeLoader)),
                 load=lambda: meshauthz.load(path),
                 engine=lambda: meshauthz.TrafficEngine(meshauthz.load(path)))
        print(f"\n10,000 Kubernetes-form TrafficPermissions ({len(data) / 1e6:.1f} MB)")
        print(f"  CSafeLoader.load_all (bare values)      {t['csafe'] * 1e3:7.0f} ms")
        print(f"  meshauthz.load (checks + validation)    {t['load'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['load']:.2f}x faster")
        print(f"  load + TrafficEngine ready              {t['engine'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['engine']:.2f}x faster")


if __name__ == "__main__":
    main()
    kubernetes_form(int(os.environ.get("ROUNDS", "5")))
