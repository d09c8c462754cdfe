"""Differential test: the Rust engine (through the public Python API) vs tests/traffic_reference.py.

Small vocabularies (≤3 keys, ≤3 values, '*', missing keys) force equal ranks, equal creation
times, shadowing and every reason code; each example checks every (client, destination) pair.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import meshauthz
import traffic_reference as ref
from meshauthz import NON_MESH, ExternalServiceTarget, Inbound, TrafficEngine

KEYS = ("kuma.io/service", "version", "zone")
VALUES = {"kuma.io/service": ("a", "b", "c"), "version": ("v1", "v2", "v3"), "zone": ("z1", "z2", "z3")}
TIMES = (None, datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 2, tzinfo=timezone.utc))
ZERO = datetime(1, 1, 1, tzinfo=timezone.utc)
PORTS = (80, 81)
PROM_PORT = 5670
UNKNOWN_PORT = 99

REASONS = (
    "not-enforced",
    "unknown-inbound",
    "mtls-disabled",
    "permissive-non-mesh-traffic",
    "mtls-required",
    "no-policy",
    "allowed",
    "source-not-matched",
    "not-gated",
)
SEEN: Counter[str] = Counter()
CASES = [0]


@st.composite
def tag_map(draw: Any, service: bool = True) -> dict[str, str]:
    tags = {"kuma.io/service": draw(st.sampled_from(VALUES["kuma.io/service"]))} if service else {}
    for k in KEYS[1:]:
        if draw(st.booleans()):
            tags[k] = draw(st.sampled_from(VALUES[k]))
    return tags


@st.composite
def selector(draw: Any) -> dict[str, str]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
    return {k: draw(st.sampled_from(VALUES[k] + ("*", "*"))) for k in keys}


@st.composite
def world(draw: Any) -> ref.World:
    meshes = {}
    for name in draw(st.sampled_from([["m1"], ["m1", "m2"]])):
        mtls = draw(st.integers(0, 3)) > 0
        meshes[name] = ref.Mesh(
            mtls=mtls,
            permissive=mtls and draw(st.booleans()),
            zone_egress=mtls and draw(st.booleans()),
            passthrough=draw(st.booleans()),
            prometheus=(PROM_PORT, {"kuma.io/service": "a"}) if draw(st.booleans()) else None,
        )
    dps = {}
    for i in range(draw(st.integers(2, 4))):
        mesh = draw(st.sampled_from(sorted(meshes)))
        if draw(st.integers(0, 5)) == 0:
            dps[(mesh, f"gw-{i}")] = ref.Dataplane(gateway=draw(tag_map()))
        else:
            n = draw(st.integers(1, 2))
            dps[(mesh, f"dp-{i}")] = ref.Dataplane(inbounds=[(PORTS[j], draw(tag_map())) for j in range(n)])
    services = {
        (mesh, f"es-{i}"): draw(tag_map())
        for i, mesh in enumerate(draw(st.lists(st.sampled_from(sorted(meshes)), max_size=2)))
    }
    policies = []
    for i in range(draw(st.integers(0, 6))):
        policies.append(
            ref.Policy(
                mesh=draw(st.sampled_from(sorted(meshes))),
                name=f"tp-{draw(st.sampled_from('xyz'))}{i}",
                created=draw(st.sampled_from(TIMES)) or ZERO,
                sources=draw(st.lists(selector(), min_size=1, max_size=2)),
                destinations=draw(st.lists(selector(), min_size=1, max_size=2)),
            )
        )
    return ref.World(meshes, dps, services, policies)


def documents(w: ref.World) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name, m in w.meshes.items():
        doc: dict[str, Any] = {"type": "Mesh", "name": name}
        if m.mtls:
            doc["mtls"] = {
                "enabledBackend": "ca-1",
                "backends": [
                    {"name": "ca-1", "type": "builtin", "mode": "PERMISSIVE" if m.permissive else "STRICT"}
                ],
            }
        if m.zone_egress:
            doc["routing"] = {"zoneEgress": True}
        doc["networking"] = {"outbound": {"passthrough": m.passthrough}}
        if m.prometheus:
            doc["metrics"] = {
                "enabledBackend": "prom",
                "backends": [
                    {
                        "name": "prom",
                        "type": "prometheus",
                        "conf": {"port": m.prometheus[0], "tags": m.prometheus[1]},
                    }
                ],
            }
        docs.append(doc)
    for (mesh, name), dp in w.dataplanes.items():
        net: dict[str, Any] = {"address": "10.0.0.1"}
        if dp.gateway is not None:
            net["gateway"] = {"type": "DELEGATED", "tags": dp.gateway}
        else:
            net["inbound"] = [{"port": p, "tags": t} for p, t in dp.inbounds]
        docs.append({"type": "Dataplane", "mesh": mesh, "name": name, "networking": net})
    for (mesh, name), tags in w.services.items():
        docs.append(
            {
                "type": "ExternalService",
                "mesh": mesh,
                "name": name,
                "tags": tags,
                "networking": {"address": "example.com:443"},
            }
        )
    for p in w.policies:
        doc = {
            "type": "TrafficPermission",
            "mesh": p.mesh,
            "name": p.name,
            "sources": [{"match": s} for s in p.sources],
            "destinations": [{"match": d} for d in p.destinations],
        }
        if p.created != ZERO:
            doc["creationTime"] = p.created.isoformat().replace("+00:00", "Z")
        docs.append(doc)
    return docs


def _dedupe(w: ref.World) -> ref.World:
    seen: set[tuple[str, str]] = set()
    w.policies = [p for p in w.policies if (p.mesh, p.name) not in seen and not seen.add((p.mesh, p.name))]
    return w


@settings(max_examples=250)
@given(world(), st.lists(tag_map(), min_size=1, max_size=2))
def _engine_agrees_with_reference(w: ref.World, adhoc: list[dict[str, str]]) -> None:
    w = _dedupe(w)
    store = meshauthz.load_dicts(documents(w))
    engines = {g: TrafficEngine(store, external_service_gating=g) for g in ("legacy", "none")}
    clients: list[tuple[tuple, Any]] = [(("non-mesh",), NON_MESH)]
    clients += [(("dp", m, n), n) for (m, n) in w.dataplanes]
    for dst_mesh in w.meshes:
        for (m, n), dp in w.dataplanes.items():
            for port in [p for p, _ in dp.inbounds] + [UNKNOWN_PORT, PROM_PORT]:
                for rc, src in clients + [(("tags", m, t), t) for t in adhoc]:
                    if m != dst_mesh:
                        continue
                    d = engines["legacy"].check(source=src, destination=Inbound(n, port), mesh=m)
                    want = ref.authorize_inbound(w, rc, m, n, port)
                    assert (d.allowed, d.reason, d.policy) == want, (rc, m, n, port)
                    SEEN[d.reason] += 1
                    CASES[0] += 1
        for m, es in w.services:
            if m != dst_mesh:
                continue
            for rc, src in clients + [(("tags", m, t), t) for t in adhoc]:
                for gating, engine in engines.items():
                    if rc[0] == "non-mesh" or rc[1] != m:
                        with pytest.raises(meshauthz.MeshauthzError):  # fail closed: never an allow
                            engine.check(source=src, destination=ExternalServiceTarget(es), mesh=m)
                        continue
                    d = engine.check(source=src, destination=ExternalServiceTarget(es), mesh=m)
                    want = ref.authorize_external_service(w, rc, m, es, gating)
                    assert (d.allowed, d.reason, d.policy) == want, (rc, m, es, gating)
                    assert d.bypass_possible == w.meshes[m].passthrough
                    SEEN[d.reason] += 1
                    CASES[0] += 1


def test_every_reason_code_was_exercised() -> None:
    """The differential run (hypothesis), then its coverage: ≥10,000 decisions, every outcome ≥100 times.
    The counters are reset here, so the test passes alone, shuffled, or in any subset."""
    SEEN.clear()
    CASES[0] = 0
    _engine_agrees_with_reference()
    assert CASES[0] >= 10_000, CASES[0]
    missing = {r: SEEN[r] for r in REASONS if SEEN[r] < 100}
    assert not missing, (missing, dict(SEEN))
    print(f"differential: {CASES[0]} cases, reasons {dict(SEEN)}")
