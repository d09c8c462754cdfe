"""Compiled bundles: normalised resources plus the engines' compiled sets, in one versioned,
checksummed, optionally signed file that activates without recompiling (issue #13).

A bundle holds the *normalised resources* (kind, core name, mesh, labels, creation / modification
time as seconds + nanoseconds + offset, form, namespace, display name, document order and the
Universal-equivalent body), an index of them (kind, name, mesh and the byte span of each
resource's row), and the traffic engine's *compiled section*: the TrafficPermission +
MeshTrafficPermission compile inputs in the core's own types (postcard, `rust/core/src/bundle.rs`),
tied to the digest of the resource sections and to the meshauthz version that wrote it.

Layout (integers big-endian)::

    b"MESHAUTHZ-BUNDLE\\n"   17-byte magic
    u16 format version       FORMAT_VERSION
    u8  flags                bit 0: signed
    u64 inflated size        bytes of the payload once decompressed
    32 bytes                 sha256 over (flags, inflated size, compressed payload)
    64 bytes (if signed)     ed25519 signature of everything above it (magic .. sha256)
    payload                  section table: 6 x u32, (compressed, inflated) size of each section,
                             then zlib(index JSON), zlib(resources JSON), zlib(compiled section)
                             (the inflated sizes add up to the header's)

    index JSON      {"meshauthz": version, "kinds": [kind, ...], "kind": [i, ...], "name": [...],
                     "mesh": [...], "span": [start, end, ...]}  (spans: byte offsets of each row)
    resources JSON  {"meshauthz": version, "resources": [row, ...]}  (load order)
    compiled        the engines' section (empty: none): the traffic sets and the RBAC part; its
                    digest is the sha256 of the index and resources streams (compressed)

Trust (issue #13): a bundle is as trustworthy as YAML. Loaded with `verify_key`, a signed bundle
whose signature verifies *activates*: the traffic engine deserialises the compiled section straight
into its snapshot (the core's compiled `PolicySet` and the MTP inputs, no compile step), while the
resources (`LazyResource`s from the index: a row is parsed and its fields filled on first access),
the store's key map and the engine's Python name indexes are built on first use. The compiled
section is used only while the bundle's store is unchanged (after a change, engines compile it).
Loaded without a key (signed or not), the index and the compiled section are never read (never
even inflated): the resources are re-validated by the same validator as YAML, and the engines use
only what the resources give (forged content with a recomputed checksum is reported as a
`ValidationError` with the problems YAML would give; forged compiled sets are ignored). An
unsigned bundle or a bad signature with a key is a `BundleError`.

The Authorizer activates too (decision, issue #13 "bundles that activate"): the compiled section
(format 3) carries an RBAC part, the AccessRoles and AccessRoleBindings as the core's own `Role` /
`Binding` values in load order (the R-rules depend on it), postcard inside a length-prefixed byte
string so the traffic engine skips it unparsed. `meshauthz compile` writes it from the documents
as `Authorizer` converts them (`Authorizer._bundle_sets`); it is left out when they do not convert
or compile (the bundle's Authorizer then compiles from the resources and reports the error as from
YAML). A verified bundle's `authorizer()` deserialises the part, checks what the converter
guarantees and runs the core's `rbac::PolicySet::compile` (its indexes are derived, never read from
the bytes): no resource row is read and no document converted (`Authorizer._from_sets`); its role /
binding names, plain documents (`what_can`) and resources are built from the lazy resources on
first use. Serialising the inputs rather than the built `rbac::PolicySet` keeps the layout to plain
values (no index to range-check) for a compile of well under a millisecond: 1,000 bindings and 500
rules activate ~10x faster than from YAML (bench/RESULTS.md), where the former path (every row
parsed and converted) was 1.2x. A section without the part (format 2, or written without it)
compiles from the resources; an unverified bundle never reads it (its `traffic_sets` are derived
without it).

Re-validation where it is fast (decision, issue #13): the core reads the resources section in one
pass (`_core.bundle_rows`, `meshauthz_core::bundle_rows`: serde_json, JSON numbers kept numbers),
checks every row as `_fields` does, and gives the key columns, each row's byte span and, through
the core's one clean verdict (`meshauthz_core::yaml::clean`, the native YAML reader's), which rows
the loader's checks would pass with nothing to report; it also builds the vouched
TrafficPermissions' compile inputs. `loader.check_resource` then runs only on the other rows
(Kubernetes-form rows, kinds without a verdict, rows not provably clean), so every problem keeps
its exact path, message and code. The bundle then activates as a verified one (`LazyResource`
rows, store built on first use) over traffic sets *derived from the resources* when an engine
first asks (`_Sections.traffic_sets`: the native inputs plus the other rows' inputs extracted by
the compile step's own code; for an honest bundle these are byte for byte its compiled section
less its RBAC part).
Whatever the core does not reproduce exactly (any row defect, a duplicate object key, an unknown
kind, a number or string `json.loads` reads otherwise) leaves the section to the reference
decoder (`_parse_all`: every row parsed and checked here; a defect is its `BundleError`, worded
and located as before). Measured (bench/RESULTS.md): 10,000 TrafficPermissions to a ready engine
~4.5x faster than from YAML, against ~0.7-1.0x with every row parsed and checked in Python (the
reference: a Python object per field, `check_resource` per row, then the compile step reading
every body).
Every malformed bundle is a `BundleError` (never OverflowError, TypeError, ...): for an activated
bundle, a compiled section of another version, of other resources (digest) or that does not
deserialise fails when its engine is built, and a malformed row when that resource is first read.
Decompression is bounded: a payload may inflate to at most `MAX_RATIO` times the file and
`MAX_INFLATED` bytes, checked on the declared size before any work, and the decompressor never
produces more than the declared size (a lying header stops there); deserialising the compiled
section is bounded by its length (postcard over a slice).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import threading
import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

from . import _core
from . import api as _api
from . import kinds as _kinds
from . import loader as _loader  # attributes read at call time, as the former local imports did
from . import registry as _registry
from ._core import __version__
from .errors import BundleError, MeshauthzError, Problem, ValidationError
from .loader import register_reader
from .resource import GO_ZERO_TIME, LazyResource, Resource, datetime_view, new_resource, seconds_nanos, set_key
from .store import ResourceStore
from .yaml_source import Document, gc_paused

MAGIC = b"MESHAUTHZ-BUNDLE\n"
FORMAT_VERSION = 3  # 3: index + resources + compiled section; 2: times as [s, ns, offset], flags, signature
_HEADER = struct.Struct(">HBQ32s")  # version, flags, inflated size, sha256
# The payload's section table: (compressed size, inflated size) of the index, the resources and the
# compiled section, each its own zlib stream (an activated bundle never inflates the resources).
_SECTIONS = struct.Struct(">IIIIII")
HEADER_SIZE = len(MAGIC) + _HEADER.size
SIGNATURE_SIZE = 64
FLAG_SIGNED = 1
MAX_RATIO = 64  # JSON rows compress ~10-20x; a bomb needs far more
MAX_INFLATED = 1 << 30
_FORMS = ("universal", "kubernetes")
_NS = 1_000_000_000
_I64 = 1 << 63

KeyLike = Union[str, bytes, os.PathLike, Any]


# ---- rows: one resource as a JSON array -----------------------------------------------------------


def _time_row(t: Optional[datetime], precise: Optional[tuple[int, int]] = None) -> Optional[list[int]]:
    """[seconds since the epoch, nanoseconds, UTC offset in seconds] (the datetime view's offset kept,
    so a time near year 9999 reads back without leaving datetime's range)."""
    if t is None:
        return None
    secs, nanos = precise if precise is not None else seconds_nanos(t)
    offset = t.utcoffset()
    return [secs, nanos, int(offset.total_seconds()) if offset else 0]


@lru_cache(maxsize=4096)  # policies of one bundle share few distinct timestamps
def _time(secs: int, nanos: int, offset: int) -> datetime:
    return datetime_view(secs, nanos, offset)


_ZERO = seconds_nanos(GO_ZERO_TIME)


def _row(r: Resource) -> list[Any]:
    doc = r.document
    created = r.creation_seconds_nanos
    return [r.kind.name, r.name, r.mesh, r.labels,
            None if created == _ZERO else _time_row(r.creation_time, created), _time_row(r.modification_time),
            _FORMS.index(r.form), r.namespace, r.display_name, doc.file if doc else None,
            doc.index if doc else 0, r.body]


def _bad(source: str, what: str) -> BundleError:
    return BundleError(f"{source}: malformed bundle payload: {what}")


def _decode_time(v: Any, source: str) -> Optional[tuple[datetime, tuple[int, int]]]:
    if v is None:
        return None
    if (type(v) is not list or len(v) != 3 or not all(type(x) is int for x in v) or not -_I64 <= v[0] < _I64
            or not 0 <= v[1] < _NS or not -86400 < v[2] < 86400):
        raise _bad(source, f"invalid time {v!r}")
    try:
        return _time(v[0], v[1], v[2]), (v[0], v[1])
    except (OverflowError, ValueError):
        raise _bad(source, f"time {v!r} outside years 1..9999") from None


def _fields(row: Any, docs: dict[tuple[str, int], Document], source: str) -> dict[str, Any]:
    """The fields of one row (checked: every defect a BundleError)."""
    if type(row) is not list or len(row) != 12:
        raise _bad(source, "a row is not a 12-element list")
    kind, name, mesh, labels, created, modified, form, namespace, display, file, index, body = row
    k = _kinds.KINDS.get(kind) if type(kind) is str else None
    if k is None:
        raise BundleError(f"{source}: bundle names an unknown resource kind {kind!r}")
    if (type(name) is not str or (mesh is not None and type(mesh) is not str) or type(labels) is not dict
            or type(form) is not int or not 0 <= form <= 1 or (namespace is not None and type(namespace) is not str)
            or type(display) is not str or (file is not None and type(file) is not str)
            or type(index) is not int or index < 0 or type(body) is not dict):
        raise _bad(source, f"row of {kind} {name!r} has fields of the wrong type")
    c, m = _decode_time(created, source), _decode_time(modified, source)
    doc = None
    if file is not None:  # document order is kept (MTP `as_listed`, A2); positions are not
        doc = docs.get((file, index))
        if doc is None:
            doc = docs[(file, index)] = Document(None, file, index)
    # Set directly on the instance (the frozen dataclass __init__ costs ~40% of decoding): same
    # object as Resource(...) would build.
    return dict(kind=k, name=name, mesh=mesh, body=body, labels=labels,
                creation_time=GO_ZERO_TIME if c is None else c[0],
                modification_time=None if m is None else m[0], form=_FORMS[form],
                namespace=namespace, display_name=display, _model=None, document=doc, path_prefix=(),
                created=None if c is None else c[1])


def _resource(row: Any, docs: dict[tuple[str, int], Document], source: str) -> Resource:
    return new_resource(**_fields(row, docs, source))


# ---- keys ------------------------------------------------------------------------------------------


def signing_key(key: KeyLike) -> Any:
    """The ed25519 private key `key` names (object, PEM bytes or PEM file); BundleError otherwise."""
    return _private_key(key)


def _private_key(key: KeyLike) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if isinstance(key, Ed25519PrivateKey):
        return key
    data = _key_bytes(key)
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise BundleError(f"cannot read the signing key: {e}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise BundleError("the signing key is not an ed25519 private key")
    return loaded


def _public_key(key: KeyLike) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    data = _key_bytes(key)
    try:
        loaded = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise BundleError(f"cannot read the verification key: {e}") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise BundleError("the verification key is not an ed25519 public key")
    return loaded


def _key_bytes(key: KeyLike) -> bytes:
    if isinstance(key, bytes):
        return key
    try:
        with open(os.fspath(key), "rb") as f:
            return f.read()
    except (OSError, TypeError) as e:
        raise BundleError(f"cannot read key {key!r}: {e}") from None


# ---- encode / decode ------------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def dumps(resources: Union[ResourceStore, Iterable[Resource]], *, level: int = 6,
          sign_key: Optional[KeyLike] = None) -> bytes:
    """Serialise resources (a store, or resources in load order) and the traffic engine's compiled
    section into bundle bytes, signed with the ed25519 private key `sign_key` (an object, PEM bytes
    or a PEM file path) when given."""
    items = resources.list() if isinstance(resources, ResourceStore) else list(resources)
    head = b'{"meshauthz":' + _json(__version__) + b',"resources":['
    rows = [_json(_row(r)) for r in items]
    spans: list[int] = []
    at = len(head)
    for text in rows:
        spans += (at, at + len(text))
        at += len(text) + 1
    body = head + b",".join(rows) + b"]}"
    kinds = sorted({r.kind.name for r in items})
    kind_ids = {k: i for i, k in enumerate(kinds)}
    index = _json({"meshauthz": __version__, "kinds": kinds, "kind": [kind_ids[r.kind.name] for r in items],
                   "name": [r.name for r in items], "mesh": [r.mesh for r in items], "span": spans})
    zindex, zbody = zlib.compress(index, level), zlib.compress(body, level)
    sets = _compile_sets(items, resources if isinstance(resources, ResourceStore) else None,
                         _resources_digest(zindex, zbody))
    zsets = zlib.compress(sets, level) if sets else b""
    size = len(index) + len(body) + len(sets)
    payload = (_SECTIONS.pack(len(zindex), len(index), len(zbody), len(body), len(zsets), len(sets))
               + zindex + zbody + zsets)
    flags = FLAG_SIGNED if sign_key is not None else 0
    digest_ = hashlib.sha256(struct.pack(">BQ", flags, size) + payload).digest()
    header = MAGIC + _HEADER.pack(FORMAT_VERSION, flags, size, digest_)
    if sign_key is not None:
        header += _private_key(sign_key).sign(header)
    return header + payload


def _resources_digest(zindex: Any, zbody: Any) -> bytes:
    """What a compiled section is tied to: the sha256 of the index and resources streams."""
    h = hashlib.sha256(zindex)
    h.update(zbody)
    return h.digest()


def _compile_sets(items: list[Resource], store: Optional[ResourceStore], resources_digest: bytes) -> bytes:
    """The traffic engine's compiled section, or b"" when these resources do not compile (the
    engine then reports that error when built from the bundle, as from the YAML)."""
    compile_sets = getattr(_registry.engine_class("traffic"), "_bundle_sets", None)
    if compile_sets is None:
        return b""
    try:
        with gc_paused():
            store = store if store is not None else ResourceStore(items)
            sets: bytes = compile_sets(store, resources_digest) or b""
    except MeshauthzError:
        return b""
    rbac_sets = getattr(_registry.engine_class("rbac"), "_bundle_sets", None)
    if sets and rbac_sets is not None:  # the RBAC part (load order: `items`, as the Authorizer reads them)
        try:
            with gc_paused():
                sets = rbac_sets(items, sets, resources_digest) or sets
        except MeshauthzError:
            pass  # written without it: the Authorizer compiles from the resources and reports the error
    return sets


def is_bundle(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def digest(data: bytes) -> str:
    """The sha256 (hex) recorded in a bundle's header (not checked: see `loads_resources`)."""
    return _header(data, "<bytes>")[3].hex()


def _header(data: bytes, source: str) -> tuple[int, int, int, bytes, bytes, int]:
    """(version, flags, inflated size, sha256, signature, payload offset), format checks only."""
    if not is_bundle(data):
        raise BundleError(f"{source}: not a meshauthz bundle (missing the MESHAUTHZ-BUNDLE header)")
    if len(data) < len(MAGIC) + 2:
        raise BundleError(f"{source}: truncated bundle header ({len(data)} bytes)")
    (version,) = struct.unpack_from(">H", data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise BundleError(f"{source}: bundle format version {version} is not supported by this meshauthz "
                          f"(it reads format version {FORMAT_VERSION}); recompile it with `meshauthz compile`")
    if len(data) < HEADER_SIZE:
        raise BundleError(f"{source}: truncated bundle header ({len(data)} bytes)")
    version, flags, size, checksum = _HEADER.unpack_from(data, len(MAGIC))
    offset = HEADER_SIZE
    signature = b""
    if flags & FLAG_SIGNED:
        signature = data[offset:offset + SIGNATURE_SIZE]
        offset += SIGNATURE_SIZE
        if len(signature) < SIGNATURE_SIZE:
            raise BundleError(f"{source}: truncated bundle signature")
    return version, flags, size, checksum, signature, offset


def _verify(data: bytes, source: str, verify_key: Optional[KeyLike]) -> tuple[int, int, bool]:
    """Format, checksum and signature checks: (inflated size, payload offset, trusted)."""
    _, flags, size, checksum, signature, offset = _header(data, source)
    if flags & ~FLAG_SIGNED:
        raise BundleError(f"{source}: unknown bundle flags {flags:#x}")
    if hashlib.sha256(struct.pack(">BQ", flags, size) + memoryview(data)[offset:]).digest() != checksum:
        raise BundleError(f"{source}: bundle checksum mismatch (sha256 of the payload differs from the header): "
                          "the file is corrupted or was modified")
    trusted = False
    if verify_key is not None:
        if not flags & FLAG_SIGNED:
            raise BundleError(f"{source}: bundle is not signed (a verification key was given)")
        from cryptography.exceptions import InvalidSignature

        try:
            _public_key(verify_key).verify(signature, data[:HEADER_SIZE])
        except InvalidSignature:
            raise BundleError(f"{source}: bundle signature does not verify with the given key") from None
        trusted = True
    payload_len = len(data) - offset
    if size > MAX_INFLATED or size > MAX_RATIO * max(payload_len, 1) + 4096:
        raise BundleError(f"{source}: bundle payload would inflate to {size} bytes, past the bound "
                          f"({MAX_RATIO}x its {payload_len} bytes, at most {MAX_INFLATED})")
    return size, offset, trusted


def _inflate(stream: Any, size: int, source: str, what: str = "payload") -> bytes:
    if size == 0 and len(stream) == 0:
        return b""
    d = zlib.decompressobj()
    try:
        text = d.decompress(stream, size + 1)  # never more than the declared size + 1
    except zlib.error as e:
        raise _bad(source, f"{what}: zlib: {e}") from None
    if len(text) != size or not d.eof or d.unused_data:
        raise _bad(source, f"{what} does not inflate to its declared {size} bytes")
    return text


@dataclass
class _Sections:
    """A verified (or trusted) payload's sections, kept for lazy rows and the compiled section."""

    zindex: Any  # the three streams (memoryviews of the file) and the resources' inflated size
    zbody: Any
    body_size: int
    sets: bytes
    source: str
    body: Optional[bytes] = None  # inflated on the first row read
    docs: dict[tuple[str, int], Document] = field(default_factory=dict)
    spans: Any = field(default_factory=list)  # [start, end, ...] of each row: a list, or a memoryview of u64
    index_size: int = 0
    columns: Optional[tuple[list[Any], list[str], list[Optional[str]]]] = None  # kinds, names, meshes
    made: Optional[tuple[list[Resource], list[tuple[str, str, str]]]] = None  # see `materialise`
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Read natively without a verified signature (`_read_rows`): the rows the core vouched for
    # are the others of `unvouched`; `native` holds the vouched TrafficPermissions' compile inputs,
    # and `sets` is derived from the resources when an engine first asks (`traffic_sets`).
    native: Any = None
    unvouched: Sequence[int] = ()
    derived: bool = False
    early: dict[int, Resource] = field(default_factory=dict)  # rows built before `materialise` (`row`)
    sets_lock: threading.Lock = field(default_factory=threading.Lock)  # one derivation (`traffic_sets`)

    def load(self, r: Resource, i: int) -> None:
        """Fill the fields of lazy resource `r`, row `i` (its key must match the index)."""
        start, end = self.spans[2 * i], self.spans[2 * i + 1]
        body = self.body
        if body is None:
            with self.lock:
                if self.body is None:
                    self.body = _inflate(self.zbody, self.body_size, self.source, "resources section")
                body = self.body
        try:
            row = json.loads(body[start:end])
        except (ValueError, RecursionError) as e:
            raise _bad(self.source, f"JSON of row {i}: {e}") from None
        with self.lock:  # the Document cache is shared by every row
            fields = _fields(row, self.docs, self.source)
        if (fields.pop("kind"), fields.pop("name"), fields.pop("mesh")) != (r.kind, r.name, r.mesh):
            raise _bad(self.source, f"row {i} is not the resource its index names")
        r.__dict__.update(fields)  # the deferred fields (the key fields are Resource's slots)

    def resources_digest(self) -> bytes:
        return _resources_digest(self.zindex, self.zbody)

    def traffic_sets(self, cls: Any) -> bytes:
        """The compiled traffic sets the engine class `cls` activates from: a verified bundle's
        compiled section; for rows read natively without a verified signature, sets derived from
        the resources (the vouched TrafficPermissions' native inputs and the other rows' inputs
        extracted as the compile step extracts them: `cls._rows_sets`), b"" when they do not
        compile (the engine then compiles from the store and reports that error)."""
        if self.native is None or self.derived:
            return self.sets
        with self.sets_lock:  # the native inputs are taken by the first derivation
            if not self.derived:
                build = getattr(cls, "_rows_sets", None)
                sets = b""
                if build is not None:
                    try:
                        with gc_paused():
                            assert self.columns is not None
                            sets = build(self.native, self.columns[0], self.row, frozenset(self.unvouched),
                                         self.resources_digest()) or b""
                    except MeshauthzError:
                        sets = b""
                self.sets, self.derived = sets, True
        return self.sets

    def row(self, i: int) -> Resource:
        """Row `i`'s `LazyResource` (the one `materialise` gives), built alone if need be."""
        made = self.made
        if made is not None:
            return made[0][i]
        with self.lock:
            if self.made is not None:
                return self.made[0][i]
            r = self.early.get(i)
            if r is None:
                assert self.columns is not None
                kinds, names, meshes = self.columns
                r = self.early[i] = self._lazy(kinds[i], names[i], meshes[i], i)
            return r

    def _lazy(self, kind: Any, name: str, mesh: Optional[str], i: int) -> Resource:
        r = object.__new__(LazyResource)
        set_key(r, kind, name, mesh)
        r.__dict__.update(_rows=self, _lazy=i)
        return r

    def materialise(self) -> tuple[list[Resource], list[tuple[str, str, str]]]:
        """The `LazyResource`s (load order) and their store keys, built once on first use."""
        made = self.made
        if made is None:
            with self.lock:
                made = self.made
                if made is None:
                    assert self.columns is not None
                    kinds, names, meshes = self.columns
                    with gc_paused():
                        new, cls = object.__new__, LazyResource
                        out: list[Resource] = []
                        append = out.append
                        for i, (k, name, mesh) in enumerate(zip(kinds, names, meshes)):
                            r = new(cls)
                            set_key(r, k, name, mesh)
                            r.__dict__.update(_rows=self, _lazy=i)
                            append(r)
                        for i, early in self.early.items():  # rows already handed out by `row`
                            out[i] = early
                        keys = list(zip([k.name for k in kinds], [m or "" for m in meshes], names))
                    made = self.made = (out, keys)
        return made


def _split(data: bytes, offset: int, size: int, source: str) -> list[tuple[Any, int]]:
    """The (stream, inflated size) of the index, resources and compiled sections."""
    view = memoryview(data)[offset:]
    if len(view) < _SECTIONS.size:
        raise _bad(source, "no section table")
    sizes = _SECTIONS.unpack_from(view)
    if _SECTIONS.size + sizes[0] + sizes[2] + sizes[4] != len(view) or sizes[1] + sizes[3] + sizes[5] != size:
        raise _bad(source, "section sizes do not add up to the payload")
    out, at = [], _SECTIONS.size
    for i in (0, 2, 4):
        out.append((view[at:at + sizes[i]], sizes[i + 1]))
        at += sizes[i]
    return out


def _read_rows(zindex: Any, zbody: Any, body_size: int, source: str) -> Union[_Sections, list[Resource]]:
    """The unverified path's read of the resources section (the index and the compiled section
    are never read). The core (`_core.bundle_rows`) checks every row as `_fields` does, and vouches
    for the rows its clean verdict passes: their `_Sections` (rows built lazily; `unvouched`: the
    rows the loader's checks must see). When the core leaves the section to the reference (a
    defect: `_parse_all` raises the BundleError naming the row; or what it does not reproduce
    exactly), every row is parsed here: that list, every row to be checked."""
    body = _inflate(zbody, body_size, source, "resources section")
    with gc_paused():
        got = _core.bundle_rows(body)
        if got is not None:
            kind_names, kind_ids, names, meshes, spans, unvouched, native = got
            table = [_kinds.KINDS.get(k) for k in kind_names]
            if None not in table:  # else an unknown kind: the reference names its row
                return _Sections(zindex, zbody, body_size, b"", source, body=body, spans=memoryview(spans).cast("Q"),
                                 columns=([table[k] for k in kind_ids], names, meshes),  # type: ignore[misc]
                                 native=native, unvouched=unvouched)
    return _parse_all(body, source)


def _parse_all(body: bytes, source: str) -> list[Resource]:
    """Every row of the resources JSON, parsed and checked (the unverified path)."""
    with gc_paused():
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise _bad(source, f"JSON: {e}") from None
        rows = doc.get("resources") if type(doc) is dict else None
        if type(rows) is not list:
            raise _bad(source, "no resource list")
        docs: dict[tuple[str, int], Document] = {}
        return [_resource(row, docs, source) for row in rows]


def _index(sections: _Sections) -> None:
    """Read and check the index (the verified path: no row is parsed, no resource built yet)."""
    source = sections.source
    try:
        index = json.loads(_inflate(sections.zindex, sections.index_size, source, "index section"))
    except (ValueError, RecursionError) as e:
        raise _bad(source, f"index JSON: {e}") from None
    if type(index) is not dict:
        raise _bad(source, "the index is not an object")
    kinds, kind, names, meshes, spans = (index.get(k) for k in ("kinds", "kind", "name", "mesh", "span"))
    if not (type(kinds) is list and type(kind) is list and type(names) is list and type(meshes) is list
            and type(spans) is list):
        raise _bad(source, "the index lacks one of kinds, kind, name, mesh, span")
    n = len(kind)
    table = [_kinds.KINDS.get(k) if type(k) is str else None for k in kinds]
    if None in table:
        raise BundleError(f"{source}: bundle names an unknown resource kind "
                          f"{next(k for k, t in zip(kinds, table) if t is None)!r}")
    # Type checks over whole columns (map(type, ...) runs in C).
    if (len(names) != n or len(meshes) != n or len(spans) != 2 * n
            or not set(map(type, kind)) <= {int} or not set(map(type, names)) <= {str}
            or not set(map(type, meshes)) <= {str, type(None)} or not set(map(type, spans)) <= {int}
            or (n and not (0 <= min(kind) and max(kind) < len(table)
                           and 0 <= min(spans) and max(spans) <= sections.body_size))):
        raise _bad(source, "index entries of the wrong type or out of range")
    sections.spans = spans
    kind_objs: list[_kinds.Kind] = [table[k] for k in kind]  # type: ignore[misc]  # no None (checked)
    sections.columns = (kind_objs, names, meshes)


def _decode(data: bytes, source: str, verify_key: Optional[KeyLike],
            trusted: bool = False) -> tuple[list[Resource], bool, Optional[_Sections], Sequence[int]]:
    """(resources, signature verified, sections (activated, or read natively), the rows the
    loader's checks must see: none when the bundle activates, verified or trusted)."""
    size, offset, verified = _verify(data, source, verify_key)
    if not (verified or trusted):  # the index and the compiled section are not read
        read = _unverified(data, offset, size, source)
        if isinstance(read, list):
            return read, False, None, range(len(read))
        return read.materialise()[0], False, read, read.unvouched
    sections = _activate(data, offset, size, source)
    return sections.materialise()[0], verified, sections, ()


def _unverified(data: bytes, offset: int, size: int, source: str) -> Union[_Sections, list[Resource]]:
    """`_read_rows` of a bundle's resources section (no index, no compiled section read)."""
    (zindex, _), (zbody, body_size), _ = _split(data, offset, size, source)
    return _read_rows(zindex, zbody, body_size, source)


def _activate(data: bytes, offset: int, size: int, source: str) -> _Sections:
    """A verified (or trusted) bundle's sections: the compiled section inflated, the index read."""
    (zindex, index_size), (zbody, body_size), (zsets, sets_size) = _split(data, offset, size, source)
    sections = _Sections(zindex, zbody, body_size, _inflate(zsets, sets_size, source, "compiled section"), source,
                         index_size=index_size)
    _index(sections)
    return sections


def loads_resources(data: bytes, source: str = "<bytes>", *, verify_key: Optional[KeyLike] = None,
                    trusted: bool = False) -> list[Resource]:
    """Verify and decode a bundle's resources, in load order. Unless the signature verified with
    `verify_key` (or the caller vouches for the bytes, `trusted`), every resource is parsed and
    re-validated: a `ValidationError` lists the invalid ones; otherwise they are `LazyResource`s."""
    resources, _, _, rows = _decode(data, source, verify_key, trusted)
    _revalidate(resources.__getitem__, source, rows)
    return resources


def _revalidate(row: Any, source: str, rows: Iterable[int]) -> None:
    """The loader's checks on the resources `row(i)` of `rows` (the rows the core did not vouch
    for: the others pass them with nothing to report); ValidationError listing every problem."""
    out = _loader.LoadResult()
    with gc_paused():
        for i in rows:
            _loader.check_resource(row(i), out)
    if out.problems:
        raise ValidationError([_in_bundle(p, source) for p in out.problems])


def _in_bundle(p: Any, source: str) -> Any:
    """A problem of a bundled resource, located in the bundle (the YAML it came from named)."""
    origin = f"{p.file}, document {p.document}" if p.document is not None else p.file
    return dataclasses.replace(p, file=source, document=None, line=None, column=None,
                               message=f"{p.message} (compiled from {origin})")


# ---- public API -----------------------------------------------------------------------------------


class _BundleStore(ResourceStore):
    """The store of an activated bundle: its key map (and the `LazyResource`s) are built on first
    use, so a bundle whose engines only decide never builds them. Otherwise a `ResourceStore`."""

    def __init__(self, sections: _Sections):
        super().__init__()
        del self.__dict__["_items"]  # `_items` below builds it on first use
        self._sections = sections

    def _build_items(self) -> dict[tuple[str, str, str], Resource]:
        with self._lock:
            items = self.__dict__.get("_items")
            if items is None:
                resources, keys = self._sections.materialise()
                items = dict(zip(keys, resources))
                if len(items) != len(resources):
                    raise BundleError(f"{self._sections.source}: the bundle's index names a resource twice")
                self.__dict__["_items"] = items
            return items

    def items_thunk(self) -> Any:
        if "_items" not in self.__dict__ and self.version == 1:  # still the bundle's content
            sections = self._sections

            def contents() -> tuple[int, dict[tuple[str, str, str], Resource]]:
                resources, keys = sections.materialise()
                return 1, dict(zip(keys, resources))

            return contents
        return super().items_thunk()


class _BuildItems:
    """`_BundleStore._items`, built on first access (non-data descriptor: then read directly)."""

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self if obj is None else obj._build_items()


_BundleStore._items = _BuildItems()  # type: ignore[assignment]


class Bundle:
    """A loaded bundle: its resources (load order), its store, and engines built on demand (once
    each). An activated bundle (signature verified) builds its resources and store on first use."""

    def __init__(self, resources: Optional[list[Resource]], store: ResourceStore, digest: str,
                 path: Optional[str] = None, verified: bool = False, _sections: Optional[_Sections] = None):
        self._resources = resources
        self.store = store
        self.digest = digest
        self.path = path
        self.verified = verified  # the signature verified (else the content was re-validated)
        self._engines: dict[Any, Any] = {}
        # An activated bundle's sections (compiled sets used as-is); None: compile from resources.
        self._sections = _sections
        self._version = store.version  # the store's content is the bundle's while it is unchanged

    def __repr__(self) -> str:
        return f"Bundle(path={self.path!r}, digest={self.digest!r}, verified={self.verified})"

    @property
    def resources(self) -> list[Resource]:
        if self._resources is None:
            assert self._sections is not None
            self._resources = self._sections.materialise()[0]
        return self._resources

    def traffic_engine(self, *, external_service_gating: str = "legacy") -> Any:
        """A `TrafficEngine` (incl. the MeshTrafficPermission E4 hook) over the bundle's store."""
        return self._engine("traffic", (("external_service_gating", external_service_gating),))

    def authorizer(self, mode: str = "rbac", *, secret_reads: str = "rbac") -> Any:
        """An RBAC `Authorizer` over the bundle's AccessRoles / AccessRoleBindings (load order kept)."""
        return self._engine("rbac", (("mode", mode), ("secret_reads", secret_reads)))

    def mtp_engine(self) -> Any:
        return self._engine("mtp", ())

    def _engine(self, kind: str, options: tuple[tuple[str, Any], ...]) -> Any:
        key = (kind, options)
        if key not in self._engines:
            # The compiled sets describe the bundle's content: once the store changed, compile it.
            sections = self._sections if self.store.version == self._version else None
            self._engines[key] = _build(kind, lambda: self.resources, self.store, dict(options), sections)
        return self._engines[key]


def _build(kind: str, resources: Any, store: Optional[ResourceStore], options: dict[str, Any],
           sections: Optional[_Sections] = None) -> Any:
    """An engine of the class the engines register (meshauthz.registry: bundle.py never imports an
    engine); `resources()` gives the bundle's resources in load order. Over the compiled section of
    an activated bundle's `sections` when the class activates one (`_from_sets`), else compiled
    from the resources (also for a bundle written without a section: its resources did not
    compile then, and the engine reports that as a YAML load would)."""
    cls = _engine_class(kind)
    if kind == "rbac":
        # A verified (or trusted) bundle's own compiled section only: never sets derived from an
        # unverified bundle's resources (`traffic_sets`), whose RBAC engine compiles them.
        if sections is not None and sections.native is None and sections.sets:
            return cls._from_sets(resources, sections.sets, sections.resources_digest(), **options)
        return cls(resources(), **options)  # a list keeps load order, as from YAML paths
    store = store if store is not None else ResourceStore(resources())
    from_sets = getattr(cls, "_from_sets", None)
    if sections is not None and from_sets is not None:
        sets = sections.traffic_sets(cls)
        if sets:
            return from_sets(store, sets, sections.resources_digest(), **options)
    return cls(store, **options)


def _engine_class(kind: str) -> Any:
    cls = _registry.engine_class(kind)
    if cls is None:  # pragma: no cover - meshauthz/__init__ imports every engine package
        raise BundleError(f"no {kind} engine registered: import meshauthz first")
    return cls


def compile_paths(paths: Iterable[Union[str, os.PathLike]], output: Union[str, os.PathLike], *,
                  sign_key: Optional[KeyLike] = None) -> int:
    """Load and validate YAML (or bundles), write one bundle to `output` (signed with the ed25519
    private key `sign_key` when given); returns its size in bytes. A bundle that would not read
    back as the same resources is refused (BundleError) and nothing is written."""
    result = _loader.load_paths(list(paths))
    _api._store_or_raise(result)  # ValidationError / DuplicateResourceError listing every problem
    data = dumps(result.resources, sign_key=sign_key)  # load order, as the YAML gave it
    _check_round_trip(result.resources, data, os.fspath(output))
    tmp = f"{os.fspath(output)}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, output)
    return len(data)


def _identity(r: Resource) -> tuple[Any, ...]:
    return (r.key, r.creation_seconds_nanos, r.modification_time and seconds_nanos(r.modification_time), r.labels,
            r.body, r.form, r.namespace, r.display_name)


def _check_round_trip(resources: list[Resource], data: bytes, output: str) -> None:
    """Both read paths give back the resources (the activated one: every lazy row, and the
    compiled section activates), or nothing is written."""
    try:
        back = loads_resources(data, output)
        lazy = loads(data, output, trusted=True)
        lazy.traffic_engine()
    except MeshauthzError as e:
        raise BundleError(f"{output}: refusing to write a bundle that does not read back: {e}") from None
    for got in (back, lazy.resources):
        if len(got) != len(resources) or any(_identity(a) != _identity(b) for a, b in zip(resources, got)):
            raise BundleError(f"{output}: refusing to write a bundle that does not read back as its resources")


def load_bundle(path: Union[str, os.PathLike], *, verify_key: Optional[KeyLike] = None) -> Bundle:
    """Read a bundle file written by `meshauthz compile`. With `verify_key` (an ed25519 public key:
    object, PEM bytes or PEM file) it must be signed by it and loads without re-validation; without
    one its content is re-validated (ValidationError when a resource is invalid)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BundleError(f"{name}: cannot read bundle: {e.strerror or e}") from None
    return loads(data, source=str(name), verify_key=verify_key)


def loads(data: bytes, source: str = "<bytes>", *, verify_key: Optional[KeyLike] = None,
          trusted: bool = False) -> Bundle:
    """A `Bundle` from bundle bytes (verified: header, format version, checksum, signature / content).
    Signed and verified with `verify_key` (or `trusted` by the caller: its own bytes), it activates
    (lazy resources, compiled sets as-is); otherwise every resource is re-validated."""
    size, offset, verified = _verify(data, source, verify_key)
    if verified or trusted:
        sections = _activate(data, offset, size, source)
        return Bundle(None, _BundleStore(sections), digest(data), source, verified, _sections=sections)
    read = _unverified(data, offset, size, source)
    if isinstance(read, list):
        resources = read
        _revalidate(resources.__getitem__, source, range(len(resources)))
    else:
        _revalidate(read.row, source, read.unvouched)
        if not read.native.duplicates:
            # as an activated bundle, over sets derived from the resources (`traffic_sets`)
            return Bundle(None, _BundleStore(read), digest(data), source, verified, _sections=read)
        resources = read.materialise()[0]
    with gc_paused():
        store = ResourceStore(resources)  # DuplicateResourceError naming every duplicate
    return Bundle(resources, store, digest(data), source, verified)


def validate_bundle(data: bytes, source: str = "<bytes>") -> Any:
    """`meshauthz validate BUNDLE`: a LoadResult with every problem of the bundle's content (a
    malformed bundle is one `bundle` problem); never raises for bad input."""
    out = _loader.LoadResult()
    key = _REQUIRED_KEY.get()
    try:
        resources, verified, _, rows = _decode(data, source, key)
    except BundleError as e:
        expected = "a meshauthz bundle signed by the verification key" if key else "a valid meshauthz bundle"
        message = str(e).removeprefix(f"{source}: ")  # the problem names the file itself
        out.problems.append(Problem(message, file=source, code="bundle", expected=expected))
        return out
    if verified:  # signed by the required key: trusted as compiled, no re-validation
        out.documents += len(resources)
        out.resources.extend(resources)
        return out
    checked = _loader.LoadResult()
    failed = {i for i in rows if not _loader.check_resource(resources[i], checked)}  # the others pass
    out.documents += len(resources)
    out.resources.extend(r for i, r in enumerate(resources) if i not in failed)
    out.problems.extend(_in_bundle(p, source) for p in checked.problems)
    out.warnings.extend(_in_bundle(p, source) for p in checked.warnings)
    return out


register_reader(MAGIC, validate_bundle)  # load_paths / validate / -f read bundles, re-validated

# The key every bundle read through the loader must be signed with (None: any bundle, re-validated).
_REQUIRED_KEY: ContextVar[Optional[Any]] = ContextVar("meshauthz_bundle_key", default=None)


def required_key() -> Optional[Any]:
    """The public key `require_signature` set for the current context (None: any bundle, re-validated)."""
    return _REQUIRED_KEY.get()


@contextmanager
def require_signature(verify_key: KeyLike) -> Iterator[None]:
    """Within the block, every bundle `load_paths` / `validate` / the CLI's `-f` read must be signed
    by `verify_key` (an ed25519 public key: object, PEM bytes or PEM file; BundleError when it is
    not one) and then loads without re-validation; any other bundle is a `bundle` problem."""
    token = _REQUIRED_KEY.set(_public_key(verify_key))
    try:
        yield
    finally:
        _REQUIRED_KEY.reset(token)


# ---- pickling engines through bundles -------------------------------------------------------------

_CACHE: dict[tuple[str, str, str], Any] = {}
_CACHE_LOCK = threading.Lock()


def reduce_engine(engine: Any, kind: str, resources: Union[ResourceStore, list[Resource]],
                  options: dict[str, Any]) -> tuple[Any, ...]:
    """`__reduce__` for an engine: (rebuild, (kind, bundle bytes, options)).

    The bytes are cached on the engine per store version (or per resource list), so pickling an
    engine for many tasks serialises it once."""
    stamp = ("v", resources.version) if isinstance(resources, ResourceStore) else ("id", id(resources))
    cached = getattr(engine, "_bundle_bytes", None)
    if cached is None or cached[0] != stamp:
        cached = (stamp, dumps(resources))
        engine._bundle_bytes = cached
    return (_rebuild, (kind, cached[1], json.dumps(options, sort_keys=True)))


def _rebuild(kind: str, data: bytes, options: str) -> Any:
    """Unpickle: the bundle is decoded, and the engine's immutable compiled snapshot built, once per
    (kind, digest, options) per process; every unpickle returns a *fresh* engine over that snapshot
    (its own store), so a reload in one task never changes another's (#12). Pickled bytes are as
    trusted as the pickle itself (unpickling runs code): no re-validation."""
    key = (kind, digest(data), options)
    with _CACHE_LOCK:
        template = _CACHE.get(key)
    if template is None:
        resources, _, sections, _ = _decode(data, "<pickle>", None, trusted=True)
        opts = json.loads(options)
        engine = _build(kind, lambda: resources, None, opts, sections)
        snapshot = engine._snapshot() if kind in ("traffic", "mtp") else None
        template = (resources, opts, type(engine), snapshot)
        with _CACHE_LOCK:
            template = _CACHE.setdefault(key, template)
    resources, opts, cls, snapshot = template
    if snapshot is None:
        return _build(kind, lambda: resources, None, opts)
    return cls._over(ResourceStore(resources), snapshot, **opts)


_registry.register_reducer(reduce_engine)  # engines' __reduce__ pickle as bundle bytes through it


__all__ = ["Bundle", "BundleError", "FORMAT_VERSION", "MAGIC", "MAX_INFLATED", "MAX_RATIO", "compile_paths", "dumps",
           "load_bundle", "loads", "loads_resources", "require_signature", "signing_key",
           "validate_bundle"]
