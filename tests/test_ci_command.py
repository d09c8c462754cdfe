"""CI runs exactly README's test command (`.ci/run`), and that command keeps the Rust lints of issue #12
(`cargo clippy ... -D warnings`, with unwrap / expect / panic / indexing denied in both crates)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"Install and pass the tests[^\n]*\n\n```sh\n(.+?)\n```", text, re.S)
    assert m, "README.md lost its test command block"
    return m.group(1)


def ci_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in lines if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert len(commands) == 1, commands
    return commands[0]


def test_ci_runs_exactly_readmes_command() -> None:
    assert ci_command() == readme_test_command()


def test_ci_fails_on_any_clippy_warning_in_every_target_of_the_workspace() -> None:
    steps = [s.strip() for s in ci_command().split("&&")]
    clippy = [s for s in steps if s.startswith("cargo clippy")]
    assert clippy == ["cargo clippy -q --workspace --all-targets -- -D warnings"]
    # after the core's tests, before the Python suite (a lint failure stops the run)
    assert steps.index(clippy[0]) == steps.index("cargo test -q -p meshauthz-core") + 1


def toml_table(path: Path, name: str) -> dict[str, str]:
    """The `key = value` lines of table `[name]` (values as written; enough for these manifests)."""
    table: dict[str, str] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            current = line.strip("[]").strip()
        elif current == name and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            table[key] = value
    return table


def test_both_crates_deny_panicking_shortcuts() -> None:
    lints = toml_table(ROOT / "Cargo.toml", "workspace.lints.clippy")
    for lint in ("unwrap_used", "expect_used", "panic", "indexing_slicing"):
        assert lints.get(lint) == '"deny"', lint
    for crate in ("core", "py"):
        assert toml_table(ROOT / "rust" / crate / "Cargo.toml", "lints") == {"workspace": "true"}, crate
