"""Loading AccessRoles / AccessRoleBindings and the R2.1 checks the compile step relies on.

Every problem carries file, document, line and field (fail closed: nothing compiles while a
problem remains). Kuma's own validators (meshauthz.validation) run in the loader first; the checks
here are the defensive subset RBAC evaluation needs (R2.1, A7, A14, A17).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Callable, Protocol, Union

from .. import registry
from ..errors import DuplicateResourceError, Problem, SchemaError, ValidationError
from ..resource import Resource
from ..store import ResourceStore
from ..validation.paths import Path, render_path

ACCESS_VALUES = (
    "CREATE", "UPDATE", "DELETE", "GENERATE_DATAPLANE_TOKEN", "GENERATE_USER_TOKEN", "GENERATE_ZONE_CP_TOKEN",
    "GENERATE_ZONE_TOKEN", "VIEW_CONFIG_DUMP", "VIEW_STATS", "VIEW_CLUSTERS",
)
RULE_KEYS = ("types", "names", "mesh", "access", "when")
# Qualifier key -> family (A7: one family per qualifier).
QUALIFIER_FAMILY = {
    "targetRef": "targetRef", "to": "targetRef", "from": "targetRef",
    "sources": "legacy-connection", "destinations": "legacy-connection",
    "selectors": "legacy-dataplane", "dpToken": "dp-token",
}

class Loaded(Protocol):
    """What the loader returns (`meshauthz.loader.LoadResult`), seen structurally."""

    resources: list[Resource]
    problems: list[Problem]


Source = Union[ResourceStore, Loaded, str, "os.PathLike[str]", Iterable[Any]]

# Parsing paths and documents is the loader's job, a layer above the engines (engines take
# resources and never parse): `meshauthz.api` registers the loader entry points in `meshauthz.registry`.


def register_loader(load_paths: Callable[[list[Any]], Loaded],
                    load_objects: Callable[[list[dict[str, Any]]], Loaded]) -> None:
    """The earlier hook, kept: registers both entry points in `meshauthz.registry`."""
    registry.register_loader("load_paths", load_paths)
    registry.register_loader("load_objects", load_objects)


def _loaded(name: str, arg: Any) -> Loaded:
    return registry.loader(name)(arg)  # type: ignore[no-any-return]


def _resources(source: Source) -> list[Resource]:
    """Resources from a store, a load result, paths, or documents / Resources."""
    if isinstance(source, ResourceStore):
        return source.list()
    if isinstance(source, (str, os.PathLike)):
        result = _loaded("load_paths", [source])
    elif hasattr(source, "resources") and hasattr(source, "problems"):
        result = source  # type: ignore[assignment]
    else:
        items = list(source)  # type: ignore[arg-type]
        if all(isinstance(x, Resource) for x in items):
            return items
        if all(isinstance(x, (str, os.PathLike)) for x in items):
            result = _loaded("load_paths", items)
        else:
            resources = [x for x in items if isinstance(x, Resource)]
            dicts = [x for x in items if not isinstance(x, Resource)]
            if not all(isinstance(d, dict) for d in dicts):
                raise SchemaError([Problem("RBAC sources must be documents (dicts), Resources or paths",
                                           code="type")])
            result = _loaded("load_objects", dicts)
            result.resources = resources + result.resources
    if result.problems:
        raise ValidationError(result.problems)  # the loader runs Kuma validation (R2.1)
    return list(result.resources)


class _Checker:
    def __init__(self, res: Resource) -> None:
        self.res = res
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str, expected: str = "") -> None:
        mark = self.res.mark(path)
        doc = self.res.document
        self.problems.append(Problem(
            message, file=doc.file if doc else "<objects>", document=doc.index if doc else None,
            line=mark[0] if mark else None, column=mark[1] if mark else None, path=render_path(path),
            expected=expected, code="rbac", resource=self.res.describe()))

    def str_list(self, value: Any, path: Path) -> None:
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            self.add(path, "must be a list of strings", "a list of strings")

    def string_map(self, value: Any, path: Path) -> None:
        if value is None:
            return
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
            self.add(path, "must be a map of strings to strings", "a mapping of string keys to string values")

    def target_ref(self, value: Any, path: Path) -> None:
        if not isinstance(value, dict):
            self.add(path, "targetRef must be a mapping", "a mapping with `kind`")
        elif not isinstance(value.get("kind"), str) or not value["kind"]:
            self.add((*path, "kind"), "targetRef without kind (R2.1)", "a targetRef kind such as MeshService")

    def match(self, value: Any, path: Path) -> None:
        if not isinstance(value, dict):
            self.add(path, "must be a mapping with `match`", "{match: {tag: value}}")
        else:
            self.string_map(value.get("match"), (*path, "match"))

    def qualifier(self, q: Any, path: Path) -> None:
        if not isinstance(q, dict):
            self.add(path, "qualifier must be a mapping", "a mapping such as {targetRef: {kind: Mesh}}")
            return
        if not q:
            self.add(path, "qualifier cannot be empty (R2.1)",
                     "at least one of " + ", ".join(QUALIFIER_FAMILY))
            return
        families = set()
        for key, value in q.items():
            fam = QUALIFIER_FAMILY.get(key)
            if fam is None:
                self.add((*path, key), f"unknown qualifier key {key!r} (R2.1)",
                         "one of " + ", ".join(QUALIFIER_FAMILY))
                continue
            families.add(fam)
            if key == "targetRef":
                self.target_ref(value, (*path, key))
            elif key in ("to", "from"):
                if not isinstance(value, dict) or "targetRef" not in value:
                    self.add((*path, key), f"{key} must be {{targetRef: ...}}", "a mapping with `targetRef`")
                else:
                    self.target_ref(value["targetRef"], (*path, key, "targetRef"))
            elif key in ("sources", "destinations", "selectors"):
                self.match(value, (*path, key))
            elif key == "dpToken":
                tags = value.get("tags") if isinstance(value, dict) else None
                if not isinstance(value, dict) or not isinstance(tags, list):
                    self.add((*path, key), "dpToken must be {tags: [{name, value}]}",
                             "a mapping with a `tags` list")
                    continue
                for i, t in enumerate(tags):
                    tp = (*path, key, "tags", i)
                    if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
                        self.add(tp, "dpToken tag without name (R2.1)", "{name: TAG, value: VALUE}")
                    elif not isinstance(t.get("value", ""), str):
                        self.add((*tp, "value"), "must be a string", "a string")
        if len(families) > 1:
            self.add(path, f"qualifier mixes families {sorted(families)} (A7)", "fields of one family only")

    def role(self) -> None:
        rules = self.res.body.get("rules")
        if rules is None:
            return
        if not isinstance(rules, list):
            self.add(("rules",), "must be a list", "a list of rules")
            return
        for i, rule in enumerate(rules):
            rp: Path = ("rules", i)
            if not isinstance(rule, dict):
                self.add(rp, "rule must be a mapping", "a mapping with `access`")
                continue
            for key in rule:
                if key not in RULE_KEYS:
                    self.add((*rp, key), f"unknown rule field {key!r}", "one of " + ", ".join(RULE_KEYS))
            self.str_list(rule.get("types"), (*rp, "types"))
            self.str_list(rule.get("names"), (*rp, "names"))
            if rule.get("mesh") is not None and not isinstance(rule["mesh"], str):
                self.add((*rp, "mesh"), "must be a string", "a mesh name or '*'")
            access = rule.get("access")
            self.str_list(access, (*rp, "access"))
            if isinstance(access, list):
                for j, a in enumerate(access):
                    if isinstance(a, str) and a not in ACCESS_VALUES:
                        self.add((*rp, "access", j), f"unknown access value {a!r} (R2.1, A17)",
                                 "one of " + ", ".join(ACCESS_VALUES))
            when = rule.get("when")
            if when is not None and not isinstance(when, list):
                self.add((*rp, "when"), "must be a list", "a list of qualifiers")
            elif when:
                for j, q in enumerate(when):
                    self.qualifier(q, (*rp, "when", j))

    def binding(self) -> None:
        body = self.res.body
        subjects, roles = body.get("subjects"), body.get("roles")
        if subjects is not None and not isinstance(subjects, list):
            self.add(("subjects",), "must be a list", "a list of {type, name}")
        for i, s in enumerate(subjects if isinstance(subjects, list) else []):
            sp: Path = ("subjects", i)
            if not isinstance(s, dict):
                self.add(sp, "subject must be a mapping", "{type: User|Group, name: NAME}")
                continue
            if s.get("type") not in ("User", "Group"):
                self.add((*sp, "type"), f"subject type must be User or Group, not {s.get('type')!r} (R2.1)",
                         "User or Group")
            if not isinstance(s.get("name"), str) or not s["name"]:
                self.add((*sp, "name"), "subject name must be a non-empty string (R2.1)",
                         "a user or group name")
        self.str_list(roles, ("roles",))


def collect(source: Source) -> tuple[list[Resource], list[Resource]]:
    """(roles, bindings) from `source`, checked; raises InputError subclasses on any problem."""
    resources = _resources(source)
    roles = [r for r in resources if r.type == "AccessRole"]
    bindings = [r for r in resources if r.type == "AccessRoleBinding"]
    problems: list[Problem] = []
    for r in roles + bindings:
        c = _Checker(r)
        c.role() if r.type == "AccessRole" else c.binding()
        problems += c.problems
    if problems:
        raise ValidationError(problems)
    dup: list[Problem] = []
    for group in (roles, bindings):
        seen: dict[str, Resource] = {}
        for r in group:
            if r.name in seen:  # A14: never "last one wins"
                c = _Checker(r)
                c.add((), f"duplicate {r.type} name {r.name!r} (A14)", "unique names within one loaded set")
                dup += c.problems
            seen[r.name] = r
    if dup:
        raise DuplicateResourceError(dup)
    return roles, bindings


def plain_role(r: Resource) -> dict[str, Any]:
    return {"name": r.name, "rules": r.body.get("rules") or []}


def plain_binding(r: Resource) -> dict[str, Any]:
    return {"name": r.name, "subjects": r.body.get("subjects") or [], "roles": r.body.get("roles") or []}
