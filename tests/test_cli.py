"""The CLI conventions of issue #14: formats, --out, repeatable options, stdin, -q, errors, exit codes.

Output shapes are pinned by golden files under tests/golden/ (regenerate after a deliberate change
with MESHAUTHZ_UPDATE_GOLDEN=1 and review the diff). Commands run from the repository root so the
paths in their output are the ones README shows.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import pytest
import yaml

from meshauthz.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("MESHAUTHZ_UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")


def run(capsys: pytest.CaptureFixture[str], *args: str, stdin: Optional[bytes] = None,
        monkeypatch: Optional[pytest.MonkeyPatch] = None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path} (run with MESHAUTHZ_UPDATE_GOLDEN=1)"
    assert text == path.read_text(), f"output differs from {path}"


# ---- one JSON shape per command, pinned ---------------------------------------------------------

SHAPES = {
    "validate.json": (["validate", "examples/universal", "-o", "json"], 0),
    "check.json": (["check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "backend-1:8080", "-o", "json"],
                   0),
    "check-explain.json": (["check", "traffic", "-f", "examples/", "--from", "batch-1", "--to", "payments-1:9090",
                            "--explain", "-o", "json"], 1),
    "check-mtp-explain.json": (["check", "traffic", "-f", "examples/", "--from", "reports-1", "--to", "api-1:8080",
                                "--explain", "-o", "json"], 0),
    "inspect-mtp.json": (["inspect", "orders-5c2a.shop", "-f", "examples/", "-o", "json"], 0),
    "can-i-deny.json": (["can-i", "CREATE", "-f", "samples/tp.yaml", "--user", "bob", "--roles",
                         "examples/universal/rbac.yaml", "-o", "json"], 1),
    "can-i-explain.json": (["can-i", "CREATE", "-f", "samples/tp.yaml", "--user", "alice", "--group", "team-backend",
                            "--roles", "examples/universal/rbac.yaml", "--explain", "-o", "json"], 0),
    "lint.json": (["lint", "examples/universal/rbac.yaml", "-o", "json"], 0),
    "who-can.json": (["who-can", "payments-1:9090", "-f", "examples/universal", "-o", "json"], 0),
    "what-can.json": (["what-can", "--user", "alice", "--group", "team-backend", "--roles",
                       "examples/universal/rbac.yaml", "-o", "json"], 0),
    "matrix.json": (["matrix", "demo", "-f", "examples/universal", "-o", "json"], 0),
    "diff.json": (["diff", "--before", "examples/universal", "--after", "samples/after/", "--users",
                   "samples/users.yaml", "--resources", "samples/tp.yaml", "-o", "json"], 1),
    "replay.json": (["replay", "examples/access-log.jsonl", "-f", "examples/universal", "-o", "json"], 0),
    "test.json": (["test", "samples/tests/", "-o", "json"], 0),
    "check-explain.txt": (["check", "traffic", "-f", "examples/", "--from", "batch-1", "--to", "payments-1:9090",
                           "--explain"], 1),
    "check-mtp-explain.yaml": (["check", "traffic", "-f", "examples/", "--from", "reports-1", "--to", "api-1:8080",
                                "--explain", "-o", "yaml"], 0),
    "inspect-mtp.txt": (["inspect", "orders-5c2a.shop", "-f", "examples/"], 0),
    "lint-findings.txt": (["lint", "tests/golden/inputs/risky-roles.yaml", "--fail-on", "warn"], 1),
    "what-can.table": (["what-can", "--user", "alice", "--group", "team-backend", "--roles",
                        "examples/universal/rbac.yaml", "-o", "table"], 0),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_output_shapes_are_pinned(capsys: pytest.CaptureFixture[str], name: str) -> None:
    args, expected_code = SHAPES[name]
    code, out, err = run(capsys, *args)
    assert code == expected_code, err
    if name.endswith(".json"):
        json.loads(out)  # one JSON document
    if name.endswith(".yaml"):
        yaml.safe_load(out)
    golden(name, out)


def test_explain_adds_fields_and_never_reshapes(capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        ["check", "traffic", "-f", "examples/", "--from", "batch-1", "--to", "payments-1:9090"],
        ["check", "traffic", "-f", "examples/", "--from", "reports-1", "--to", "api-1:8080"],
        ["can-i", "CREATE", "-f", "samples/tp.yaml", "--user", "bob", "--roles", "examples/universal/rbac.yaml"],
    ]
    for args in cases:
        _, plain, _ = run(capsys, *args, "-o", "json")
        _, explained, _ = run(capsys, *args, "-o", "json", "--explain")
        p, e = json.loads(plain), json.loads(explained)
        assert {k: e[k] for k in p} == p, args  # every plain field, unchanged
        assert set(e) - set(p), args  # plus something


# ---- -o is the format, --out the file -----------------------------------------------------------


def test_output_flag_that_looks_like_a_file_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "replay", "examples/access-log.jsonl", "-f", "examples/universal", "-o",
                         str(tmp_path / "out.csv"))
    assert code == 2 and out == ""
    assert "-o/--output is the format" in err and f"--out {tmp_path / 'out.csv'}" in err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("fmt, name", [("csv", "m.png"), ("json", "m.yaml"), ("png", "m.svg"), ("yaml", "m.csv")])
def test_out_extension_must_agree_with_format(capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str,
                                              name: str) -> None:
    code, _, err = run(capsys, "matrix", "demo", "-f", "examples/universal", "-o", fmt, "--out", str(tmp_path / name))
    assert code == 2 and "does not agree with -o" in err
    assert not (tmp_path / name).exists()


def test_out_infers_the_format_from_the_extension(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "matrix", "demo", "-f", "examples/universal", "--out", str(tmp_path / "m.csv"))[0] == 0
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == "source,backend,batch,payments,web"
    assert run(capsys, "who-can", "payments-1:9090", "-f", "examples/universal", "--out", str(tmp_path / "w.yaml"))[
        0] == 0
    assert yaml.safe_load((tmp_path / "w.yaml").read_text())["services"] == ["backend", "payments"]
    code, out, _ = run(capsys, "check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "backend-1:8080",
                       "--out", str(tmp_path / "d.json"))
    assert code == 0 and out == "" and json.loads((tmp_path / "d.json").read_text())["policy"] == "web-to-backend"
    code, _, err = run(capsys, "matrix", "demo", "-f", "examples/universal", "--out", str(tmp_path / "m.bin"))
    assert code == 2 and "cannot tell the format" in err


def test_every_command_accepts_every_base_format(capsys: pytest.CaptureFixture[str]) -> None:
    commands = [
        ["validate", "examples/universal"],
        ["check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "backend-1:8080"],
        ["inspect", "web-1", "-f", "examples/"],
        ["can-i", "CREATE", "-f", "samples/tp.yaml", "--user", "bob", "--roles", "examples/universal/rbac.yaml"],
        ["lint", "examples/universal/rbac.yaml"],
        ["who-can", "payments-1:9090", "-f", "examples/universal"],
        ["what-can", "--user", "alice", "--roles", "examples/universal/rbac.yaml"],
        ["matrix", "demo", "-f", "examples/universal"],
        ["diff", "--before", "examples/universal", "--after", "samples/after"],
        ["replay", "examples/access-log.jsonl", "-f", "examples/universal"],
        ["test", "samples/tests"],
    ]
    for args in commands:
        for fmt in ("text", "json", "yaml", "table"):
            code, out, err = run(capsys, *args, "-o", fmt)
            assert code in (0, 1), (args, fmt, err)
            assert out.strip(), (args, fmt)
            if fmt == "json":
                json.loads(out)
            elif fmt == "yaml":
                assert isinstance(yaml.safe_load(out), dict)


# ---- repeatable options never swallow positionals; stdin everywhere -----------------------------


def test_roles_before_the_action_does_not_swallow_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "can-i", "--user", "alice", "--group", "team-backend", "--roles",
                       "examples/universal/rbac.yaml", "CREATE", "-f", "samples/tp.yaml")
    assert code == 0 and out == "yes\n"
    code, out, _ = run(capsys, "can-i", "--user", "bob", "--roles", "examples/universal/rbac.yaml", "--roles",
                       "samples/after/rbac.yaml", "CREATE", "-f", "samples/tp.yaml")
    assert code == 2  # two definitions of the same role: a clean input error, not a usage error


def test_file_option_before_the_log_does_not_swallow_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "replay", "-f", "examples/universal", "examples/access-log.jsonl")
    assert code == 0 and out.startswith("7 traffic requests from examples/access-log.jsonl")


def test_stdin_everywhere(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    tp = (ROOT / "samples" / "tp.yaml").read_bytes()
    code, out, _ = run(capsys, "can-i", "CREATE", "-f", "-", "--user", "alice", "--group", "team-backend", "--roles",
                       "examples/universal/rbac.yaml", stdin=tp, monkeypatch=monkeypatch)
    assert (code, out) == (0, "yes\n")
    world = b"\n---\n".join(p.read_bytes() for p in sorted((ROOT / "examples" / "universal").glob("*.yaml")))
    code, out, _ = run(capsys, "check", "traffic", "-f", "-", "--from", "web-1", "--to", "backend-1:8080",
                       stdin=world, monkeypatch=monkeypatch)
    assert code == 0 and out.startswith("ALLOW backend-1:8080")
    log = (ROOT / "examples" / "access-log.jsonl").read_bytes()
    code, out, _ = run(capsys, "replay", "-", "-f", "examples/universal", "-o", "json", stdin=log,
                       monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["rows"] == 7
    code, out, _ = run(capsys, "validate", "-", stdin=tp, monkeypatch=monkeypatch)
    assert code == 0 and out == "1 document, 1 valid resource: ok\n"
    code, _, err = run(capsys, "can-i", "CREATE", "-f", "-", "--user", "a", "--roles", "-", stdin=tp,
                       monkeypatch=monkeypatch)
    assert code == 2 and "stdin (-) can be read once" in err


# ---- -q, summary lines, exit codes --------------------------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (["check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "backend-1:8080"], 0),
    (["check", "traffic", "-f", "examples/", "--from", "batch-1", "--to", "payments-1:9090", "--explain"], 1),
    (["can-i", "CREATE", "-f", "samples/tp.yaml", "--user", "bob", "--roles", "examples/universal/rbac.yaml"], 1),
    (["diff", "--before", "examples/universal", "--after", "samples/after"], 1),
    (["validate", "examples/"], 0),
    (["check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "nope:1"], 2),
])
def test_quiet_prints_nothing_and_keeps_the_exit_code(capsys: pytest.CaptureFixture[str], args: list[str],
                                                      expected: int) -> None:
    code, out, _ = run(capsys, *args, "-q")
    assert (code, out) == (expected, "")


def test_clean_lint_and_validate_print_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "lint", "examples/universal/rbac.yaml")[:2] == (0, "0 findings: ok\n")
    assert run(capsys, "validate", "examples/universal/mesh.yaml")[:2] == (0, "1 document, 1 valid resource: ok\n")


# ---- errors are one clean line -------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["can-i", "CREATE", "-f", "examples/", "--user", "bob"], "meshauthz: error: -f examples/: is a directory"),
    (["can-i", "CREATE", "-f", "nope.yaml", "--user", "bob"], "meshauthz: error: -f nope.yaml: no such file"),
    (["check", "traffic", "-f", "nope/", "--from", "a", "--to", "b:1"], "meshauthz: error: -f nope/: no such file"),
    (["replay", "examples/", "-f", "examples/universal"], "meshauthz: error: LOG examples/: expected a .jsonl"),
    (["replay", "nope.jsonl", "-f", "examples/universal"], "meshauthz: error: LOG nope.jsonl: no such file"),
    (["can-i", "UPDATE", "-f", "samples/tp.yaml", "--user", "bob", "--roles", "examples/universal/rbac.yaml"],
     "meshauthz: error: UPDATE needs --old FILE"),
    (["check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "backend-1"],
     "meshauthz: error: --to backend-1: expected DATAPLANE:PORT"),
])
def test_errors_are_one_clean_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith(message), err
    assert "Errno" not in err and "Traceback" not in err and "old_resource" not in err


def test_warnings_are_formatted_without_source_paths(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = tmp_path / "tp.yaml"
    doc.write_text((ROOT / "samples" / "tp.yaml").read_text() + "colour: blue\n")
    code, _, err = run(capsys, "can-i", "CREATE", "-f", str(doc), "--user", "bob")
    assert code == 1
    code, _, err = run(capsys, "check", "traffic", "-f", "examples/universal", "-f", str(doc), "--from", "web-1",
                       "--to", "backend-1:8080")
    assert code == 1  # batch-to-backend ties with web-to-backend and wins on name (T3.5)
    lines = err.splitlines()
    assert lines and all(line.startswith("meshauthz: warning: ") for line in lines), err
    assert "colour" in err and ".py:" not in err and "warnings.warn" not in err


def test_user_without_groups_has_no_trailing_slash_in_our_words(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "can-i", "CREATE", "-f", "samples/tp.yaml", "--user", "bob", "--roles",
                    "examples/universal/rbac.yaml", "--explain")
    first, kuma = out.splitlines()[:2]
    assert first == "no: user bob (no groups) may not CREATE TrafficPermission demo/batch-to-backend"
    assert kuma == "  Kuma's response (api): Access Denied (user \"bob/\" cannot access the resource)"  # Kuma's text


# ---- misleading output (issue #14) ----------------------------------------------------------------


def test_no_creation_time_is_said_so(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "backend-1:8080",
                    "--explain")
    assert "[winner] web-to-backend rank(exact=1, wildcard=0) no creationTime" in out and "0001-01-01" not in out
    _, out, _ = run(capsys, "check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "backend-1:8080",
                    "--explain", "-o", "json")
    assert json.loads(out)["explanation"]["candidates"][0]["creation_time"] is None


def test_non_mesh_explain_does_not_claim_no_policy_matches(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "traffic", "-f", "examples/", "--from", "non-mesh", "--to", "payments-1:9090",
                       "--explain")
    assert code == 1 and "no TrafficPermission" not in out
    assert "TrafficPermissions not consulted: a client without a certificate of this mesh, mTLS mode STRICT (E3)" \
        in out


def test_source_of_another_mesh_gets_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "api-1:8080")
    assert code == 1 and "mtls-required" in out
    assert "web-1 is in mesh demo, the destination in mesh mtp-demo" in out
    code, out, _ = run(capsys, "check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "api-1:8080", "-o",
                       "json")
    assert json.loads(out)["notes"] and json.loads(out)["reason"] == "mtls-required"


def test_inspect_json_does_not_report_an_ignored_tp_as_the_policy(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "inspect", "orders-5c2a.shop", "-f", "examples/", "-o", "json")
    inbound = json.loads(out)["inbounds"][0]
    assert inbound["decided_by"] == "MeshTrafficPermission" and inbound["policy"] is None
    assert inbound["ignored_traffic_permission"] == "frontend-to-orders"
    assert inbound["mtp_policies"] == ["orders-from-frontend.shop"]
    _, out, _ = run(capsys, "inspect", "backend-1", "-f", "examples/", "-o", "json")
    inbound = json.loads(out)["inbounds"][0]
    assert (inbound["decided_by"], inbound["policy"], inbound["ignored_traffic_permission"]) == (
        "TrafficPermission", "web-to-backend", None)
    _, out, _ = run(capsys, "inspect", "web-1", "-f", "examples/", "-o", "json")
    inbound = json.loads(out)["inbounds"][0]
    assert (inbound["decided_by"], inbound["policy"]) == ("no-policy", None)


# ---- replay ---------------------------------------------------------------------------------------


def test_replay_every_row_an_error_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text('{"source": "ghost", "destination": "nowhere", "port": 1}\n' * 3)
    code, out, err = run(capsys, "replay", str(log), "-f", "examples/universal")
    assert code == 2 and "error:" in out and "every row" in err


def test_replay_parquet_without_pyarrow_fails_before_the_run(capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    import meshauthz.cli.replay as replay

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    ran = []
    monkeypatch.setattr(replay, "evaluate", lambda *a, **k: ran.append(1))
    code, out, err = run(capsys, "replay", "examples/access-log.jsonl", "-f", "examples/universal", "--out",
                         str(tmp_path / "o.parquet"))
    assert code == 2 and "needs pyarrow" in err and not ran and out == ""


def test_replay_writes_csv_and_is_silent_when_not_a_tty(tmp_path: Path) -> None:
    out = tmp_path / "d.csv"
    run_ = subprocess.run([sys.executable, "-m", "meshauthz", "replay", "examples/access-log.jsonl", "-f",
                           "examples/universal", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert run_.returncode == 0
    assert "\r" not in run_.stderr and "\x1b" not in run_.stderr and "\x1b" not in run_.stdout
    rows = out.read_text().splitlines()
    assert rows[0].endswith("allowed,reason,policy") and len(rows) == 8


# ---- completion, python -m, heat map -------------------------------------------------------------


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o"), ("zsh", "compdef"),
                                           ("fish", "complete --no-files --command meshauthz")])
def test_completion_scripts(capsys: pytest.CaptureFixture[str], shell: str, marker: str) -> None:
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0 and "_MESHAUTHZ_COMPLETE" in out and marker in out


def test_python_dash_m() -> None:
    r = subprocess.run([sys.executable, "-m", "meshauthz", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("meshauthz ")


def test_heat_map_svg_is_colour_blind_safe_with_legend_and_title(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    svg = tmp_path / "m.svg"
    assert run(capsys, "matrix", "demo", "-f", "examples/universal", "--out", str(svg))[0] == 0
    text = svg.read_text().lower()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for colour in ("#0072b2", "#d55e00"):  # Okabe-Ito blue (allow) and vermillion (deny)
        assert colour in text
    for red_green in ("#d73027", "#1a9850", "#00ff00", "#ff0000"):
        assert red_green not in text
    png = tmp_path / "m.png"
    assert run(capsys, "matrix", "demo", "-f", "examples/universal", "-o", "png", "--out", str(png))[0] == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_heat_map_legend_and_title_are_drawn(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from meshauthz.analysis.matrix import service_matrix
    from meshauthz.cli import heatmap
    from meshauthz.traffic import TrafficEngine

    m = service_matrix(TrafficEngine.from_paths(["examples/universal"]), "demo")
    seen = {}
    real_close = plt.close

    def keep(fig: object) -> None:
        seen["fig"] = fig

    plt.close = keep  # type: ignore[assignment]
    try:
        heatmap.draw(m, str(tmp_path / "m.png"))
    finally:
        plt.close = real_close  # type: ignore[assignment]
    ax = seen["fig"].axes[0]  # type: ignore[attr-defined]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["A  allow: every dataplane pair", "P  partial: some pairs", "D  deny: no pair"]
    title = ax.get_title(loc="left")
    assert title.startswith("Service reachability in mesh demo") and "4 allow, 0 partial, 16 deny" in title
    real_close(seen["fig"])


# ---- meshauthz test ---------------------------------------------------------------------------------


def test_test_command_passes_fails_and_writes_junit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code, out, _ = run(capsys, "test", "samples/tests/", "--junit", str(junit))
    assert code == 0 and out == "6 passed, 0 failed, 0 errors (1 file)\n"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "0", "0")

    bad = tmp_path / "bad.test.yaml"
    bad.write_text(yaml.safe_dump({
        "resources": [str(ROOT / "examples" / "universal")],
        "tests": [
            {"name": "wrong policy", "traffic": {"from": "web-1", "to": "backend-1:8080"},
             "expect": {"allowed": True, "policy": "core-to-payments"}},
            {"name": "wrong verdict", "traffic": {"from": "batch-1", "to": "payments-1:9090"}, "expect": "allow"},
            {"name": "not exact", "who-can": "payments-1:9090", "expect": {"services": ["backend"]}},
            {"name": "right", "traffic": {"from": "web-1", "to": "backend-1:8080"}, "expect": "allow"},
            {"name": "unknown dataplane", "traffic": {"from": "web-1", "to": "ghost:1"}, "expect": "deny"},
        ]}))
    code, out, _ = run(capsys, "test", str(tmp_path), "--junit", str(junit))
    assert code == 1
    assert "FAIL" in out and 'policy: expected "core-to-payments", got "web-to-backend"' in out
    assert "allowed: expected true, got false" in out
    assert 'services: expected exactly ["backend"], got ["backend", "payments"]' in out
    assert out.splitlines()[-1] == "1 passed, 3 failed, 1 errors (1 file)"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "3", "1")
    names = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert names == ["wrong policy", "wrong verdict", "not exact"]


def test_test_command_accepts_conformance_vector_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "test", "tests/vectors/rbac.yaml", "-o", "json")
    data = json.loads(out)
    assert code == 0 and data["failed"] == 0 and data["passed"] > 50
    doc = yaml.safe_load((ROOT / "tests" / "vectors" / "trafficpermission.yaml").read_text())
    scored = [v for v in doc["vectors"] if not v.get("informative")]
    first = scored[0]
    first["expect"] = {"matches": not first["expect"]["matches"]} if "matches" in first["expect"] else {"x": 1}
    doc["vectors"] = [first] + scored[1:3]
    bad = tmp_path / "vectors.yaml"
    bad.write_text(yaml.safe_dump(doc))
    code, out, _ = run(capsys, "test", str(bad), "-o", "json")
    data = json.loads(out)
    assert code == 1 and (data["passed"], data["failed"]) == (2, 1)
    assert data["tests"][0]["status"] == "fail" and data["tests"][0]["name"] == first["id"]


def test_test_command_bad_file_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "x.test.yaml"
    f.write_text("just: a mapping\n")
    code, _, err = run(capsys, "test", str(f))
    assert code == 2 and "tests:" in err
    assert run(capsys, "test", str(tmp_path / "none"))[0] == 2


def test_test_command_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (ROOT / "samples" / "tests" / "demo.test.yaml").read_text()
    doc = doc.replace("../../examples/universal", "examples/universal").replace("../tp.yaml", "samples/tp.yaml")
    code, out, _ = run(capsys, "test", "-", stdin=doc.encode(), monkeypatch=monkeypatch)
    assert (code, out) == (0, "6 passed, 0 failed, 0 errors (1 file)\n")


def test_bare_group_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check")
    assert code == 2 and "Usage: meshauthz check" in err and "traffic" in err


def test_colour_only_on_a_terminal_without_no_color(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["check", "traffic", "-f", "examples/", "--from", "web-1", "--to", "backend-1:8080"]
    assert "\x1b[" not in run(capsys, *args)[1]  # not a terminal
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = run(capsys, *args)[1]
    assert out.startswith("\x1b[") and "ALLOW" in out
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run(capsys, *args)[1]


def test_expectation_files_next_to_policies_are_not_loaded_as_resources(capsys: pytest.CaptureFixture[str],
                                                                        tmp_path: Path) -> None:
    import shutil

    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "examples" / "universal", policies)
    (policies / "policies.test.yaml").write_text(
        "tests:\n  - traffic: {from: web-1, to: backend-1:8080}\n    expect: {allowed: true, policy: web-to-backend}\n")
    assert run(capsys, "test", str(policies))[:2] == (0, "1 passed, 0 failed, 0 errors (1 file)\n")
    assert run(capsys, "validate", str(policies))[0] == 0
    assert run(capsys, "check", "traffic", "-f", str(policies), "--from", "web-1", "--to", "backend-1:8080")[0] == 0
