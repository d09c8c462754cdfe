"""Benchmarks (pytest-benchmark): run explicitly, e.g. `pytest bench/ --benchmark-only`.

Not collected by the default run (pytest's testpaths is `tests`). Files are named `bench_*.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # traffic_reference


def pytest_collect_file(file_path: Path, parent: Any) -> Optional[pytest.Module]:
    # Files named on the command line are collected by pytest itself.
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and not parent.session.isinitpath(file_path)
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
