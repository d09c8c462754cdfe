"""Run the ```console examples of README.md and docs/*.md and compare their output (issue #14).

A console block is a list of `$ COMMAND` lines (a line ending in `\\` continues on the next one),
each followed by the output it prints (stdout and stderr together). Every command of one file runs
in order in one scratch directory holding copies of examples/, samples/ and tests/vectors/, so the
commands are exactly what a newcomer types at the repository root, and a file a command writes is
there for the next one. `meshauthz` and `python` are the ones of the running interpreter.

    python tests/docs_examples.py            # check every file, print the differences
    python tests/docs_examples.py --update   # rewrite the outputs in place (review the diff!)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("examples", "samples", "tests/vectors")
BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@dataclass
class Example:
    file: Path
    line: int  # 1-based line of the command in the file
    command: str
    expected: str
    span: tuple[int, int]  # character offsets of the expected output in the file


def examples(path: Path) -> list[Example]:
    text = path.read_text(encoding="utf-8")
    out: list[Example] = []
    for block in BLOCK.finditer(text):
        start = block.start(1)
        lines = block.group(1).splitlines(keepends=True)
        i = 0
        offset = start
        while i < len(lines):
            if not lines[i].startswith("$ "):
                raise ValueError(f"{path}:{text.count(chr(10), 0, offset) + 1}: console block line without `$ `")
            cmd_line = text.count("\n", 0, offset) + 1
            command = lines[i][2:]
            offset += len(lines[i])
            i += 1
            while command.rstrip("\n").endswith("\\") and i < len(lines):
                command += lines[i]
                offset += len(lines[i])
                i += 1
            out_start = offset
            expected = ""
            while i < len(lines) and not lines[i].startswith("$ "):
                expected += lines[i]
                offset += len(lines[i])
                i += 1
            out.append(Example(path, cmd_line, command.strip(), expected, (out_start, offset)))
    return out


def scratch() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="meshauthz-docs-"))
    for rel in COPIED:
        shutil.copytree(ROOT / rel, tmp / rel)
    return tmp


def environment() -> dict[str, str]:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env.pop("FORCE_COLOR", None)
    return env


def run(example: Example, cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(["bash", "-c", example.command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return r.stdout


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


def check_file(path: Path, update: bool = False) -> list[str]:
    """Differences (empty when every example of `path` prints what the file shows)."""
    exs = examples(path)
    if not exs:
        return []
    problems = []
    cwd = scratch()
    env = environment()
    text = path.read_text(encoding="utf-8")
    replacements = []
    try:
        for ex in exs:
            got = run(ex, cwd, env)
            if normalise(got) != normalise(ex.expected):
                problems.append(f"{path.relative_to(ROOT)}:{ex.line}: $ {ex.command}\n--- documented\n"
                                f"{ex.expected}--- printed\n{got}")
                replacements.append((ex.span, normalise(got) + "\n" if got.strip() else ""))
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    if update and replacements:
        for (a, b), new in sorted(replacements, reverse=True):
            text = text[:a] + new + text[b:]
        path.write_text(text, encoding="utf-8")
    return problems


def main(argv: list[str]) -> int:
    update = "--update" in argv
    failed = 0
    for path in documents():
        for p in check_file(path, update):
            failed += 1
            print(p)
    print(f"{failed} example(s) differ" + (" (rewritten)" if update and failed else ""))
    return 1 if failed and not update else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
