"""Differential test over meshes mixing TrafficPermission and MeshTrafficPermission, through
`TrafficEngine.check`, against a reference of meshtrafficpermission.md §7 composed from the two pure-Python
references (tests/traffic_reference.py for TP §4.1, tests/mtp_reference.py for MTP M4–M6.2):

    E0/E0b/E1–E3 (TP reference) -> E6: an MTP selects the inbound -> M6.2 decides (M7.1: TP ignored)
                                 -> otherwise TP E5–E7 (`no-policy` / `allowed` / `source-not-matched`).

Generated meshes mix both kinds (some meshes MTP-only, some TP-only, some both), Universal and Kubernetes
MTPs (namespaces, roles M2.5/M4.7), equal priorities (shared display names, A2), proxyTypes, Dataplane
labels/name/sectionName refs and every `from` kind. Each example checks every (client, inbound) pair.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import meshauthz
import mtp_reference as mref
import traffic_reference as tref
from meshauthz import NON_MESH, Inbound, TrafficEngine
from test_traffic_differential import PROM_PORT, UNKNOWN_PORT, documents, tag_map, world

SVC = "kuma.io/service"
NAMESPACES = ("ns1", "ns2", "kuma-system")
ACTIONS = ("Allow", "Deny", "AllowWithShadowDeny")
SECTIONS = {80: "http", 81: "admin"}  # inbound names, for Dataplane sectionName (M4.5)
APPS = ("a", "b")
VALS = ("a", "b", "c")
TP_PASS = frozenset({"no-policy", "allowed", "source-not-matched"})  # where E6 takes precedence

REASONS = ("not-enforced", "unknown-inbound", "mtls-disabled", "permissive-non-mesh-traffic", "mtls-required",
           "no-policy", "allowed", "source-not-matched",
           "mtp-allow", "mtp-allow-shadow-deny", "mtp-deny", "mtp-no-match")
SEEN: Counter[str] = Counter()
CASES = [0]


def _tr(kind: str, name: str = "", labels: Any = None, tags: Any = None, proxy: Any = None,
        section: str = "") -> tuple[Any, ...]:
    """A targetRef in mtp_reference's tuple form (kind, name, namespace, labels, tags, proxyTypes, section)."""
    return (kind, name, "", labels or {}, tags or {}, proxy or [], section)


small_tags = st.dictionaries(st.sampled_from([SVC, "version", "zone"]),
                             st.sampled_from(["a", "b", "c", "v1", "v2", "z1"]), max_size=2)
top_refs = st.one_of(
    st.just(_tr("Mesh")),
    st.builds(lambda p: _tr("Mesh", proxy=p), st.sampled_from([["Sidecar"], ["Gateway"]])),
    st.builds(lambda t: _tr("MeshSubset", tags=t), small_tags),
    st.builds(lambda n: _tr("MeshService", name=n), st.sampled_from(VALS)),
    st.builds(lambda n, t: _tr("MeshServiceSubset", name=n, tags=t), st.sampled_from(VALS),
              st.dictionaries(st.sampled_from(["version", "zone"]), st.sampled_from(["v1", "z1", "*"]),
                              max_size=1)),
    st.builds(lambda a, s: _tr("Dataplane", labels={"app": a}, section=s), st.sampled_from(APPS),
              st.sampled_from(["", "http", "admin"])),
    st.builds(lambda i, s: _tr("Dataplane", name=f"dp-{i}", section=s), st.integers(0, 4),
              st.sampled_from(["", "http"])),
)
from_refs = st.one_of(
    st.just(_tr("Mesh")),
    st.builds(lambda t: _tr("MeshSubset", tags=t), small_tags),
    st.builds(lambda n: _tr("MeshService", name=n), st.sampled_from(VALS)),
    st.builds(lambda n, t: _tr("MeshServiceSubset", name=n, tags=t), st.sampled_from(VALS),
              st.dictionaries(st.sampled_from(["version", "zone"]), st.sampled_from(["v1", "v2", "z1", "*"]),
                              max_size=1)),
)


@st.composite
def mtp_policies(draw: Any, meshes: list[str]) -> list[tuple[Any, ...]]:
    """MTPs as mtp_reference tuples (core name, mesh, labels, targetRef, [(from ref, action)])."""
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for i in range(draw(st.integers(0, 5))):
        mesh = draw(st.sampled_from(meshes))
        display = draw(st.sampled_from(["x", "y", f"u{i}"]))  # shared display names: equal priority (A2)
        if draw(st.integers(0, 2)) == 0:  # Kubernetes: name.namespace, role from the namespace (M2.5)
            ns = draw(st.sampled_from(NAMESPACES))
            name = f"{display}.{ns}"
            labels = {mref.NS: ns, "kuma.io/policy-role": "system" if ns == "kuma-system" else "workload-owner",
                      "kuma.io/display-name": display}
        else:
            name = f"mtp-{i}"
            labels = {"kuma.io/display-name": display}
        actions = st.sampled_from((*ACTIONS, "AllowWithShadowDeny"))  # it only decides as the last match
        items = draw(st.lists(st.tuples(from_refs, actions), min_size=1, max_size=4))
        out.setdefault((mesh, name), (name, mesh, labels, draw(top_refs), items))
    return list(out.values())


def _ref_doc(tr: tuple[Any, ...]) -> dict[str, Any]:
    kind, name, _, labels, tags, proxy, section = tr
    doc: dict[str, Any] = {"kind": kind}
    for key, value in (("name", name), ("labels", labels), ("tags", tags), ("proxyTypes", proxy),
                       ("sectionName", section)):
        if value:
            doc[key] = value
    return doc


def mtp_document(p: tuple[Any, ...]) -> dict[str, Any]:
    name, mesh, labels, top, items = p
    spec = {"targetRef": _ref_doc(top),
            "from": [{"targetRef": _ref_doc(r), "default": {"action": a}} for r, a in items]}
    if mref.NS in labels:  # Kubernetes form
        ns = labels[mref.NS]
        return {"apiVersion": "kuma.io/v1alpha1", "kind": "MeshTrafficPermission",
                "metadata": {"name": name[: -len(ns) - 1], "namespace": ns, "labels": {"kuma.io/mesh": mesh}},
                "spec": spec}
    return {"type": "MeshTrafficPermission", "name": name, "mesh": mesh,
            "labels": {"kuma.io/display-name": labels["kuma.io/display-name"]}, "spec": spec}


@st.composite
def mixed_world(draw: Any) -> tuple[tref.World, list[tuple[Any, ...]], dict[tuple[str, str], dict[str, str]]]:
    w = draw(world())
    seen: set[tuple[str, str]] = set()
    w.policies = [p for p in w.policies if (p.mesh, p.name) not in seen and not seen.add((p.mesh, p.name))]
    dp_labels = {}
    for key in w.dataplanes:  # resource labels for Dataplane refs (M4.5c) and namespace scoping (M4.7)
        labels = {"app": draw(st.sampled_from(APPS))}
        if draw(st.booleans()):
            labels[mref.NS] = draw(st.sampled_from(NAMESPACES))
        dp_labels[key] = labels
    return w, draw(mtp_policies(sorted(w.meshes))), dp_labels


def dp_tuple(key: tuple[str, str], dp: tref.Dataplane, labels: dict[str, str]) -> tuple[Any, ...]:
    """mtp_reference's Dataplane form; the loader adds the display-name label to every resource."""
    mesh, name = key
    inbounds = [(p, SECTIONS[p], t, False) for p, t in dp.inbounds]
    gw = (False, dp.gateway) if dp.gateway is not None else None  # DELEGATED gateways
    return (name, mesh, {**labels, "kuma.io/display-name": name}, inbounds, gw)


def reference(w: tref.World, mtps: list[tuple[Any, ...]], dps: dict[tuple[str, str], tuple[Any, ...]],
              client: tuple, mesh: str, dp: str, port: int) -> tuple[bool, str, Any, Any]:
    """§7: E0–E3 and TP E5–E7 from the TP reference; E6 (M7.1) when an MTP selects the inbound."""
    allowed, reason, policy = tref.authorize_inbound(w, client, mesh, dp, port)
    if reason in TP_PASS:
        if client[0] == "dp":
            ident, client_mesh = mref.identity(dps[(client[1], client[2])]), client[1]  # M5.1 / A11
        else:
            ident, client_mesh = set(client[2].items()), client[1]
        d = mref.decide([p for p in mtps if p[1] == mesh], dps[(mesh, dp)], port, client_mesh, ident)
        if d is not None:
            return d["allowed"], d["reason"], d["policy"], d["action"]
    return allowed, reason, policy, None


@settings(max_examples=350)
@given(mixed_world(), st.lists(tag_map(), min_size=1, max_size=3))
def _mixed_engine_agrees_with_reference(
    wm: tuple[tref.World, list[tuple[Any, ...]], dict[tuple[str, str], dict[str, str]]],
    adhoc: list[dict[str, str]],
) -> None:
    w, mtps, dp_labels = wm
    docs = documents(w)
    for doc in docs:
        if doc["type"] == "Dataplane":
            doc["labels"] = dp_labels[(doc["mesh"], doc["name"])]
            for inbound in doc["networking"].get("inbound", []):
                inbound["name"] = SECTIONS[inbound["port"]]
    docs += [mtp_document(p) for p in mtps]
    with warnings.catch_warnings():  # deprecated top-level MeshSubset/MeshService kinds are still valid
        warnings.simplefilter("ignore")
        store = meshauthz.load_dicts(docs)
    engine = TrafficEngine(store)
    dps = {k: dp_tuple(k, dp, dp_labels[k]) for k, dp in w.dataplanes.items()}
    clients: list[tuple[tuple, Any]] = [(("non-mesh",), NON_MESH)]
    clients += [(("dp", m, n), n) for (m, n) in w.dataplanes]
    for (m, n), dp in w.dataplanes.items():
        for port in [p for p, _ in dp.inbounds] + [UNKNOWN_PORT, PROM_PORT]:
            for rc, src in clients + [(("tags", m, t), t) for t in adhoc]:
                d = engine.check(source=src, destination=Inbound(n, port), mesh=m)
                want = reference(w, mtps, dps, rc, m, n, port)
                assert (d.allowed, d.reason, d.policy, d.action) == want, (rc, m, n, port)
                SEEN[f"reason:{d.reason}"] += 1
                SEEN[f"action:{d.action}"] += 1
                CASES[0] += 1


def test_mixed_every_reason_and_action_seen() -> None:
    """The differential run (hypothesis), then its coverage: ≥10,000 decisions, every outcome ≥100 times.
    The counters are reset here, so the test passes alone, shuffled, or in any subset."""
    SEEN.clear()
    CASES[0] = 0
    _mixed_engine_agrees_with_reference()
    assert CASES[0] >= 10_000, CASES[0]
    keys = [f"reason:{r}" for r in REASONS] + [f"action:{a}" for a in (*ACTIONS, None)]
    missing = {k: SEEN[k] for k in keys if SEEN[k] < 100}
    assert not missing, (missing, dict(SEEN))
    print(f"mixed differential: {CASES[0]} decisions, {dict(SEEN)}")
