"""Bundles loaded without a verified signature (issue #13, "bundles that activate" + "validation where
it is fast"): the native path (`_core.bundle_rows`: rows read and checked by the core, the rows its
clean verdict vouches for skipped by the loader's checks, traffic sets derived from the resources)
against the reference path (every row parsed in Python, every resource checked by
`loader.check_resource`, the engine compiled from the store).

Differential: for bundles of `examples/`, of the public vectors' resources, of generated stores
(valid and invalid TrafficPermissions, MeshTrafficPermissions, Meshes, Dataplanes) and of forged
rows (recomputed checksum), both paths give the same outcome: the same `BundleError` /
`ValidationError` / `DuplicateResourceError` with the same problems (paths, messages, codes), or the
same resources and the same traffic decision for every pair of dataplanes; `validate_bundle` and
`loads_resources` likewise. The reference is forced by making the core leave the section to it.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import meshauthz
import meshauthz.bundle as mb
from meshauthz import BundleError, MeshauthzError, ValidationError, _core
from meshauthz.loader import LoadResult, resource_from_document
from meshauthz.yaml_source import Document, read_documents
from test_bundle_trust import _assemble, _sections

ROOT = Path(__file__).resolve().parent.parent
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"


@contextmanager
def _reference() -> Iterator[None]:
    """The reference decoder: the core leaves every section to `_parse_all` + `check_resource`."""
    with mock.patch.object(_core, "bundle_rows", lambda body: None):
        yield


def _ident(r: Any) -> tuple[Any, ...]:
    doc = (r.document.file, r.document.index) if r.document is not None else None
    return (*mb._identity(r), r.creation_time, r.modification_time, doc, r.path_prefix)


def _problems(items: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(p) for p in items]


def _error(e: MeshauthzError) -> tuple[Any, ...]:
    return ("error", type(e).__name__, str(e), _problems(getattr(e, "problems", [])))


def _ports(r: Any) -> list[int]:
    inbound = (r.body.get("networking") or {}).get("inbound") or []
    return [ib["port"] for ib in inbound if isinstance(ib, dict) and type(ib.get("port")) is int]


def _decisions(engine: Any) -> list[Any]:
    """The decision (or error) for every dataplane -> (dataplane, inbound port) pair of one mesh."""
    dps = engine.store.list("Dataplane")
    out = []
    for dst in dps:
        for port in _ports(dst):
            for src in [d for d in dps if d.mesh == dst.mesh] + [None]:
                source: Any = src.name if src is not None else {"kuma.io/service": "outside"}
                try:
                    d = engine.check(source=source, destination=(dst.name, port), mesh=dst.mesh).to_dict()
                except MeshauthzError as e:
                    d = (type(e).__name__, str(e))
                out.append((src.name if src else None, dst.mesh, dst.name, port, d))
    return out


def _outcome(data: bytes) -> tuple[Any, ...]:
    """Everything a caller sees of an unsigned bundle: `loads` (resources, engine, decisions),
    `loads_resources` and `validate_bundle`."""
    try:
        b = mb.loads(data)
        loaded: Any = [_ident(r) for r in b.resources]
        try:
            engine: Any = _decisions(b.traffic_engine())
        except MeshauthzError as e:
            engine = _error(e)
    except MeshauthzError as e:
        loaded, engine = _error(e), None
    try:
        listed: Any = [_ident(r) for r in mb.loads_resources(data)]
    except MeshauthzError as e:
        listed = _error(e)
    v = mb.validate_bundle(data, "b.bundle")
    validated = (v.documents, _problems(v.problems), _problems(v.warnings), [_ident(r) for r in v.resources])
    return loaded, engine, listed, validated


def _native(data: bytes) -> bool:
    """The core read this bundle's resources section (the fast path ran)."""
    size, offset, _ = mb._verify(data, "t", None)
    (_, _), (zbody, body_size), _ = mb._split(data, offset, size, "t")
    return _core.bundle_rows(mb._inflate(zbody, body_size, "t")) is not None


def _same(data: bytes) -> tuple[Any, ...]:
    got = _outcome(data)
    with _reference():
        want = _outcome(data)
    assert got == want
    return got


# ---- examples and vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["universal", "kubernetes"])
def test_examples_give_the_reference_outcome(where: str) -> None:
    resources = meshauthz.validate(ROOT / "examples" / where).resources
    data = mb.dumps(resources)
    assert _native(data)
    loaded, engine, _, validated = _same(data)
    assert loaded[0] != "error" and validated[1] == [] and len(loaded) == len(resources)
    if where == "universal":
        assert len(engine) > 10 and any(d[4]["allowed"] for d in engine) and not all(d[4]["allowed"] for d in engine)
    # the sets derived from the resources are the compiled section the bundle carries (never read),
    # less its RBAC part (an unverified bundle's Authorizer compiles from the resources)
    b = mb.loads(data)
    b.traffic_engine()
    assert b._sections is not None and b._sections.derived
    with mock.patch.object(meshauthz.Authorizer, "_bundle_sets", None):
        traffic_only = mb.dumps(resources)
    assert b._sections.sets == mb.loads(traffic_only, trusted=True)._sections.sets  # type: ignore[union-attr]
    assert len(b._sections.sets) < len(mb.loads(data, trusted=True)._sections.sets)  # type: ignore[union-attr]


def _documents(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        if isinstance(tree.get("type"), str) and "name" in tree or "apiVersion" in tree and "kind" in tree:
            yield tree
            return
        for v in tree.values():
            yield from _documents(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _documents(v)


def _unchecked(docs: list[dict[str, Any]], file: str = "gen.yaml") -> list[Any]:
    """Resources of `docs` as the loader normalises them, without any check (invalid ones too)."""
    out = []
    for i, doc in enumerate(docs):
        r = resource_from_document(Document(doc, file, i), LoadResult(), check=False)
        if r is not None:
            out.append(r)
    return out


def _vector_bundles() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(SHARED_VECTORS.glob("*.yaml")):
        for v in yaml.safe_load(path.read_text()).get("vectors", []):
            resources = _unchecked(list(_documents(v)), f"{path.name}:{v['id']}")
            if resources:
                out.append((v["id"], mb.dumps(resources)))
    return out


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason="public vectors not present")
def test_public_vectors_resources_give_the_reference_outcome() -> None:
    bundles = _vector_bundles()
    assert len(bundles) > 50
    outcomes = [_same(data) for _, data in bundles]
    # both kinds of outcome are covered: bundles that load and bundles re-validation refuses
    assert any(o[0][0] == "error" and o[0][1] == "ValidationError" for o in outcomes)
    assert sum(o[0][0] != "error" for o in outcomes) > 20


# ---- generated stores ----------------------------------------------------------------------------
# `valid`: only values the loader accepts (the stores load: decisions are compared); otherwise any
# value of the pools, so invalid resources of every kind are re-validated by both paths.

MESHES = ["default", "m-1", "Bad_Mesh"]
TAG_KEYS = ["kuma.io/service", "version", "team", "bad key", ""]
TAG_VALUES = ["svc-a", "svc-b", "*", "v1", "", "a b", 1, None]
TIMES = [None, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000000001Z", "2024-01-01T00:00:00.000000002Z",
         "9999-12-31T23:59:59Z"]
LABELS = [None, {}, {"team": "a"}, {"kuma.io/display-name": "shown"}, {"bad": 1}]


def _pick(draw: Any, valid: bool, pool: list[Any], n_valid: int) -> Any:
    return draw(st.sampled_from(pool[:n_valid] if valid else pool))


def _tags(draw: Any, valid: bool, service: bool = False) -> dict[str, Any]:
    if not valid:
        return draw(st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(TAG_VALUES), max_size=2))
    tags = draw(st.dictionaries(st.sampled_from(TAG_KEYS[1:3]), st.sampled_from(TAG_VALUES[:4]), max_size=1))
    if service or not tags:
        tags["kuma.io/service"] = draw(st.sampled_from(TAG_VALUES[:2] if service else TAG_VALUES[:3]))
    return tags


def _selectors(draw: Any, valid: bool) -> Any:
    if not valid and not draw(st.integers(0, 3)):
        return draw(st.sampled_from([None, "x", [], [{"match": {"a": "b"}, "extra": 1}], [None]]))
    return [{"match": _tags(draw, valid)} for _ in range(draw(st.integers(1, 2)))]


def _with_envelope(draw: Any, doc: dict[str, Any], i: int, valid: bool) -> dict[str, Any]:
    doc["name"] = f"r-{i}" if valid else draw(st.sampled_from([f"r-{i}", f"r-{i}", "dup", "Bad_Name", ""]))
    if valid or draw(st.integers(0, 9)):
        doc["mesh"] = _pick(draw, valid, MESHES, 2)
    t = draw(st.sampled_from(TIMES))
    if t is not None:
        doc["creationTime"] = t
    labels = _pick(draw, valid, LABELS, 4)
    if labels is not None:
        doc["labels"] = labels
    return doc


@st.composite
def traffic_permission(draw: Any, i: int, valid: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "TrafficPermission"}
    _with_envelope(draw, doc, i, valid)
    for key in ("sources", "destinations"):
        if valid or draw(st.integers(0, 9)):
            doc[key] = _selectors(draw, valid)
    if not draw(st.integers(0, 9)):
        doc["unknownField"] = 1  # a warning, not a problem: loads, never vouched for
    return doc


TARGET_REFS = [{"kind": "Mesh"}, {"kind": "Dataplane", "labels": {"app": "a"}}, {"kind": "Dataplane", "name": "r-1"},
               {"kind": "Bogus"}, {"kind": "Mesh", "x": 1}]
FROM_REFS = [{"kind": "Mesh"}, {"kind": "MeshSubset", "tags": {"kuma.io/service": "svc-a"}}, {"kind": "Bogus"},
             {"kind": "MeshSubset", "tags": {"kuma.io/service": "a b"}}]
ACTIONS = ["Allow", "Deny", "AllowWithShadowDeny", "Bogus"]


@st.composite
def mesh_traffic_permission(draw: Any, i: int, valid: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "MeshTrafficPermission"}
    _with_envelope(draw, doc, i, valid)
    froms = [{"targetRef": _pick(draw, valid, FROM_REFS, 2), "default": {"action": _pick(draw, valid, ACTIONS, 3)}}
             for _ in range(draw(st.integers(1 if valid else 0, 2)))]
    doc["spec"] = {"targetRef": _pick(draw, valid, TARGET_REFS, 3), "from": froms}
    return doc


@st.composite
def dataplane(draw: Any, i: int, valid: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "Dataplane"}
    _with_envelope(draw, doc, i, valid)
    ports = draw(st.lists(st.sampled_from([8080, 9090] if valid else [8080, 9090, "80"]), min_size=1, max_size=2,
                          unique=valid))
    doc["networking"] = {"address": f"10.0.0.{i % 250}",
                         "inbound": [{"port": p, "tags": _tags(draw, valid, service=True)} for p in ports]}
    return doc


@st.composite
def mesh(draw: Any, i: int, valid: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "Mesh", "name": f"r-{i}" if valid else draw(st.sampled_from(MESHES))}
    mode = draw(st.sampled_from([None, "STRICT", "PERMISSIVE"]))
    if mode is not None:
        doc["mtls"] = {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin", "mode": mode}]}
    return doc


@st.composite
def stores(draw: Any) -> list[dict[str, Any]]:
    valid = draw(st.booleans())
    kinds = draw(st.lists(st.sampled_from([traffic_permission, traffic_permission, traffic_permission,
                                           mesh_traffic_permission, dataplane, dataplane, mesh]),
                          min_size=1, max_size=12))
    docs = [draw(k(i, valid)) for i, k in enumerate(kinds)]
    if valid:  # the meshes the resources name exist (mTLS on or off)
        docs += [draw(mesh(0, True)) | {"name": m} for m in MESHES[:2]]
    return docs


@settings(max_examples=150, deadline=None)
@given(stores())
def test_generated_stores_give_the_reference_outcome(docs: list[dict[str, Any]]) -> None:
    resources = _unchecked(docs)
    if not resources:
        return
    data = mb.dumps(resources)
    assert _native(data)
    _same(data)


def test_generated_outcomes_cover_loads_and_refusals() -> None:
    """The generator reaches both outcomes (else the differential above would prove little)."""
    clean = _unchecked([
        {"type": "Mesh", "name": "default"},
        {"type": "Dataplane", "name": "web", "mesh": "default",
         "networking": {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}},
        {"type": "TrafficPermission", "name": "t", "mesh": "default", "creationTime": "2024-01-01T00:00:00.5Z",
         "sources": [{"match": {"kuma.io/service": "*"}}], "destinations": [{"match": {"kuma.io/service": "web"}}]},
    ])
    loaded, engine, _, _ = _same(mb.dumps(clean))
    assert loaded[0] != "error" and engine and all(d[4]["allowed"] is True for d in engine if d[0] == "web")
    bad = _unchecked([{"type": "TrafficPermission", "name": "t", "mesh": "default", "sources": [],
                       "destinations": [{"match": {"kuma.io/service": "web"}}]}])
    loaded, _, _, validated = _same(mb.dumps(bad))
    assert loaded[:2] == ("error", "ValidationError") and [p["path"] for p in loaded[3]] == ["sources"]
    assert validated[0] == 1 and validated[3] == []


# ---- forged rows ---------------------------------------------------------------------------------


def _forge(data: bytes, resources: bytes) -> bytes:
    """`data` with another resources section, checksum recomputed (unsigned)."""
    index, _, sets = _sections(data)
    return _assemble(data, index, resources, sets)


_BASE = mb.dumps(meshauthz.validate(ROOT / "examples" / "universal").resources)
_ROWS = json.loads(_sections(_BASE)[1])

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
              st.sampled_from([0, 1, 2, -1, [0, 0, 0], [253402300799, 999999999, 0], [253402300800, 0, 0],
                               [-62135596800, 0, 0], [-62135596801, 999999999, 0], [0, 10**9, 0], [0, 0, 86400],
                               [0, 0, -86399], [0.0, 0, 0], [True, 0, 0], "TrafficPermission", "Mesh", "Unknown"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=8,
)


@settings(max_examples=250, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 12), json_values)
def test_forged_rows_give_the_reference_outcome(which: int, field: int, value: Any) -> None:
    doc = json.loads(json.dumps(_ROWS))
    rows = doc["resources"]
    if field == 12:
        rows[which % len(rows)] = value
    else:
        rows[which % len(rows)][field] = value
    _same(_forge(_BASE, json.dumps(doc).encode()))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 1000), st.sampled_from(["sources", "destinations", "spec", "rules", "subjects", "roles"]),
       json_values)
def test_forged_bodies_give_the_reference_outcome(which: int, key: str, value: Any) -> None:
    doc = json.loads(json.dumps(_ROWS))
    row = doc["resources"][which % len(doc["resources"])]
    row[11][key] = value
    _same(_forge(_BASE, json.dumps(doc).encode()))


# Text forms JSON readers may disagree on: the core leaves them to the reference (native False),
# never guesses; and forms it reads as Python does (native True).
TEXT_FORGERIES = [
    ('{"sources":', '{"sources":[],"sources":', False),  # duplicate key: json.loads keeps the last
    ('"sources":[', '"sources":[],"sources":[', False),
    ('"kuma.io/service":"web"', '"kuma.io/service":"web","kuma.io/service":"x y"', False),
    ('"resources":[', '"resources":[],"resources":[', False),
    ('"resources":[', '"other":NaN,"resources":[', False),
    ('"kuma.io/service":"web"', '"kuma.io/service":"\\ud800"', False),
    ('"resources":[', '"resources":[1e400,', False),
    (',0,null,', ',0.0,null,', False),
    (',0,null,', ',true,null,', False),
    ('"kuma.io/service":"web"', '"kuma.io/service":"w\\u0065b"', True),
    ('"demo"', '"d\\u0065mo"', True),
    ('"port":8080', '"port":8080.0', True),
    ('"demo"', '"Demo"', True),
    (',{"sources":', ',{"name":"x","sources":', True),
    (',0,null,', ',1,null,', True),
    (',0,null,', ',0,"ns",', True),
]


@pytest.mark.parametrize("old,new,native", TEXT_FORGERIES)
def test_text_forgeries_give_the_reference_outcome(old: str, new: str, native: bool) -> None:
    text = _sections(_BASE)[1].decode()
    forged = text.replace(old, new)
    assert forged != text, old
    data = _forge(_BASE, forged.encode())
    assert _native(data) is native
    _same(data)


def test_forged_rows_are_reported_with_their_paths_and_messages() -> None:
    doc = json.loads(json.dumps(_ROWS))
    for row in doc["resources"]:
        if row[0] == "TrafficPermission":
            row[11]["destinations"] = [{"match": {"kuma.io/service": "a b"}}]  # T5.6
        if row[0] == "MeshTrafficPermission":
            row[11]["spec"]["from"][0]["default"]["action"] = "Sometimes"
    forged = _forge(_BASE, json.dumps(doc).encode())
    with pytest.raises(ValidationError) as e:
        mb.loads(forged)
    got = [(p.path, p.code, p.resource) for p in e.value.problems]
    with _reference(), pytest.raises(ValidationError) as ref:
        mb.loads(forged)
    assert _problems(e.value.problems) == _problems(ref.value.problems)
    tps = [r[1] for r in doc["resources"] if r[0] == "TrafficPermission"]
    assert [g for g in got if g[2].startswith("TrafficPermission")] == [
        ("destinations[0].match[\"kuma.io/service\"]", "validation", f"TrafficPermission {m}/{n}")
        for m, n in [(r[2], r[1]) for r in doc["resources"] if r[0] == "TrafficPermission"]
    ] and len(tps) == 3
    assert any(g[2].startswith("MeshTrafficPermission") for g in got)


def test_a_duplicate_key_is_the_reference_duplicate_error() -> None:
    doc = json.loads(json.dumps(_ROWS))
    doc["resources"].append(doc["resources"][0])
    outcome = _same(_forge(_BASE, json.dumps(doc).encode()))
    assert outcome[0][:2] == ("error", "DuplicateResourceError")


def test_a_malformed_row_is_the_reference_bundle_error() -> None:
    doc = json.loads(json.dumps(_ROWS))
    doc["resources"][3][4] = [0, 0]
    forged = _forge(_BASE, json.dumps(doc).encode())
    with pytest.raises(BundleError, match="invalid time") as e:
        mb.loads(forged)
    with _reference(), pytest.raises(BundleError) as ref:
        mb.loads(forged)
    assert str(e.value) == str(ref.value)


def _native_rows(rows: list[Any]) -> Optional[Any]:
    return _core.bundle_rows(json.dumps({"resources": rows}).encode())


def test_the_core_vouches_for_the_rows_whose_document_was_clean() -> None:
    """A row is vouched for exactly when the native YAML reader found its document clean (one
    verdict, `meshauthz_core::yaml::clean`, for documents and rows)."""
    got = _native_rows(_ROWS["resources"])
    assert got is not None
    kinds, kind_ids, names, meshes, spans, unvouched, native = got
    examples = ROOT / "examples" / "universal"
    clean = {(d.file, d.index): d.clean for path in sorted(examples.glob("*.yaml"))
             for d in read_documents(path.read_bytes(), str(path))}
    rows = _ROWS["resources"]
    assert unvouched == [i for i, r in enumerate(rows) if not clean[(r[9], r[10])]]
    assert 0 < len(unvouched) < len(rows)
    assert [kinds[k] for k in kind_ids] == [r[0] for r in rows]
    assert names == [r[1] for r in rows] and meshes == [r[2] for r in rows]
    assert not native.duplicates and len(native) == sum(r[0] == "TrafficPermission" for r in rows)
    text = json.dumps({"resources": rows}).encode()
    spans = memoryview(spans).cast("Q")
    assert [json.loads(text[spans[2 * i]:spans[2 * i + 1]]) for i in range(len(names))] == rows
