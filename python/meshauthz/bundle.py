"""Compiled bundles: validated, normalised resources in one versioned, checksummed binary file.

Level (issue #6 A): a bundle holds the *validated, normalised resources* (kind, core name, mesh,
labels, creation/modification time, form, namespace, display name, document order and the
Universal-equivalent body), not the Rust policy sets. Loading skips YAML parsing, pydantic models
and Kuma validation; the engines recompile from the store exactly as after a YAML load, so a bundle
can never decide differently from its sources, and the Rust set layout stays free to change.

Layout (all integers big-endian)::

    b"MESHAUTHZ-BUNDLE\\n"   17-byte magic
    u16 format version       FORMAT_VERSION
    32 bytes                 sha256 of the payload
    payload                  zlib(JSON {"meshauthz": version, "resources": [row, ...]})

A bundle of another format version, a truncated file or any flipped byte raises `BundleError`.
The checksum detects corruption; it is not a signature (a bundle is as trusted as its YAML).

Measured (bench/bench_bundle.py, 10,000 TrafficPermissions, 2-CPU AMD EPYC VM under load ~5.7):
bundle load 0.57 s min (store only; ~0.17 s CPU in an idle process), load + TrafficEngine compile
1.14 s, vs 6.2 s from YAML (~11x). The 20 ms target is NOT met at this level: decoding 10,000 JSON
bodies into Python objects dominates (~70%). Meeting it needs the compiled Rust sets serialised
(serde) and resources materialised lazily — a follow-up once the core's set layout settles.

Engines pickle through their bundle bytes (`__reduce__`): a worker process rebuilds an engine once
per (digest, options) and reuses it for every later unpickle.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import struct
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Optional, Union

from . import kinds as _kinds
from .errors import MeshauthzError
from .loader import register_reader
from .resource import GO_ZERO_TIME, Resource, datetime_view, seconds_nanos
from .store import ResourceStore
from .yaml_source import Document

MAGIC = b"MESHAUTHZ-BUNDLE\n"
FORMAT_VERSION = 2  # 2: times as [seconds, nanoseconds, offset]
_HEADER = struct.Struct(">H32s")
HEADER_SIZE = len(MAGIC) + _HEADER.size
_FORMS = ("universal", "kubernetes")


class BundleError(MeshauthzError):
    """A bundle file cannot be used: not a bundle, another format version, truncated or corrupted."""


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


_NEW = object.__new__


def _resource(row: list[Any], docs: dict[tuple[str, int], Document]) -> Resource:
    kind, name, mesh, labels, created, modified, form, namespace, display, file, index, body = row
    k = _kinds.KINDS.get(kind)
    if k is None:
        raise BundleError(f"bundle names an unknown resource kind {kind!r}")
    doc = None
    if file is not None:  # document order is kept (MTP `as_listed`, A2); positions are not
        doc = docs.get((file, index))
        if doc is None:
            doc = docs[(file, index)] = Document(None, file, index)
    # Fields set directly (the frozen dataclass __init__ costs ~40% of decoding): same object as
    # Resource(...) would build; the rows were validated when the bundle was compiled.
    r = _NEW(Resource)
    r.__dict__.update(kind=k, name=name, mesh=mesh, body=body, labels=labels,
                      creation_time=GO_ZERO_TIME if created is None else _time(*created),
                      modification_time=None if modified is None else _time(*modified), form=_FORMS[form],
                      namespace=namespace, display_name=display, model=None, document=doc, path_prefix=(),
                      created=None if created is None else (created[0], created[1]))
    return r


# ---- encode / decode ------------------------------------------------------------------------------


def dumps(resources: Union[ResourceStore, Iterable[Resource]], *, level: int = 6) -> bytes:
    """Serialise resources (a store, or resources in load order) into bundle bytes."""
    from . import __version__

    items = resources.list() if isinstance(resources, ResourceStore) else list(resources)
    text = json.dumps({"meshauthz": __version__, "resources": [_row(r) for r in items]},
                      separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    payload = zlib.compress(text.encode("utf-8"), level)
    return MAGIC + _HEADER.pack(FORMAT_VERSION, hashlib.sha256(payload).digest()) + payload


def is_bundle(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def digest(data: bytes) -> str:
    """The payload sha256 (hex) recorded in a bundle's header (not checked: see `loads_resources`)."""
    _check_header(data, "<bytes>")
    return data[len(MAGIC) + 2 : HEADER_SIZE].hex()


def _check_header(data: bytes, source: str) -> tuple[int, bytes]:
    if not is_bundle(data):
        raise BundleError(f"{source}: not a meshauthz bundle (missing the MESHAUTHZ-BUNDLE header)")
    if len(data) < HEADER_SIZE:
        raise BundleError(f"{source}: truncated bundle header ({len(data)} bytes)")
    version, checksum = _HEADER.unpack_from(data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise BundleError(f"{source}: bundle format version {version} is not supported by this meshauthz "
                          f"(it reads format version {FORMAT_VERSION}); recompile it with `meshauthz compile`")
    return version, checksum


def loads_resources(data: bytes, source: str = "<bytes>") -> list[Resource]:
    """Verify (magic, format version, sha256) and decode a bundle's resources, in load order."""
    _, checksum = _check_header(data, source)
    payload = memoryview(data)[HEADER_SIZE:]
    if hashlib.sha256(payload).digest() != checksum:
        raise BundleError(f"{source}: bundle checksum mismatch (sha256 of the payload differs from the header): "
                          "the file is corrupted or was modified")
    # The cyclic GC would rescan the whole heap several times while ~10 objects per resource are
    # created (none of them cyclic): pausing it makes loading 3-10x faster in a big process.
    enabled = gc.isenabled()
    gc.disable()
    try:
        doc = json.loads(zlib.decompress(payload))
        rows = doc["resources"]
        docs: dict[tuple[str, int], Document] = {}
        return [_resource(row, docs) for row in rows]
    except BundleError:
        raise
    except (zlib.error, ValueError, KeyError, TypeError, IndexError) as e:  # only a forged checksum gets here
        raise BundleError(f"{source}: malformed bundle payload: {e}") from None
    finally:
        if enabled:
            gc.enable()


# ---- public API -----------------------------------------------------------------------------------


@dataclass
class Bundle:
    """A loaded bundle: its resources (load order), its store, and engines built on demand (once each)."""

    resources: list[Resource]
    store: ResourceStore
    digest: str
    path: Optional[str] = None
    _engines: dict[Any, Any] = field(default_factory=dict, repr=False)

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
            self._engines[key] = _build(kind, self.resources, self.store, dict(options))
        return self._engines[key]


def _build(kind: str, resources: list[Resource], store: Optional[ResourceStore], options: dict[str, Any]) -> Any:
    if kind == "rbac":
        from .rbac import Authorizer

        return Authorizer(resources, **options)  # a list keeps load order, as from YAML paths
    store = store if store is not None else ResourceStore(resources)
    if kind == "traffic":
        from .traffic import TrafficEngine

        return TrafficEngine(store, **options)
    if kind == "mtp":
        from .mtp import MtpEngine

        return MtpEngine(store)
    raise BundleError(f"unknown engine kind {kind!r}")


def compile_paths(paths: Iterable[Union[str, os.PathLike]], output: Union[str, os.PathLike]) -> int:
    """Load and validate YAML (or bundles), write one bundle to `output`; returns its size in bytes."""
    from .api import _store_or_raise
    from .loader import load_paths

    result = load_paths(list(paths))
    _store_or_raise(result)  # ValidationError / DuplicateResourceError listing every problem
    data = dumps(result.resources)  # load order, as the YAML gave it
    tmp = f"{os.fspath(output)}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, output)
    return len(data)


def load_bundle(path: Union[str, os.PathLike]) -> Bundle:
    """Read a bundle file written by `meshauthz compile` (no YAML parsing, no validation)."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    return loads(data, source=str(name))


def loads(data: bytes, source: str = "<bytes>") -> Bundle:
    """A `Bundle` from bundle bytes (verified: header, format version, sha256)."""
    resources = loads_resources(data, source)
    return Bundle(resources, ResourceStore(resources), digest(data), source)


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
    """Unpickle: one engine per (kind, digest, options) per process, verified and built once."""
    key = (kind, digest(data), options)
    with _CACHE_LOCK:
        engine = _CACHE.get(key)
    if engine is None:
        engine = _build(kind, loads_resources(data), None, json.loads(options))
        with _CACHE_LOCK:
            engine = _CACHE.setdefault(key, engine)
    return engine


def _read_for_loader(data: bytes, source: str) -> Any:
    """`load_paths` on a bundle file: its resources (a bad bundle is one located problem)."""
    from .errors import Problem
    from .loader import LoadResult

    out = LoadResult()
    try:
        out.resources.extend(loads_resources(data, source))
    except BundleError as e:
        out.problems.append(Problem(str(e), file=source, code="bundle", expected="a valid meshauthz bundle"))
    return out


register_reader(MAGIC, _read_for_loader)

__all__ = ["Bundle", "BundleError", "FORMAT_VERSION", "MAGIC", "compile_paths", "dumps", "load_bundle",
           "loads", "loads_resources"]
