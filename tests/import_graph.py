"""Import graph of a Python package read from its source with `ast` (no import is executed), for the
layering contract (tests/test_import_contract.py, #11 item 8). Also a small CLI:

    python tests/import_graph.py python/meshauthz      # strongly connected components, function-level imports

Every `import` / `from ... import` statement counts, wherever it is (module level, inside a function or a
class, under `try` or `if`); relative imports resolve against the importing module's package; in
`from pkg import name`, `name` resolves to the submodule `pkg.name` when that is a module of the package,
else the import is of `pkg` itself (its `__init__`). Imports under `if TYPE_CHECKING:` are kept but
flagged (`typing_only`): they never run, so they close no runtime cycle.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Import:
    """One import edge: `importer` imports `imported` at `file:line`."""

    importer: str
    imported: str
    file: str
    line: int
    function_level: bool  # inside a function (or a method): hidden from module import order
    typing_only: bool  # under `if TYPE_CHECKING:`

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def __str__(self) -> str:
        kind = " (function-level)" if self.function_level else ""
        kind += " (TYPE_CHECKING)" if self.typing_only else ""
        return f"{self.where()}: {self.importer} -> {self.imported}{kind}"


def modules_of(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every `.py` file of the package (a package is its `__init__`);
    a native extension (`_core.*.so` / `_core.pyi`) is a module too, with its stub as file (it imports
    nothing of the package)."""
    package_dir = package_dir.resolve()
    root = package_dir.name
    out: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([root, *parts])] = path
    for pattern in ("*.pyi", "*.so", "*.pyd"):
        for path in sorted(package_dir.rglob(pattern)):
            parts = list(path.relative_to(package_dir).parts)
            parts[-1] = parts[-1].split(".")[0]
            out.setdefault(".".join([root, *parts]), path)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, in_function: bool, typing_only: bool) -> Iterator[tuple[ast.stmt, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function, typing_only
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), in_function, True)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), in_function, typing_only)
        else:
            fn = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from _walk(child, in_function or fn, typing_only)


def imports_of(module: str, path: Path, modules: dict[str, Path], base: Path) -> list[Import]:
    """The imports of one module that land inside the package (`modules`)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    root = module.split(".")[0]
    rel = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
    out: list[Import] = []

    def add(target: str, node: ast.stmt, fn: bool, tc: bool) -> None:
        if target.split(".")[0] == root and target in modules:
            out.append(Import(module, target, rel, node.lineno, fn, tc))

    for node, fn, tc in _walk(ast.parse(path.read_text(), str(path)), False, False):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, fn, tc)
        else:
            assert isinstance(node, ast.ImportFrom)
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                source = ".".join(parts + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            whole = False
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    add(sub, node, fn, tc)
                else:
                    whole = True
            if whole:
                add(source, node, fn, tc)
    return out


def package_imports(package_dir: Path, base: Path | None = None) -> list[Import]:
    """Every import edge inside the package rooted at `package_dir` (paths shown relative to `base`)."""
    modules = modules_of(package_dir)
    base = (base or package_dir.resolve().parent).resolve()
    edges: list[Import] = []
    for module, path in modules.items():
        if path.suffix != ".py":
            continue  # native extension: a leaf
        edges.extend(imports_of(module, path, modules, base))
    return edges


def strongly_connected(edges: list[Import]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (or a self-import), largest
    first; iterative so a deep package does not hit the recursion limit."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1 or node in graph[node]:
                    found.append(sorted(comp))
    return sorted(found, key=lambda c: (-len(c), c))


def cycle_edges(edges: list[Import], component: list[str]) -> list[Import]:
    """The import statements that keep `component` strongly connected (both ends inside it)."""
    inside = set(component)
    return [e for e in edges if e.importer in inside and e.imported in inside]


def main(argv: list[str]) -> int:
    package_dir = Path(argv[1] if len(argv) > 1 else "python/meshauthz")
    edges = package_imports(package_dir)
    runtime = [e for e in edges if not e.typing_only]
    sccs = strongly_connected(runtime)
    print(f"{len(edges)} import statements inside the package ({len(runtime)} at runtime)")
    print(f"strongly connected components: {[len(c) for c in sccs]}")
    for comp in sccs:
        print(f"-- {len(comp)} modules: {', '.join(comp)}")
    fn = [e for e in edges if e.function_level]
    print(f"function-level imports: {len(fn)} (statements: {len({(e.file, e.line) for e in fn})})")
    for e in fn:
        print(f"   {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
