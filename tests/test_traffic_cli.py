"""CLI `check traffic` / `inspect`: one test per exit code, --explain and --output json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshauthz.cli import main
from test_traffic_engine import WORLD


@pytest.fixture()
def world(tmp_path: Path) -> str:
    p = tmp_path / "world.yaml"
    p.write_text(WORLD)
    return str(p)


def test_exit_0_allowed(world: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "traffic", "-f", world, "--from", "web-1", "--to", "backend-1:9000"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == "ALLOW backend-1:9000 (mesh default): allowed, policy web-admin-to-backend"


def test_exit_1_denied(world: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "traffic", "-f", world, "--from", "non-mesh", "--to", "backend-1:9000"]) == 1
    assert "DENY backend-1:9000 (mesh default): mtls-required" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "web-1", "--to", "backend-1"], "DATAPLANE:PORT"),
        (["--from", "web-1", "--to", "nope:80"], "nope"),
        (["--from", "tags:broken", "--to", "backend-1:9000"], "tags:KEY=VALUE"),
        (["--from", "web-1", "--to", "external-service:"], "missing external service"),
    ],
)
def test_exit_2_bad_input(
    world: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["check", "traffic", "-f", world, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_exit_2_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "traffic", "-f", str(tmp_path / "none.yaml"), "--from", "a", "--to", "b:1"]) == 2
    assert "meshauthz: error" in capsys.readouterr().err


def test_tags_source_and_external_service_json(world: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "check",
            "traffic",
            "-f",
            world,
            "--from",
            "tags:kuma.io/service=edge",
            "--to",
            "external-service:httpbin",
            "--output",
            "json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["policy"] == "edge-to-httpbin" and out["target"]["kind"] == "external_service"


def test_explain_text(world: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["check", "traffic", "-f", world, "--from", "edge-1", "--to", "backend-1:9000", "--explain"])
        == 1
    )
    out = capsys.readouterr().out
    assert "[winner] web-admin-to-backend rank(exact=1, wildcard=0)" in out
    assert "[shadowed] broad" in out and "failed:" in out


def test_inspect(world: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "backend-1", "-f", world]) == 0
    out = capsys.readouterr().out
    assert "inbound 9000" in out and "web-admin-to-backend" in out and "shadowed: broad" in out
    assert main(["inspect", "ghost", "-f", world]) == 2
