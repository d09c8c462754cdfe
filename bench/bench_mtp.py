"""One MeshTrafficPermission decision over 10,000 MTPs of mixed targetRef kinds (1,161 selecting the inbound).

Compares `MtpSet.decide` with a PyO3 no-op taking the same arguments and with the pure-Python reference
(tests/mtp_reference.py), and times compilation (issue target: decide <= 2.5x the no-op, compile <= 20 ms):

    maturin develop --release -q && pytest bench/bench_mtp.py --benchmark-only
"""

from __future__ import annotations

import random
from typing import Any

import mtp_reference as ref  # tests/ is on sys.path (bench/conftest.py)
from meshauthz import _core

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


_STATE: dict[str, Any] = {}


def _setup() -> tuple[list[Any], list[Any], Any]:
    if not _STATE:
        policies, dps = build(random.Random(7))
        _STATE.update(policies=policies, dps=dps, engine=_core.MtpSet(policies, dps))
    return _STATE["policies"], _STATE["dps"], _STATE["engine"]


def _args() -> tuple[Any, ...]:
    _, dps, _ = _setup()
    dest, client = dps[3], dps[11]
    return ("default", dest[0], 8080, "default", client[0])


def test_decide(benchmark: Any) -> None:
    policies, dps, engine = _setup()
    args = _args()
    decision = benchmark(engine.decide, *args)
    want = ref.decide(policies, dps[3], 8080, "default", ref.identity(dps[11]))
    assert decision is not None and want is not None
    assert {k: decision[k] for k in want} == want, (decision, want)
    assert len(decision["matched_policies"]) == 1161


def test_noop(benchmark: Any) -> None:
    _, _, engine = _setup()
    benchmark(engine.noop, *_args())


def test_reference(benchmark: Any) -> None:
    policies, dps, _ = _setup()
    dest, ident = dps[3], ref.identity(dps[11])
    want = benchmark.pedantic(ref.decide, args=(policies, dest, 8080, "default", ident), rounds=5, iterations=1)
    assert want is not None and want["reason"] == "mtp-deny"


def test_compile_10000(benchmark: Any) -> None:
    policies, dps, _ = _setup()
    engine = benchmark.pedantic(_core.MtpSet, args=(policies, dps), rounds=10, iterations=1)
    assert len(engine) == N


def test_decide_first_call(benchmark: Any) -> None:
    """Selection + ordering + plan building: what the first decision for an inbound costs."""
    policies, dps, _ = _setup()
    args = _args()

    def fresh() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (_core.MtpSet(policies, dps), *args), {}

    def first_decide(engine: Any, *a: Any) -> Any:
        return engine.decide(*a)

    d = benchmark.pedantic(first_decide, setup=fresh, rounds=5, iterations=1)
    assert d is not None and d.reason == "mtp-deny"
