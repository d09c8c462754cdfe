"""Benchmark: one MTP decision over 10,000 MTPs of mixed targetRef kinds.

Compares `MtpSet.decide` with a PyO3 no-op taking the same arguments and with the pure-Python reference
(tests/mtp_reference.py), and times compilation. Run after `maturin develop --release`:

    .venv/bin/python bench/bench_mtp.py
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import mtp_reference as ref  # noqa: E402
from meshauthz import _core  # noqa: E402

N = 10_000
SERVICES = [f"svc-{i}" for i in range(200)]


def _tr(kind: str, name: str = "", labels: Any = None, tags: Any = None) -> tuple[Any, ...]:
    return (kind, name, "", labels or {}, tags or {}, [], "")


def build(rng: random.Random) -> tuple[list[Any], list[Any]]:
    policies = []
    for i in range(N):
        svc = rng.choice(SERVICES)
        top = rng.choice([
            _tr("Mesh"), _tr("MeshSubset", tags={"version": rng.choice(["v1", "v2"])}),
            _tr("MeshService", name=svc), _tr("MeshServiceSubset", name=svc, tags={"version": "v1"}),
            _tr("Dataplane", labels={"app": svc}),
        ])
        frm = [(rng.choice([_tr("Mesh"), _tr("MeshService", name=rng.choice(SERVICES)),
                            _tr("MeshSubset", tags={"zone": rng.choice(["east", "west"])})]),
                rng.choice(["Allow", "Deny", "AllowWithShadowDeny"])) for _ in range(rng.randint(1, 3))]
        # Mostly narrowly targeted policies; ~1% Mesh-wide.
        if top[0] == "Mesh" and rng.random() > 0.05:
            top = _tr("MeshService", name=svc)
        policies.append((f"mtp-{i:05d}", "default", {}, top, frm))
    dps = [(f"{s}-1", "default", {"app": s},
            [(8080, "http", {"kuma.io/service": s, "version": "v1", "zone": "east"}, False)], None)
           for s in SERVICES]
    return policies, dps


def per_call(fn: Callable[[], Any], min_time: float = 1.0) -> float:
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / n


def main() -> None:
    policies, dps = build(random.Random(7))
    t0 = time.perf_counter()
    engine = _core.MtpSet(policies, dps)
    compile_s = time.perf_counter() - t0
    dest, client = dps[3], dps[11]
    args = ("default", dest[0], 8080, "default", client[0])
    decision = engine.decide(*args)
    want = ref.decide(policies, dest, 8080, "default", ref.identity(client))
    assert decision is not None and want is not None
    assert {k: decision[k] for k in want} == want, (decision, want)
    rust = per_call(lambda: engine.decide(*args))
    noop = per_call(lambda: engine.noop(*args))
    py = per_call(lambda: ref.decide(policies, dest, 8080, "default", ref.identity(client)), 2.0)
    print(f"policies={N} selected={len(decision['matched_policies'])} decision={decision['reason']}")
    print(f"compile (MtpSet from tuples): {compile_s * 1e3:.1f} ms")
    print(f"decide: {rust * 1e6:.1f} us   no-op: {noop * 1e6:.2f} us   reference: {py * 1e6:.0f} us")
    print(f"ratios: decide/no-op = {rust / noop:.1f}x   reference/decide = {py / rust:.1f}x")


if __name__ == "__main__":
    main()
