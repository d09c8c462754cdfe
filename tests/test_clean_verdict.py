"""The native "clean document" verdict (meshauthz_core::yaml::clean) never skips a problem.

A document the native reader marks clean is built by the loader without re-checking; this test
requires that the full Python path, on the same document, reports no problem and no warning and
builds the very same resource (issue #13: validation without per-field Python objects on the hot
path, same paths and messages — the Python path still words every problem).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshauthz.loader import LoadResult, resource_from_document
from meshauthz.yaml_source import Document, read_documents

ROOT = Path(__file__).resolve().parent.parent


def _fields(r: Any) -> tuple[Any, ...]:
    return (r.kind.name, r.name, r.mesh, r.body, r.labels, r.creation_seconds_nanos, r.creation_time,
            r.modification_time, r.form, r.namespace, r.display_name, r.path_prefix)


def check(text: str) -> bool:
    """Compare fast and full paths on every clean document of `text`; True if one was clean."""
    try:
        docs = list(read_documents(text, "f"))
    except Exception:
        return False
    any_clean = False
    for d in docs:
        if not d.clean:
            continue
        any_clean = True
        fast_out, full_out = LoadResult(), LoadResult()
        full = resource_from_document(Document(copy.deepcopy(d.value), d.file, d.index), full_out)
        fast = resource_from_document(d, fast_out)
        assert not full_out.problems and not full_out.warnings, [str(p) for p in full_out.problems + full_out.warnings]
        assert fast is not None and full is not None
        assert _fields(fast) == _fields(full)
        again = resource_from_document(d, LoadResult())  # the document is left as read
        assert again is not None and _fields(again) == _fields(fast)
    return any_clean


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "universal").glob("*.yaml")), ids=lambda p: p.name)
def test_examples(path: Path) -> None:
    check(path.read_text())


def test_hot_kinds_of_the_examples_are_clean() -> None:
    docs = list(read_documents((ROOT / "examples" / "universal" / "rbac.yaml").read_bytes(), "f"))
    assert [d.clean for d in docs] == [True, True]
    docs = list(read_documents((ROOT / "examples" / "universal" / "trafficpermissions.yaml").read_bytes(), "f"))
    assert all(d.clean for d in docs)


words = st.sampled_from(["web", "backend", "*", "", "Web", "a/b", "a b", "kuma.io/service", "version", "v1",
                         "x:y", "BAD_Name", "ok-name", "a.b", "-a", "ä", "1", "yes", "null", "2024-01-01",
                         "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123456789+02:00", "2023-02-29T00:00:00Z"])
scalar = st.one_of(words, st.none(), st.integers(-2, 2), st.booleans())
tags = st.one_of(st.dictionaries(words, st.one_of(words, scalar), max_size=3), scalar)
selector = st.one_of(st.fixed_dictionaries({"match": tags}),
                     st.fixed_dictionaries({"match": tags, "extra": scalar}), scalar)
selectors = st.one_of(st.lists(selector, max_size=3), scalar)
target_ref = st.one_of(st.fixed_dictionaries({"kind": words}, optional={"name": words, "tags": tags, "mesh": scalar}),
                       scalar)
qualifier = st.one_of(st.fixed_dictionaries({}, optional={"targetRef": target_ref, "to": st.fixed_dictionaries(
    {}, optional={"targetRef": target_ref}), "sources": st.fixed_dictionaries({}, optional={"match": tags}),
    "selectors": st.fixed_dictionaries({"match": tags}), "dpToken": st.fixed_dictionaries({})}), scalar)
rule = st.fixed_dictionaries({}, optional={
    "types": st.one_of(st.lists(words, max_size=2), scalar), "mesh": scalar,
    "access": st.one_of(st.lists(st.sampled_from(["CREATE", "DELETE", "VIEW_STATS", "READ", "create"]), max_size=3),
                        scalar),
    "when": st.one_of(st.lists(qualifier, max_size=2), scalar), "bogus": scalar})
envelope = {"name": st.one_of(words, scalar), "labels": st.one_of(tags, scalar),
            "creationTime": st.one_of(words, scalar, st.datetimes()), "modificationTime": st.one_of(words, scalar)}


def _doc(kind: str, body: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    opt = dict(envelope, **body)
    return st.fixed_dictionaries({"type": st.just(kind)}, optional={**opt, "mesh": st.one_of(words, scalar),
                                                                    "junk": scalar})


documents = st.one_of(
    _doc("TrafficPermission", {"sources": selectors, "destinations": selectors}),
    _doc("AccessRole", {"rules": st.one_of(st.lists(rule, max_size=2), scalar)}),
    _doc("AccessRoleBinding", {"subjects": st.one_of(st.lists(st.fixed_dictionaries(
        {}, optional={"type": st.sampled_from(["User", "Group", "user", ""]), "name": words}), max_size=2), scalar),
        "roles": st.one_of(st.lists(words, max_size=2), scalar)}),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(documents, st.sampled_from([None, True, False]))
def test_clean_documents_load_identically_without_checks(doc: dict[str, Any], flow: Any) -> None:
    check(yaml.safe_dump(doc, default_flow_style=flow))


# mostly-valid documents with one random mutation (reaches clean documents most of the time)
ok_words = st.sampled_from(["web", "v1", "a.b", "x-1", "kuma.io/service", "a/b", "x:y"])
ok_tags = st.dictionaries(ok_words, st.one_of(ok_words, st.just("*")), min_size=1, max_size=3)
ok_sel = st.lists(st.fixed_dictionaries({"match": ok_tags}), min_size=1, max_size=2)
ok_ref = st.fixed_dictionaries({"kind": st.sampled_from(["Mesh", "MeshService"])},
                               optional={"name": ok_words, "tags": ok_tags})
ok_qualifier = st.one_of(st.fixed_dictionaries({"targetRef": ok_ref}),
                         st.fixed_dictionaries({"to": st.fixed_dictionaries({"targetRef": ok_ref})}),
                         st.fixed_dictionaries({"destinations": st.fixed_dictionaries({"match": ok_tags})}))
ok_rule = st.fixed_dictionaries({"types": st.lists(ok_words, max_size=2)}, optional={
    "mesh": ok_words, "access": st.lists(st.sampled_from(["CREATE", "DELETE", "VIEW_STATS"]), max_size=3),
    "when": st.lists(ok_qualifier, max_size=2)})
ok_env = {"labels": st.dictionaries(ok_words, ok_words, max_size=2),
          "creationTime": st.one_of(st.datetimes(), st.sampled_from([
              "2024-01-01T00:00:00.000000001Z", "2024-01-01T10:00:00.5+02:30", "2024-01-01 10:00:00 -5",
              "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-23:59"]))}
ok_name = st.sampled_from(["ok-name", "a.b", "web", "x1-2"])
mtp_top = st.one_of(st.just({"kind": "Mesh"}), st.fixed_dictionaries(
    {"kind": st.just("Dataplane")}, optional={"labels": ok_tags, "name": ok_words, "namespace": ok_words,
                                              "sectionName": ok_words}),
    st.fixed_dictionaries({"kind": st.sampled_from(["MeshService", "MeshSubset", "Bogus"]), "name": ok_words}))
mtp_from = st.fixed_dictionaries(
    {"targetRef": st.one_of(st.just({"kind": "Mesh"}), st.fixed_dictionaries(
        {"kind": st.just("MeshSubset")}, optional={"tags": ok_tags}), st.just({"kind": "MeshService", "name": "x"})),
     "default": st.fixed_dictionaries({"action": st.sampled_from(["Allow", "Deny", "AllowWithShadowDeny", "allow"])})})
mtp_spec = st.fixed_dictionaries({"from": st.lists(mtp_from, max_size=3)}, optional={"targetRef": mtp_top})
ok_documents = st.one_of(
    st.fixed_dictionaries({"type": st.just("TrafficPermission"), "name": ok_name,
                           "mesh": st.sampled_from(["default", "m_1"]), "sources": ok_sel, "destinations": ok_sel},
                          optional=ok_env),
    st.fixed_dictionaries({"type": st.just("AccessRole"), "name": ok_name, "rules": st.lists(ok_rule, max_size=3)},
                          optional=ok_env),
    st.fixed_dictionaries({"type": st.just("MeshTrafficPermission"), "name": ok_name, "spec": mtp_spec},
                          optional={**ok_env, "mesh": st.sampled_from(["default", "m_1", ""])}),
    st.fixed_dictionaries({"type": st.just("AccessRoleBinding"), "name": ok_name,
                           "subjects": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["User", "Group"]),
                                                                       "name": ok_words}), max_size=2),
                           "roles": st.lists(ok_words, max_size=2)}, optional=ok_env),
)

# Dataplanes near the common shape (meshauthz_core::yaml::clean_dataplane): addresses, ports and
# tags on both sides of every rule the verdict reads (TP §5.2, Kuma's dataplane validator)
dp_address = st.sampled_from(["10.0.0.1", "192.168.1.255", "0.0.0.1", "0.0.0.0", "01.2.3.4", "256.1.1.1", "::1",
                              "fe80::1", "web.local", "1.2.3", "", "10.0.0.1%eth0"])
dp_port = st.one_of(st.sampled_from([1, 80, 8080, 65535, 0, 65536, -1, 2**32]), st.sampled_from(["80", True, None]))
dp_tag_words = st.sampled_from(["web", "v1", "a.b", "x:y", "a/b", "*", "", "a b", "HTTP", "http", "http2", "grpc",
                                "kafka", "tcp", "udp", "ä"])
dp_tags = st.dictionaries(st.sampled_from(["kuma.io/service", "kuma.io/protocol", "version", "a/b", "", "a b"]),
                          st.one_of(dp_tag_words, st.just(1)), max_size=4)
dp_inbound = st.fixed_dictionaries({"port": dp_port, "tags": dp_tags}, optional={
    "servicePort": dp_port, "serviceAddress": dp_address, "address": dp_address, "state": st.just("Ready"),
    "health": st.just({"ready": True})})
dp_networking = st.fixed_dictionaries({"address": dp_address, "inbound": st.lists(dp_inbound, max_size=3)}, optional={
    "outbound": st.just([{"port": 10001, "tags": {"kuma.io/service": "db"}}]),
    "gateway": st.just({"tags": {"kuma.io/service": "gw"}}), "admin": st.just({"port": 8080}),
    "advertisedAddress": dp_address})
dataplanes = st.fixed_dictionaries(
    {"type": st.just("Dataplane"), "name": ok_name, "mesh": st.sampled_from(["default", "m_1"]),
     "networking": dp_networking},
    optional={**ok_env, "probes": st.just({"port": 9000}), "metrics": st.just({"type": "prometheus"})})
# valid ones (then mutated by the test below)
ok_dp_tags = st.builds(lambda extra, proto: {"kuma.io/service": "web", **extra, **proto},
                       st.dictionaries(st.sampled_from(["version", "a/b", "team"]),
                                       st.sampled_from(["v1", "a.b", "x:y"]), max_size=2),
                       st.sampled_from([{}, {"kuma.io/protocol": "http"}, {"kuma.io/protocol": "grpc"}]))
ok_dp_inbound = st.fixed_dictionaries({"port": st.sampled_from([1, 8080, 65535]), "tags": ok_dp_tags},
                                      optional={"servicePort": st.sampled_from([1, 80, 65535])})
ok_dataplanes = st.fixed_dictionaries(
    {"type": st.just("Dataplane"), "name": ok_name, "mesh": st.sampled_from(["default", "m_1"]),
     "networking": st.fixed_dictionaries({"address": st.sampled_from(["10.0.0.1", "192.168.1.255", "1.2.3.4"]),
                                          "inbound": st.lists(ok_dp_inbound, min_size=1, max_size=2)})},
    optional=ok_env)
documents = st.one_of(documents, dataplanes)
ok_documents = st.one_of(ok_documents, ok_dataplanes)


def _kubernetes(doc: dict[str, Any], namespace: Any, mesh_in: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The Kubernetes form of a generated Universal document (R4.2 / TP A13: the mesh as a top-level
    field or the `kuma.io/mesh` label; MeshTrafficPermission keeps its `spec`, the other kinds' body
    becomes the `spec`)."""
    doc = dict(doc)
    kind, name, mesh, labels = doc.pop("type"), doc.pop("name", None), doc.pop("mesh", None), doc.pop("labels", None)
    created = doc.pop("creationTime", None)
    doc.pop("modificationTime", None)
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if isinstance(labels, dict):
        meta["labels"] = dict(labels)
    if created is not None:
        meta["creationTimestamp"] = created
    out: dict[str, Any] = {"apiVersion": "kuma.io/v1alpha1", "kind": kind, "metadata": meta}
    if mesh is not None and mesh_in == "field":
        out["mesh"] = mesh
    elif mesh is not None and mesh_in == "label":
        meta.setdefault("labels", {})["kuma.io/mesh"] = mesh
    out["spec"] = doc.get("spec") if kind == "MeshTrafficPermission" else doc
    out.update(extra)
    return out


k8s_extra = st.one_of(st.just({}), st.just({}), st.fixed_dictionaries({}, optional={
    "status": st.just({}), "apiVersion": st.sampled_from(["v1", "kuma.io/v1beta1"]), "to": st.just([]),
    "mesh": st.sampled_from(["", "other", 1])}))
k8s_documents = st.builds(_kubernetes, st.one_of(ok_documents, documents),
                          st.sampled_from([None, "kuma-system", "team-a", "", 3]),
                          st.sampled_from(["field", "label", "none"]), k8s_extra)
documents = st.one_of(documents, k8s_documents)
ok_universal_documents = ok_documents  # (test_deferred_bodies renames them per stream)
ok_documents = st.one_of(ok_documents, st.builds(_kubernetes, ok_documents, st.sampled_from([None, "team-a"]),
                                                 st.sampled_from(["field", "label"]), st.just({})))


def _mutate(data: st.DataObject, value: Any) -> Any:
    """Replace one node (chosen along a random path) by an arbitrary scalar / word / container."""
    if isinstance(value, (dict, list)) and value and data.draw(st.integers(0, 3)) > 0:
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        k = data.draw(st.sampled_from(keys))
        value[k] = _mutate(data, value[k])
        return value
    return data.draw(st.one_of(scalar, words, st.just({}), st.just([]), st.just({"x": 1})))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ok_documents, st.booleans(), st.data())
def test_mutated_valid_documents(doc: dict[str, Any], mutate: bool, data: st.DataObject) -> None:
    if mutate:
        doc = _mutate(data, doc)
    check(yaml.safe_dump(doc))


def test_generator_reaches_clean_documents() -> None:
    text = ("type: TrafficPermission\nname: ok-name\nmesh: default\ncreationTime: 2024-01-01T00:00:00.5Z\n"
            "labels: {kuma.io/display-name: shown}\nsources: [{match: {kuma.io/service: '*'}}]\n"
            "destinations: [{match: {kuma.io/service: web, version: v1}}]\n")
    assert check(text)
    assert not check(text.replace("mesh: default\n", ""))  # T5.3 mesh missing: the full path reports it


def test_common_dataplanes_are_clean() -> None:
    text = ("type: Dataplane\nname: web-1\nmesh: default\nnetworking:\n  address: 10.0.0.1\n  inbound:\n"
            "  - port: 8080\n    servicePort: 80\n"
            "    tags: {kuma.io/service: web, kuma.io/protocol: http, version: v1}\n")
    assert check(text)
    # each outside the common shape: the Python validators decide (and word any problem)
    for old, new in (("10.0.0.1", "web.local"), ("kuma.io/service: web, ", ""), ("http,", "HTTP,"),
                     ("port: 8080", "port: '8080'"), ("mesh: default\n", "")):
        assert not check(text.replace(old, new)), (old, new)


def test_common_kubernetes_documents_are_clean() -> None:
    """The Kubernetes form of the hot kinds (meshauthz_core::yaml::clean::clean_kubernetes)."""
    tp = ("apiVersion: kuma.io/v1alpha1\nkind: TrafficPermission\nmesh: default\nmetadata:\n  name: web-to-backend\n"
          "  creationTimestamp: '2024-01-01T00:00:00Z'\nspec:\n  sources:\n    - match: {kuma.io/service: web}\n"
          "  destinations:\n    - match: {kuma.io/service: backend}\n")
    mtp = ("apiVersion: kuma.io/v1alpha1\nkind: MeshTrafficPermission\nmetadata:\n  name: allow-web\n"
           "  namespace: kuma-system\n  labels: {kuma.io/mesh: default}\nspec:\n  targetRef: {kind: Mesh}\n"
           "  from:\n    - targetRef: {kind: MeshSubset, tags: {kuma.io/service: web}}\n"
           "      default: {action: Allow}\n")
    assert check(tp) and check(mtp)
    # each outside the verdict: the Python path decides (and words any problem or warning)
    for text, old, new in ((tp, "mesh: default\n", "mesh: Bad_Mesh\n"), (tp, "name: web-to-backend", "name: BAD_Name"),
                           (tp, "spec:\n", "status: {}\nspec:\n"), (tp, "metadata:\n", "to: []\nmetadata:\n"),
                           (tp, "  name: web", "  bogus: 1\n  name: web"), (tp, "kuma.io/v1alpha1", "kuma.io/v1"),
                           (mtp, "kuma.io/mesh: default", "kuma.io/mesh: Bad_Mesh"), (mtp, "Allow}", "allow}")):
        changed = text.replace(old, new)
        assert changed != text and not check(changed), (old, new)
