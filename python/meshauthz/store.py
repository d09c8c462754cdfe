"""The in-memory resource store keyed by (type, mesh, name): the one place the engines read from."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Optional

from .errors import DuplicateResourceError, NotFoundError, Problem
from .resource import Resource


def _where(r: Resource) -> str:
    if r.document is None:
        return "<objects>"
    mark = r.mark()
    return f"{r.document.file}, document {r.document.index}" + (f", line {mark[0]}" if mark else "")


class StoreSnapshot:
    """An immutable view of a store at one version (what engines compile from): every read
    answers for that version, whatever happens to the store afterwards."""

    __slots__ = ("version", "_by_type")

    def __init__(self, version: int, by_type: dict[str, list[Resource]]):
        self.version = version
        self._by_type = by_type

    @classmethod
    def of_items(cls, version: int, items: dict[tuple[str, str, str], Resource],
                 types: Iterable[str]) -> StoreSnapshot:
        """The snapshot of `types` from a copy of a store's items (see `ResourceStore.items`)."""
        wanted = set(types)
        by_type: dict[str, list[Resource]] = {t: [] for t in wanted}
        for k in sorted(k for k in items if k[0] in wanted):
            by_type[k[0]].append(items[k])
        return cls(version, by_type)

    def list(self, type: str, mesh: Optional[str] = None) -> list[Resource]:
        """Resources of `type` (in `mesh` when given), sorted by key."""
        items = self._by_type.get(type, [])
        return list(items) if mesh is None else [r for r in items if (r.mesh or "") == mesh]


class ResourceStore:
    """Resources by (type, mesh, name). A duplicate key is an error, never "last one wins".

    `version` increases on every change so engines can tell when to recompile. Lookups are
    indexed by (type, mesh, name) and by (type, name); sorted per-type lists are rebuilt once
    per version, never on a lookup path.
    """

    def __init__(self, resources: Iterable[Resource] = ()):
        self._items: dict[tuple[str, str, str], Resource] = {}
        # (type, name) -> {mesh: resource}, built on the first `find` (None until then).
        self._by_name: Optional[dict[tuple[str, str], dict[str, Resource]]] = None
        self._sorted: dict[str, list[Resource]] = {}  # per type, for the current version
        self._lock = threading.RLock()
        self.version = 0
        self.add_all(resources)

    def _put(self, r: Resource) -> None:
        self._items[r.key] = r
        if self._by_name is not None:
            self._by_name.setdefault((r.key[0], r.key[2]), {})[r.key[1]] = r
        self._sorted.pop(r.key[0], None)

    def _drop(self, key: tuple[str, str, str]) -> Resource:
        r = self._items.pop(key)
        by_name = self._by_name
        group = by_name.get((key[0], key[2])) if by_name is not None else None
        if by_name is not None and group is not None:
            group.pop(key[1], None)
            if not group:
                del by_name[(key[0], key[2])]
        self._sorted.pop(key[0], None)
        return r

    def add_all(self, resources: Iterable[Resource], keys: Optional[list[tuple[str, str, str]]] = None) -> None:
        """Add several resources atomically: on a duplicate nothing is added. `keys`: their keys
        when the caller has them (a bundle's index), in the same order."""
        items = resources if isinstance(resources, list) else list(resources)
        batch = dict(zip(keys, items)) if keys is not None else {r.key: r for r in items}
        if len(batch) != len(items) or not self._items.keys().isdisjoint(batch):
            self._duplicates(items)
        with self._lock:
            self._items.update(batch)
            by_name = self._by_name
            if by_name is not None:
                for k, r in batch.items():
                    by_name.setdefault((k[0], k[2]), {})[k[1]] = r
            for t in {k[0] for k in batch}:
                self._sorted.pop(t, None)
            self.version += 1

    def _duplicates(self, items: list[Resource]) -> None:
        """Raise DuplicateResourceError naming every resource whose key is already taken."""
        seen: dict[tuple[str, str, str], Resource] = {}
        problems = []
        for r in items:
            other = seen.get(r.key) or self._items.get(r.key)
            if other is not None:
                mark = r.mark()
                problems.append(Problem(
                    f"duplicate resource {r.describe()}: already defined at {_where(other)}",
                    file=r.document.file if r.document else "<objects>",
                    document=r.document.index if r.document else None,
                    line=mark[0] if mark else None, column=mark[1] if mark else None, path="name",
                    expected="a unique (type, mesh, name)", code="duplicate-resource", resource=r.describe()))
                continue
            seen[r.key] = r
        raise DuplicateResourceError(problems)

    def add(self, resource: Resource) -> None:
        self.add_all([resource])

    def replace(self, resource: Resource) -> None:
        """Insert or overwrite (an explicit upsert, e.g. for what-if edits)."""
        with self._lock:
            if resource.key in self._items:
                self._drop(resource.key)
            self._put(resource)
            self.version += 1

    def remove(self, type: str, name: str, mesh: Optional[str] = None) -> Resource:
        with self._lock:
            try:
                r = self._drop((type, mesh or "", name))
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
        """Every resource of `type` named `name` (in `mesh` when given), by mesh name."""
        by_name = self._by_name
        if by_name is None:
            with self._lock:
                by_name = self._by_name
                if by_name is None:
                    by_name = {}
                    for k, item in self._items.items():
                        entry = by_name.get((k[0], k[2]))
                        if entry is None:
                            by_name[(k[0], k[2])] = {k[1]: item}
                        else:
                            entry[k[1]] = item
                    self._by_name = by_name
        group = by_name.get((type, name))
        if not group:
            return []
        if mesh is not None:
            r = group.get(mesh)
            return [r] if r is not None else []
        return [group[m] for m in sorted(group)]

    def _type_list(self, type: str) -> list[Resource]:
        with self._lock:
            items = self._sorted.get(type)
            if items is None:
                # One sort fills every type whose list is stale (engines ask for several in a row).
                stale: dict[str, list[Resource]] = {}
                for k in sorted(self._items):
                    if k[0] not in self._sorted:
                        stale.setdefault(k[0], []).append(self._items[k])
                stale.setdefault(type, [])
                self._sorted.update(stale)
                items = stale[type]
            return items

    def list(self, type: Optional[str] = None, mesh: Optional[str] = None) -> list[Resource]:
        """Resources filtered by type and mesh, sorted by key (deterministic)."""
        if type is None:
            with self._lock:
                items = [r for _, r in sorted(self._items.items())]
        else:
            items = self._type_list(type)
        return [r for r in items if mesh is None or (r.mesh or "") == mesh]

    def snapshot(self, types: Iterable[str]) -> StoreSnapshot:
        """A consistent view of `types` at one version (read under the store's lock)."""
        with self._lock:
            return StoreSnapshot(self.version, {t: self._type_list(t) for t in types})

    def items(self) -> tuple[int, dict[tuple[str, str, str], Resource]]:
        """(version, a copy of the key -> resource map) read together: a consistent, unsorted view
        (`StoreSnapshot.of_items` sorts it when needed)."""
        with self._lock:
            return self.version, dict(self._items)

    def items_thunk(self) -> Callable[[], tuple[int, dict[tuple[str, str, str], Resource]]]:
        """`items()` now, handed back later (a lazily built store may defer building them)."""
        captured = self.items()
        return lambda: captured

    def meshes(self) -> list[str]:
        return sorted({k[1] for k in self._items if k[1]} | {k[2] for k in self._items if k[0] == "Mesh"})

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.list())

    def __contains__(self, key: object) -> bool:
        return key in self._items
