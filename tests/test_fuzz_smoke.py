"""#12 "Keep it so": the fuzz smoke run (fuzz/smoke.sh: every Rust target for a few seconds, with
cargo-fuzz on stable Rust). It runs in CI (CI set) and wherever cargo-fuzz is installed; elsewhere
it is skipped, since installing cargo-fuzz needs the network."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "fuzz" / "smoke.sh"


def _have_cargo_fuzz() -> bool:
    if shutil.which("cargo") is None:
        return False
    return subprocess.run(["cargo", "fuzz", "--version"], capture_output=True).returncode == 0


# The first build of the targets (libFuzzer included) takes minutes on a fresh 2-core machine: a hang
# bound, not a performance assertion (the suite's default per-test timeout is 300 s).
@pytest.mark.timeout(2400)
@pytest.mark.skipif(not os.environ.get("CI") and not _have_cargo_fuzz(),
                    reason="cargo-fuzz not installed (CI installs it through fuzz/smoke.sh)")
def test_fuzz_smoke_run_finds_nothing() -> None:
    env = dict(os.environ, FUZZ_SECONDS=os.environ.get("FUZZ_SECONDS", "15"))
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=2300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for target in ("glob", "selector", "row_text", "bundle_sets", "bundle_rows"):
        assert f"fuzz/{target}: ok" in r.stdout, r.stdout
