"""`meshauthz replay` fails closed (#12 item 8): unreadable lines are `FILE:LINE: problem` with exit 2
and `error:unreadable-line` rows (the run goes on), unreadable files are one located error, the
decisions file appears whole or not at all, and nothing ends in a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from meshauthz.cli import main
from meshauthz.cli import replay as replay_mod

ROOT = Path(__file__).resolve().parent.parent
RES = str(ROOT / "examples" / "universal")
# From examples/access-log.jsonl and tests/test_batch_replay.py: web-1 → backend-1:8080 is allowed by
# `web-to-backend`; web-1 → payments-1:9090 is denied.
ALLOWED = {"mesh": "demo", "source": "web-1", "destination": "backend-1", "port": 8080}
DENIED = {"mesh": "demo", "source": "web-1", "destination": "payments-1", "port": 9090}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", *args])
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


def test_unreadable_jsonl_lines_are_located_error_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.jsonl"
    lines = [
        json.dumps(ALLOWED),                                   # 1 fine
        "[1, 2]",                                              # 2 a list
        "5",                                                   # 3 an int
        "[" * 100_000 + "]" * 100_000,                         # 4 deeper than the JSON parser goes
        '{"a": ' + "[" * 150 + "]" * 150 + "}",                # 5 deeper than MAX_DEPTH
        json.dumps({"mesh": 5, "source": [1], "destination": {"x": 1}, "port": "80"}),  # 6 wrong types
        "{not json",                                           # 7
        "",
        json.dumps(DENIED),                                    # 9 fine
    ]
    log.write_text("\n".join(lines) + "\n")
    for ext in (".jsonl", ".csv", ".parquet"):
        if ext == ".parquet":
            pytest.importorskip("pyarrow.parquet")
        out = tmp_path / f"out{ext}"
        code, _, err = run(capsys, str(log), "-f", RES, "--out", str(out))
        assert code == 2
        assert "Traceback" not in err
        for n in (2, 3, 4, 5, 7):
            assert f"{log}:{n}: " in err, (n, err)
        assert f"{log}:2: expected a JSON object, found an array" in err
        assert f"{log}:3: expected a JSON object, found a number" in err
        assert "nested deeper than" in err.split(f"{log}:5: ")[1].splitlines()[0]
        decided = read_out(out)
        # Every non-empty line is a row: nothing is dropped.
        assert [r["reason"] == "error:unreadable-line" for r in decided] == [
            False, True, True, True, True, False, True, False]
        assert [r["allowed"] for r in decided] == [True, False, False, False, False, False, False, False]
        assert decided[5]["reason"].startswith("error:")  # wrong types: the engine's refusal
        assert decided[7]["reason"] != "error:unreadable-line" and not decided[7]["reason"].startswith("error:")
        assert leftovers(tmp_path) == []


def read_out(out: Path) -> list[dict[str, Any]]:
    if out.suffix == ".jsonl":
        return [json.loads(x) for x in out.read_text().splitlines()]
    if out.suffix == ".csv":
        import csv

        with out.open(newline="") as f:
            return [dict(r, allowed=r["allowed"] == "True") for r in csv.DictReader(f)]
    import pyarrow.parquet as pq

    return pq.read_table(out).to_pylist()


def test_csv_row_with_an_extra_field_is_an_error_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.csv"
    log.write_text("mesh,source,destination,port\n"
                   "demo,web-1,backend-1,8080\n"
                   "demo,web-1,backend-1,8080,surprise\n"
                   "demo,web-1,payments-1,9090\n"
                   "demo,web-1,backend-1,http\n")
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, str(log), "-f", RES, "--out", str(out))
    assert code == 2 and "Traceback" not in err
    assert f"{log}:3: 5 fields, the header has 4" in err
    rows = read_out(out)
    assert [r["allowed"] for r in rows] == [True, False, False, False]
    assert rows[1]["reason"] == "error:unreadable-line"
    assert rows[3]["reason"].startswith("error:")  # a port that is not a number: refused, not "no port"


@pytest.mark.parametrize("name,data,problem", [
    ("log.csv", b"mesh,source,destination,port\n" + bytes(range(256)) * 4, ":3: not UTF-8 text (byte 157)"),
    ("log.jsonl", json.dumps(ALLOWED).encode() + b"\n\xff\xfe\n", ":2: not UTF-8 text"),
    ("log.csv", b"mesh,source\x00,destination\n", ":1: binary data"),
    ("log.parquet", b"PAR1 this is not parquet at all", ": not a readable Parquet file"),
])
def test_unreadable_files_are_one_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                                data: bytes, problem: str) -> None:
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow.parquet")
    log = tmp_path / name
    log.write_bytes(data)
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, str(log), "-f", RES, "--out", str(out))
    assert code == 2
    assert f"meshauthz: error: {log}{problem}" in err
    assert "Traceback" not in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_unwritable_out_is_refused_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(ALLOWED) + "\n")
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "out.jsonl"  # a path under a regular file: never writable (even as root)
    code, _, err = run(capsys, str(log), "-f", RES, "--out", str(out))
    assert code == 2
    assert f"meshauthz: error: --out {out}: cannot write: " in err
    assert "Traceback" not in err


@pytest.mark.parametrize("ext", [".jsonl", ".csv", ".parquet"])
def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str) -> None:
    """An interruption while writing (injected KeyboardInterrupt) keeps the previous file intact and
    leaves no temporary file; the old code truncated the final path first."""
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in [ALLOWED, DENIED] * 50))
    out = tmp_path / f"out{ext}"
    out.write_bytes(b"previous run\n")
    if ext == ".parquet":
        pq = pytest.importorskip("pyarrow.parquet")

        def boom(*a: Any, **k: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(pq.ParquetWriter, "write_table", boom)
    else:
        calls = {"n": 0}
        real = replay_mod._dumps

        def interrupted(v: Any) -> str:
            calls["n"] += 1
            if calls["n"] > 3 and isinstance(v, dict) and "allowed" in v:
                raise KeyboardInterrupt
            return real(v)

        monkeypatch.setattr(replay_mod, "_dumps", interrupted)
        if ext == ".csv":  # CSV cells are plain values: interrupt the row writer instead
            import csv

            class Writer(csv.DictWriter):  # type: ignore[type-arg]
                n = 0

                def writerow(self, rowdict: Any) -> Any:
                    Writer.n += 1
                    if Writer.n > 3:
                        raise KeyboardInterrupt
                    return super().writerow(rowdict)

            monkeypatch.setattr(replay_mod.csv, "DictWriter", Writer)
    assert main(["replay", str(log), "-f", RES, "--out", str(out), "-q"]) != 0  # "meshauthz: aborted"
    assert out.read_bytes() == b"previous run\n"
    assert leftovers(tmp_path) == []


def test_sigint_leaves_no_partial_file(tmp_path: Path) -> None:
    """A real SIGINT once the run has started: the final path is absent (or complete, if the signal
    came after the rename), and no temporary file is left."""
    n = 200_000
    log = tmp_path / "log.jsonl"
    log.write_text((json.dumps(ALLOWED) + "\n" + json.dumps(DENIED) + "\n") * (n // 2))
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "meshauthz", "replay", str(log), "-f", RES, "--out", str(out),
                             "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen_tmp = False
    try:
        # Poll (bounded) until the temporary file is being written; no fixed sleep.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            tmps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
            if tmps:
                seen_tmp = True
                try:
                    if tmps[0].stat().st_size > 0:
                        break
                except FileNotFoundError:
                    pass
            time.sleep(0.001)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen_tmp, "replay never wrote through a temporary file"
    assert b"Traceback" not in err
    assert leftovers(tmp_path) == []
    if out.exists():  # the signal arrived after the rename: then the file is whole
        assert out.read_text().count("\n") == n
    else:
        assert proc.returncode != 0
