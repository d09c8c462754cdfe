"""`_core.pyi` matches the native module: mypy's stubtest compares every name, signature and class flag
of the stub with what the compiled extension exposes (a stale stub fails here, not in a user's IDE)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_core_stub_matches_the_native_module() -> None:
    pytest.importorskip("mypy")
    run = subprocess.run([sys.executable, "-m", "mypy.stubtest", "meshauthz._core"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success" in run.stdout
