"""Every console example of README.md and docs/ runs and prints what the page shows (issue #14),
every rule id the CLI prints is explained in docs/semantics.md, and the CLI reference is complete.

Examples run through tests/docs_examples.py (also a script: `--update` rewrites the outputs).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from docs_examples import ROOT, check_file, documents, examples

DOCS = [p for p in documents() if examples(p)]
SEMANTICS = ROOT / "docs" / "semantics.md"
# A rule id: T2.7, E0b, M6.2, R5.11, L009, TP A18, MTP A3, RBAC A12 (A ids are numbered per specification).
RULE_ID = re.compile(r"\b(?:(?:TP|MTP|RBAC) A\d+[a-z]?|[TMRS]\d+\.\d+|E\d+b?|L0\d\d|A\d+[a-z]?)\b")


def test_there_are_console_examples() -> None:
    assert ROOT / "README.md" in DOCS and len([e for p in DOCS for e in examples(p)]) >= 20


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_console_examples_print_what_the_docs_show(path: Path) -> None:
    problems = check_file(path)
    assert not problems, "\n\n".join(problems) + "\n(run `python tests/docs_examples.py --update`)"


def test_examples_stay_inside_the_repository() -> None:
    for path in DOCS:
        for ex in examples(path):
            assert "../shared" not in ex.command and " /work" not in ex.command, f"{path}:{ex.line}: {ex.command}"


def _documented_ids() -> set[str]:
    """Ids with an entry (a table row `| ID |`) in docs/semantics.md."""
    return set(re.findall(r"^\| ((?:(?:TP|MTP|RBAC) )?[A-Z]\d+(?:\.\d+)?[a-z]?) \|", SEMANTICS.read_text(),
                          re.M))


def _printed_texts() -> list[str]:
    texts = [ex.expected for p in DOCS for ex in examples(p)]
    texts += [p.read_text() for p in (ROOT / "tests" / "golden").glob("*") if p.is_file()]
    from click.testing import CliRunner

    from meshauthz.cli import cli

    runner = CliRunner()
    texts.append(runner.invoke(cli, ["--help"]).output)
    for name, cmd in cli.commands.items():
        texts.append(runner.invoke(cli, [name, "--help"]).output)
        for sub in getattr(cmd, "commands", {}):
            texts.append(runner.invoke(cli, [name, sub, "--help"]).output)
    return texts


def test_every_rule_id_the_cli_prints_is_explained() -> None:
    documented = _documented_ids()
    families = {i.split()[0] for i in documented if " " in i}
    assert families == {"TP", "MTP", "RBAC"}
    missing = set()
    for text in _printed_texts():
        for rid in RULE_ID.findall(text):
            if rid.startswith("A"):  # unqualified: must exist in some family
                ok = any(f"{f} {rid}" in documented for f in families)
            else:
                ok = rid in documented
            if not ok:
                missing.add(rid)
    assert not missing, f"rule ids printed but not explained in docs/semantics.md: {sorted(missing)}"


def test_engine_messages_rule_ids_are_explained() -> None:
    """Ids inside the engines' user-facing message strings (explanations, notes, errors, lint)."""
    documented = _documented_ids()
    sources = [*(ROOT / "python" / "meshauthz").rglob("*.py"), *(ROOT / "rust").rglob("*.rs")]
    literal = re.compile(r"\"[^\"\n]*\(([^()\"\n]*\b(?:[TMR]\d+\.\d+|A\d+[a-z]?|E\d+b?)\b[^()\"\n]*)\)[^\"\n]*\"")
    missing = set()
    for src in sources:
        for m in literal.finditer(src.read_text(encoding="utf-8")):
            for rid in RULE_ID.findall(m.group(1)):
                if rid.startswith("A"):
                    ok = any(f"{f} {rid}" in documented for f in ("TP", "MTP", "RBAC"))
                else:
                    ok = rid in documented or rid.split(".")[0] + ".x" in documented
                if not ok:
                    missing.add(f"{rid} ({src.relative_to(ROOT)})")
    assert not missing, f"rule ids in messages but not in docs/semantics.md: {sorted(missing)}"


def test_docs_build(tmp_path: Path) -> None:
    """`mkdocs build --strict` (offline, a few seconds): the CLI reference comes from the commands,
    the API reference from docstrings."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("mkdocs_click")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    cli_page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    for command in ("check traffic", "can-i", "replay", "completion", "meshauthz test"):
        assert command in cli_page, command
    api_page = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert "TrafficEngine" in api_page and "who_can_reach" in api_page


# Blocks fenced "```python scale-out" need a Dask / Ray / Spark cluster: tests/test_scale_*.py run them.
PY_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("path", [p for p in documents() if PY_BLOCK.search(p.read_text())],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(path: Path) -> None:
    """The ```python blocks run as they are, in order, from the repository root (policies.bundle made
    by the console example that precedes the bundle section)."""
    import shutil

    from docs_examples import environment, scratch

    cwd = scratch()
    try:
        env = environment()
        subprocess.run(["meshauthz", "compile", "examples/", "--out", "policies.bundle", "-q"], cwd=cwd, env=env,
                       check=True, timeout=120)
        code = "\n".join(b for b in PY_BLOCK.findall(path.read_text()))
        r = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
