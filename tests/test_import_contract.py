"""The import contract of the Python package (#11 item 8), read from the source (tests/import_graph.py:
every import statement, module level or inside a function; no module is executed).

1. No import cycle among the modules of `python/meshauthz`.
2. Layers: a module imports only modules of its own layer part or of lower layers (`LAYERS`, top
   first); the parts of one layer are independent of each other (`traffic` | `rbac` | `loader`: the
   engines never parse and the loader never reaches an engine). Every module belongs to a layer.
3. Engines take resources and never parse: `traffic`, `mtp`, `rbac`, `batch` reach none of the
   loading, formatting or entry-point modules, even through another module, and import no YAML
   reader directly.
4. A module never imports its own package's `__init__` (that is what closes `__init__` cycles); only
   the layers above the public API import `meshauthz` itself.
5. `conformance/` uses the public API only (conformance.md rule 2): `meshauthz` and the public
   subpackages, never a private name.
6. Function-level imports of package modules only load an optional extra (`OPTIONAL_EXTRAS`), and
   say so with a `# lazy: ...` comment on the import.

Imports under `if TYPE_CHECKING:` never run and are left out (annotations may name a higher layer).
Each failure names the offending import as `file:line: importer -> imported`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable

import pytest

from import_graph import Import, modules_of, package_imports, strongly_connected

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "python" / "meshauthz"
PUBLIC = "meshauthz"

# Top layer first. A module belongs to the longest entry naming it or one of its packages (`meshauthz`
# itself names only the package `__init__`). Entries of one tuple are independent of each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("meshauthz.__main__",),
    ("meshauthz.cli",),
    ("meshauthz.server", "meshauthz.conformance"),
    (PUBLIC,),  # the public API (`meshauthz/__init__`): what the entry points and users import
    ("meshauthz.dask", "meshauthz.ray"),
    ("meshauthz.scale",),
    ("meshauthz.analysis",),  # formats the engines' core queries
    ("meshauthz.bundle",),  # compiled bundles: reaches engines through meshauthz.registry only
    ("meshauthz.api",),  # loading entry points; fills meshauthz.registry's loader slots
    ("meshauthz.traffic", "meshauthz.rbac", "meshauthz.loader"),  # engines | the YAML loader
    ("meshauthz.mtp", "meshauthz.batch"),
    ("meshauthz.store",),
    ("meshauthz.resource",),
    ("meshauthz.models",),
    ("meshauthz.validation", "meshauthz.yaml_source", "meshauthz.findings", "meshauthz.registry"),
    ("meshauthz.kinds", "meshauthz.errors", "meshauthz._core"),
)

ENGINES = ("meshauthz.traffic", "meshauthz.mtp", "meshauthz.rbac", "meshauthz.batch")
# Engines never reach these, directly or through another module.
ENGINES_NEVER_REACH = ("meshauthz.loader", "meshauthz.api", "meshauthz.bundle", "meshauthz.analysis",
                       "meshauthz.cli", "meshauthz.conformance", "meshauthz.server", "meshauthz.scale")
# ... and never import these themselves (`resource` holds the parsed-document types it needs).
ENGINES_NEVER_IMPORT = ("meshauthz.yaml_source",)

# What conformance/ may import besides itself: the public API (rule 2).
CONFORMANCE_PUBLIC = (PUBLIC, "meshauthz.errors", "meshauthz.traffic", "meshauthz.mtp", "meshauthz.rbac",
                      "meshauthz.validation")

# Modules that need an optional extra (third-party packages): the only targets of function-level imports.
OPTIONAL_EXTRAS: dict[str, tuple[str, ...]] = {
    "meshauthz.dask": ("dask", "pandas", "pyarrow"),
    "meshauthz.ray": ("ray", "pyarrow"),
    "meshauthz.server.runner": ("uvicorn", "starlette"),
    "meshauthz.server.tokens": ("jwt", "cryptography"),
    "meshauthz.server.webhook": ("jwt", "cryptography", "starlette"),
}


def _matches(module: str, entry: str) -> bool:
    return module == entry if entry == PUBLIC else module == entry or module.startswith(entry + ".")


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, layer entry) of a module: its longest matching entry."""
    best: tuple[int, str] | None = None
    for i, layer in enumerate(LAYERS):
        for entry in layer:
            if _matches(module, entry) and (best is None or len(entry) > len(best[1])):
                best = (i, entry)
    if best is None:
        raise KeyError(module)
    return best


def _runtime(edges: Iterable[Import]) -> list[Import]:
    return [e for e in edges if not e.typing_only]


def _lazy_extra(e: Import) -> bool:
    """A function-level import of an optional-extra module: loaded on demand, after its importer is
    complete, so it closes no import-time cycle (e.g. `scale.replay_distributed` -> `meshauthz.dask`)."""
    return e.function_level and e.imported in OPTIONAL_EXTRAS


def cycle_failures(edges: list[Import]) -> list[str]:
    graph = [e for e in _runtime(edges) if not _lazy_extra(e)]
    out = []
    for comp in strongly_connected(graph):
        inside = set(comp)
        out.append(f"import cycle among {len(comp)} modules: " + ", ".join(comp) + "\n    "
                   + "\n    ".join(str(e) for e in graph if e.importer in inside and e.imported in inside))
    return out


def layer_failures(edges: list[Import]) -> list[str]:
    out = []
    for e in _runtime(edges):
        if _lazy_extra(e):
            continue
        (li, le), (ti, te) = layer_of(e.importer), layer_of(e.imported)
        if ti < li:
            out.append(f"{e}: layer {le!r} imports the higher layer {te!r}")
        elif ti == li and le != te:
            out.append(f"{e}: {le!r} and {te!r} are independent parts of one layer")
    return out


def _reach(edges: list[Import], start: str) -> dict[str, Import]:
    """Module -> the import by which it was first reached from `start` (breadth first)."""
    by_importer: dict[str, list[Import]] = {}
    for e in edges:
        by_importer.setdefault(e.importer, []).append(e)
    seen: dict[str, Import] = {}
    queue = [start]
    while queue:
        m = queue.pop(0)
        for e in by_importer.get(m, []):
            if e.imported not in seen and e.imported != start:
                seen[e.imported] = e
                queue.append(e.imported)
    return seen


def _chain(seen: dict[str, Import], target: str) -> list[Import]:
    chain = []
    while target in seen:
        chain.append(seen[target])
        target = seen[target].importer
    return chain[::-1]


def engine_failures(edges: list[Import]) -> list[str]:
    runtime = _runtime(edges)
    out = []
    for module in sorted({e.importer for e in runtime}):
        if not module.startswith(tuple(p + "." for p in ENGINES)) and module not in ENGINES:
            continue
        seen = _reach(runtime, module)
        for target in sorted(seen):
            if target.startswith(ENGINES_NEVER_REACH):
                via = " <- ".join(str(e) for e in _chain(seen, target)[::-1])
                out.append(f"engine module {module} reaches {target}: {via}")
        for e in runtime:
            if e.importer == module and e.imported.startswith(ENGINES_NEVER_IMPORT):
                out.append(f"{e}: engines take resources and never parse")
    return out


def ancestor_failures(edges: list[Import]) -> list[str]:
    out = []
    public_layer = layer_of(PUBLIC)[0]
    for e in _runtime(edges):
        if not e.importer.startswith(e.imported + "."):
            continue
        if e.imported == PUBLIC and layer_of(e.importer)[0] < public_layer:
            continue  # an entry point using the public API
        if e.importer.endswith(".__main__"):
            continue  # `python -m pkg` runs pkg/__init__ and then pkg/__main__, which nothing imports
        out.append(f"{e}: imports its own package's __init__ (import the sibling module instead)")
    return out


def _imported_names(path: Path) -> list[tuple[int, str, str]]:
    """(line, module as written, name) of every `from X import name` of a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.extend((node.lineno, "." * node.level + (node.module or ""), a.name) for a in node.names)
    return out


def conformance_failures(edges: list[Import]) -> list[str]:
    out = []
    for e in edges:
        if e.importer.startswith("meshauthz.conformance") and not e.imported.startswith("meshauthz.conformance"):
            if e.imported not in CONFORMANCE_PUBLIC:
                out.append(f"{e}: conformance uses the public API only (conformance.md rule 2)")
    for path in sorted((PKG / "conformance").glob("*.py")):
        for line, module, name in _imported_names(path):
            if name.startswith("_") and name != "__future__" and module != "__future__":
                out.append(f"{path.relative_to(PKG.parent)}:{line}: imports the private name {name} from {module}")
    return out


def _comment_lines(path: Path) -> dict[int, str]:
    return {i: line for i, line in enumerate(path.read_text().split("\n"), 1) if "#" in line}


def lazy_failures(edges: list[Import]) -> list[str]:
    out = []
    for e in edges:
        if not e.function_level:
            continue
        if e.imported not in OPTIONAL_EXTRAS:
            out.append(f"{e}: a function-level import of a module that needs no optional extra (import it at "
                       "module level)")
            continue
        comments = _comment_lines(PKG.parent / e.file)
        if "# lazy:" not in comments.get(e.line, "") and "# lazy:" not in comments.get(e.line - 1, ""):
            out.append(f"{e}: say why it is lazy with a `# lazy: ...` comment on the import")
    return out


def _third_party(path: Path) -> set[str]:
    """Top-level names of the absolute imports at module level of a file (try blocks included)."""
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        stmts = [node]
        if isinstance(node, ast.Try):
            stmts = node.body
        for s in stmts:
            if isinstance(s, ast.Import):
                out.update(a.name.split(".")[0] for a in s.names)
            elif isinstance(s, ast.ImportFrom) and not s.level and s.module:
                out.add(s.module.split(".")[0])
    return out


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return package_imports(PKG, ROOT / "python")


def _report(failures: list[str]) -> str:
    return "\n".join(failures)


def test_no_import_cycle(edges: list[Import]) -> None:
    failures = cycle_failures(edges)
    assert not failures, _report(failures)


def test_every_module_has_a_layer() -> None:
    missing = []
    for m in modules_of(PKG):
        try:
            layer_of(m)
        except KeyError:
            missing.append(m)
    assert not missing, f"modules in no layer (add them to LAYERS in {Path(__file__).name}): {missing}"


def test_layers(edges: list[Import]) -> None:
    failures = layer_failures(edges)
    assert not failures, _report(failures)


def test_engines_never_parse_nor_reach_loading_or_formatting(edges: list[Import]) -> None:
    failures = engine_failures(edges)
    assert not failures, _report(failures)


def test_no_module_imports_its_own_package_init(edges: list[Import]) -> None:
    failures = ancestor_failures(edges)
    assert not failures, _report(failures)


def test_conformance_uses_the_public_api_only(edges: list[Import]) -> None:
    failures = conformance_failures(edges)
    assert not failures, _report(failures)


def test_function_level_imports_only_load_optional_extras(edges: list[Import]) -> None:
    failures = lazy_failures(edges)
    assert not failures, _report(failures)


def test_optional_extra_modules_do_import_an_extra() -> None:
    """The lazy-import allowance stays honest: each listed module imports one of its extra's
    packages at module level (itself or through a package module it imports at module level)."""
    modules = modules_of(PKG)
    edges = [e for e in package_imports(PKG, ROOT / "python") if not e.function_level and not e.typing_only]
    for module, extras in OPTIONAL_EXTRAS.items():
        reached = {module, *_reach(edges, module)}
        names = set().union(*(_third_party(modules[m]) for m in reached if modules[m].suffix == ".py"))
        assert names & set(extras), (module, sorted(names))


# ---- the checks fail where they should (the reader and the contract on injected imports) ----------


def _fake(importer: str, imported: str, function_level: bool = False) -> Import:
    return Import(importer, imported, "meshauthz/fake.py", 7, function_level, False)


def test_an_injected_cycle_or_upward_import_is_named_with_file_and_line(edges: list[Import]) -> None:
    bad = _fake("meshauthz.store", "meshauthz.traffic.engine")
    cycles = cycle_failures([*edges, bad])
    assert cycles and "meshauthz/fake.py:7: meshauthz.store -> meshauthz.traffic.engine" in cycles[0]
    layers = layer_failures([*edges, bad])
    assert layers == ["meshauthz/fake.py:7: meshauthz.store -> meshauthz.traffic.engine: layer "
                      "'meshauthz.store' imports the higher layer 'meshauthz.traffic'"]
    sideways = layer_failures([*edges, _fake("meshauthz.rbac.documents", "meshauthz.loader")])
    assert sideways and "independent parts of one layer" in sideways[0]


def test_an_engine_reaching_the_loader_through_another_module_is_named(edges: list[Import]) -> None:
    bad = _fake("meshauthz.store", "meshauthz.api")  # traffic -> store -> api -> loader
    failures = engine_failures([*edges, bad])
    assert any(f.startswith("engine module meshauthz.traffic.engine reaches meshauthz.loader:") and
               "meshauthz/fake.py:7: meshauthz.store -> meshauthz.api" in f for f in failures), failures


def test_a_function_level_import_is_seen_and_must_be_an_extra(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nfrom .sub import b\n"
        "if TYPE_CHECKING:\n    from .sub.c import C\n"
        "def f():\n    from . import sub\n    from .sub import c\n    return c\n"
        "class K:\n    def m(self):\n        import pkg.a\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import a\nfrom ..sub import c as _c\n")
    (pkg / "sub" / "c.py").write_text("X = 1\n")
    got = {(e.importer, e.imported, e.line, e.function_level, e.typing_only)
           for e in package_imports(pkg, tmp_path)}
    assert got == {
        ("pkg", "pkg.a", 1, False, False),
        ("pkg.a", "pkg.sub.b", 2, False, False),  # `from pkg.sub import b`: b is a submodule
        ("pkg.a", "pkg.sub.c", 4, False, True),  # under TYPE_CHECKING
        ("pkg.a", "pkg.sub", 6, True, False),  # `from . import sub`: the subpackage
        ("pkg.a", "pkg.sub.c", 7, True, False),  # inside a function
        ("pkg.a", "pkg.a", 11, True, False),  # inside a method, absolute
        ("pkg.sub.b", "pkg.a", 1, False, False),  # `..` resolves against pkg.sub
        ("pkg.sub.b", "pkg.sub.c", 2, False, False),
    }
    runtime = [e for e in package_imports(pkg, tmp_path) if not e.typing_only]
    assert strongly_connected(runtime) == [["pkg.a", "pkg.sub.b"]]
    assert lazy_failures([_fake("meshauthz.cli", "meshauthz.api", function_level=True)]) == [
        "meshauthz/fake.py:7: meshauthz.cli -> meshauthz.api (function-level): a function-level import of a "
        "module that needs no optional extra (import it at module level)"]
