"""Loading resources from YAML: files, directories, stdin, strings and plain dicts, in both forms.

`load_*` functions never stop at the first problem: they return a `LoadResult` with every resource
that loaded cleanly, every located problem and every warning. `meshauthz.load()` raises when there
are problems; `meshauthz.validate()` reports them.
"""

from __future__ import annotations

import os
import sys
import warnings as _warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path as FsPath
from typing import Any, Callable, Iterable, Optional, Union

from . import kinds as _kinds
from .errors import InputError, Problem
from .models import ModelError, parse_model
from .models.fastcheck import clean
from .resource import ENVELOPE, GO_ZERO_TIME, UNREAD, Resource, new_resource, seconds_nanos
from .validation import MapKey, render_path, validate_meta, validate_resource
from .validation.traffic_permission import clean as clean_traffic_permission
from .yaml_source import Document, Path, gc_paused, read_documents, timestamp, tz_of

PathLike = Union[str, os.PathLike]
YAML_SUFFIXES = (".yaml", ".yml", ".json")
_ENVELOPE = ENVELOPE
# Clean documents' bodies are read on first access (resource.DeferredResource; issue #13):
# False builds every body at load (the differential tests compare both).
DEFER_BODIES = True
_K8S_API = "kuma.io/v1alpha1"


class MeshauthzWarning(UserWarning):
    """An unknown field or a deprecation in an input document (TP A18, MTP M3.8)."""


@dataclass
class LoadResult:
    resources: list[Resource] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    documents: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def extend(self, other: LoadResult) -> None:
        self.resources.extend(other.resources)
        self.problems.extend(other.problems)
        self.warnings.extend(other.warnings)
        self.documents += other.documents


def _problem(doc: Document, path: Path, message: str, *, expected: str = "", code: str = "invalid",
             resource: str = "", field: Optional[str] = None) -> Problem:
    mark = doc.mark(path)
    return Problem(message, file=doc.file, document=doc.index, line=mark[0] if mark else None,
                   column=mark[1] if mark else None,
                   path=field if field is not None else render_path(path), expected=expected, code=code,
                   resource=resource)


Created = tuple[datetime, tuple[int, int]]  # (datetime view, (seconds, nanoseconds)) of a time


def _parse_time(value: Any, doc: Document, path: Path, out: LoadResult) -> Optional[Created]:
    """An RFC 3339 time: a YAML timestamp, or a string (quoted) in RFC 3339 / ISO 8601 form. The
    nanoseconds are kept (T3.5 ties compare them); the datetime view is a naive time taken as UTC."""
    if value is None:
        return None
    if type(value) is str:
        fast = rfc3339_utc(value)
        if fast is not None:
            return fast
    if isinstance(value, str):
        try:
            parsed: Any = timestamp(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, datetime):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                parsed = None
        value = parsed if parsed is not None else value
    if isinstance(value, datetime):
        view = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return view, seconds_nanos(value)
    out.problems.append(_problem(doc, path, f"invalid timestamp {value!r}",
                                 expected="an RFC 3339 time such as 2024-01-01T00:00:00Z", code="type"))
    return None


_UTC = timezone.utc


# text -> rfc3339_utc(text): resources applied together share their timestamp text (Kubernetes
# documents' creationTimestamp is parsed here, not by the native reader); immutable values
_TIMES: dict[str, Created] = {}


def rfc3339_utc(value: str) -> Optional[Created]:
    """The common RFC 3339 UTC form `YYYY-MM-DDTHH:MM:SS[.fraction]Z` without regular expressions
    (the creationTime of most resources); None for any other text. Same result as the general path
    (`timestamp` + `seconds_nanos`)."""
    hit = _TIMES.get(value)
    if hit is not None:
        return hit
    made = _rfc3339_utc(value)
    if made is not None and len(_TIMES) < _CREATED_MAX:
        _TIMES[value] = made
    return made


def _rfc3339_utc(value: str) -> Optional[Created]:
    n = len(value)
    if n < 20 or value[-1] != "Z" or value[4] != "-" or value[7] != "-" or value[10] != "T" \
            or value[13] != ":" or value[16] != ":" or (n > 20 and (value[19] != "." or n == 21)):
        return None
    digits = value[:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19] + value[20:-1]
    if not digits.isascii() or not digits.isdigit():
        return None
    frac = value[20:-1][:9].ljust(9, "0")
    nanos = int(frac)
    try:
        view = datetime(int(value[:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]), int(value[14:16]),
                        int(value[17:19]), nanos // 1000, _UTC)
    except ValueError:
        return None
    d = view.toordinal() - 719163  # days since 1970-01-01
    return view, (d * 86400 + view.hour * 3600 + view.minute * 60 + view.second, nanos)


def _string_map(value: Any, doc: Document, path: Path, out: LoadResult) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        out.problems.append(_problem(doc, path, "must be a map of strings to strings",
                                     expected="a mapping of string keys to string values", code="type"))
        return {}
    return dict(value)


def resource_from_document(doc: Document, out: LoadResult, *, system_namespace: str = "kuma-system",
                           check: bool = True, consume: bool = False) -> Optional[Resource]:
    """Normalise one parsed document into a Resource (or record its problems and return None).

    With `check=False` only the envelope is read: no meta, type or Kuma validation (the
    conformance `validate` kind asks for one specific layer of checks itself). `consume=True`
    (the loader's own documents, used once): `doc.value` is then released (less memory per resident
    resource)."""
    if doc.deferred and check:  # clean by construction; the body is read on access
        return _from_clean_universal(doc, doc.envelope, consume)
    raw = doc.value
    if not isinstance(raw, dict):
        out.problems.append(_problem(doc, (), f"a resource must be a mapping, not {type(raw).__name__}",
                                     expected="a mapping with `type` (Universal) or `apiVersion`/`kind`",
                                     code="type"))
        return None
    kubernetes = "apiVersion" in raw or "kind" in raw
    if doc.clean and check:
        # found clean by the native reader (meshauthz_core::yaml::clean): every check passes
        if kubernetes:
            return _from_kubernetes(doc, raw, out, system_namespace, False)
        return _from_clean_universal(doc, raw, consume)
    if kubernetes:
        return _from_kubernetes(doc, raw, out, system_namespace, check)
    return _from_universal(doc, raw, out, check)


# creationTime -> (datetime view, (seconds, nanoseconds)): immutable values, shared by the resources
# created in the same instant (a batch applied at once shares its seconds): 88 bytes less each.
_CREATED: dict[tuple[Any, ...], tuple[datetime, tuple[int, int]]] = {}
_CREATED_MAX = 4096


def _from_clean_universal(doc: Document, raw: dict[str, Any], consume: bool = False) -> Resource:
    """A Universal document the native reader found clean (every check below passes; see
    meshauthz_core::yaml::clean): the same Resource `_from_universal` builds, without re-checking."""
    kind = _kinds.KINDS[raw["type"]]
    name = raw["name"]
    labels = raw.get("labels") or {}
    created = modified = None
    ct = doc.created
    if ct is not None:  # resolved by the native reader
        created = _CREATED.get(ct)
        if created is None:
            view = datetime(ct[0], ct[1], ct[2], ct[3], ct[4], ct[5], ct[6] // 1000, tz_of(ct[7]))
            created = (view, (ct[8], ct[6]))
            if len(_CREATED) < _CREATED_MAX:
                _CREATED[ct] = created
    elif raw.get("creationTime") is not None:
        value = raw["creationTime"]
        created = (rfc3339_utc(value) if type(value) is str else None) or _parse_time(
            value, doc, ("creationTime",), LoadResult())
    value = raw.get("modificationTime")
    if value is not None:
        modified = _parse_time(value, doc, ("modificationTime",), LoadResult())
    mesh = (raw.get("mesh") or "default") if kind.mesh_scoped else None  # MTP's default mesh (§2.1)
    # a new mapping, not `raw` less its envelope: that one keeps a table sized for the envelope
    # (dict.copy() too), 88 bytes more per resident resource
    body = UNREAD if doc.deferred else {k: v for k, v in raw.items() if k not in _ENVELOPE}
    if consume:  # used once: the document lets go of its value and resolved time
        doc.value = doc.created = None
    # fields set directly: the frozen dataclass __init__ is a third of this path
    return new_resource(kind, name, mesh, body, dict(labels), created[0] if created else GO_ZERO_TIME,
                        modified[0] if modified else None, "universal", None,
                        labels.get("kuma.io/display-name", name), None, doc, (), created[1] if created else None)


def _kind_of(doc: Document, name: Any, path: Path, out: LoadResult) -> Optional[_kinds.Kind]:
    if not isinstance(name, str) or not name:
        out.problems.append(_problem(doc, path, "missing resource kind" if name is None else
                                     f"resource kind must be a string, not {type(name).__name__}",
                                     expected="a Kuma resource kind such as TrafficPermission", code="unknown-kind"))
        return None
    kind = _kinds.lookup(name)
    if kind is None:
        out.problems.append(_problem(doc, path, f"unknown resource kind {name!r}",
                                     expected="a Kuma / Kong Mesh resource kind (rbac.md R4.3)",
                                     code="unknown-kind"))
    return kind


def _from_universal(doc: Document, raw: dict[str, Any], out: LoadResult, check: bool) -> Optional[Resource]:
    kind = _kind_of(doc, raw.get("type"), ("type",), out)
    if kind is None:
        return None
    name = raw.get("name")
    mesh = raw.get("mesh")
    for key, value in (("name", name), ("mesh", mesh)):
        if value is not None and not isinstance(value, str):
            out.problems.append(_problem(doc, (key,), f"must be a string, not {type(value).__name__}",
                                         expected="a string", code="type"))
            return None
    if kind.name == "MeshTrafficPermission" and not mesh:
        mesh = "default"  # MTP schema default (meshtrafficpermission.md §2.1)
    if not kind.mesh_scoped:
        mesh = None
    if check:
        before = len(out.problems)
        for v in validate_meta(kind, name or "", mesh if kind.mesh_scoped else None):
            out.problems.append(_problem(doc, (v.path[0],) if v.path else (), v.message, code="meta",
                                         resource=f"{kind.name} {name or '<unnamed>'}", field=v.field))
        if len(out.problems) > before:
            return None
    labels = _string_map(raw.get("labels"), doc, ("labels",), out)
    created = _parse_time(raw.get("creationTime"), doc, ("creationTime",), out)
    modified = _parse_time(raw.get("modificationTime"), doc, ("modificationTime",), out)
    body = {k: v for k, v in raw.items() if k not in _ENVELOPE}
    return _finish(doc, out, kind, name or "", mesh, body, labels, created, modified, "universal", None,
                   labels.get("kuma.io/display-name", name or ""), (), check)


def _from_kubernetes(doc: Document, raw: dict[str, Any], out: LoadResult, system_ns: str,
                     check: bool) -> Optional[Resource]:
    api, kind_name = raw.get("apiVersion"), raw.get("kind")
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        out.problems.append(_problem(doc, ("metadata",), "missing metadata" if meta is None else
                                     "metadata must be a mapping", expected="a mapping with `name`", code="type"))
        return None
    if api == "v1" and kind_name == "Secret":
        secret_kind = _kinds.K8S_SECRET_TYPES.get(raw.get("type"))  # type: ignore[arg-type]
        if secret_kind is None:
            out.problems.append(_problem(doc, ("type",), f"Secret of type {raw.get('type')!r} is not a Kuma secret",
                                         expected="type system.kuma.io/secret or system.kuma.io/global-secret",
                                         code="unknown-kind"))
            return None
        kind = _kinds.KINDS[secret_kind]
    else:
        if api != _K8S_API:
            out.problems.append(_problem(doc, ("apiVersion",), f"unsupported apiVersion {api!r}",
                                         expected=f"apiVersion {_K8S_API} (or v1 for Secrets)", code="unknown-kind"))
            return None
        kind = _kind_of(doc, kind_name, ("kind",), out)
        if kind is None:
            return None
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name:
        out.problems.append(_problem(doc, ("metadata", "name"), "metadata.name must be a non-empty string",
                                     expected="a resource name", code="meta", field="metadata.name"))
        return None
    if namespace is not None and not isinstance(namespace, str):
        out.problems.append(_problem(doc, ("metadata", "namespace"), "metadata.namespace must be a string",
                                     expected="a namespace name", code="type", field="metadata.namespace"))
        return None
    labels = _string_map(meta.get("labels"), doc, ("metadata", "labels"), out)
    # R4.2 / TP A13: legacy top-level `mesh`, else the kuma.io/mesh label, else "default".
    mesh = raw.get("mesh") or labels.get("kuma.io/mesh") or "default"
    if not isinstance(mesh, str):
        out.problems.append(_problem(doc, ("mesh",), "mesh must be a string", expected="a mesh name", code="type"))
        return None
    if check:
        label = f"{kind.name} {name}"
        secret = kind.name in ("Secret", "GlobalSecret")
        _unknown_keys(doc, out, raw, (), _K8S_SECRET_KEYS if secret else _K8S_KEYS, label,
                      "a field of a Kubernetes object: apiVersion, kind, metadata, "
                      + ("type, data" if secret else "spec, mesh; policy fields belong under `spec`"))
        _unknown_keys(doc, out, meta, ("metadata",), _K8S_META_KEYS, label, "a Kubernetes ObjectMeta field")
        # The Universal form's name / mesh rules (TP §5.3) apply to metadata.name and the mesh.
        mesh_path: Path = ("mesh",) if raw.get("mesh") else ("metadata", "labels", MapKey("kuma.io/mesh"))
        before = len(out.problems)
        for v in validate_meta(kind, name, mesh if kind.mesh_scoped else None):
            where = ("metadata", "name") if v.path[:1] == ("name",) else mesh_path
            out.problems.append(_problem(doc, where, v.message, code="meta", resource=label,
                                         field=render_path(where)))
        if len(out.problems) > before:
            return None
    core_name = f"{name}.{namespace}" if kind.namespaced and namespace else name
    if kind.namespaced and namespace:
        labels.setdefault("k8s.kuma.io/namespace", namespace)
        if kind.family == "targetRef":  # MTP M2.5: policy role derived from the namespace
            labels.setdefault("kuma.io/policy-role", "system" if namespace == system_ns else "workload-owner")
    labels.setdefault("kuma.io/display-name", name)
    created = _parse_time(meta.get("creationTimestamp"), doc, ("metadata", "creationTimestamp"), out)
    if kind.name in ("Secret", "GlobalSecret"):
        body = {k: v for k, v in raw.items() if k in ("data",)}
        prefix: Path = ()
    else:
        spec = raw.get("spec", {})
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            out.problems.append(_problem(doc, ("spec",), "spec must be a mapping", expected="a mapping", code="type"))
            return None
        if kind.spec_wrapped:
            body, prefix = {"spec": spec}, ()
        else:
            body, prefix = dict(spec), ("spec",)
    return _finish(doc, out, kind, core_name, mesh if kind.mesh_scoped else None, body, labels, created, None,
                   "kubernetes", namespace, labels.get("kuma.io/display-name", name), prefix, check)


_K8S_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec", "mesh", "status"})
_K8S_SECRET_KEYS = frozenset({"apiVersion", "kind", "metadata", "type", "data"})
_K8S_META_KEYS = frozenset({
    "name", "namespace", "labels", "annotations", "creationTimestamp", "uid", "resourceVersion", "generation",
    "generateName", "ownerReferences", "finalizers", "managedFields", "deletionTimestamp",
    "deletionGracePeriodSeconds", "selfLink",
})


def _unknown_keys(doc: Document, out: LoadResult, mapping: dict[Any, Any], prefix: Path, known: frozenset[str],
                  label: str, expected: str) -> None:
    """Kubernetes-form keys meshauthz does not read: a warning each, as unknown Universal fields get
    (TP A18) — a policy field written beside `spec` instead of under it is silently lost otherwise."""
    for key in mapping:
        if key not in known:
            path = prefix + (key if isinstance(key, (str, int)) else str(key),)
            out.warnings.append(_problem(doc, path, "unknown field, ignored as Kuma does (TP A18)",
                                         expected=expected, code="unknown-field", resource=label,
                                         field=render_path(path)))


def _finish(doc: Document, out: LoadResult, kind: _kinds.Kind, name: str, mesh: Optional[str],
            body: dict[str, Any], labels: dict[str, str], created: Optional[Created],
            modified: Optional[Created], form: str, namespace: Optional[str], display: str,
            prefix: Path, check: bool) -> Optional[Resource]:
    label = f"{kind.name} {mesh}/{name}" if mesh else f"{kind.name} {name}"
    model = None
    if check and kind.name in _kinds.TYPED_KINDS and not clean(kind.name, body):
        # not provably clean (a type error, an unknown field, a value pydantic coerces): pydantic
        # words it; a clean body needs no model here (`Resource.model` builds it on access)
        try:
            model, unknown = parse_model(kind.name, body)
        except ModelError as e:
            for path, message, expected in e.errors:
                out.problems.append(_problem(doc, prefix + path, message, expected=expected, code="type",
                                             resource=label, field=render_path(path)))
            return None
        for path in unknown:
            out.warnings.append(_problem(doc, prefix + path, "unknown field, ignored as Kuma does (TP A18)",
                                         code="unknown-field", resource=label, field=render_path(path)))
    res = Resource(kind=kind, name=name, mesh=mesh, body=body, labels=labels,
                   creation_time=created[0] if created else GO_ZERO_TIME,
                   modification_time=modified[0] if modified else None, form=form,  # type: ignore[arg-type]
                   namespace=namespace, display_name=display, _model=model, document=doc, path_prefix=prefix,
                   created=created[1] if created else None)
    if not check:
        return res
    report = validate_resource(res)
    for v in report.violations:
        out.problems.append(_problem(doc, prefix + v.path, v.message, code="validation", resource=label,
                                     field=v.field))
    for w in report.warnings:
        out.warnings.append(_problem(doc, prefix + w.path, w.message, code="deprecation", resource=label,
                                     field=w.field))
    return None if report.violations else res


def check_resource(res: Resource, out: LoadResult) -> bool:
    """The loader's checks on an already normalised resource (a bundle read without a verified
    signature): name / mesh meta, label types, body types (models) and Kuma validation, problems and
    warnings into `out`, located at the resource's document. True when it passes."""
    doc = res.document if res.document is not None else Document(None, "<resource>", 0)
    kind, label = res.kind, res.describe()
    before = len(out.problems)
    for v in validate_meta(kind, res.name, res.mesh if kind.mesh_scoped else None):
        out.problems.append(_problem(doc, (), v.message, code="meta", resource=label, field=v.field))
    _string_map(res.labels, doc, ("labels",), out)
    if len(out.problems) > before:
        return False
    if kind.name == "TrafficPermission" and clean_traffic_permission(res.body):
        return True  # nothing to report (the native reader's verdict, for resources read without it)
    return _finish(doc, out, kind, res.name, res.mesh, res.body, res.labels, None, None, res.form, res.namespace,
                   res.display_name, res.path_prefix, True) is not None


def load_text(text: Union[str, bytes], file: str = "<input>", *, system_namespace: str = "kuma-system") -> LoadResult:
    out = LoadResult()
    try:
        with gc_paused():
            for doc in read_documents(text, file, defer=DEFER_BODIES):
                if doc.envelope is None:  # (a deferred document's value is not read here)
                    continue  # an empty document is skipped, as kubectl does
                out.documents += 1
                res = resource_from_document(doc, out, system_namespace=system_namespace, consume=True)
                if res is not None:
                    out.resources.append(res)
    except InputError as e:
        out.problems.extend(e.problems)
    return out


def load_objects(objects: Iterable[dict[str, Any]], file: str = "<objects>") -> LoadResult:
    """Load already-parsed documents (e.g. dicts built in Python)."""
    out = LoadResult()
    for i, obj in enumerate(objects):
        doc = Document(obj, file, i)
        out.documents += 1
        res = resource_from_document(doc, out)
        if res is not None:
            out.resources.append(res)
    return out


def iter_files(paths: Iterable[PathLike]) -> Iterable[tuple[str, Optional[FsPath]]]:
    """Expand paths: directories recursively (YAML files, sorted), `-` = stdin."""
    for p in paths:
        if str(p) == "-":
            yield "-", None
            continue
        fp = FsPath(p)
        if fp.is_dir():
            for child in sorted(fp.rglob("*")):
                if child.is_file() and child.suffix in YAML_SUFFIXES:
                    yield str(child), child
        else:
            yield str(fp), fp


# Readers of non-YAML inputs by their leading magic bytes. `meshauthz.bundle` registers its own when
# imported (the package imports it): the loader never imports bundle code.
_READERS: dict[bytes, Callable[[bytes, str], LoadResult]] = {}


def register_reader(magic: bytes, reader: Callable[[bytes, str], LoadResult]) -> None:
    """Route files starting with `magic` to `reader(data, file)` instead of the YAML loader."""
    _READERS[magic] = reader


def load_paths(paths: Iterable[PathLike]) -> LoadResult:
    out = LoadResult()
    for name, fp in iter_files(paths):
        if fp is None:
            out.extend(load_text(sys.stdin.buffer.read(), "<stdin>"))
            continue
        try:
            data = fp.read_bytes()
        except OSError as e:
            out.problems.append(Problem(f"cannot read file: {e.strerror or e}", file=name, code="io",
                                        expected="a readable YAML file or directory"))
            continue
        reader = next((r for magic, r in _READERS.items() if data.startswith(magic)), None)
        if reader is not None:  # e.g. a compiled bundle (meshauthz.bundle registers its reader)
            out.extend(reader(data, name))
            continue
        out.extend(load_text(data, name))
    return out


def emit_warnings(result: LoadResult, stacklevel: int = 3) -> None:
    """Emit the load warnings through the `warnings` module (library callers)."""
    for w in result.warnings:
        _warnings.warn(str(w), MeshauthzWarning, stacklevel=stacklevel)
