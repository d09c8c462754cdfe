"""Layering contract of the traffic engines (#11 item 8, traffic part): `meshauthz.traffic` and
`meshauthz.mtp` never import `analysis`, the YAML loader, `yaml_source` or the CLI (analysis formats
the engines' core queries, never the reverse), checked by reading every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

import meshauthz

PKG = Path(meshauthz.__file__).resolve().parent
FORBIDDEN = ("meshauthz.analysis", "meshauthz.loader", "meshauthz.yaml_source", "meshauthz.cli")


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in `path` (function-level imports included)."""
    module = "meshauthz." + ".".join(path.relative_to(PKG).with_suffix("").parts)
    package = module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
    return out


def test_engines_never_import_analysis_loader_or_cli() -> None:
    files = sorted((PKG / "traffic").glob("*.py")) + sorted((PKG / "mtp").glob("*.py"))
    assert len(files) >= 8
    bad = {
        str(f.relative_to(PKG)): sorted(i for i in _imports(f) if i.startswith(FORBIDDEN))
        for f in files
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_import_reader_resolves_relative_imports() -> None:
    probe = PKG / "traffic" / "engine.py"
    imports = _imports(probe)
    assert "meshauthz.traffic.compile" in imports  # relative imports resolve against the package
    assert "meshauthz.errors" in imports
