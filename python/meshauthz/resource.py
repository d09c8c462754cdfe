"""`Resource`: one loaded Kuma / Kong Mesh object, in a form-independent shape.

Both YAML forms normalise to the same thing: a kind, a core name, a mesh, labels, a creation time and
the *Universal-equivalent body* — the Universal document without its envelope (`type`, `name`,
`mesh`, `labels`, `creationTime`, `modificationTime`). For Kubernetes documents the body is built
from `spec` (legacy kinds: `spec` itself; spec-wrapped kinds: `{"spec": spec}`), so field paths in
violations are Kuma's paths whichever form the user wrote; `path_prefix` maps them back to the
document to find line and column.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Optional

from .kinds import TYPED_KINDS, Kind
from .models import ModelError, parse_model
from .yaml_source import Document, Mark, Path, reread

# Go's zero time: what Kuma reports for a resource without a creation time (issue #3, TP A3).
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)

Form = Literal["universal", "kubernetes"]
# The Universal envelope: every other top-level field of a Universal document is the body.
ENVELOPE = ("type", "name", "mesh", "labels", "creationTime", "modificationTime")

_EPOCH = datetime(1970, 1, 1)  # naive: arithmetic on wall times never leaves datetime's range
_NS = 1_000_000_000


def seconds_nanos(t: datetime) -> tuple[int, int]:
    """An instant as (seconds since the Unix epoch, nanoseconds 0..999,999,999): the one precise
    creationTime representation of the core, bundles and the API (T3.5 ties compare it). A naive
    datetime is UTC; a `yaml_source.Timestamp` contributes its sub-microsecond digits. Exact for Go's
    zero time and for year 9999 with any offset (no conversion to UTC through `datetime`)."""
    d = t.replace(tzinfo=None) - _EPOCH - (t.utcoffset() or timedelta(0))
    total = (d.days * 86400 + d.seconds) * _NS + d.microseconds * 1000 + getattr(t, "_sub_us", 0)
    secs, nanos = divmod(total, _NS)
    return secs, nanos


def datetime_view(secs: int, nanos: int, offset_seconds: int = 0) -> datetime:
    """The `datetime` view (microseconds) of (seconds, nanoseconds), in the given UTC offset; raises
    OverflowError / ValueError when that wall time is outside datetime's years 1..9999."""
    wall = _EPOCH + timedelta(seconds=secs + offset_seconds, microseconds=nanos // 1000)
    tz = timezone.utc if offset_seconds == 0 else timezone(timedelta(seconds=offset_seconds))
    return wall.replace(tzinfo=tz)


@dataclass(frozen=True, eq=False, slots=True)
class Resource:
    # slots (issue #13): no per-resource __dict__ (~380 bytes each); `_model` is a slot too, so the
    # `model` cache still works on a frozen instance
    kind: Kind
    name: str  # Kuma core name (`name.namespace` for namespaced Kubernetes kinds, R4.2)
    mesh: Optional[str]  # None for global-scoped kinds
    body: dict[str, Any]  # Universal-equivalent body (see module docstring)
    labels: dict[str, str] = field(default_factory=dict)
    creation_time: datetime = GO_ZERO_TIME
    modification_time: Optional[datetime] = None  # parsed, never used for ranking (TP A2)
    form: Form = "universal"
    namespace: Optional[str] = None  # Kubernetes metadata.namespace
    display_name: str = ""  # label kuma.io/display-name, else metadata.name / name
    _model: Any = field(default=None, repr=False)  # see `model`
    document: Optional[Document] = None
    path_prefix: Path = ()  # prefix from a body path to the document path
    # creationTime as (seconds since the Unix epoch, nanoseconds); None: derived from creation_time.
    # `creation_time` is its datetime view (microseconds); ties (T3.5) compare this precise value.
    created: Optional[tuple[int, int]] = None

    @property
    def model(self) -> Any:
        """The typed pydantic model (kinds in kinds.TYPED_KINDS; else None), built on first access:
        loading checks clean bodies without one."""
        m = self._model
        if m is None and self.kind.name in TYPED_KINDS:
            try:
                m = parse_model(self.kind.name, self.body)[0]
            except ModelError:
                return None
            object.__setattr__(self, "_model", m)
        return m

    @property
    def creation_seconds_nanos(self) -> tuple[int, int]:
        """creationTime as (seconds since the Unix epoch, nanoseconds), never truncated."""
        return self.created if self.created is not None else seconds_nanos(self.creation_time)

    @property
    def creation_time_ns(self) -> int:
        """creationTime in nanoseconds since the Unix epoch (a Python int: Go's zero time and year
        9999 included)."""
        secs, nanos = self.creation_seconds_nanos
        return secs * _NS + nanos

    @property
    def type(self) -> str:
        return self.kind.name

    @property
    def key(self) -> tuple[str, str, str]:
        """Store key (type, mesh, name); mesh is "" for global-scoped kinds."""
        return (self.kind.name, self.mesh or "", self.name)

    @property
    def spec(self) -> dict[str, Any]:
        """The policy body as Kuma's `spec` (the wrapped `spec` for new kinds, else the body)."""
        if self.kind.spec_wrapped:
            spec = self.body.get("spec")
            return spec if isinstance(spec, dict) else {}
        return self.body

    def mark(self, body_path: Path = ()) -> Optional[Mark]:
        if self.document is None:
            return None
        return self.document.mark(self.path_prefix + tuple(body_path))

    def describe(self) -> str:
        return f"{self.kind.name} {self.mesh}/{self.name}" if self.mesh else f"{self.kind.name} {self.name}"

    def to_universal(self) -> dict[str, Any]:
        """The resource as a Universal document (envelope first)."""
        doc: dict[str, Any] = {"type": self.kind.name, "name": self.name}
        if self.mesh is not None:
            doc["mesh"] = self.mesh
        if self.labels:
            doc["labels"] = dict(self.labels)
        if self.creation_seconds_nanos != _GO_ZERO:
            doc["creationTime"] = rfc3339(*self.creation_seconds_nanos)
        doc.update(self.body)
        return doc


_GO_ZERO = seconds_nanos(GO_ZERO_TIME)


class _Deferred:
    """A field of a `LazyResource` not yet filled: reading it fills every field (a non-data
    descriptor, so once the instance holds the value it is read directly)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        rows = d.get("_rows")
        if rows is not None:
            rows.load(obj, d["_lazy"])  # fills the fields (or raises, leaving the resource unloaded)
            d.pop("_rows", None)
            d.pop("_lazy", None)
        try:
            return d[self.name]
        except KeyError:
            raise AttributeError(self.name) from None


class LazyResource(Resource):  # no __slots__: the deferred fields live in its __dict__ (key fields: slots)
    """A `Resource` whose key fields (`kind`, `name`, `mesh`) are set and whose other fields are
    filled on first access of any of them, by `_rows.load(resource, _lazy)` (a verified bundle's
    resources: activating one builds no body, label or time object). Same type, attributes and
    values as the `Resource` it stands for; it pickles and copies as a plain `Resource`."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        _ = self.body  # materialise
        state = {k: v for k, v in self.__dict__.items() if k not in ("_rows", "_lazy")}
        state.update(kind=self.kind, name=self.name, mesh=self.mesh)  # Resource's slots
        return (_plain, (state,))


# Every field of Resource, in order; the key fields (kind, name, mesh) come first and stay slots.
_FIELDS = tuple(f.name for f in fields(Resource))
_KEY_FIELDS = ("kind", "name", "mesh")
if _FIELDS[: len(_KEY_FIELDS)] != _KEY_FIELDS:  # pragma: no cover - a reordered dataclass
    raise RuntimeError(f"Resource fields must start with {_KEY_FIELDS}, not {_FIELDS[:3]}")
for _f in _FIELDS[len(_KEY_FIELDS):]:
    setattr(LazyResource, _f, _Deferred(_f))


class _Unread:
    """The `body` slot of a `DeferredResource` whose body has not been read yet."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<body not read yet>"


UNREAD: Any = _Unread()
_BODY_SLOT = Resource.__dict__["body"]  # the slot's own descriptor (DeferredResource shadows it)
_DOCUMENT_SLOT = Resource.__dict__["document"]
_READING = threading.Lock()


class DeferredResource(Resource):
    """A `Resource` loaded from a clean YAML document (a TrafficPermission, a
    MeshTrafficPermission or a Dataplane of the common shape: `yaml_source`'s `defer`) whose `body`
    is built on first access (then kept): read again natively from the document's text
    (`yaml_source.reread`: the same value the eager path builds; `RereadError`, a `MeshauthzError`,
    if it cannot be, never a guessed body).
    Until then the `body` slot holds `UNREAD` (`body_deferred`), and the compile inputs — a
    TrafficPermission's selectors, a MeshTrafficPermission's targetRefs and actions, a Dataplane's
    inbounds — come from the YAML reader's native copy (traffic.compile, mtp.compile): an engine
    compiles without building bodies. Once read, the body is the truth (mutations included, as for any
    `Resource`). Same fields and values as the `Resource` it stands for; it pickles and copies as a
    plain `Resource`, its body read."""

    __slots__ = ()

    @property  # type: ignore[override]
    def body(self) -> dict[str, Any]:
        body = _BODY_SLOT.__get__(self)
        if body is UNREAD:
            with _READING:  # one body object per resource, whichever thread reads it first
                body = _BODY_SLOT.__get__(self)
                if body is UNREAD:
                    value = reread(_DOCUMENT_SLOT.__get__(self))
                    body = {k: v for k, v in value.items() if k not in ENVELOPE}
                    _BODY_SLOT.__set__(self, body)
        return body  # type: ignore[no-any-return]

    @body.setter
    def body(self, value: dict[str, Any]) -> None:  # the dataclass __init__ (dataclasses.replace)
        _BODY_SLOT.__set__(self, value)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_plain, ({f: getattr(self, f) for f in _FIELDS},))


def body_deferred(r: Resource) -> Any:
    """The document handle (`YamlMarks`) of a `DeferredResource` whose body is not read yet, else
    None (its body, or any other resource's, is the truth)."""
    if type(r) is DeferredResource and _BODY_SLOT.__get__(r) is UNREAD:
        return _DOCUMENT_SLOT.__get__(r)._marks
    return None


def _plain(state: dict[str, Any]) -> Resource:
    r = object.__new__(Resource)
    for k, v in state.items():
        object.__setattr__(r, k, v)
    return r


_SETTERS = tuple(getattr(Resource, f).__set__ for f in _FIELDS)


def new_resource(kind: Kind, name: str, mesh: Optional[str], body: dict[str, Any], labels: dict[str, str],
                 creation_time: datetime, modification_time: Optional[datetime], form: Form,
                 namespace: Optional[str], display_name: str, _model: Any, document: Optional[Document],
                 path_prefix: Path, created: Optional[tuple[int, int]]) -> Resource:
    """The `Resource` these fields make, set slot by slot: the frozen dataclass __init__ (one
    object.__setattr__ per field) is a third of the loader's hot path. Same object as Resource(...);
    `body=UNREAD` (a deferred document's): a `DeferredResource`."""
    r = _NEW(DeferredResource if body is UNREAD else Resource)
    _s_kind(r, kind)
    _s_name(r, name)
    _s_mesh(r, mesh)
    _s_body(r, body)
    _s_labels(r, labels)
    _s_creation_time(r, creation_time)
    _s_modification_time(r, modification_time)
    _s_form(r, form)
    _s_namespace(r, namespace)
    _s_display_name(r, display_name)
    _s_model(r, _model)
    _s_document(r, document)
    _s_path_prefix(r, path_prefix)
    _s_created(r, created)
    return r


def set_key(r: Resource, kind: Kind, name: str, mesh: Optional[str]) -> None:
    """Set the key fields of a `LazyResource` (slots of Resource; the others are deferred)."""
    _s_kind(r, kind)
    _s_name(r, name)
    _s_mesh(r, mesh)


_NEW = object.__new__
(_s_kind, _s_name, _s_mesh, _s_body, _s_labels, _s_creation_time, _s_modification_time, _s_form, _s_namespace,
 _s_display_name, _s_model, _s_document, _s_path_prefix, _s_created) = _SETTERS


def rfc3339(secs: int, nanos: int) -> str:
    """Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped); any year (no `datetime`)."""
    days, rest = divmod(secs, 86400)
    # civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    text = f"{year:04d}-{month:02d}-{day:02d}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"
