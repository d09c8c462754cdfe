"""Reading YAML safely, with the position of every node.

PyYAML's constructors lose positions, silently keep the last of two equal mapping keys and expand
aliases without bound. This module builds plain Python values from the parser's *event stream*
(libyaml's C parser where available) with an explicit stack, so that:

- every mapping key, sequence item and scalar keeps its (line, column) for error messages;
- a duplicate mapping key is an error, while merge keys (`<<`) and anchors keep working;
- hostile input is refused early: nesting deeper than `MAX_DEPTH`, alias expansion beyond
  `MAX_EXPANDED_NODES` (the "billion laughs"), scalars over `MAX_SCALAR_BYTES`, binary data;
- deep nesting never recurses in Python or C;
- plain scalars resolve as PyYAML's YAML 1.1 resolver does (bool / int / float / null /
  timestamp), except that a date- or time-looking scalar naming no real date, time or offset
  (`2023-02-29`, hour 25, `+24:00`) stays the string it is, as Kubernetes' go-yaml reads it; an
  explicit `!!tag` on such a value, and every tag beyond plain YAML's (`!!binary`, `!!set`,
  `!custom`, ...), is a located problem. Timestamps keep their nanoseconds (`Timestamp`).

Two readers share these rules. `read_documents` uses the native one (`meshauthz._core.yaml_load`,
rust/core/src/yaml: one crossing per stream, positions kept native until asked for, a `clean`
verdict per document that lets the loader skip its checks); `read_documents_reference` is the
PyYAML event reader below, the reference the native one is tested against
(tests/test_yaml_native.py), and the reader of texts the native one does not take (problems to
word, tags, directives, YAML 1.1-only line breaks).
"""

from __future__ import annotations

import gc
import io
import os
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from datetime import tzinfo as tzinfo_t
from typing import Any, Iterator, Optional, Union

import yaml

from .errors import ParseError, Problem

try:  # the C parser (libyaml); the pure-Python one only where the C one is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]
_PureLoader = yaml.SafeLoader

MAX_DEPTH = 100
MAX_EXPANDED_NODES = 1_000_000
MAX_SCALAR_BYTES = 1 << 20  # Kubernetes' own object size limit is about 1.5 MiB

Path = tuple[Union[str, int], ...]
Mark = tuple[int, int]  # 1-based (line, column)

_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()


class Document:
    """One YAML document of a file: its value and where each path of it was written.

    `positions` maps a path to its (line, column); documents read natively keep them in native
    memory (`marks`) and build the dict only when asked for it. A *deferred* document (read with
    `read_documents(..., defer=True)`: clean TrafficPermissions, MeshTrafficPermissions and
    Dataplanes) holds only its envelope (`envelope`); its whole `value` is read again natively from the stream's text
    on first access (`reread`)."""

    __slots__ = ("_value", "file", "index", "_positions", "_marks", "clean", "created", "deferred")

    def __init__(self, value: Any, file: str, index: int, positions: Optional[dict[Path, Mark]] = None,
                 marks: Any = None, clean: bool = False, created: Optional[tuple[Any, ...]] = None,
                 deferred: bool = False):
        self._value = value
        # `value` holds the envelope alone (clean::ENVELOPE); the whole value is read on access
        self.deferred = deferred
        # the native reader found a Universal resource of a hot kind that passes every check of
        # the loader (meshauthz_core::yaml::clean): the loader builds it without re-checking
        self.clean = clean
        # with its creationTime resolved: (year, month, day, hour, minute, second, nanoseconds,
        # UTC offset in minutes or None, seconds since the epoch)
        self.created = created
        self.file = file
        self.index = index  # 0-based position among the file's documents (empty ones included)
        self._positions = positions if positions is not None or marks is not None else {}
        self._marks = marks

    @property
    def value(self) -> Any:
        """The document's value (a deferred one's read again from the text on first access)."""
        if self.deferred:
            self._value = reread(self)
            self.deferred = False
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = value
        self.deferred = False

    @property
    def envelope(self) -> Any:
        """The value as read: a deferred document's envelope fields alone, else its whole value."""
        return self._value

    @property
    def positions(self) -> dict[Path, Mark]:
        if self._positions is None:
            self._positions = {tuple(_py_key(k) for k in path): mark for path, mark in self._marks.items()}
        return self._positions

    def __repr__(self) -> str:
        return f"Document(file={self.file!r}, index={self.index})"

    def mark(self, path: Path) -> Optional[Mark]:
        """Position of `path`, or of its nearest ancestor that has one (values reached through an
        alias are reported at their anchor)."""
        if self._positions is None:
            return self._marks.mark(tuple(path))
        while True:
            found = self._positions.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]


_NAIVE_EPOCH = datetime(1970, 1, 1)


def _py_key(k: Any) -> Any:
    """A path element of native marks as the Python key (dates and times come tagged)."""
    if type(k) is not tuple:
        return k
    if k[0] == "date":
        return date(k[1], k[2], k[3])
    if k[0] == "unique":
        return float("nan")
    t = _NAIVE_EPOCH + timedelta(microseconds=k[1])
    return t if k[0] == "naive" else t.replace(tzinfo=timezone.utc)


class _Container:
    __slots__ = ("value", "path", "is_map", "pending_key", "key_mark", "explicit", "merges", "size", "anchor")

    def __init__(self, value: Any, path: Path, is_map: bool, anchor: Optional[str]):
        self.value = value
        self.path = path
        self.is_map = is_map
        self.pending_key: Any = _NO_KEY
        self.key_mark: Mark = (0, 0)
        self.explicit: set[Any] = set()
        self.merges: list[dict[Any, Any]] = []
        self.size = 1
        self.anchor = anchor


_NO_KEY = object()
_MERGE = object()


def _mark(m: Any) -> Mark:
    return (m.line + 1, m.column + 1)


class Timestamp(datetime):
    """A YAML timestamp that keeps its nanoseconds (`datetime` stops at microseconds).

    Equal to (and hashing like) the `datetime` PyYAML would build; `nanosecond` is the full fraction
    of the second (0..999,999,999), digits past the ninth dropped as Go's RFC 3339 parser does."""

    _sub_us = 0  # nanoseconds below the microsecond

    @property
    def nanosecond(self) -> int:
        return self.microsecond * 1000 + self._sub_us

    def __reduce_ex__(self, protocol: Any) -> Any:  # copy / pickle keep the nanoseconds
        return (_restore_timestamp, (datetime(self.year, self.month, self.day, self.hour, self.minute,
                                              self.second, self.microsecond, self.tzinfo), self._sub_us))


def _restore_timestamp(dt: datetime, sub_us: int) -> Timestamp:
    t = Timestamp(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond, dt.tzinfo)
    if sub_us:
        t._sub_us = sub_us
    return t


_TIMESTAMP = yaml.constructor.SafeConstructor.timestamp_regexp


def timestamp(text: str) -> Union[date, Timestamp]:
    """PyYAML's `construct_yaml_timestamp`, keeping nanoseconds (a `Timestamp`); raises ValueError for
    text that is not a timestamp or names no real date / time / offset (2023-02-29, hour 25, -24:00)."""
    m = _TIMESTAMP.match(text)
    if m is None:
        raise ValueError(f"not a timestamp: {text!r}")
    v = m.groupdict()
    year, month, day = int(v["year"]), int(v["month"]), int(v["day"])
    if not v["hour"]:
        return date(year, month, day)
    fraction = (v["fraction"] or "")[:9].ljust(9, "0")
    nanos = int(fraction)
    tzinfo: Optional[tzinfo_t] = None
    if v["tz_sign"]:
        delta = timedelta(hours=int(v["tz_hour"]), minutes=int(v["tz_minute"] or 0))
        tzinfo = timezone(-delta if v["tz_sign"] == "-" else delta)
    elif v["tz"]:
        tzinfo = timezone.utc
    t = Timestamp(year, month, day, int(v["hour"]), int(v["minute"]), int(v["second"]), nanos // 1000,
                  tzinfo=tzinfo)
    if nanos % 1000:
        t._sub_us = nanos % 1000
    return t


_STR = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# The only scalar tags a resource document may carry (implicitly resolved or written as !!tag): YAML
# 1.1's null / bool / int / float / timestamp / str. !!binary, !!set, !!omap, !!python/... are refused.
_SCALAR_CONSTRUCTORS: dict[str, Any] = {
    tag: yaml.constructor.SafeConstructor.yaml_constructors[tag]
    for tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                "tag:yaml.org,2002:float")
}
_COLLECTION_TAGS = {True: (None, "!", "tag:yaml.org,2002:map"), False: (None, "!", "tag:yaml.org,2002:seq")}


def _scalar_value(event: yaml.ScalarEvent) -> Any:
    """A scalar's value under PyYAML's YAML 1.1 resolution (bool / int / float / null / timestamp).

    A plain scalar that matches a resolver's pattern but names no value of that type (a date such
    as `2023-02-29`, an hour 25, an offset of 24 h, `0x_`) stays the string it is written as, as
    Kubernetes' YAML reader (go-yaml) keeps it; an explicit `!!tag` on such a value is a problem."""
    tag = event.tag
    implicit = tag is None or tag == "!"
    if implicit:
        tag = _resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _MERGE_TAG:
        return _MERGE
    if tag == _STR:
        return event.value
    try:
        if tag == _TIMESTAMP_TAG:
            return timestamp(event.value)
        constructor = _SCALAR_CONSTRUCTORS[tag]
    except KeyError:
        raise _Fail(f"unsupported YAML tag {tag!r}", event.start_mark, "a plain YAML value") from None
    except (ValueError, OverflowError):
        if implicit:
            return event.value
        raise _Fail(f"invalid {tag.rsplit(':', 1)[-1]} value {event.value!r}", event.start_mark,
                    "a value of the tagged type") from None
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return constructor(_constructor, node)
    except (ValueError, OverflowError, KeyError, TypeError, AttributeError):
        if implicit:
            return event.value
        raise _Fail(f"invalid {tag.rsplit(':', 1)[-1]} value {event.value!r}", event.start_mark,
                    "a value of the tagged type") from None


class _Fail(Exception):
    def __init__(self, message: str, mark: Any, expected: str = "", code: str = "yaml"):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.expected = expected
        self.code = code


def _hashable(key: Any, mark: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise _Fail("a mapping key must be a scalar", mark, "a string key") from None
    return key


def _decode(data: Union[str, bytes], file: str) -> str:
    if isinstance(data, bytes):
        if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ParseError([Problem("binary data, not a YAML text", file=file, line=1, column=1,
                                      expected="a UTF-8 YAML document", code="binary")])
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise ParseError([Problem(f"not valid UTF-8 at byte {e.start}", file=file, line=line,
                                      expected="a UTF-8 YAML document", code="binary")]) from None
    return data


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while many acyclic objects are built: it would otherwise rescan the whole
    growing heap several times per load (values, documents and resources hold no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class RereadError(ParseError):
    """A deferred document (its body not built at load) could not be read again from its text.
    Never expected (the text is immutable and read the same way twice): raised rather than
    returning an empty or guessed value (fail closed)."""


def reread(doc: Document) -> Any:
    """The whole value of a deferred document, read again natively from its span of the stream's
    text, with the construction of the first read (equal values); `RereadError` if it cannot be."""
    value = doc._marks.value(_make_timestamp, date, construct_plain) if doc._marks is not None else None
    if value is None:
        raise RereadError([Problem("the document could not be read again from its text", file=doc.file,
                                   document=doc.index, expected="the text the document was loaded from",
                                   code="yaml")])
    return value


def read_documents(data: Union[str, bytes], file: str = "<input>", *, defer: bool = False) -> Iterator[Document]:
    """Yield every document of a YAML stream (empty documents included, value None).

    `defer=True` (the loader): clean TrafficPermission, MeshTrafficPermission and Dataplane
    documents read natively are *deferred* (see `Document`): their values are built on access,
    their compile inputs (a TP's selectors, an MTP's targetRefs and actions, a Dataplane's inbounds)
    kept natively for the traffic and MTP engines (issue #13: 100,000 resident policies without a
    Python object per field). Other kinds are read whole: their engine (the Authorizer) reads every
    body.

    Raises ParseError with file, document, line and column on the first problem of the stream:
    past a syntax error the rest of a stream cannot be trusted.

    The native reader (`meshauthz._core.yaml_load`, one crossing per stream) reads the text when it
    can; a text with a problem, or using YAML outside the subset it reproduces exactly (tags,
    directives, YAML 1.1-only line breaks, control characters), is read by the reference reader
    below, which also words every problem. `MESHAUTHZ_YAML=reference` forces the reference.
    """
    text = _decode(data, file)
    if _yaml_load is not None and os.environ.get("MESHAUTHZ_YAML") != "reference":
        with gc_paused():
            docs, problem = _yaml_load(text, _make_timestamp, date, construct_plain, defer)
            if docs is not None:
                return iter([Document(value, file, index, marks=marks, clean=clean, created=created,
                                      deferred=deferred)
                             for index, value, marks, clean, created, deferred in docs])
        if problem is not None and problem[4] == "limit" and not problem[5]:
            # our own limits speak for themselves, whatever the PyYAML build refuses first
            message, document, line, column = problem[:4]
            raise ParseError([Problem(message, file=file, document=document, line=line, column=column,
                                      expected=_LIMIT_EXPECTED.get(message.split(" ", 1)[0], "smaller input"),
                                      code="limit")])
    return read_documents_reference(text, file)


_LIMIT_EXPECTED = {"nesting": f"at most {MAX_DEPTH} nested levels", "alias": "fewer aliases",
                   "scalar": f"at most {MAX_SCALAR_BYTES} characters"}


def read_documents_reference(data: Union[str, bytes], file: str = "<input>") -> Iterator[Document]:
    """The reference reader: PyYAML's event stream (libyaml where available), built in Python."""
    return _read_reference(_decode(data, file), file)


def _read_reference(data: str, file: str) -> Iterator[Document]:
    loader = _Loader
    yielded = 0
    while True:
        try:
            for doc in _read(data, file, loader, skip=yielded):
                yielded += 1
                yield doc
            return
        except _LibyamlDepth:
            # Newer libyaml builds (PyYAML >= 6.0.3 wheels) stop at 1,000 open collections inside the
            # scanner, which looks ahead past our depth check. The limit is ours whatever libyaml does:
            # re-read with the pure-Python parser (no such limit, events within 1,024 characters) so the
            # `limit` problem lands where level MAX_DEPTH + 1 opens. Documents already yielded are skipped.
            loader = _PureLoader


class _LibyamlDepth(Exception):
    """libyaml refused nesting on its own (before our MAX_DEPTH check could see the events)."""


def _read(data: str, file: str, loader: Any, skip: int) -> Iterator[Document]:
    index = -1
    try:
        events = yaml.parse(io.StringIO(data), Loader=loader)
        stack: list[_Container] = []
        anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, expanded node count)
        expanded = 0
        doc: Optional[Document] = None
        root: Any = None
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                index += 1
                doc = Document(None, file, index)
                anchors.clear()
                expanded = 0
                root = None
                continue
            if isinstance(event, yaml.DocumentEndEvent):
                assert doc is not None
                doc.value = root
                if index >= skip:
                    yield doc
                doc = None
                continue
            if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent)):
                continue
            assert doc is not None
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                done = stack.pop()
                if done.is_map and done.merges:
                    for merged in done.merges:  # explicit keys win, earlier merges win (YAML 1.1)
                        for k, v in merged.items():
                            done.value.setdefault(k, v)
                value, size = done.value, done.size
                if stack:
                    stack[-1].size += size
                if done.anchor:
                    anchors[done.anchor] = (value, size)
                if stack:
                    _attach(stack[-1], value, event, doc)
                else:
                    root = value
                continue
            # a node: scalar, alias, or container start
            parent = stack[-1] if stack else None
            path = _child_path(parent)
            if isinstance(event, yaml.AliasEvent):
                if event.anchor not in anchors:
                    raise _Fail(f"unknown alias *{event.anchor}", event.start_mark, "a defined anchor")
                value, size = anchors[event.anchor]
                expanded += size
                if expanded > MAX_EXPANDED_NODES:
                    raise _Fail(f"alias expansion exceeds {MAX_EXPANDED_NODES} nodes (an alias bomb?)",
                                event.start_mark, "fewer aliases", "limit")
                if parent is None:
                    root = value
                else:
                    parent.size += size
                    _attach(parent, value, event, doc)
                continue
            if isinstance(event, yaml.ScalarEvent):
                if len(event.value) > MAX_SCALAR_BYTES:
                    raise _Fail(f"scalar of {len(event.value)} characters exceeds the {MAX_SCALAR_BYTES} limit",
                                event.start_mark, f"at most {MAX_SCALAR_BYTES} characters", "limit")
                is_key = parent is not None and parent.is_map and parent.pending_key is _NO_KEY
                if not is_key:
                    doc.positions.setdefault(path, _mark(event.start_mark))
                value = _scalar_value(event)
                if event.anchor:
                    anchors[event.anchor] = (value, 1)
                if parent is None:
                    root = value
                else:
                    parent.size += 1
                    _attach(parent, value, event, doc)
                continue
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise _Fail(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark,
                                f"at most {MAX_DEPTH} nested levels", "limit")
                if parent is not None and parent.is_map and parent.pending_key is _NO_KEY:
                    raise _Fail("a mapping key must be a scalar", event.start_mark, "a string key")
                is_map = isinstance(event, yaml.MappingStartEvent)
                if event.tag not in _COLLECTION_TAGS[is_map]:
                    raise _Fail(f"unsupported YAML tag {event.tag!r}", event.start_mark, "a plain YAML value")
                doc.positions.setdefault(path, _mark(event.start_mark))
                stack.append(_Container({} if is_map else [], path, is_map, event.anchor))
                continue
    except _Fail as f:
        raise ParseError([Problem(f.message, file=file, document=max(index, 0), line=f.mark.line + 1,
                                  column=f.mark.column + 1, expected=f.expected, code=f.code)]) from None
    except yaml.MarkedYAMLError as e:
        if loader is not _PureLoader and "maximum nesting depth" in (e.problem or ""):
            raise _LibyamlDepth() from None
        mark = e.problem_mark or e.context_mark
        problem = (e.problem or str(e)).strip()
        if e.context:
            problem = f"{e.context.strip()}: {problem}"
        raise ParseError([Problem(f"invalid YAML: {problem}", file=file, document=max(index, 0),
                                  line=mark.line + 1 if mark else None,
                                  column=mark.column + 1 if mark else None,
                                  expected="valid YAML", code="yaml")]) from None
    except yaml.YAMLError as e:  # reader errors: non-printable characters, bad encodings
        mark_line = getattr(e, "position", None)
        text = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable YAML"
        character = getattr(e, "character", None)
        if isinstance(character, int):  # one wording for libyaml's and the pure-Python reader's
            text = f"unacceptable character #x{character:04x}: control characters are not allowed"
        line = data[: mark_line].count("\n") + 1 if isinstance(mark_line, int) else None
        raise ParseError([Problem(f"invalid YAML: {text}", file=file, document=max(index, 0), line=line,
                                  expected="a printable UTF-8 YAML text", code="binary")]) from None


def _child_path(parent: Optional[_Container]) -> Path:
    if parent is None:
        return ()
    if parent.is_map:
        if parent.pending_key is _NO_KEY or parent.pending_key is _MERGE:
            return parent.path
        return parent.path + (parent.pending_key,)
    return parent.path + (len(parent.value),)


def _attach(parent: _Container, value: Any, event: Any, doc: Document) -> None:
    if not parent.is_map:
        parent.value.append(value)
        return
    if parent.pending_key is _NO_KEY:
        if isinstance(value, (dict, list)):
            raise _Fail("a mapping key must be a scalar", event.start_mark, "a string key")
        key = _hashable(value, event.start_mark)
        if key is not _MERGE:
            if key in parent.explicit:
                raise _Fail(f"duplicate mapping key {key!r}", event.start_mark,
                            "each key once per mapping (PyYAML would silently keep the last)", "duplicate-key")
            parent.explicit.add(key)
            parent.key_mark = _mark(event.start_mark)
            doc.positions[parent.path + (key,)] = parent.key_mark
        parent.pending_key = key
        return
    key = parent.pending_key
    parent.pending_key = _NO_KEY
    if key is _MERGE:
        sources = value if isinstance(value, list) else [value]
        for src in sources:
            if not isinstance(src, dict):
                raise _Fail("a merge key (<<) needs a mapping or a list of mappings", event.start_mark,
                            "a mapping")
            parent.merges.append(src)
        return
    parent.value[key] = value


def construct_plain(text: str) -> Any:
    """The value of a plain scalar, exactly as the reference reader builds it (the native reader
    asks for the rare numbers it does not compute itself: past 64 bits, sexagesimal floats)."""
    return _scalar_value(yaml.ScalarEvent(None, None, (True, False), text))


_TZ: dict[Optional[int], Any] = {None: None, 0: timezone.utc}


def tz_of(offset_minutes: Optional[int]) -> Any:
    """The tzinfo of a UTC offset in minutes (None: UTC, as the loader reads naive times)."""
    tz = _AWARE.get(offset_minutes)
    if tz is None:
        tz = _AWARE[offset_minutes] = timezone(timedelta(minutes=offset_minutes or 0))
    return tz


_AWARE: dict[Optional[int], Any] = {None: timezone.utc, 0: timezone.utc}


def _make_timestamp(year: int, month: int, day: int, hour: int, minute: int, second: int, nanos: int,
                    offset_minutes: Optional[int]) -> Timestamp:
    tz = _TZ.get(offset_minutes)
    if tz is None and offset_minutes is not None:
        tz = _TZ[offset_minutes] = timezone(timedelta(minutes=offset_minutes))
    t = Timestamp(year, month, day, hour, minute, second, nanos // 1000, tz)
    if nanos % 1000:
        t._sub_us = nanos % 1000
    return t


try:
    from ._core import yaml_load as _yaml_load
except ImportError:  # pragma: no cover - an extension built without the native reader
    _yaml_load = None
