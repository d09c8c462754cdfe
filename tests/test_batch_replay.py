"""`meshauthz replay` on the examples/ logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshauthz.cli import main

ROOT = Path(__file__).resolve().parent.parent
RES = str(ROOT / "examples" / "universal")


def test_replay_access_log_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(ROOT / "examples" / "access-log.jsonl"), "--resources", RES, "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["allowed"] for r in rows] == [True, True, False, True, False, False, False]
    assert rows[0]["policy"] == "web-to-backend" and rows[-1]["reason"] == "error:unknown-dataplane"
    table = capsys.readouterr().out
    assert "web-to-backend" in table and "total" in table


def test_replay_audit_log_parquet_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out.parquet"
    assert main(["replay", str(ROOT / "examples" / "audit-log.jsonl"), "--resources", RES, "--out", str(out)]) == 0
    t = pq.read_table(out)
    assert t.column("allowed").to_pylist() == [True, False, True, False, False]
    assert t.column("policy").to_pylist()[0] == "backend-owner"
    log = tmp_path / "log.csv"
    log.write_text("mesh,source,destination,port\ndemo,web-1,backend-1,8080\ndemo,,backend-1,8080\n")
    assert main(["replay", str(log), "--resources", RES]) == 0
    assert "mtls-required" in capsys.readouterr().out
