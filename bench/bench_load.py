"""Loading at native speed (issue #13): YAML end to end vs PyYAML's bare CSafeLoader, bundles, RSS.

One run with ratios (the closing note of issue #13; use a --release build)::

    .venv/bin/python bench/bench_load.py            # N=10000 policies, 1,000-user RBAC file, 100k RSS
                                                    # (TrafficPermissions, MeshTrafficPermissions)
    .venv/bin/python -m pytest bench/bench_load.py --benchmark-only -p no:randomly

Every timing is the best of several interleaved rounds (the machine is shared); each ratio compares
two timings of the same round set. Baseline: `yaml.load_all(data, Loader=yaml.CSafeLoader)` of the
same bytes, which builds bare values (no positions, no duplicate-key or limit checks, no
validation, no engine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import meshauthz  # noqa: E402
from generate import traffic_permissions_yaml  # noqa: E402
from meshauthz import bundle  # noqa: E402
from meshauthz.loader import LoadResult, resource_from_document  # noqa: E402
from meshauthz.store import ResourceStore  # noqa: E402
from meshauthz.yaml_source import read_documents, read_documents_reference  # noqa: E402

N = 10_000
MESH = "type: Mesh\nname: default\n---\n"
TYPES = ["MeshTrafficPermission", "MeshHTTPRoute", "MeshTimeout", "MeshTrace"]


def rbac_yaml(roles: int = 100, users: int = 1000) -> str:
    """100 AccessRoles x 5 rules and 1,000 AccessRoleBindings (one per user): 1,100 documents."""
    docs = []
    for i in range(roles):
        rules = "".join(
            f"  - types: [{TYPES[(i + k) % 4]}]\n    mesh: default\n    access: [CREATE, UPDATE]\n"
            f"    when:\n      - targetRef: {{kind: MeshService, name: svc-{(i + k) % 50}}}\n"
            for k in range(5))
        docs.append(f"type: AccessRole\nname: r{i}\nrules:\n{rules}")
    for i in range(users):
        docs.append(f"type: AccessRoleBinding\nname: b{i}\nroles: [r{i % roles}, r{(i * 7) % roles}]\n"
                    f"subjects:\n  - {{type: User, name: user-{i}}}\n  - {{type: Group, name: team-{i % 20}}}\n")
    return "---\n".join(docs)


# ---- pytest-benchmark stages ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("load") / "tps.yaml"
    path.write_text(traffic_permissions_yaml(N))
    return path


@pytest.fixture(scope="module")
def documents(policy_file: Path) -> list:
    return list(read_documents(policy_file.read_bytes(), str(policy_file)))


def test_baseline_pyyaml_c_safe_load_all(benchmark: Any, policy_file: Path) -> None:
    """Baseline: PyYAML's C loader alone (no positions, no duplicate-key checks)."""
    data = policy_file.read_bytes()
    docs = benchmark(lambda: list(yaml.load_all(data, Loader=yaml.CSafeLoader)))
    assert len(docs) == N


def test_stage_yaml_parse_native(benchmark: Any, policy_file: Path) -> None:
    data = policy_file.read_bytes()
    docs = benchmark(lambda: list(read_documents(data, str(policy_file))))
    assert len(docs) == N


def test_stage_yaml_parse_reference(benchmark: Any, policy_file: Path) -> None:
    data = policy_file.read_bytes()
    docs = benchmark.pedantic(lambda: list(read_documents_reference(data, str(policy_file))), rounds=2)
    assert len(docs) == N


def test_stage_resources(benchmark: Any, documents: list) -> None:
    res = benchmark(lambda: [resource_from_document(d, LoadResult()) for d in documents])
    assert all(r is not None for r in res)


def test_whole_load(benchmark: Any, policy_file: Path) -> None:
    store = benchmark.pedantic(meshauthz.load, args=(policy_file,), rounds=3, iterations=1)
    assert len(store) == N


# ---- one run with ratios ----------------------------------------------------------------------------


def best(rounds: int, **fns: Callable[[], Any]) -> dict[str, float]:
    """Best wall time (s) of each function over `rounds` interleaved rounds."""
    out = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[k] = min(out[k], time.perf_counter() - t0)
    return out


def mesh_traffic_permissions_yaml(n: int) -> str:
    """A Mesh and `n` clean MeshTrafficPermissions (1,000 targeted apps, 700 client services)."""
    return MESH + "---\n".join(
        f"type: MeshTrafficPermission\nname: mtp-{i}\nmesh: default\nspec:\n  targetRef:\n    kind: Dataplane\n"
        f"    labels:\n      app: svc-{i % 1000}\n  from:\n    - targetRef:\n        kind: MeshSubset\n"
        f"        tags:\n          kuma.io/service: client-{i % 700}\n      default:\n        action: Allow\n"
        for i in range(n))


def rss_growth(n: int, kind: str = "TrafficPermission", defer: bool = True) -> tuple[float, float, float]:
    """(MB added to a fresh process's RSS by loading `n` policies of `kind` and keeping them, MB
    added by a TrafficEngine built on them too, seconds of that build). `defer=False`: every body
    read whole at load (`loader.DEFER_BODIES`; for MeshTrafficPermissions, as before they were
    deferred)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "policies.yaml"
        tp = kind == "TrafficPermission"
        path.write_text(traffic_permissions_yaml(n) if tp else mesh_traffic_permissions_yaml(n))
        code = (
            "import gc, meshauthz, sys, time\n"
            "from meshauthz.traffic.engine import TrafficEngine\n"
            f"meshauthz.loader.DEFER_BODIES = {defer}\n"
            "def rss():\n"
            "    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
            "before = rss()\n"
            "store = meshauthz.load(sys.argv[1])\n"
            "gc.collect()\n"
            "loaded = rss() - before\n"
            "t = time.perf_counter()\n"
            "engine = TrafficEngine(store)\n"
            "built = time.perf_counter() - t\n"
            "gc.collect()\n"
            "print(loaded, rss() - before, built, len(store))\n"
        )
        out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
        loaded, with_engine, built = map(float, out.stdout.split()[:3])
        return loaded, with_engine, built


def main() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    rounds = int(os.environ.get("ROUNDS", "5"))
    print(f"load average at start: {os.getloadavg()[0]:.2f}; best of {rounds} interleaved rounds")
    with tempfile.TemporaryDirectory() as d:
        tps = Path(d) / "tps.yaml"
        tps.write_text(MESH + traffic_permissions_yaml(N))
        data = tps.read_bytes()
        t = best(rounds,
                 csafe=lambda: list(yaml.load_all(data, Loader=yaml.CSafeLoader)),
                 parse=lambda: list(read_documents(data, str(tps))),
                 load=lambda: meshauthz.load(tps),
                 engine=lambda: meshauthz.TrafficEngine(meshauthz.load(tps)))
        print(f"\n{N:,}-policy YAML ({len(data) / 1e6:.1f} MB)")
        print(f"  CSafeLoader.load_all (bare values)      {t['csafe'] * 1e3:7.0f} ms")
        print(f"  native read (values + positions)        {t['parse'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['parse']:.2f}x faster")
        print(f"  meshauthz.load (checks + validation)    {t['load'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['load']:.2f}x faster")
        print(f"  load + TrafficEngine ready              {t['engine'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['engine']:.2f}x faster  (target >= 3x)")

        rbac = Path(d) / "rbac.yaml"
        rbac.write_text(rbac_yaml())
        rdata = rbac.read_bytes()
        t = best(rounds,
                 csafe=lambda: list(yaml.load_all(rdata, Loader=yaml.CSafeLoader)),
                 load=lambda: meshauthz.load(rbac),
                 authz=lambda: meshauthz.Authorizer(meshauthz.load(rbac)))
        print("\n1,000-user RBAC file (100 roles x 5 rules, 1,000 bindings: 1,100 documents)")
        print(f"  CSafeLoader.load_all                    {t['csafe'] * 1e3:7.0f} ms")
        print(f"  meshauthz.load                          {t['load'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['load']:.2f}x faster")
        print(f"  load + Authorizer ready                 {t['authz'] * 1e3:7.0f} ms   "
              f"{t['csafe'] / t['authz']:.2f}x faster  (target >= 3x)")

        key = Ed25519PrivateKey.generate()
        public = key.public_key()
        rres = meshauthz.validate(rbac).resources
        rsigned, runsigned = bundle.dumps(rres, sign_key=key), bundle.dumps(rres)
        t = best(max(rounds, 7),
                 yaml=lambda: meshauthz.Authorizer(meshauthz.load(rbac)),
                 signed=lambda: bundle.loads(rsigned, verify_key=public).authorizer(),
                 revalidated=lambda: bundle.loads(runsigned).authorizer(),
                 used=lambda: bundle.loads(rsigned, verify_key=public).authorizer().what_can("user-1"))
        print(f"\n1,000-user RBAC bundle ({len(rsigned) / 1e3:.0f} kB) to a ready Authorizer")
        print(f"  from YAML                               {t['yaml'] * 1e3:7.1f} ms")
        print(f"  signed, verified (compiled RBAC part)   {t['signed'] * 1e3:7.1f} ms   "
              f"{t['yaml'] / t['signed']:.2f}x faster  (target >= 10x)")
        print(f"  unsigned, re-validated                  {t['revalidated'] * 1e3:7.1f} ms   "
              f"{t['yaml'] / t['revalidated']:.2f}x faster")
        print(f"  (signed, then what_can: role documents  {t['used'] * 1e3:7.1f} ms   "
              f"{t['yaml'] / t['used']:.2f}x faster:\n"
              "   built from the lazy resources on first use)")

        resources = meshauthz.validate(tps).resources
        signed, unsigned = bundle.dumps(resources, sign_key=key), bundle.dumps(resources)
        def used() -> Any:
            """Activation, then what it defers: the store's resources and the engine's Python
            name indexes (explanations, inspect), built on first use."""
            engine = bundle.loads(signed, verify_key=public).traffic_engine()
            return len(engine.store), engine.compiled.policies

        def reference() -> Any:
            """The unverified path with every row parsed and checked in Python, compiled from the
            store (the reference decoder the core leaves malformed sections to: the former path)."""
            with mock.patch.object(meshauthz._core, "bundle_rows", lambda body: None):
                return bundle.loads(unsigned).traffic_engine()

        t = best(rounds,
                 yaml=lambda: meshauthz.TrafficEngine(meshauthz.load(tps)),
                 signed=lambda: bundle.loads(signed, verify_key=public).traffic_engine(),
                 revalidated=lambda: bundle.loads(unsigned).traffic_engine(),
                 reference=reference,
                 store_only=lambda: ResourceStore(bundle.loads_resources(signed, verify_key=public)),
                 used=used)
        print(f"\n{N:,}-policy bundle ({len(signed) / 1e6:.2f} MB) to a ready TrafficEngine")
        print(f"  from YAML                               {t['yaml'] * 1e3:7.0f} ms")
        print(f"  signed, verified                        {t['signed'] * 1e3:7.0f} ms   "
              f"{t['yaml'] / t['signed']:.2f}x faster  (target >= 10x)")
        print(f"  unsigned, re-validated                  {t['revalidated'] * 1e3:7.0f} ms   "
              f"{t['yaml'] / t['revalidated']:.2f}x faster  (target >= 3x)")
        print(f"  (re-validated by the reference decoder  {t['reference'] * 1e3:7.0f} ms   "
              f"{t['yaml'] / t['reference']:.2f}x faster: every row parsed and checked in Python)")
        print(f"  (signed bundle to a store, no engine    {t['store_only'] * 1e3:7.0f} ms)")
        print(f"  (signed, then store and name indexes    {t['used'] * 1e3:7.0f} ms   "
              f"{t['yaml'] / t['used']:.2f}x faster:\n"
              "   what activation defers, built on first use)")

    n = int(os.environ.get("RSS_N", "100000"))
    for kind in ("TrafficPermission", "MeshTrafficPermission"):
        loaded, with_engine, built = rss_growth(n, kind)
        print(f"\n{n:,} {kind}s resident: +{loaded:.0f} MB RSS (target <= 150 MB); "
              f"with a TrafficEngine +{with_engine:.0f} MB (built in {built:.2f} s)")
    loaded, with_engine, built = rss_growth(n, "MeshTrafficPermission", defer=False)
    print(f"  (bodies read whole at load: +{loaded:.0f} MB; with a TrafficEngine +{with_engine:.0f} MB, "
          f"built in {built:.2f} s)")


if __name__ == "__main__":
    main()
