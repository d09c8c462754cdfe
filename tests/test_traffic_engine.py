"""TrafficEngine unit tests; each cites the rule of shared/spec/trafficpermission.md it checks."""

from __future__ import annotations

import threading

import pytest

import meshauthz
from meshauthz import (
    NON_MESH,
    ExternalServiceTarget,
    Identity,
    Inbound,
    NotFoundError,
    TrafficDecision,
    TrafficEngine,
    mesh_defaults,
    rank_compare,
    rank_of,
    selector_matches,
)
from meshauthz._core import TrafficSnapshot

WORLD = """
type: Mesh
name: default
mtls: {enabledBackend: ca-1, backends: [{name: ca-1, type: builtin}]}
networking: {outbound: {passthrough: false}}
---
type: Dataplane
mesh: default
name: web-1
networking:
  address: 10.0.0.1
  inbound:
    - {port: 8080, tags: {kuma.io/service: web}}
    - {port: 8081, tags: {kuma.io/service: web-admin, role: admin}}
---
type: Dataplane
mesh: default
name: backend-1
networking:
  address: 10.0.0.2
  inbound:
    - {port: 9000, tags: {kuma.io/service: backend, version: v1}}
---
type: Dataplane
mesh: default
name: edge-1
networking: {address: 10.0.0.3, gateway: {type: BUILTIN, tags: {kuma.io/service: edge}}}
---
type: ExternalService
mesh: default
name: httpbin
tags: {kuma.io/service: httpbin}
networking: {address: httpbin.org:443}
---
type: TrafficPermission
mesh: default
name: broad
sources: [{match: {kuma.io/service: '*'}}]
destinations: [{match: {kuma.io/service: '*'}}]
---
type: TrafficPermission
mesh: default
name: web-admin-to-backend
creationTime: "2024-01-01T00:00:00Z"
sources: [{match: {kuma.io/service: web, role: admin}}]
destinations: [{match: {kuma.io/service: backend}}]
---
type: TrafficPermission
mesh: default
name: edge-to-httpbin
sources: [{match: {kuma.io/service: edge}}, {match: {kuma.io/service: web, version: '*'}}]
destinations: [{match: {kuma.io/service: httpbin}}]
"""


@pytest.fixture()
def engine() -> TrafficEngine:
    return TrafficEngine(meshauthz.loads(WORLD))


def test_t3_6_shadowing_and_t2_7_union_identity(engine: TrafficEngine) -> None:
    d = engine.check(source="web-1", destination=("backend-1", 9000))
    # T2.7: {svc: web, role: admin} is satisfied by two different inbounds of web-1 (T2.8 row 2).
    assert (d.allowed, d.reason, d.policy, d.matched_source) == (True, "allowed", "web-admin-to-backend", 0)
    assert d.shadowed == ("broad",)  # T3.6: broad is hidden, most specific first
    assert d.target == {"kind": "inbound", "dataplane": "backend-1", "port": 9000} and d.mesh == "default"
    d = engine.check(source="edge-1", destination=Inbound("backend-1", 9000))
    assert (d.allowed, d.reason) == (False, "source-not-matched")  # §8.1: the broad allow is shadowed


def test_e0_gateway_and_e0b_unknown_port_e3_non_mesh(engine: TrafficEngine) -> None:
    assert engine.check(source="web-1", destination=("edge-1", 80)).reason == "not-enforced"  # T4.3, A15
    d = engine.check(source="web-1", destination=("backend-1", 1))
    assert (d.allowed, d.reason) == (False, "unknown-inbound")
    assert engine.check(source=NON_MESH, destination=("backend-1", 9000)).reason == "mtls-required"  # E3


def test_t2_6_direct_es_does_not_merge_inbounds_t4_8_bypass(engine: TrafficEngine) -> None:
    d = engine.check(source="edge-1", destination=ExternalServiceTarget("httpbin"))
    assert (d.allowed, d.policy, d.matched_source, d.bypass_possible) == (True, "edge-to-httpbin", 0, False)
    # T2.8 row 1: {svc: web, version: '*'} does not match web-1 by the dataplane matcher.
    d = engine.check(source="web-1", destination=ExternalServiceTarget("httpbin"))
    assert (d.allowed, d.reason) == (False, "source-not-matched")
    assert engine.reachable_external_services("edge-1") == ["httpbin"]
    assert engine.reachable_external_services("web-1") == []
    none = TrafficEngine(engine.store, external_service_gating="none")  # A6
    assert none.check(source="web-1", destination=ExternalServiceTarget("httpbin")).reason == "not-gated"


def test_a5_tag_map_and_identity_sources(engine: TrafficEngine) -> None:
    d = engine.check(source={"kuma.io/service": "web", "role": "admin"}, destination=("backend-1", 9000))
    assert d.reason == "allowed"
    d = engine.check(
        source=Identity(services=("web",), tags={"role": ("admin",)}), destination=("backend-1", 9000)
    )
    assert d.reason == "allowed"
    d = engine.check(source={"services": ["web"], "tags": {}}, destination=("backend-1", 9000))
    assert d.reason == "source-not-matched"
    with pytest.raises(meshauthz.InputError):  # A5: an identity has no single inbounds for T2.6
        engine.check(source=Identity(services=("edge",)), destination=ExternalServiceTarget("httpbin"))


def test_unknown_names_raise_not_found(engine: TrafficEngine) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        engine.check(source="web-1", destination=("nope", 80))
    with pytest.raises(NotFoundError, match="ghost"):
        engine.check(source="ghost", destination=("backend-1", 9000))
    with pytest.raises(NotFoundError, match="httpbin2"):
        engine.check(source="web-1", destination=ExternalServiceTarget("httpbin2"))
    with pytest.raises(NotFoundError, match="other"):
        engine.check(source="web-1", destination=("backend-1", 9000), mesh="other")
    with pytest.raises(NotFoundError):
        engine.inspect("nope")


def test_dataplane_in_undefined_mesh_fails_closed() -> None:
    store = meshauthz.load_dicts(
        [
            {
                "type": "Dataplane",
                "mesh": "ghost",
                "name": "d",
                "networking": {
                    "address": "1.1.1.1",
                    "inbound": [{"port": 1, "tags": {"kuma.io/service": "x"}}],
                },
            }
        ]
    )
    with pytest.raises(NotFoundError, match="ghost"):
        TrafficEngine(store).check(source=NON_MESH, destination=("d", 1))


def _with_mtp(action: str, target: str = "{kind: MeshSubset, tags: {kuma.io/service: backend}}") -> TrafficEngine:
    return TrafficEngine(meshauthz.loads(WORLD + f"""
---
type: MeshTrafficPermission
mesh: default
name: mtp
spec:
  targetRef: {target}
  from: [{{targetRef: {{kind: MeshService, name: web}}, default: {{action: {action}}}}}]
"""))


def test_e4_a_selecting_mtp_replaces_tp_both_ways() -> None:
    # M7.1 / T4.11: web-1 is allowed by TP web-admin-to-backend (union identity), yet an MTP Deny wins.
    d = _with_mtp("Deny").check(source="web-1", destination=("backend-1", 9000))
    assert (d.allowed, d.reason, d.policy, d.action, d.from_index) == (False, "mtp-deny", "mtp", "Deny", 0)
    assert d.matched_policies == ("mtp",)
    # ...and edge-1, denied by that TP's sources, is now judged by the MTP only: no item matches it.
    d = _with_mtp("Allow").check(source="edge-1", destination=("backend-1", 9000))
    assert (d.allowed, d.reason) == (False, "mtp-no-match")
    d = _with_mtp("AllowWithShadowDeny").check(source="web-1", destination=("backend-1", 9000))
    assert (d.allowed, d.reason, d.shadow_deny) == (True, "mtp-allow-shadow-deny", True)


def test_e4_an_mtp_that_does_not_select_the_inbound_leaves_tp_in_charge() -> None:
    engine = _with_mtp("Deny", target="{kind: MeshSubset, tags: {kuma.io/service: other}}")
    d = engine.check(source="web-1", destination=("backend-1", 9000))
    assert (d.allowed, d.reason, d.policy, d.action) == (True, "allowed", "web-admin-to-backend", None)


def test_e0_to_e3_come_before_the_mtp_hook() -> None:
    engine = _with_mtp("Deny")
    assert engine.check(source=NON_MESH, destination=("backend-1", 9000)).reason == "mtls-required"
    assert engine.check(source="web-1", destination=("backend-1", 1)).reason == "unknown-inbound"


def test_explain_names_ranks_and_failed_tags(engine: TrafficEngine) -> None:
    e = engine.explain(source="edge-1", destination=("backend-1", 9000))
    assert [p.name for p in e.candidates] == ["web-admin-to-backend", "broad"]
    assert e.candidates[0].rank == (1, 0) and e.candidates[1].rank == (0, 1)
    failed = [t for t in e.candidates[0].sources[0].tags if not t.ok]
    assert {t.key for t in failed} == {"kuma.io/service", "role"}
    text = str(e)
    assert (
        "DENY backend-1:9000" in text
        and "[winner] web-admin-to-backend" in text
        and "[shadowed] broad" in text
    )
    assert "failed:" in text and "identity matcher" in text


def test_inspect_and_select_policies(engine: TrafficEngine) -> None:
    ins = engine.inspect("web-1")
    assert [(r.port, r.policy) for r in ins.inbounds] == [(8080, "broad"), (8081, "broad")]
    assert engine.select_policies("backend-1") == {9000: "web-admin-to-backend"}
    assert [p.name for p in engine.inspect("backend-1").inbounds[0].shadowed] == ["broad"]
    assert "inbound 9000" in str(engine.inspect("backend-1"))
    assert engine.select_policy(external_service="httpbin") == "edge-to-httpbin"


def test_refresh_swaps_atomically(engine: TrafficEngine) -> None:
    before = engine.compiled
    engine.store.remove("TrafficPermission", "broad", "default")
    assert engine.check(source="web-1", destination=("web-1", 8080)).reason == "no-policy"  # recompiled
    assert engine.compiled is not before
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(200):
                assert engine.check(source="web-1", destination=("backend-1", 9000)).allowed
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(20):
        engine.refresh()
    for t in threads:
        t.join()
    assert not errors


def test_a7a_defaults_are_never_injected_t4_13() -> None:
    store = meshauthz.loads(
        "type: Mesh\nname: m\nmtls: {enabledBackend: ca, backends: [{name: ca, type: builtin}]}\n"
        "---\ntype: Dataplane\nmesh: m\nname: d\nnetworking: {address: 1.1.1.1, inbound: "
        "[{port: 1, tags: {kuma.io/service: x}}]}\n"
    )
    assert TrafficEngine(store).check(source="d", destination=("d", 1)).reason == "no-policy"  # A17
    doc = mesh_defaults("m")["trafficpermission"]
    assert doc["name"] == "allow-all-m" and doc["sources"] == [{"match": {"kuma.io/service": "*"}}]
    assert mesh_defaults("m", create_mesh_routing_resources=False)["trafficpermission"] is None
    assert (
        mesh_defaults({"type": "Mesh", "name": "m", "skipCreatingInitialPolicies": ["*"]})[
            "trafficpermission"
        ]
        is None
    )
    assert mesh_defaults("m", already_generated=True) == {
        "trafficpermission": None,
        "meshtrafficpermissions": [],
    }


def test_public_selector_functions_t2_2_t3_2() -> None:
    assert selector_matches({"version": "*"}, {"kuma.io/service": "a"}) is False  # T2.5
    assert tuple(rank_of({"a": "*", "b": "x"})) == (1, 1)
    assert rank_compare((0, 2), (1, 0)) > 0  # total tag count dominates


def test_index_evaluates_a_handful_of_selectors_on_10000_policies() -> None:
    policies = [
        ("m", f"p{i}", 0, [{"kuma.io/service": "*"}], [{"kuma.io/service": f"s{i}", "version": "v1"}])
        for i in range(10_000)
    ]
    policies.append(("m", "all", 0, [{}], [{"kuma.io/service": "*"}]))
    core = TrafficSnapshot([("m", True, False, False, True, None)], [], [], policies, [], [])
    ranked, evaluated = core.select_tags("m", {"kuma.io/service": "s77", "version": "v1"})
    assert [r[0] for r in ranked] == ["p77", "all"]
    assert evaluated <= 3


def test_fast_path_equals_general_path() -> None:
    """`check(source=<name>, destination=(<name>, <port>))` takes a fast path; `Inbound(...)` the general one."""
    for eng in (TrafficEngine(meshauthz.loads(WORLD)), _with_mtp("Deny"), _with_mtp("Allow")):
        for src in ("web-1", "edge-1", "backend-1"):
            for dst, port in (("backend-1", 9000), ("backend-1", 1), ("edge-1", 80), ("web-1", 8080)):
                fast = eng.check(source=src, destination=(dst, port))
                slow = eng.check(source=src, destination=Inbound(dst, port))
                assert fast == slow and type(fast) is type(slow) and fast.to_dict() == slow.to_dict()
                assert fast == TrafficDecision(**{f: getattr(fast, f) for f in TrafficDecision._fields})
