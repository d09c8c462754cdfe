"""`TrafficEngine.explain` / `inspect` / CLI when MeshTrafficPermissions decide (MTP §7 E6).

Every expected value below was worked out by hand from shared/spec/meshtrafficpermission.md
(M4.9 order, M6.1 item list, M6.2 last match wins, M6.4 rule list), not copied from output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import meshauthz
from meshauthz import Inbound, TrafficEngine
from meshauthz.cli import main
from meshauthz.errors import InputError
from meshauthz.mtp import MtpEngine

SVC = "kuma.io/service"

WORLD = """
type: Mesh
name: m
mtls: {enabledBackend: ca, backends: [{name: ca, type: builtin}]}
---
type: Dataplane
name: client-a
mesh: m
networking: {address: 10.0.0.1, inbound: [{port: 80, tags: {kuma.io/service: a, team: x}}]}
---
type: Dataplane
name: client-b
mesh: m
networking: {address: 10.0.0.2, inbound: [{port: 80, tags: {kuma.io/service: b, version: v1}}]}
---
type: Dataplane
name: dest
mesh: m
labels: {app: d}
networking:
  address: 10.0.0.3
  inbound:
    - {port: 8080, name: http, tags: {kuma.io/service: d}}
    - {port: 9090, name: admin, tags: {kuma.io/service: d}}
---
type: TrafficPermission
name: tp-all
mesh: m
sources: [{match: {kuma.io/service: '*'}}]
destinations: [{match: {kuma.io/service: '*'}}]
---
type: MeshTrafficPermission
name: dp-policy
mesh: m
spec:
  targetRef: {kind: Dataplane, labels: {app: d}, sectionName: http}
  from:
    - {targetRef: {kind: MeshSubset, tags: {team: x}}, default: {action: Deny}}
    - {targetRef: {kind: Mesh}, default: {action: AllowWithShadowDeny}}
    - {targetRef: {kind: MeshSubset, tags: {kuma.io/service: a}}, default: {action: Allow}}
---
type: MeshTrafficPermission
name: aa-base
mesh: m
spec:
  targetRef: {kind: Mesh}
  from:
    - {targetRef: {kind: MeshSubset, tags: {version: v1}}, default: {action: Deny}}
---
type: MeshTrafficPermission
name: zz-base
mesh: m
spec:
  targetRef: {kind: Mesh}
  from:
    - {targetRef: {kind: Mesh}, default: {action: Allow}}
"""

# M4.9: kind Mesh (1) < Dataplane (2); equal Mesh policies by display name descending (zz before aa).
ORDER_8080 = ["zz-base", "aa-base", "dp-policy"]
# M6.1: (policy, from index, subset, action) in list order.
ITEMS_8080 = [
    ("zz-base", 0, [], "Allow"),
    ("aa-base", 0, [["version", "v1"]], "Deny"),
    ("dp-policy", 0, [["team", "x"]], "Deny"),
    ("dp-policy", 1, [], "AllowWithShadowDeny"),
    ("dp-policy", 2, [[SVC, "a"]], "Allow"),
]
# M6.4 by hand: one clique {0..4}; dims service=[a], team=[x], version=[v1]; odometer (first dim fastest)
# emits 100,010,110,001,101,011,111 then 000 (1 = negated); action = last relevant item; stable sort by
# positive count descending.
RULES_8080 = [
    ([f"{SVC}=a", "team=x", "version=v1"], "Allow"),
    ([f"{SVC}!=a", "team=x", "version=v1"], "AllowWithShadowDeny"),
    ([f"{SVC}=a", "team!=x", "version=v1"], "Allow"),
    ([f"{SVC}=a", "team=x", "version!=v1"], "Allow"),
    ([f"{SVC}!=a", "team!=x", "version=v1"], "AllowWithShadowDeny"),
    ([f"{SVC}!=a", "team=x", "version!=v1"], "AllowWithShadowDeny"),
    ([f"{SVC}=a", "team!=x", "version!=v1"], "Allow"),
    ([f"{SVC}!=a", "team!=x", "version!=v1"], "AllowWithShadowDeny"),
]
# Port 9090 (dp-policy has sectionName http): items zz-base/0 Mesh Allow, aa-base/0 {version: v1} Deny.
RULES_9090 = [(["version=v1"], "Deny"), (["version!=v1"], "Allow")]


@pytest.fixture()
def engine() -> TrafficEngine:
    return TrafficEngine(meshauthz.loads(WORLD))


@pytest.fixture()
def world(tmp_path: Path) -> str:
    p = tmp_path / "world.yaml"
    p.write_text(WORLD)
    return str(p)


def _matched(expl: meshauthz.traffic.explain.Explanation) -> list[int]:
    assert expl.mtp is not None
    return [i.position for i in expl.mtp.items if i.matched]


def test_explain_orders_policies_and_items(engine: TrafficEngine) -> None:
    e = engine.explain(source="client-a", destination=Inbound("dest", 8080))
    assert (e.decision.allowed, e.decision.reason, e.decision.policy, e.decision.from_index) == (
        True, "mtp-allow", "dp-policy", 2)
    assert e.mtp is not None and e.candidates == ()  # M7.1: tp-all is ignored
    assert list(e.mtp.policies) == ORDER_8080
    assert [(i.policy, i.from_index, [list(kv) for kv in i.subset], i.action) for i in e.mtp.items] == ITEMS_8080
    # client-a holds (service, a), (team, x): items 0, 2, 3, 4 match; the last (4) decides (M6.2).
    assert _matched(e) == [0, 2, 3, 4]
    assert [i.position for i in e.mtp.items if i.deciding] == [4]
    assert [i.position for i in e.mtp.items if i.overridden] == [0, 2, 3]
    assert e.mtp.rules is not None
    assert [(list(s), a) for s, a in e.mtp.rules] == RULES_8080


def test_explain_shadow_deny_and_identity_client(engine: TrafficEngine) -> None:
    e = engine.explain(source="client-b", destination=Inbound("dest", 8080))
    # client-b holds (service, b), (version, v1): items 0, 1, 3 match; item 3 decides.
    assert (e.decision.reason, e.decision.action, e.decision.shadow_deny) == (
        "mtp-allow-shadow-deny", "AllowWithShadowDeny", True)
    assert _matched(e) == [0, 1, 3]
    assert [i.position for i in e.mtp.items if i.overridden] == [0, 1]  # type: ignore[union-attr]
    # An explicit tag-map identity {team: x}: items 0, 2, 3 match, item 3 decides.
    e = engine.explain(source={"team": "x"}, destination=Inbound("dest", 8080), mesh="m")
    assert e.decision.reason == "mtp-allow-shadow-deny" and _matched(e) == [0, 2, 3]


def test_explain_deny_on_second_inbound(engine: TrafficEngine) -> None:
    e = engine.explain(source="client-b", destination=Inbound("dest", 9090))
    assert (e.decision.allowed, e.decision.reason, e.decision.policy, e.decision.from_index) == (
        False, "mtp-deny", "aa-base", 0)
    assert e.mtp is not None and list(e.mtp.policies) == ["zz-base", "aa-base"]
    assert [(list(s), a) for s, a in e.mtp.rules or ()] == RULES_9090
    text = str(e)
    assert text.splitlines()[0].startswith("DENY dest:9090 (mesh m): mtp-deny, policy aa-base from[0]")
    assert "1. zz-base" in text and "2. aa-base" in text
    assert "zz-base from[0] Mesh {} -> Allow: overridden" in text
    assert "aa-base from[0] MeshSubset {version: v1} -> Deny: decides" in text
    assert "{version!=v1} -> Allow" in text
    d = e.to_dict()
    assert d["mtp"]["policies"] == ["zz-base", "aa-base"]
    assert [i["deciding"] for i in d["mtp"]["items"]] == [False, True]


def test_explain_rule_list_size_cap_shows_note(engine: TrafficEngine) -> None:
    """#12 item 5: above the M6.4 cap explain / inspect print a note; the decision is unchanged."""
    capped = TrafficEngine(engine.store, max_rules=1)
    e = capped.explain(source="client-a", destination=Inbound("dest", 8080))
    assert e.decision.reason == "mtp-allow"  # M6.2 does not need the rule list
    assert e.decision == engine.check(source="client-a", destination=Inbound("dest", 8080))
    assert e.mtp is not None and e.mtp.rules is None and "above the cap of 1" in (e.mtp.rules_note or "")
    assert "Kuma rule list: not computed" in str(e)
    ins = capped.inspect("dest")
    assert ins.inbounds[0].mtp_rules is None and "cap of 1" in (ins.inbounds[0].mtp_rules_note or "")
    assert engine.inspect("dest").inbounds[0].mtp_rules is not None


def test_explain_tp_output_unchanged_without_mtp() -> None:
    store = meshauthz.loads(WORLD.split("---\ntype: MeshTrafficPermission")[0])
    e = TrafficEngine(store).explain(source="client-a", destination=Inbound("dest", 8080))
    assert e.mtp is None and "mtp" not in e.to_dict()
    assert e.decision.reason == "allowed" and e.decision.policy == "tp-all"
    assert "MeshTrafficPermission" not in str(e)


def test_inspect_lists_mtps_and_rules(engine: TrafficEngine) -> None:
    ins = engine.inspect("dest")
    by_port = {r.port: r for r in ins.inbounds}
    assert list(by_port[8080].mtps) == ORDER_8080
    assert [(list(s), a) for s, a in by_port[8080].mtp_rules or ()] == RULES_8080
    assert list(by_port[9090].mtps) == ["zz-base", "aa-base"]
    assert by_port[8080].policy == "tp-all"  # the TP still reported, marked ignored in text (M7.1)
    text = str(ins)
    assert "MeshTrafficPermissions (lowest priority first, M4.9): zz-base, aa-base, dp-policy" in text
    assert "ignored TrafficPermission: tp-all" in text
    d = ins.to_dict()["inbounds"]
    assert d[1]["mtp_policies"] == ["zz-base", "aa-base"]
    assert d[1]["mtp_rules"] == [{"subset": s, "action": a} for s, a in RULES_9090]


def test_cli_inspect_json_and_explain(world: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "dest", "-f", world, "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inbounds"][0]["mtp_policies"] == ORDER_8080
    assert out["inbounds"][0]["mtp_rules"][0] == {"subset": RULES_8080[0][0], "action": "Allow"}
    assert main(["check", "traffic", "-f", world, "--from", "client-b", "--to", "dest:9090", "--explain",
                 "--output", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["reason"] == "mtp-deny" and out["explanation"]["mtp"]["policies"] == ["zz-base", "aa-base"]
    assert main(["check", "traffic", "-f", world, "--from", "client-a", "--to", "dest:8080", "--explain"]) == 0
    assert "dp-policy from[2] MeshSubset {kuma.io/service: a} -> Allow: decides" in capsys.readouterr().out


def test_examples_mtp_demo() -> None:
    """examples/universal/mtp-mesh.yaml: mesh-wide (Mesh) then api-policy (Dataplane) on api-1 (M4.9)."""
    root = Path(__file__).resolve().parent.parent / "examples"
    engine = TrafficEngine.from_paths(root)
    want = {"storefront-1": ("mtp-allow", 1), "reports-1": ("mtp-allow-shadow-deny", 2), "api-1": ("mtp-deny", 0)}
    for client, (reason, idx) in want.items():
        d = engine.check(source=client, destination=Inbound("api-1", 8080))
        assert (d.reason, d.policy, d.from_index, d.matched_policies) == (
            reason, "api-policy", idx, ("mesh-wide", "api-policy"))
    d = engine.check(source="frontend-7d9f.shop", destination=Inbound("orders-5c2a.shop", 8080))
    assert (d.reason, d.policy) == ("mtp-allow", "orders-from-frontend.shop")  # K8s name.namespace
    assert engine.inspect("web-1").inbounds[0].mtps == ()  # mesh demo has no MTP


def test_mtp_engine_input_errors_keep_their_message(engine: TrafficEngine) -> None:
    """Regression: MtpEngine built InputError from a bare string (one 'problem' per character)."""
    with pytest.raises(InputError, match="unsupported policy_order") as info:
        MtpEngine(engine.store).select_rules("dest", 8080, policy_order="bogus")  # type: ignore[arg-type]
    assert len(info.value.problems) == 1


def test_zone_egress_mesh_with_mtp_decides_inbounds() -> None:
    """Regression (found by tests/test_mixed_differential.py): in a zone-egress mesh with MTPs the core's
    placeholder hook failed every inbound check; inbound E6 is composed in Python, only egress fails closed."""
    text = WORLD.replace("mtls: {enabledBackend: ca", "routing: {zoneEgress: true}\nmtls: {enabledBackend: ca", 1)
    d = TrafficEngine(meshauthz.loads(text)).check(source="client-b", destination=Inbound("dest", 9090))
    assert (d.allowed, d.reason, d.policy) == (False, "mtp-deny", "aa-base")
