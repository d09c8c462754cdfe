"""Bundle trust, bounds and malformed input (issue #13, "Done when"):

signed and verified -> loads without re-validation; unsigned (or signed, no key) -> re-validated and
loads; forged content with a recomputed checksum -> its invalid resources reported (ValidationError),
or BundleError when a signature is required; truncated, other-version and inflating-past-the-bound
-> BundleError, the last without allocating the inflated size; every malformed bundle -> BundleError
(never OverflowError / TypeError / AttributeError); compile never writes a bundle it cannot read back.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

import meshauthz
import meshauthz.bundle as mb
import meshauthz.loader as loader
from meshauthz import BundleError, MeshauthzError, ValidationError
from meshauthz.yaml_source import read_documents

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "universal"
KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _resources() -> list[Any]:
    return meshauthz.validate(EXAMPLES).resources


def _sections(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(index JSON, resources JSON, compiled section) of a bundle: format 3's three zlib streams,
    after a table of (compressed, inflated) sizes."""
    _, _, _, _, _, offset = mb._header(data, "t")
    table = struct.unpack_from(">IIIIII", data, offset)
    at, out = offset + 24, []
    for i in (0, 2, 4):
        stream = data[at:at + table[i]]
        out.append(zlib.decompress(stream) if stream else b"")
        at += table[i]
    assert at == len(data)
    return out[0], out[1], out[2]


def _payload(index: bytes, resources: bytes, sets: bytes) -> tuple[int, bytes]:
    """(inflated size, payload) of these sections."""
    streams = [zlib.compress(x) if x else b"" for x in (index, resources, sets)]
    table = struct.pack(">IIIIII", len(streams[0]), len(index), len(streams[1]), len(resources),
                        len(streams[2]), len(sets))
    return len(index) + len(resources) + len(sets), table + b"".join(streams)


def _assemble(data: bytes, index: bytes, resources: bytes, sets: bytes, key: Any = None) -> bytes:
    """A bundle of these sections with a recomputed checksum (and signature, with `key`); the flags
    and signature bytes of `data` are kept otherwise."""
    _, flags, _, _, _, offset = mb._header(data, "t")
    size, payload = _payload(index, resources, sets)
    digest = hashlib.sha256(struct.pack(">BQ", flags, size) + payload).digest()
    header = mb.MAGIC + mb._HEADER.pack(mb.FORMAT_VERSION, flags, size, digest)
    signature = key.sign(header) if key is not None else data[mb.HEADER_SIZE:offset]
    return header + signature + payload


def _rebuild(data: bytes, mutate: Any) -> bytes:
    """Decode a bundle's resources JSON, mutate it, write it back with a recomputed checksum."""
    index, resources, sets = _sections(data)
    doc = json.loads(resources)
    mutate(doc)
    return _assemble(data, index, json.dumps(doc).encode(), sets)


def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = loader.check_resource

    def counting(res: Any, out: Any) -> bool:
        calls[0] += 1
        return real(res, out)

    monkeypatch.setattr(loader, "check_resource", counting)
    return calls


def test_signed_and_verified_loads_without_revalidation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    out = tmp_path / "signed.bundle"
    mb.compile_paths([EXAMPLES], out, sign_key=key_file)
    calls = _count_checks(monkeypatch)
    b = meshauthz.load_bundle(out, verify_key=PUBLIC_PEM)
    assert b.verified and calls[0] == 0
    assert [r.key for r in b.store] == [r.key for r in meshauthz.load(EXAMPLES)]
    # the same bundle without a key: re-validated, loads (the loader's checks see every row the
    # core's clean verdict does not vouch for: the resources whose YAML document was not clean)
    b = meshauthz.load_bundle(out)
    assert not b.verified and calls[0] == _not_clean(b.resources) > 0


def _not_clean(resources: list[Any]) -> int:
    """How many of `resources` (from EXAMPLES) come from a document the native YAML reader did not
    find clean (`meshauthz_core::yaml::clean`: the verdict the bundle rows get too)."""
    clean = {(d.file, d.index): d.clean for path in sorted(EXAMPLES.glob("*.yaml"))
             for d in read_documents(path.read_bytes(), str(path))}
    return sum(not clean[(r.document.file, r.document.index)] for r in resources)


def test_unsigned_is_revalidated_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    data = mb.dumps(_resources())
    calls = _count_checks(monkeypatch)
    b = mb.loads(data)
    assert calls[0] == _not_clean(b.resources) and not b.verified
    assert _not_clean(b.resources) < len(b.resources)
    # the reference decoder (the core leaves the section to it): every resource checked
    monkeypatch.setattr(meshauthz._core, "bundle_rows", lambda body: None)
    before = calls[0]
    b = mb.loads(data)
    assert calls[0] - before == len(b.resources) and not b.verified
    with pytest.raises(BundleError, match="not signed"):
        mb.loads(data, verify_key=KEY.public_key())


def _break_a_traffic_permission(doc: dict[str, Any]) -> None:
    row = next(r for r in doc["resources"] if r[0] == "TrafficPermission")
    row[11]["sources"] = []  # T5.1: must have at least one element


def test_forged_unsigned_content_is_reported() -> None:
    forged = _rebuild(mb.dumps(_resources()), _break_a_traffic_permission)
    with pytest.raises(ValidationError) as e:
        mb.loads(forged)
    assert [(p.code, p.path) for p in e.value.problems] == [("validation", "sources")]
    # `meshauthz validate BUNDLE` (load_paths' reader) reports it without raising
    result = mb.validate_bundle(forged, "forged.bundle")
    assert [(p.file, p.code) for p in result.problems] == [("forged.bundle", "validation")]


def test_forged_signed_content_is_a_bundle_error() -> None:
    signed = mb.dumps(_resources(), sign_key=KEY)
    forged = _rebuild(signed, _break_a_traffic_permission)
    with pytest.raises(BundleError, match="signature does not verify"):
        mb.loads(forged, verify_key=KEY.public_key())
    with pytest.raises(BundleError, match="signature does not verify"):
        mb.loads(signed, verify_key=OTHER.public_key())
    with pytest.raises(ValidationError):  # no key: re-validated like any unsigned bundle
        mb.loads(forged)


def test_truncated_and_other_version_are_bundle_errors() -> None:
    data = mb.dumps(_resources(), sign_key=KEY)
    for cut in (5, len(mb.MAGIC) + 1, mb.HEADER_SIZE - 1, mb.HEADER_SIZE + 10, len(data) - 3):
        with pytest.raises(BundleError):
            mb.loads(data[:cut], verify_key=KEY.public_key())
        with pytest.raises(BundleError):
            mb.loads(data[:cut])
    other = bytearray(data)
    struct.pack_into(">H", other, len(mb.MAGIC), mb.FORMAT_VERSION + 1)
    with pytest.raises(BundleError, match="format version"):
        mb.loads(bytes(other))


@functools.lru_cache(maxsize=1)
def _bomb_payload() -> bytes:
    """About 1 MB of zlib that inflates to 1 GiB of zeros (run-length deflate: the quickest to make)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    chunk = b"0" * (1 << 20)
    return b"".join(c.compress(chunk) for _ in range(1024)) + c.flush()


def _bomb(declared: int) -> bytes:
    """The 1 GiB bomb as the resources stream of a bundle with `declared` as its inflated size."""
    bomb, zindex = _bomb_payload(), zlib.compress(b"{}")
    payload = struct.pack(">IIIIII", len(zindex), 2, len(bomb), declared - 2, 0, 0) + zindex + bomb
    digest = hashlib.sha256(struct.pack(">BQ", 0, declared) + payload).digest()
    return mb.MAGIC + mb._HEADER.pack(mb.FORMAT_VERSION, 0, declared, digest) + payload


@pytest.mark.timeout(60)
def test_inflating_past_the_bound_is_refused_without_allocating_it() -> None:
    honest = _bomb(1 << 30)
    assert len(honest) < 2 << 20
    lying = _bomb(1000)
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match="past the bound"):
            mb.loads(honest)
        with pytest.raises(BundleError, match="does not inflate to its declared"):
            mb.loads(lying)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # neither read allocated anything near the inflated size


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=8,
)
_BASE = mb.dumps(meshauthz.load(EXAMPLES))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 12), json_values)
def test_any_malformed_row_is_a_meshauthz_error(which: int, field: int, value: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        rows = doc["resources"]
        row = rows[which % len(rows)]
        if field == 12:
            rows[which % len(rows)] = value
        else:
            row[field] = value

    forged = _rebuild(_BASE, mutate)
    try:
        mb.loads(forged)
    except MeshauthzError:
        pass  # BundleError for malformed rows, ValidationError / DuplicateResourceError for bad content
    result = mb.validate_bundle(forged, "f")
    assert all(p.code for p in result.problems)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_any_payload_document_is_a_meshauthz_error(value: Any) -> None:
    forged = _rebuild(_BASE, lambda doc: (doc.clear(), doc.update({"resources": value})))
    try:
        mb.loads(forged)
    except MeshauthzError:
        pass


def test_year_9999_with_an_offset_compiles_and_reads_back(tmp_path: Path) -> None:
    src = tmp_path / "tp.yaml"
    src.write_text("type: TrafficPermission\nname: late\nmesh: default\ncreationTime: 9999-12-31T23:59:59.5-23:59\n"
                   "sources: [{match: {kuma.io/service: a}}]\ndestinations: [{match: {kuma.io/service: b}}]\n")
    out = tmp_path / "late.bundle"
    mb.compile_paths([src], out)
    [r] = meshauthz.load_bundle(out).resources
    yaml_tp = meshauthz.load(src).get("TrafficPermission", "late", "default")
    assert r.creation_seconds_nanos == yaml_tp.creation_seconds_nanos
    assert r.creation_time.year == 9999


def test_compile_refuses_a_bundle_it_cannot_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = mb._row

    def broken(r: Any) -> list[Any]:
        row = real(r)
        row[4] = [2**62, 0, 0]  # a time no datetime view can show
        return row

    monkeypatch.setattr(mb, "_row", broken)
    out = tmp_path / "x.bundle"
    with pytest.raises(BundleError, match="refusing to write"):
        mb.compile_paths([EXAMPLES], out)
    assert not out.exists()


# ---- CLI: `compile --sign KEY`, `meshauthz --verify-key PUB ...` ---------------------------------------


def _pem_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    private = tmp_path / "key.pem"
    private.write_bytes(KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = tmp_path / "key.pub"
    public.write_bytes(PUBLIC_PEM)
    other = tmp_path / "other.pub"
    other.write_bytes(OTHER.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public, other


def test_cli_compile_signs_and_verify_key_trusts_only_that_signature(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from meshauthz.cli import main

    private, public, other = _pem_files(tmp_path)
    signed, unsigned = tmp_path / "signed.bundle", tmp_path / "unsigned.bundle"
    assert main(["compile", str(EXAMPLES), "--out", str(signed), "--sign", str(private), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["signed"] is True
    assert meshauthz.load_bundle(signed, verify_key=public).verified
    assert main(["compile", str(EXAMPLES), "--out", str(unsigned), "-q"]) == 0
    with pytest.raises(BundleError, match="not signed"):
        meshauthz.load_bundle(unsigned, verify_key=public)

    calls = _count_checks(monkeypatch)
    # signed by the required key: read without re-validating its content
    assert main(["--verify-key", str(public), "validate", "-f", str(signed), "-q"]) == 0
    assert calls[0] == 0
    # the same bundle without a key: re-validated
    assert main(["validate", "-f", str(signed), "-q"]) == 0
    assert calls[0] > 0
    capsys.readouterr()
    # another key, or no signature: a located bundle problem, exit 1
    assert main(["--verify-key", str(other), "validate", "-f", str(signed)]) == 1
    assert "signature does not verify" in capsys.readouterr().out
    assert main(["--verify-key", str(public), "validate", "-f", str(unsigned)]) == 1
    assert "not signed" in capsys.readouterr().out
    # YAML needs no signature; decisions read from a verified bundle equal those from the YAML
    assert main(["--verify-key", str(public), "validate", "-f", str(EXAMPLES), "-q"]) == 0
    dp = meshauthz.load(EXAMPLES).list("Dataplane")[0]
    port = dp.body["networking"]["inbound"][0]["port"]
    args = ["check", "traffic", "--from", "non-mesh", "--to", f"{dp.name}:{port}", "--mesh", dp.mesh or "",
            "-o", "json"]
    capsys.readouterr()
    status = main(["--verify-key", str(public), *args, "-f", str(signed)])
    from_bundle = json.loads(capsys.readouterr().out)
    assert (status, from_bundle) == (main([*args, "-f", str(EXAMPLES)]), json.loads(capsys.readouterr().out))
    # the key is not required to be set for later commands (one invocation only)
    assert meshauthz.validate(unsigned).problems == []


def test_cli_bad_keys_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meshauthz.cli import main

    private, public, _ = _pem_files(tmp_path)
    out = tmp_path / "x.bundle"
    assert main(["compile", str(EXAMPLES), "--out", str(out), "--sign", str(public)]) == 2  # a public key
    assert "--sign" in capsys.readouterr().err and not out.exists()
    assert main(["--verify-key", str(private), "validate", "-f", str(EXAMPLES)]) == 2  # a private key
    assert "verify-key" in capsys.readouterr().err
    assert main(["--verify-key", str(tmp_path / "missing.pub"), "validate", "-f", str(EXAMPLES)]) == 2


def test_cli_activates_a_single_signed_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`-f BUNDLE` alone (issue #13): a bundle signed by the --verify-key key gives the engine its
    compiled section (no traffic compile step); without a key it is re-validated, as through the
    loader, and the decisions equal those from the YAML."""
    from meshauthz.cli import main

    private, public, _ = _pem_files(tmp_path)
    signed, unsigned = tmp_path / "signed.bundle", tmp_path / "unsigned.bundle"
    assert main(["compile", str(EXAMPLES), "--out", str(signed), "--sign", str(private), "-q"]) == 0
    assert main(["compile", str(EXAMPLES), "--out", str(unsigned), "-q"]) == 0
    dp = meshauthz.load(EXAMPLES).list("Dataplane")[0]
    port = dp.body["networking"]["inbound"][0]["port"]
    args = ["check", "traffic", "--from", "non-mesh", "--to", f"{dp.name}:{port}", "--mesh", dp.mesh or "",
            "-o", "json"]
    capsys.readouterr()
    want = (main([*args, "-f", str(EXAMPLES)]), json.loads(capsys.readouterr().out))

    compiled: list[int] = []
    real_snapshot = meshauthz._core.TrafficSnapshot
    monkeypatch.setattr(meshauthz._core, "TrafficSnapshot",
                        lambda *a, **k: (compiled.append(1), real_snapshot(*a, **k))[1])
    calls = _count_checks(monkeypatch)
    got = main(["--verify-key", str(public), *args, "-f", str(signed)])
    assert (got, json.loads(capsys.readouterr().out)) == want
    assert compiled == [] and calls[0] == 0  # activated: neither compiled nor re-validated

    derived: list[int] = []  # no key: re-validated, sets derived from its resources (not its section)
    real_derive = meshauthz._core.bundle_rows_sets
    monkeypatch.setattr(meshauthz._core, "bundle_rows_sets", lambda *a: (derived.append(1), real_derive(*a))[1])
    for bundle in (signed, unsigned):
        got = main([*args, "-f", str(bundle)])
        assert (got, json.loads(capsys.readouterr().out)) == want
    assert derived == [1, 1] and calls[0] > 0
    # a required signature the bundle lacks: one error line, exit 2, no decision
    assert main(["--verify-key", str(public), *args, "-f", str(unsigned)]) == 2
    captured = capsys.readouterr()
    assert "not signed" in captured.err and captured.out == ""
    # roles from a signed bundle: the Authorizer decides as from the YAML
    who = ["what-can", "--user", "admin", "--group", "mesh-system:admin", "-o", "json"]
    want_rbac = (main([*who, "--roles", str(EXAMPLES)]), json.loads(capsys.readouterr().out))
    assert (main(["--verify-key", str(public), *who, "--roles", str(signed)]),
            json.loads(capsys.readouterr().out)) == want_rbac
