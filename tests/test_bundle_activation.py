"""Bundles that activate (issue #13): a signed and verified bundle builds its traffic engine from the
compiled section (no compile step, no resource row parsed); its resources are `LazyResource`s equal
to the loaded ones; a compiled section that is spliced, of another version, truncated or corrupted
is a `BundleError`; an unverified bundle never uses its compiled section.

(Engines from a bundle decide as engines from the YAML: tests/test_bundle.py runs its differential
tests over both the re-validated and the activated path.)
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import meshauthz
import meshauthz.bundle as mb
from meshauthz import NON_MESH, BundleError, Inbound, TrafficEngine
from meshauthz.resource import LazyResource, Resource

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "universal"
KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()


def _resources() -> list[Resource]:
    return meshauthz.validate(EXAMPLES).resources


def _sections(data: bytes) -> tuple[bytes, bytes, bytes]:
    """The three zlib streams of a format-3 bundle (index, resources, compiled section)."""
    _, _, _, _, _, offset = mb._header(data, "t")
    table = struct.unpack_from(">IIIIII", data, offset)
    at, out = offset + 24, []
    for i in (0, 2, 4):
        out.append(data[at:at + table[i]])
        at += table[i]
    assert at == len(data)
    return out[0], out[1], out[2]


def _assemble(zindex: bytes, zbody: bytes, sets: bytes, key: Any = KEY) -> bytes:
    """A bundle of these streams (the compiled section given inflated), checksummed and signed."""
    index, body = zlib.decompress(zindex), zlib.decompress(zbody)
    zsets = zlib.compress(sets) if sets else b""
    size = len(index) + len(body) + len(sets)
    payload = struct.pack(">IIIIII", len(zindex), len(index), len(zbody), len(body), len(zsets), len(sets))
    payload += zindex + zbody + zsets
    flags = mb.FLAG_SIGNED if key is not None else 0
    digest = hashlib.sha256(struct.pack(">BQ", flags, size) + payload).digest()
    header = mb.MAGIC + mb._HEADER.pack(mb.FORMAT_VERSION, flags, size, digest)
    return header + (key.sign(header) if key is not None else b"") + payload


def _check(engine: TrafficEngine) -> Any:
    # examples/universal: web-1 -> backend-1:8080 in mesh demo (see tests/test_bundle.py)
    return engine.check(source="web-1", destination=("backend-1", 8080), mesh="demo").to_dict()


def test_activation_deserialises_the_compiled_section(monkeypatch: pytest.MonkeyPatch) -> None:
    data = mb.dumps(_resources(), sign_key=KEY)
    want = _check(TrafficEngine(meshauthz.load(EXAMPLES)))
    loaded: list[int] = []
    real_load = mb._Sections.load
    monkeypatch.setattr(mb._Sections, "load", lambda self, r, i: (loaded.append(i), real_load(self, r, i))[1])

    def no_compile(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an activated bundle must not compile its traffic set")

    monkeypatch.setattr(meshauthz._core, "TrafficSnapshot", no_compile)
    b = mb.loads(data, verify_key=PUBLIC)
    assert _check(b.traffic_engine()) == want
    assert b._sections is not None and b._sections.made is None  # no resource object built yet
    assert b.verified and all(type(r) is LazyResource for r in b.resources)
    assert len(b.store) == len(b.resources) and b.store.get("Mesh", "demo").name == "demo"
    assert loaded == []  # neither activating, deciding nor a key lookup read a resource row
    monkeypatch.undo()
    # the unverified path never inflates the index or the compiled section: its sets are derived
    # from the resources (and equal the compiled section an honest bundle carries, less its RBAC
    # part: an unverified bundle's Authorizer compiles from the resources)
    inflated: list[str] = []
    real_inflate = mb._inflate
    monkeypatch.setattr(mb, "_inflate", lambda s, n, src, what="payload": (inflated.append(what),
                                                                             real_inflate(s, n, src, what))[1])
    unverified = mb.loads(data)
    assert _check(unverified.traffic_engine()) == want and inflated == ["resources section"]
    assert unverified._sections is not None and unverified._sections.derived
    monkeypatch.undo()
    monkeypatch.delattr(meshauthz.Authorizer, "_bundle_sets")
    traffic_only = mb.loads(mb.dumps(_resources(), sign_key=KEY), verify_key=PUBLIC)
    assert traffic_only._sections is not None and len(traffic_only._sections.sets) < len(b._sections.sets)
    assert unverified._sections.sets == traffic_only._sections.sets


def test_lazy_resources_equal_the_loaded_ones() -> None:
    resources = _resources()
    b = mb.loads(mb.dumps(resources, sign_key=KEY), verify_key=PUBLIC)
    assert [r.key for r in b.resources] == [r.key for r in resources]
    fields = [f.name for f in dataclasses.fields(Resource) if f.name != "_model"]
    for mine, lazy in zip(resources, b.resources):
        assert isinstance(lazy, Resource) and lazy.describe() == mine.describe()
        got = {f: getattr(lazy, f) for f in fields}
        want = {f: getattr(mine, f) for f in fields}
        # positions are not kept in a bundle (document order is): compare the document's place
        got["document"] = (got["document"].file, got["document"].index) if got["document"] else None
        want["document"] = (want["document"].file, want["document"].index) if want["document"] else None
        want["path_prefix"] = ()
        want["created"] = mine.creation_seconds_nanos
        got["created"] = lazy.creation_seconds_nanos
        assert got == want
        assert lazy.to_universal() == mine.to_universal() and lazy.spec == mine.spec
        assert (lazy.model is None) == (mine.model is None)
    # copies and pickles are plain, fully loaded Resources
    r = b.resources[-1]
    for clone in (pickle.loads(pickle.dumps(r)), copy.copy(r)):
        assert type(clone) is Resource and clone.key == r.key and clone.body == r.body


def test_every_deferred_field_is_covered() -> None:
    """A new Resource field must be deferred too (else a LazyResource would show its default)."""
    deferred = {n for n, v in vars(LazyResource).items() if type(v).__name__ == "_Deferred"}
    assert deferred == {f.name for f in dataclasses.fields(Resource)} - {"kind", "name", "mesh"}


def test_a_lazy_row_is_read_on_first_access_only() -> None:
    b = mb.loads(mb.dumps(_resources(), sign_key=KEY), verify_key=PUBLIC)
    r = b.resources[0]
    assert "_rows" in vars(r) and "body" not in vars(r)
    _ = r.labels
    assert "_rows" not in vars(r) and "body" in vars(r)


def _swap_streams(data: bytes, **changes: Any) -> bytes:
    zindex, zbody, zsets = _sections(data)
    sets = zlib.decompress(zsets) if zsets else b""
    return _assemble(changes.get("zindex", zindex), changes.get("zbody", zbody), changes.get("sets", sets))


def test_a_spliced_compiled_section_is_a_bundle_error() -> None:
    """The compiled section of another bundle (re-signed): its digest names other resources."""
    resources = _resources()
    data = mb.dumps(resources, sign_key=KEY)
    other = mb.dumps(resources[:-1], sign_key=KEY)
    forged = _swap_streams(data, sets=zlib.decompress(_sections(other)[2]))
    b = mb.loads(forged, verify_key=PUBLIC)
    with pytest.raises(BundleError, match="digest mismatch"):
        b.traffic_engine()
    # without a key the section is not read: re-validated and compiled from the resources
    assert _check(mb.loads(forged).traffic_engine()) == _check(TrafficEngine(meshauthz.load(EXAMPLES)))


@pytest.mark.parametrize("mutation", ["truncated", "trailing", "version", "writer", "garbage"])
def test_a_malformed_compiled_section_is_a_bundle_error(mutation: str) -> None:
    data = mb.dumps(_resources(), sign_key=KEY)
    sets = zlib.decompress(_sections(data)[2])
    # postcard: u32 format as a varint (one byte below 128), then the writer string (length, bytes)
    changed = {
        "truncated": sets[: len(sets) // 2],
        "trailing": sets + b"\x00",
        "version": bytes([sets[0] + 1]) + sets[1:],
        "writer": sets[:2] + bytes([sets[2] ^ 0x01]) + sets[3:],
        "garbage": b"\xff" * 64,
    }[mutation]
    b = mb.loads(_swap_streams(data, sets=changed), verify_key=PUBLIC)
    with pytest.raises(BundleError):
        b.traffic_engine()


def test_a_malformed_lazy_row_is_a_bundle_error() -> None:
    data = mb.dumps(_resources(), sign_key=KEY)
    zindex, zbody, _ = _sections(data)
    body = zlib.decompress(zbody)
    start, end = json.loads(zlib.decompress(zindex))["span"][:2]
    row = json.loads(body[start:end])
    renamed = json.dumps([row[0], row[1][:-1] + ("x" if row[1][-1] != "x" else "y"), *row[2:]],
                         separators=(",", ":"), ensure_ascii=False).encode()
    assert len(renamed) == end - start
    for broken in (body[:start] + renamed + body[end:],  # a row that is not the resource its index names
                   body[:start] + b"{" + body[start + 1:],  # not JSON
                   body[:start] + b"[" + b" " * (end - start - 2) + b"]" + body[end:]):  # not a 12-element row
        b = mb.loads(_swap_streams(data, zbody=zlib.compress(broken)), verify_key=PUBLIC)
        with pytest.raises(BundleError):
            _ = b.resources[0].body
        with pytest.raises(BundleError):  # still unloaded, and still an error on the next access
            _ = b.resources[0].labels


@pytest.mark.parametrize("index", [b"[]", b'{"kinds": ["Nope"], "kind": [0], "name": ["x"], "mesh": [null], '
                                          b'"span": [0, 1]}',
                                   b'{"kinds": ["Mesh"], "kind": [3], "name": ["x"], "mesh": [null], "span": [0, 1]}',
                                   b'{"kinds": ["Mesh"], "kind": [0], "name": [1], "mesh": [null], "span": [0, 1]}',
                                   b'{"kinds": ["Mesh"], "kind": [0], "name": ["x"], "mesh": [null], '
                                   b'"span": [0, 99999999]}',
                                   b"not json"])
def test_a_malformed_index_is_a_bundle_error(index: bytes) -> None:
    data = mb.dumps(_resources(), sign_key=KEY)
    with pytest.raises(BundleError):
        mb.loads(_swap_streams(data, zindex=zlib.compress(index)), verify_key=PUBLIC)


def test_activated_engine_explains_and_refreshes_like_a_compiled_one() -> None:
    store = meshauthz.load(EXAMPLES)
    b = mb.loads(mb.dumps(store.list(), sign_key=KEY), verify_key=PUBLIC)
    engine, want = b.traffic_engine(), TrafficEngine(store)
    args = {"source": "web-1", "destination": Inbound("backend-1", 8080), "mesh": "demo"}
    assert engine.explain(**args).to_dict() == want.explain(**args).to_dict()
    assert engine.select_policies("backend-1", mesh="demo") == want.select_policies("backend-1", mesh="demo")
    # a change to the bundle's store recompiles from its (lazy) resources, as for any store
    victim = next(r for r in b.store.list("TrafficPermission"))
    b.store.remove("TrafficPermission", victim.name, victim.mesh)
    store.remove("TrafficPermission", victim.name, victim.mesh)
    for src in ("web-1", NON_MESH):
        assert (engine.check(source=src, destination=("backend-1", 8080), mesh="demo").to_dict()
                == want.check(source=src, destination=("backend-1", 8080), mesh="demo").to_dict())


def test_compile_writes_a_bundle_that_activates(tmp_path: Path) -> None:
    out = tmp_path / "ex.bundle"
    mb.compile_paths([EXAMPLES], out, sign_key=KEY)
    b = meshauthz.load_bundle(out, verify_key=PUBLIC)
    assert b.verified and _check(b.traffic_engine()) == _check(TrafficEngine(meshauthz.load(EXAMPLES)))


def test_equal_stores_give_identical_bundles() -> None:
    """Reproducible bytes (content addressing in meshauthz.scale): hash-map orders never leak in."""
    assert mb.dumps(meshauthz.load(EXAMPLES), sign_key=None) == mb.dumps(meshauthz.load(EXAMPLES))


def test_a_changed_store_is_compiled_not_activated() -> None:
    """The compiled section describes the bundle's content: an engine built after the store
    changed compiles the store (as for any store)."""
    store = meshauthz.load(EXAMPLES)
    b = mb.loads(mb.dumps(store.list(), sign_key=KEY), verify_key=PUBLIC)
    victim = next(r for r in store.list("TrafficPermission"))
    b.store.remove("TrafficPermission", victim.name, victim.mesh)
    store.remove("TrafficPermission", victim.name, victim.mesh)
    engine, want = b.traffic_engine(), TrafficEngine(store)
    assert engine.compiled.core is not None and type(engine.compiled).__name__ == "Compiled"
    for src in ("web-1", NON_MESH):
        assert (engine.check(source=src, destination=("backend-1", 8080), mesh="demo").to_dict()
                == want.check(source=src, destination=("backend-1", 8080), mesh="demo").to_dict())


def test_a_signed_index_naming_a_resource_twice_is_a_bundle_error() -> None:
    data = mb.dumps(_resources(), sign_key=KEY)
    zindex, _, _ = _sections(data)
    index = json.loads(zlib.decompress(zindex))
    index["name"][1], index["kind"][1], index["mesh"][1] = index["name"][0], index["kind"][0], index["mesh"][0]
    b = mb.loads(_swap_streams(data, zindex=zlib.compress(json.dumps(index).encode())), verify_key=PUBLIC)
    with pytest.raises(BundleError, match="twice"):
        len(b.store)


def test_a_bundle_without_a_compiled_section_compiles_its_resources() -> None:
    """(`dumps` writes none when the resources do not compile: the engine then reports that error
    as from the YAML; a section left out is never an allow.)"""
    data = mb.dumps(_resources(), sign_key=KEY)
    b = mb.loads(_swap_streams(data, sets=b""), verify_key=PUBLIC)
    assert b._sections is not None and not b._sections.sets
    assert _check(b.traffic_engine()) == _check(TrafficEngine(meshauthz.load(EXAMPLES)))


def test_resources_have_no_instance_dict_and_keep_their_semantics() -> None:
    """Issue #13: a loaded Resource is slotted (no per-instance __dict__), built field by field in
    dataclass order; copies and pickles keep every field, the `model` cache still fills a slot."""
    from meshauthz.resource import _FIELDS, DeferredResource

    assert _FIELDS == tuple(f.name for f in dataclasses.fields(Resource))
    store = meshauthz.load(EXAMPLES)
    r = next(x for x in store if x.kind.name == "MeshTrafficPermission")
    # a clean document's resource reads its body on access (DeferredResource: slots only too)
    assert type(r) in (Resource, DeferredResource) and not hasattr(r, "__dict__")
    assert r.model is not None and r.model is r.model  # built once, kept in the `_model` slot
    detached = dataclasses.replace(r, document=None)  # (a YAML document's native marks do not pickle)
    assert detached.body is r.body and detached.model is r.model
    for orig, clone in ((r, copy.copy(r)), (detached, pickle.loads(pickle.dumps(detached)))):
        assert type(clone) is Resource and clone is not orig and clone != orig  # eq=False: identity
        for f in _FIELDS:
            assert getattr(clone, f) == getattr(orig, f), f
