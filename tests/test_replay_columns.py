"""`meshauthz replay` reads real logs: fields that are not engine inputs (timestamps, ids) are carried to
the output but never decide, while a misspelt input column is an error row, never "no sidecar" (#12 item 1)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT
from meshauthz.cli import main


def test_extra_log_fields_are_kept_and_a_misspelt_source_is_an_error_row(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    rows = [{"ts": 1, "mesh": "demo", "source": "web-1", "destination": "backend-1", "port": 8080},
            {"ts": 2, "mesh": "demo", "src": "web-1", "destination": "backend-1", "port": 8080}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(log), "-f", str(ROOT / "examples" / "universal"), "--out", str(out), "-q"]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(g["ts"], g["allowed"], g["reason"]) for g in got] == [
        (1, True, "allowed"),  # web-to-backend admits web (examples/universal/trafficpermissions.yaml)
        (2, False, "error:missing-field")]  # `src` is no input: the source is missing, not "no sidecar"
