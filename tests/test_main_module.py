"""`python -m meshauthz` behaves as the `meshauthz` console script (same exit codes and output)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_python_dash_m_runs_the_cli() -> None:
    examples = str(ROOT / "examples" / "universal")
    allowed = subprocess.run([sys.executable, "-m", "meshauthz", "check", "traffic", "-f", examples,
                              "--from", "web-1", "--to", "backend-1:8080"], capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith("ALLOW")
    denied = subprocess.run([sys.executable, "-m", "meshauthz", "check", "traffic", "-f", examples,
                             "--from", "batch-1", "--to", "payments-1:9090"], capture_output=True, text=True)
    assert denied.returncode == 1 and denied.stdout.startswith("DENY")
    usage = subprocess.run([sys.executable, "-m", "meshauthz", "no-such-command"], capture_output=True, text=True)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
