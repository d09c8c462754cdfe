"""Reading YAML safely, with the position of every node.

PyYAML's constructors lose positions, silently keep the last of two equal mapping keys and expand
aliases without bound. This module builds plain Python values from the parser's *event stream*
(libyaml's C parser where available) with an explicit stack, so that:

- every mapping key, sequence item and scalar keeps its (line, column) for error messages;
- a duplicate mapping key is an error, while merge keys (`<<`) and anchors keep working;
- hostile input is refused early: nesting deeper than `MAX_DEPTH`, alias expansion beyond
  `MAX_EXPANDED_NODES` (the "billion laughs"), scalars over `MAX_SCALAR_BYTES`, binary data;
- deep nesting never recurses in Python or C.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
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


@dataclass
class Document:
    """One YAML document of a file: its value and where each path of it was written."""

    value: Any
    file: str
    index: int  # 0-based position among the file's documents (empty ones included)
    positions: dict[Path, Mark] = field(default_factory=dict)

    def mark(self, path: Path) -> Optional[Mark]:
        """Position of `path`, or of its nearest ancestor that has one (values reached through an
        alias are reported at their anchor)."""
        while True:
            found = self.positions.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]


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


def _scalar_value(event: yaml.ScalarEvent) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = _resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == "tag:yaml.org,2002:merge":
        return _MERGE
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    if tag == "tag:yaml.org,2002:str":
        return event.value
    try:
        constructor = _constructor.yaml_constructors[tag]
    except KeyError:
        raise _Fail(f"unsupported YAML tag {tag!r}", event.start_mark, "a plain YAML value") from None
    return constructor(_constructor, node)


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


def read_documents(data: Union[str, bytes], file: str = "<input>") -> Iterator[Document]:
    """Yield every document of a YAML stream (empty documents included, value None).

    Raises ParseError with file, document, line and column on the first problem of the stream:
    past a syntax error the rest of a stream cannot be trusted.
    """
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
                doc.positions.setdefault(path, _mark(event.start_mark))
                is_map = isinstance(event, yaml.MappingStartEvent)
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
