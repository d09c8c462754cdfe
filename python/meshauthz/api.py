"""Loading and validation entry points of the public API."""

from __future__ import annotations

from typing import Any, Iterable, Union

from . import registry
from .errors import DuplicateResourceError, Problem, SchemaError, ValidationError
from .loader import LoadResult, PathLike, emit_warnings, load_objects, load_paths, load_text, resource_from_document
from .resource import Resource
from .store import ResourceStore
from .yaml_source import Document, read_documents


def _as_list(paths: Union[PathLike, Iterable[PathLike]]) -> list[PathLike]:
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        return [paths]  # type: ignore[list-item]
    return list(paths)  # type: ignore[arg-type]


def validate(paths: Union[PathLike, Iterable[PathLike]]) -> LoadResult:
    """Load and validate files, directories or `-` (stdin); report every problem, raise nothing
    for bad input. Duplicate (type, mesh, name) keys are reported as problems too."""
    result = load_paths(_as_list(paths))
    _check_duplicates(result)
    return result


def _check_duplicates(result: LoadResult) -> None:
    try:
        ResourceStore(result.resources)
    except DuplicateResourceError as e:
        result.problems.extend(e.problems)


def _store_or_raise(result: LoadResult) -> ResourceStore:
    emit_warnings(result, stacklevel=4)
    if result.problems:
        raise ValidationError(result.problems)
    return ResourceStore(result.resources)


def load(paths: Union[PathLike, Iterable[PathLike]]) -> ResourceStore:
    """Load files / directories / `-` into a ResourceStore. Raises ValidationError (a
    MeshauthzError) listing every problem; warnings go through the `warnings` module.

    A TrafficPermission, MeshTrafficPermission or Dataplane (of the common shape) that loads
    without a problem or warning keeps no Python body until its `body` (or `model`, `spec`, ...) is
    first read: it is then built from the text it was loaded from (the same value), and the traffic
    and MTP engines compile without building it (issue #13: 100,000 resident policies of either
    kind add about 100 MB)."""
    return _store_or_raise(load_paths(_as_list(paths)))


def loads(text: Union[str, bytes], file: str = "<string>") -> ResourceStore:
    """Load a YAML string (one or more documents, either form) into a ResourceStore."""
    return _store_or_raise(load_text(text, file))


def load_dicts(documents: Iterable[dict[str, Any]]) -> ResourceStore:
    """Load already-parsed documents (Universal or Kubernetes dicts) into a ResourceStore."""
    return _store_or_raise(load_objects(documents))


def parse_yaml(data: Union[str, bytes], file: str = "<string>") -> list[Any]:
    """Every non-empty document of a YAML text, read by meshauthz's own safe reader (the loader's):
    plain Python values, timestamps kept to the nanosecond; a `ParseError` names file and line."""
    return [d.value for d in read_documents(data, file) if d.value is not None]


def parse_resource(document: dict[str, Any], *, check: bool = True, file: str = "<document>") -> Resource:
    """One document (Universal or Kubernetes form) as a `Resource`. `check=False` reads only the
    envelope (kind, name, mesh, labels, times; the body normalised to its Universal equivalent)
    with no meta, type or Kuma validation: a document whose envelope cannot be read is a
    `SchemaError`. With `check=True` every problem is a `ValidationError` as from `load_dicts`."""
    out = LoadResult()
    res = resource_from_document(Document(document, file, 0), out, check=check)
    if res is None:
        raise SchemaError(out.problems) if not check else ValidationError(out.problems)
    if check and out.problems:
        raise ValidationError(out.problems)
    return res


# Engines take resources and never parse: their path conveniences (`from_paths`, `reload(paths)`,
# `Authorizer(paths)`) reach the loader through these registrations (meshauthz.registry).
registry.register_loader("load", load)
registry.register_loader("load_paths", load_paths)
registry.register_loader("load_objects", load_objects)

__all__ = ["validate", "load", "loads", "load_dicts", "parse_resource", "parse_yaml", "LoadResult", "Problem"]
