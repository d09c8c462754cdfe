"""Deferred bodies (issue #13, "resources that cost little"): a clean TrafficPermission or
MeshTrafficPermission loaded from YAML keeps no Python body until one is asked for
(`resource.DeferredResource`), and the traffic and MTP compiles take its inputs (a TP's selectors, an
MTP's targetRefs and actions) from the YAML reader's native copy.

Differential: the same texts loaded with deferral on and off (`loader.DEFER_BODIES`), and through
the PyYAML reference reader (`MESHAUTHZ_YAML=reference`), give equal resources (every field, the
model, `to_universal()`, the position of every body path, copies and pickles) and equal traffic
and MeshTrafficPermission decisions (MtpEngine: decisions, matched policies, rule lists) over every
dataplane pair — with bodies read before the engines are built, after them, some, or never.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz import _core, loader
from meshauthz.errors import MeshauthzError
from meshauthz.kinds import KINDS
from meshauthz.loader import LoadResult, load_text
from meshauthz.mtp.engine import MtpEngine
from meshauthz.resource import (
    _FIELDS,
    GO_ZERO_TIME,
    UNREAD,
    DeferredResource,
    Resource,
    body_deferred,
    new_resource,
)
from meshauthz.traffic.engine import TrafficEngine
from meshauthz.yaml_source import Document, RereadError, read_documents, reread
from test_clean_verdict import _mutate
from test_clean_verdict import ok_universal_documents as ok_documents
from test_malformed_corpus import CASES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _load(text: Any, *, defer: bool, reference: bool = False,
          monkeypatch: Optional[pytest.MonkeyPatch] = None) -> LoadResult:
    mp = monkeypatch or pytest.MonkeyPatch()
    with mp.context() as m:
        m.setattr(loader, "DEFER_BODIES", defer)
        if reference:
            m.setenv("MESHAUTHZ_YAML", "reference")
        else:
            m.delenv("MESHAUTHZ_YAML", raising=False)
        return load_text(text, "f.yaml")


def _same_resource(a: Resource, b: Resource) -> None:
    """Every field, the model, the Universal form and the positions of every body path."""
    assert a.key == b.key
    for f in _FIELDS:
        if f in ("document", "_model"):
            continue
        assert getattr(a, f) == getattr(b, f), f
    assert (a.model is None) == (b.model is None)
    if a.model is not None:
        assert a.model == b.model
    assert a.spec == b.spec
    assert a.to_universal() == b.to_universal()
    for path in [*_paths(a.body), ("type",), ("name",), ("mesh",), ("labels",), ("creationTime",), ("nope", 3)]:
        assert a.mark(path) == b.mark(path), path


def _same_load(lazy: LoadResult, eager: LoadResult) -> None:
    assert [str(p) for p in lazy.problems] == [str(p) for p in eager.problems]
    assert [str(p) for p in lazy.warnings] == [str(p) for p in eager.warnings]
    assert len(lazy.resources) == len(eager.resources)
    for a, b in zip(lazy.resources, eager.resources):
        _same_resource(a, b)
        # copies and pickles are plain Resources with the body read (native marks do not pickle:
        # detached from the document as any loaded resource must be)
        c = copy.copy(a)
        assert type(c) is Resource and c.body == b.body
        p = pickle.loads(pickle.dumps(dataclasses.replace(a, document=None)))
        q = pickle.loads(pickle.dumps(dataclasses.replace(b, document=None)))
        assert type(p) is Resource
        for f in _FIELDS:
            if f != "_model":
                assert getattr(p, f) == getattr(q, f), f


def _outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """`call(*args, **kwargs)` as plain data, or its error (type and message: the same either way)."""
    try:
        got = call(*args, **kwargs)
    except MeshauthzError as e:
        return (type(e).__name__, str(e))
    return got.to_dict() if hasattr(got, "to_dict") else got


def _ports(store: Any) -> dict[tuple[Optional[str], str], list[Any]]:
    """Each Dataplane's inbound ports (read from its body)."""
    return {(r.mesh, r.name): [ib["port"] for ib in (r.body.get("networking") or {}).get("inbound") or []]
            for r in store.list("Dataplane")}


def _decisions(store: Any, ports: Optional[dict[tuple[Optional[str], str], list[Any]]] = None) -> list[Any]:
    """Every (source, destination inbound) decision of every mesh: the traffic engine's (E4 included)
    and the MtpEngine's (decision, matched policies, Kuma's rule list). A mesh no Mesh resource
    defines is a NotFoundError, the same either way. `ports`: each Dataplane's inbound ports, known
    without reading this store's bodies (default: read from them)."""
    if ports is None:
        ports = _ports(store)
    engine, mtp = TrafficEngine(store), MtpEngine(store)
    dps = store.list("Dataplane")
    out = []
    for dst in dps:
        for port in ports[(dst.mesh, dst.name)]:
            out.append((dst.name, port, _outcome(mtp.matched_policies, dst.name, port, dst.mesh),
                        _outcome(mtp.select_rules, dst.name, port, "as_listed", dst.mesh)))
            for src in dps:
                if src.mesh == dst.mesh:
                    out.append((src.name, dst.name, port,
                                _outcome(engine.check, source=src.name, destination=(dst.name, port), mesh=src.mesh),
                                _outcome(mtp.decide, src.name, dst.name, port, mesh=src.mesh)))
    return out


def test_tps_of_a_loaded_stream_are_deferred_and_read_on_access() -> None:
    text = (ROOT / "examples" / "universal" / "trafficpermissions.yaml").read_text()
    store = meshauthz.loads(text)
    tps = store.list("TrafficPermission")
    assert tps and all(type(r) is DeferredResource and body_deferred(r) is not None for r in tps)
    eager = {d.value["name"]: d.value for d in read_documents(text, "f") if d.value}
    for r in tps:
        body = r.body
        assert body_deferred(r) is None and r.body is body  # read once, then kept
        assert body == {k: v for k, v in eager[r.name].items()
                        if k not in ("type", "name", "mesh", "labels", "creationTime", "modificationTime")}
    # clean MeshTrafficPermissions too
    mtp_text = (ROOT / "examples" / "universal" / "mtp-mesh.yaml").read_text()
    mtps = meshauthz.loads(mtp_text).list("MeshTrafficPermission")
    assert mtps and all(type(r) is DeferredResource and body_deferred(r) is not None for r in mtps)
    # other clean kinds are read whole (their engines read every body)
    rbac = meshauthz.loads((ROOT / "examples" / "universal" / "rbac.yaml").read_text())
    assert all(type(r) is Resource for r in rbac.list("AccessRole") + rbac.list("AccessRoleBinding"))


def test_building_an_engine_reads_no_traffic_permission_body() -> None:
    store = meshauthz.load(ROOT / "examples" / "universal")
    tps = store.list("TrafficPermission")
    assert tps
    engine = TrafficEngine(store)
    engine.check(source="web-1", destination=("backend-1", 8080), mesh="demo")
    assert all(body_deferred(r) is not None for r in tps)  # the `body` slot still holds UNREAD
    # and a bundle's compiled section is built from the native selectors too
    from meshauthz.traffic.compile import compile_sets
    compile_sets(store, b"\0" * 32)
    assert all(body_deferred(r) is not None for r in tps)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_load_the_same_deferred_or_not(path: Path) -> None:
    text = path.read_text()
    lazy, eager, ref = _load(text, defer=True), _load(text, defer=False), _load(text, defer=True, reference=True)
    _same_load(lazy, eager)
    _same_load(lazy, ref)


def test_example_decisions_the_same_deferred_or_not() -> None:
    text = "---\n".join(p.read_text() for p in sorted((ROOT / "examples" / "universal").glob("*.yaml")))
    eager = _decisions(_store(text, defer=False))
    assert len(eager) > 10
    assert _decisions(_store(text, defer=True)) == eager
    read_first = _store(text, defer=True)
    for r in read_first:
        _ = r.body
    assert _decisions(read_first) == eager


def _store(text: str, defer: bool) -> Any:
    out = _load(text, defer=defer)
    assert not out.problems, [str(p) for p in out.problems]
    return meshauthz.ResourceStore(out.resources)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_malformed_corpus_the_same_deferred_or_not(case: Any) -> None:
    _same_load(_load(case.text, defer=True), _load(case.text, defer=False))


def test_building_engines_reads_no_mesh_traffic_permission_body() -> None:
    store = meshauthz.load(ROOT / "examples" / "universal")
    mtps = store.list("MeshTrafficPermission")
    assert len(mtps) >= 2 and all(body_deferred(r) is not None for r in mtps)
    # the example's own story (mtp-mesh.yaml): mesh-wide lets every client in; api-policy decides
    # for api-1 (M4.9, M6.2)
    engine, mtp = TrafficEngine(store), MtpEngine(store)
    assert engine.check(source="storefront-1", destination=("reports-1", 7070), mesh="mtp-demo").allowed
    assert mtp.matched_policies("api-1", 8080, "mtp-demo") == ["mesh-wide", "api-policy"]
    decision = mtp.decide("storefront-1", "api-1", 8080, mesh="mtp-demo")
    assert decision is not None
    from meshauthz.traffic.compile import compile_sets
    compile_sets(store, b"\0" * 32)
    assert all(body_deferred(r) is not None for r in mtps)  # no body built by any of them
    dps = store.list("Dataplane")  # nor any Dataplane's (those of the clean shape are deferred)
    assert sum(body_deferred(r) is not None for r in dps) >= 3
    # read afterwards, they are what the engines compiled
    eager = _store("---\n".join(p.read_text() for p in sorted((ROOT / "examples" / "universal").glob("*.yaml"))),
                   defer=False)
    assert all(type(r) is Resource for r in eager.list("MeshTrafficPermission"))
    assert MtpEngine(eager).decide("storefront-1", "api-1", 8080, mesh="mtp-demo") == decision
    assert {r.name: r.body for r in mtps} == {r.name: r.body for r in eager.list("MeshTrafficPermission")}


# ---- generated streams ------------------------------------------------------------------------------

# (the generator's mesh `m_1` is a valid mesh field but not a Mesh name: streams() renames it `other`)
WORLD = "---\n".join(f"type: Mesh\nname: {m}\nmtls:\n  enabledBackend: ca-1\n  backends:\n    - name: ca-1\n"
                     "      type: builtin\n" for m in ("default", "other")) + "".join(
    f"---\ntype: Dataplane\nname: dp-{i}\nmesh: {mesh}\nlabels: {{app: {svc}}}\nnetworking:\n  address: 10.0.0.{i}\n"
    f"  inbound:\n"
    f"    - port: {8000 + i}\n      tags: {{kuma.io/service: {svc}, a.b: {v}, x:y: {v}}}\n"
    for i, (mesh, svc, v) in enumerate([("default", "web", "v1"), ("default", "x-1", "a.b"), ("default", "a.b", "web"),
                                        ("other", "web", "x-1"), ("other", "v1", "v1")]))

# TrafficPermissions whose selectors meet the world's tags (most documents of a stream)
_tag = st.sampled_from(["kuma.io/service", "a.b", "x:y"])
_match = st.dictionaries(_tag, st.sampled_from(["web", "x-1", "a.b", "v1", "*"]), min_size=1, max_size=2)
_sides = st.lists(st.fixed_dictionaries({"match": _match}), min_size=1, max_size=2)
tp_documents = st.fixed_dictionaries(
    {"type": st.just("TrafficPermission"), "name": st.sampled_from(["tp", "a.b", "x1"]),
     "mesh": st.sampled_from(["default", "other"]), "sources": _sides, "destinations": _sides},
    optional={"creationTime": st.sampled_from(["2024-01-01T00:00:00.000000001Z", "2024-01-01T00:00:00Z",
                                               "2023-12-31T23:59:59.5+01:00"]),
              "labels": st.dictionaries(st.sampled_from(["team", "kuma.io/display-name"]), st.just("x"))})

# MeshTrafficPermissions whose targetRefs meet the world's dataplanes (labels, names, inbound tags)
_world_service = st.sampled_from(["web", "x-1", "a.b", "v1"])
_mtp_top = st.one_of(
    st.just({"kind": "Mesh"}),
    st.fixed_dictionaries({"kind": st.just("Dataplane"), "labels": st.fixed_dictionaries({"app": _world_service})}),
    st.fixed_dictionaries({"kind": st.just("Dataplane"), "name": st.sampled_from(["dp-0", "dp-1", "dp-3"])},
                          optional={"sectionName": st.sampled_from(["8001", "http"])}))
_mtp_from = st.fixed_dictionaries(
    {"targetRef": st.one_of(st.just({"kind": "Mesh"}), st.fixed_dictionaries(
        {"kind": st.just("MeshSubset")}, optional={"tags": st.dictionaries(_tag, _world_service, max_size=2)})),
     "default": st.fixed_dictionaries({"action": st.sampled_from(["Allow", "Deny", "AllowWithShadowDeny"])})})
mtp_documents = st.fixed_dictionaries(
    {"type": st.just("MeshTrafficPermission"), "name": st.sampled_from(["mtp", "a.b"]),
     "spec": st.fixed_dictionaries({"from": st.lists(_mtp_from, min_size=1, max_size=3)},
                                   optional={"targetRef": _mtp_top})},
    optional={"mesh": st.sampled_from(["default", "other"]),
              "labels": st.dictionaries(st.sampled_from(["team", "kuma.io/display-name"]), st.just("x"))})

SEPARATORS = ["---\n", "--- # a comment\n", "...\n---\n", "\n# between\n---\n\n"]


ANY_DOCUMENT = st.one_of(tp_documents, tp_documents, mtp_documents, mtp_documents, ok_documents)


@st.composite
def streams(draw: Any, documents: Any = ANY_DOCUMENT, min_size: int = 1) -> str:
    """A stream of generated resources in varied YAML styles: block, flow on the `---` line,
    indented block, separators with comments and end markers, some documents mutated."""
    docs = draw(st.lists(documents, min_size=min_size, max_size=6))
    parts = []
    for i, doc in enumerate(docs):
        doc["name"] = f"{doc['name']}-{i}"
        if doc.get("mesh") == "m_1":
            doc["mesh"] = "other"
        if draw(st.integers(0, 7)) == 0:
            doc = _mutate(draw(st.data()), doc)
        style = draw(st.sampled_from(["block", "flow", "indented"]))
        if style == "flow":
            parts.append("--- " + yaml.safe_dump(doc, default_flow_style=True, width=10_000))
            continue
        text = yaml.safe_dump(doc, default_flow_style=False)
        if style == "indented":
            text = "".join("  " + line + "\n" for line in text.splitlines())
        parts.append(draw(st.sampled_from(SEPARATORS)) + text)
    return WORLD + "".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from(["never", "before", "after", "some"]), st.data())
def test_generated_streams_the_same_deferred_or_not(text: str, read: str, data: st.DataObject) -> None:
    _same_deferred_or_not(text, read, data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(st.one_of(mtp_documents, mtp_documents, mtp_documents, tp_documents), min_size=3),
       st.sampled_from(["never", "before", "after", "some"]), st.data())
def test_generated_mesh_traffic_permission_streams_the_same_deferred_or_not(text: str, read: str,
                                                                           data: st.DataObject) -> None:
    _same_deferred_or_not(text, read, data)


def _same_deferred_or_not(text: str, read: str, data: st.DataObject) -> None:
    lazy, eager = _load(text, defer=True), _load(text, defer=False)
    if read == "some":  # some bodies read before the comparisons and the engine
        for r in lazy.resources:
            if data.draw(st.booleans()):
                _ = r.body
    # the resources that loaded (a stream with a bad document still decides with the others)
    store = meshauthz.ResourceStore(lazy.resources)
    if read == "before":
        for r in store:
            _ = r.body
    eager_store = meshauthz.ResourceStore(eager.resources)
    got = _decisions(store, _ports(eager_store))  # (the ports read from the eager copy)
    if read == "never":  # no engine read a body (TrafficPermission, MTP or Dataplane)
        assert all(body_deferred(r) is not None for r in lazy.resources if type(r) is DeferredResource)
    assert got == _decisions(eager_store)
    if read == "after":
        for r in store:
            _ = r.body
        assert _decisions(meshauthz.ResourceStore(lazy.resources)) == got
    _same_load(lazy, eager)
    _same_load(lazy, _load(text, defer=True, reference=True))


def test_generated_streams_reach_deferred_documents() -> None:
    text = WORLD + "--- {type: TrafficPermission, name: t, mesh: default, sources: [{match: {kuma.io/service: web}}]," \
                   " destinations: [{match: {kuma.io/service: x-1}}]}\n...\n---\n  type: TrafficPermission\n" \
                   "  name: u\n  mesh: other\n  sources:\n    - match: {kuma.io/service: '*'}\n  destinations:\n" \
                   "    - match: {kuma.io/service: v1}\n"
    assert not _load(WORLD, defer=True).problems  # the generated streams' world is valid
    out = _load(text, defer=True)
    assert not out.problems
    # the world's Dataplanes are of the clean shape: deferred too
    assert [r.name for r in out.resources if body_deferred(r) is not None] == [f"dp-{i}" for i in range(5)] + ["t", "u"]
    decisions = dict(((row[0], row[1]), row[3]["allowed"])
                     for row in _decisions(meshauthz.ResourceStore(out.resources)) if len(row) == 5)
    assert decisions[("dp-0", "dp-1")] is True and decisions[("dp-0", "dp-2")] is False  # tp t, T2.2
    assert decisions[("dp-3", "dp-4")] is True  # tp u (wildcard source)


MTP = "---\ntype: MeshTrafficPermission\nname: m\nmesh: default\nspec:\n" \
      "  targetRef: {kind: Dataplane, labels: {app: x-1}}\n  from:\n" \
      "    - targetRef: {kind: MeshSubset, tags: {kuma.io/service: web}}\n      default: {action: Allow}\n"


def test_generated_streams_reach_deferred_mesh_traffic_permissions() -> None:
    out = _load(WORLD + MTP, defer=True)
    assert not out.problems
    store = meshauthz.ResourceStore(out.resources)
    (m,) = store.list("MeshTrafficPermission")
    assert body_deferred(m) is not None
    mtp = MtpEngine(store)
    # M3.3 / M4: the top targetRef selects dp-1 by its labels only; M5 / M6.2: its item lets web in
    assert mtp.matched_policies("dp-1", 8001, "default") == ["m"]
    assert mtp.matched_policies("dp-2", 8002, "default") == []
    allowed, denied = mtp.decide("dp-0", "dp-1", 8001, mesh="default"), mtp.decide("dp-2", "dp-1", 8001, "default")
    assert allowed is not None and allowed.allowed and allowed.policy == "m" and allowed.action == "Allow"
    assert denied is not None and not denied.allowed
    assert mtp.decide("dp-0", "dp-2", 8002, mesh="default") is None
    assert [r.to_dict() for r in mtp.select_rules("dp-1", 8001, mesh="default") or []] == [
        {"subset": ["kuma.io/service=web"], "action": "Allow"}]
    # E4: a mesh with MeshTrafficPermissions is decided by them in the traffic engine too
    engine = TrafficEngine(store)
    assert engine.check(source="dp-0", destination=("dp-1", 8001), mesh="default").allowed
    assert not engine.check(source="dp-2", destination=("dp-1", 8001), mesh="default").allowed
    assert body_deferred(m) is not None  # none of it built the body
    assert m.spec["from"][0]["default"] == {"action": "Allow"}


# ---- the body is the truth once read; failing closed ------------------------------------------------


def test_a_read_body_mutated_is_what_the_engine_compiles() -> None:
    text = WORLD + "---\ntype: TrafficPermission\nname: t\nmesh: default\n" \
                   "sources:\n  - match: {kuma.io/service: web}\ndestinations:\n  - match: {kuma.io/service: x-1}\n"
    store = _store(text, defer=True)
    engine = TrafficEngine(store)
    assert engine.check(source="dp-0", destination=("dp-1", 8001), mesh="default").allowed
    tp = store.get("TrafficPermission", "t", mesh="default")
    tp.body["destinations"][0]["match"]["kuma.io/service"] = "a.b"  # the body, once read, is the truth
    fresh = TrafficEngine(store)
    assert not fresh.check(source="dp-0", destination=("dp-1", 8001), mesh="default").allowed
    assert fresh.check(source="dp-0", destination=("dp-2", 8002), mesh="default").allowed


def test_dataclass_replace_keeps_values() -> None:
    store = _store(WORLD + "---\ntype: TrafficPermission\nname: t\nmesh: default\nsources: [{match: {a.b: v1}}]\n"
                           "destinations: [{match: {a.b: '*'}}]\n", defer=True)
    tp = store.get("TrafficPermission", "t", mesh="default")
    renamed = dataclasses.replace(tp, name="t2")
    assert renamed.name == "t2" and renamed.body == {"sources": [{"match": {"a.b": "v1"}}],
                                                   "destinations": [{"match": {"a.b": "*"}}]}
    assert body_deferred(renamed) is None and renamed.mark(("sources", 0)) == tp.mark(("sources", 0))


def test_a_body_that_cannot_be_read_again_raises() -> None:
    orphan = Document(None, "gone.yaml", 3)  # no native text to read again from
    r = new_resource(KINDS["TrafficPermission"], "t", "default", UNREAD, {}, GO_ZERO_TIME,
                     None, "universal", None, "t", None, orphan, (), None)
    assert type(r) is DeferredResource and body_deferred(r) is None  # no handle: compiles from the body
    with pytest.raises(RereadError) as e:
        _ = r.body
    assert isinstance(e.value, MeshauthzError) and e.value.problems[0].document == 3
    with pytest.raises(RereadError):
        reread(orphan)


def test_selectors_of_a_document_not_deferred_are_refused_by_the_compile() -> None:
    (doc,) = read_documents("type: TrafficPermission\nname: t\nmesh: default\nsources: [{match: {a: b}}]\n"
                            "destinations: [{match: {a: b}}]\n", "f")  # not deferred: no native selectors
    assert doc.clean and not doc.deferred and not doc._marks.deferred
    with pytest.raises(MeshauthzError):
        _core.TrafficSnapshot([], [], [], [("default", "t", (0, 0), doc._marks, doc._marks)], [], [])


def test_inputs_of_a_mesh_traffic_permission_not_deferred_are_refused() -> None:
    (doc,) = read_documents(MTP, "f")  # not deferred: no native inputs
    assert doc.clean and not doc.deferred and not doc._marks.deferred
    row = ("m", "default", {}, doc._marks, doc._marks)
    with pytest.raises(MeshauthzError, match="not kept"):
        _core.MtpSet([row], [])
    with pytest.raises(MeshauthzError, match="not kept"):
        _core.TrafficSnapshot([], [], [], [], [row], [])
    # a handle of another document's kind: a TrafficPermission's keeps no MTP inputs
    (tp,) = read_documents("type: TrafficPermission\nname: t\nmesh: default\nsources: [{match: {a: b}}]\n"
                           "destinations: [{match: {a: b}}]\n", "f", defer=True)
    assert tp.deferred
    with pytest.raises(MeshauthzError, match="not kept"):
        _core.MtpSet([("t", "default", {}, tp._marks, tp._marks)], [])


@pytest.mark.parametrize("handle", ["unknown", "not deferred"])
def test_engines_fail_closed_on_a_bad_mesh_traffic_permission_handle(handle: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from meshauthz.mtp import compile as mtp_compile

    store = _store(WORLD + MTP, defer=True)
    (bad,) = read_documents(MTP, "f")  # a real handle whose inputs were not kept
    monkeypatch.setattr(mtp_compile, "body_deferred",
                        lambda r: object() if handle == "unknown" else bad._marks)
    with pytest.raises(MeshauthzError):
        TrafficEngine(store)
    with pytest.raises(MeshauthzError):
        MtpEngine(store).matched_policies("dp-1", 8001, "default")


DP = "type: Dataplane\nname: dp\nmesh: default\nnetworking:\n  address: 10.0.0.9\n  inbound:\n" \
     "    - {port: 80, tags: {kuma.io/service: web}}\n"


def test_inbounds_of_a_dataplane_not_deferred_are_refused() -> None:
    (doc,) = read_documents(DP, "f")  # not deferred: no native inbounds
    assert doc.clean and not doc.deferred
    with pytest.raises(MeshauthzError, match="not kept"):
        _core.MtpSet([], [("dp", "default", {}, doc._marks, None)])
    with pytest.raises(MeshauthzError, match="not kept"):
        _core.TrafficSnapshot([], [("default", "dp", doc._marks, None)], [], [], [], [])
    (deferred,) = read_documents(DP, "f", defer=True)
    assert deferred.deferred
    snap = _core.TrafficSnapshot([], [("default", "dp", deferred._marks, None)], [], [], [], [])
    assert len(snap) == 0  # (no policy) the row compiled from the native inbounds
    mtps = _core.MtpSet([], [("dp", "default", {}, deferred._marks, None)])
    assert mtps.has_dataplane("default", "dp")


@pytest.mark.parametrize("handle", ["unknown", "not deferred"])
def test_engines_fail_closed_on_a_bad_dataplane_handle(handle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshauthz.mtp import compile as mtp_compile
    from meshauthz.traffic import compile as traffic_compile

    store = _store(WORLD, defer=True)
    assert all(body_deferred(r) is not None for r in store.list("Dataplane"))
    (bad,) = read_documents(DP, "f")
    stand_in = object() if handle == "unknown" else bad._marks

    def fake(r: Resource) -> Any:
        return stand_in if r.kind.name == "Dataplane" else None

    monkeypatch.setattr(traffic_compile, "body_deferred", fake)
    monkeypatch.setattr(mtp_compile, "body_deferred", fake)
    with pytest.raises(MeshauthzError):
        TrafficEngine(store)
    with pytest.raises(MeshauthzError):
        MtpEngine(store).matched_policies("dp-1", 8001, "default")


def test_a_mesh_traffic_permission_body_that_cannot_be_read_again_raises() -> None:
    orphan = Document(None, "gone.yaml", 5)
    r = new_resource(KINDS["MeshTrafficPermission"], "m", "default", UNREAD, {}, GO_ZERO_TIME,
                     None, "universal", None, "m", None, orphan, (), None)
    assert type(r) is DeferredResource
    with pytest.raises(RereadError) as e:
        _ = r.spec
    assert isinstance(e.value, MeshauthzError) and e.value.problems[0].document == 5


def test_threads_reading_a_body_first_get_one_object() -> None:
    import threading

    store = _store(WORLD + "---\ntype: TrafficPermission\nname: t\nmesh: default\nsources: [{match: {a.b: v1}}]\n"
                           "destinations: [{match: {a.b: '*'}}]\n", defer=True)
    tp = store.get("TrafficPermission", "t", mesh="default")
    assert body_deferred(tp) is not None
    seen: list[Any] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        seen.append(tp.body)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(b is seen[0] for b in seen) and tp.body is seen[0]


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_other_line_breaks_load_the_same_deferred_or_not(newline: str) -> None:
    text = (ROOT / "examples" / "universal" / "trafficpermissions.yaml").read_text().replace("\n", newline)
    lazy, eager = _load(text, defer=True), _load(text, defer=False)
    deferred = [r for r in lazy.resources if body_deferred(r) is not None]
    # CRLF documents start on lines of their own; a lone CR is a YAML line break but not a line
    # start the span finder takes: those documents are read whole (never a wrong span)
    assert deferred if newline == "\r\n" else not deferred
    _same_load(lazy, eager)
    _same_load(lazy, _load(text, defer=True, reference=True))
