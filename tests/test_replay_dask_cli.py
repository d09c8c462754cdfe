"""`meshauthz replay --dask local:1` (#17): the same summary as the local replay of the same log, decided on
a Dask LocalCluster; Parquet partitions written to the --out directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT
from meshauthz.cli import main

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")


@pytest.mark.timeout(600)
def test_replay_dask_prints_what_the_local_replay_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = ROOT / "examples" / "access-log.jsonl"
    resources = str(ROOT / "examples" / "universal")
    assert main(["replay", str(log), "-f", resources, "-o", "json"]) == 0
    local = json.loads(capsys.readouterr().out)
    out = tmp_path / "decisions"
    assert main(["replay", str(log), "-f", resources, "-o", "json", "--dask", "local:1", "--out", str(out)]) == 0
    distributed = json.loads(capsys.readouterr().out)
    for key in ("engine", "rows", "allowed", "denied", "errors", "summary"):
        assert distributed[key] == local[key], key
    assert sorted(p.suffix for p in out.iterdir()) and all(p.suffix == ".parquet" for p in out.iterdir())


def test_several_logs_need_dask(tmp_path: Path) -> None:
    log = str(ROOT / "examples" / "access-log.jsonl")
    assert main(["replay", log, log, "-f", str(ROOT / "examples" / "universal")]) == 2
