"""The in-memory resource store keyed by (type, mesh, name): the one place the engines read from."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Optional

from .errors import DuplicateResourceError, NotFoundError, Problem
from .resource import Resource


def _where(r: Resource) -> str:
    if r.document is None:
        return "<objects>"
    mark = r.mark()
    return f"{r.document.file}, document {r.document.index}" + (f", line {mark[0]}" if mark else "")


class ResourceStore:
    """Resources by (type, mesh, name). A duplicate key is an error, never "last one wins".

    `version` increases on every change so engines can tell when to recompile.
    """

    def __init__(self, resources: Iterable[Resource] = ()):
        self._items: dict[tuple[str, str, str], Resource] = {}
        self._lock = threading.Lock()
        self.version = 0
        self.add_all(resources)

    def add_all(self, resources: Iterable[Resource]) -> None:
        """Add several resources atomically: on a duplicate nothing is added."""
        batch: dict[tuple[str, str, str], Resource] = {}
        problems = []
        for r in resources:
            other = batch.get(r.key) or self._items.get(r.key)
            if other is not None:
                mark = r.mark()
                problems.append(Problem(
                    f"duplicate resource {r.describe()}: already defined at {_where(other)}",
                    file=r.document.file if r.document else "<objects>",
                    document=r.document.index if r.document else None,
                    line=mark[0] if mark else None, column=mark[1] if mark else None, path="name",
                    expected="a unique (type, mesh, name)", code="duplicate-resource", resource=r.describe()))
                continue
            batch[r.key] = r
        if problems:
            raise DuplicateResourceError(problems)
        with self._lock:
            self._items.update(batch)
            self.version += 1

    def add(self, resource: Resource) -> None:
        self.add_all([resource])

    def replace(self, resource: Resource) -> None:
        """Insert or overwrite (an explicit upsert, e.g. for what-if edits)."""
        with self._lock:
            self._items[resource.key] = resource
            self.version += 1

    def remove(self, type: str, name: str, mesh: Optional[str] = None) -> Resource:
        with self._lock:
            try:
                r = self._items.pop((type, mesh or "", name))
            except KeyError:
                raise NotFoundError(f"no {type} named {name!r}" + (f" in mesh {mesh!r}" if mesh else "")) from None
            self.version += 1
            return r

    def get(self, type: str, name: str, mesh: Optional[str] = None) -> Resource:
        try:
            return self._items[(type, mesh or "", name)]
        except KeyError:
            raise NotFoundError(f"no {type} named {name!r}" + (f" in mesh {mesh!r}" if mesh else "")) from None

    def find(self, type: str, name: str, mesh: Optional[str] = None) -> list[Resource]:
        """Every resource of `type` named `name` (in `mesh` when given)."""
        return [r for r in self.list(type, mesh) if r.name == name]

    def list(self, type: Optional[str] = None, mesh: Optional[str] = None) -> list[Resource]:
        """Resources filtered by type and mesh, sorted by key (deterministic)."""
        return [r for k, r in sorted(self._items.items())
                if (type is None or k[0] == type) and (mesh is None or k[1] == mesh)]

    def meshes(self) -> list[str]:
        return sorted({k[1] for k in self._items if k[1]} | {k[2] for k in self._items if k[0] == "Mesh"})

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.list())

    def __contains__(self, key: object) -> bool:
        return key in self._items
