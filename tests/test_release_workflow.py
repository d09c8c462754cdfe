"""The release workflow (.github/workflows/release.yml) is linted here, not run (issue #14): it must
validate against GitHub's workflow schema and build every platform from one abi3 wheel definition."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def test_workflow_matches_githubs_schema() -> None:
    pytest.importorskip("check_jsonschema")
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert exe is not None
    r = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_workflow_builds_every_platform_and_publishes_only_on_tags() -> None:
    wf = yaml.safe_load(WORKFLOW.read_text())
    jobs = wf["jobs"]
    linux = {(m["target"], m["manylinux"]) for m in jobs["linux"]["strategy"]["matrix"]["include"]}
    assert linux == {("x86_64", "2014"), ("aarch64", "2014"), ("x86_64", "musllinux_1_2"),
                     ("aarch64", "musllinux_1_2")}
    assert {m["target"] for m in jobs["macos"]["strategy"]["matrix"]["include"]} == {"x86_64", "aarch64"}
    assert "windows" in jobs and "sdist" in jobs
    builds = [s for j in jobs.values() for s in j["steps"] if str(s.get("uses", "")).startswith("PyO3/maturin-action")]
    assert len(builds) == 4 and all("--release" in s["with"].get("args", "") for s in builds if "target" in s["with"])
    publish = jobs["publish"]
    assert publish["if"].startswith("startsWith(github.ref, 'refs/tags/v')")
    assert set(publish["needs"]) >= {"linux", "macos", "windows", "sdist"}
    assert publish["permissions"] == {"id-token": "write"}  # trusted publishing: no stored token
    assert wf["permissions"] == {"contents": "read"}


def test_abi3_wheel_is_configured() -> None:
    cargo = (ROOT / "rust" / "py" / "Cargo.toml").read_text()
    assert '"abi3-py310"' in cargo  # one wheel per platform for every CPython >= 3.10
