"""Loading and validation entry points of the public API."""

from __future__ import annotations

from typing import Any, Iterable, Union

from .errors import DuplicateResourceError, Problem, ValidationError
from .loader import LoadResult, PathLike, emit_warnings, load_objects, load_paths, load_text
from .rbac import documents as _rbac_documents
from .store import ResourceStore

# Engines never import the loader: the RBAC source resolver gets its entry points from here.
_rbac_documents.register_loader(load_paths, load_objects)


def _as_list(paths: Union[PathLike, Iterable[PathLike]]) -> list[PathLike]:
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        return [paths]  # type: ignore[list-item]
    return list(paths)  # type: ignore[arg-type]


def validate(paths: Union[PathLike, Iterable[PathLike]]) -> LoadResult:
    """Load and validate files, directories or `-` (stdin); report every problem, raise nothing
    for bad input. Duplicate (type, mesh, name) keys are reported as problems too."""
    result = load_paths(_as_list(paths), report_bundles=True)
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
    MeshauthzError) listing every problem; warnings go through the `warnings` module."""
    return _store_or_raise(load_paths(_as_list(paths)))


def loads(text: Union[str, bytes], file: str = "<string>") -> ResourceStore:
    """Load a YAML string (one or more documents, either form) into a ResourceStore."""
    return _store_or_raise(load_text(text, file))


def load_dicts(documents: Iterable[dict[str, Any]]) -> ResourceStore:
    """Load already-parsed documents (Universal or Kubernetes dicts) into a ResourceStore."""
    return _store_or_raise(load_objects(documents))


__all__ = ["validate", "load", "loads", "load_dicts", "LoadResult", "Problem"]
