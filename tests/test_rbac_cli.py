"""CLI: one test per can-i exit code and per lint code (rbac.md §8, §9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from meshauthz.cli import main


def write(tmp: Path, name: str, *docs: dict[str, Any]) -> str:
    p = tmp / name
    p.write_text(yaml.safe_dump_all(docs))
    return str(p)


ROLE = {
    "type": "AccessRole",
    "name": "owner",
    "rules": [{"types": ["MeshTrace"], "mesh": "default", "access": ["CREATE"]}],
}
BIND = {
    "type": "AccessRoleBinding",
    "name": "b",
    "subjects": [{"type": "User", "name": "bo"}],
    "roles": ["owner"],
}
TRACE = {"type": "MeshTrace", "mesh": "default", "name": "t", "spec": {"targetRef": {"kind": "Mesh"}}}


def test_can_i_exit_0_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roles, res = write(tmp_path, "r.yaml", ROLE, BIND), write(tmp_path, "t.yaml", TRACE)
    assert main(["can-i", "--user", "bo", "CREATE", "-f", res, "--roles", roles]) == 0
    assert capsys.readouterr().out.strip() == "yes"


def test_can_i_exit_1_denied_prints_exact_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roles, res = write(tmp_path, "r.yaml", ROLE, BIND), write(tmp_path, "t.yaml", TRACE)
    code = main(
        [
            "can-i",
            "--user",
            "eve",
            "--group",
            "g1",
            "--group",
            "g2",
            "DELETE",
            "-f",
            res,
            "--roles",
            roles,
            "--channel",
            "kubernetes-webhook",
        ]
    )
    assert code == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "no: user eve (groups: g1, g2) may not DELETE MeshTrace default/t"
    assert out[1] == ("  Kuma's response (kubernetes-webhook): "
                      'access denied: user "eve/g1,g2" cannot access the resource')


def test_can_i_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roles, res = write(tmp_path, "r.yaml", ROLE, BIND), write(tmp_path, "t.yaml", TRACE)
    assert main(["can-i", "--user", "bo", "CREATE", "-f", res, "--roles", roles, "--explain"]) == 0
    assert "granted by role 'owner' rule 0" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["bad-role", "missing-file", "no-old", "bad-action"])
def test_can_i_exit_2_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    res = write(tmp_path, "t.yaml", TRACE)
    roles = write(tmp_path, "r.yaml", ROLE, BIND)
    args = {
        "bad-role": [
            "CREATE",
            "-f",
            res,
            "--roles",
            write(tmp_path, "x.yaml", {**ROLE, "rules": [{"access": [1]}]}),
        ],
        "missing-file": ["CREATE", "-f", str(tmp_path / "nope.yaml"), "--roles", roles],
        "no-old": ["UPDATE", "-f", res, "--roles", roles],
        "bad-action": ["FROB", "-f", res, "--roles", roles],
    }[bad]
    assert main(["can-i", "--user", "bo", *args]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def rule(**kw: Any) -> dict[str, Any]:
    return kw


LINT_CASES: dict[str, list[dict[str, Any]]] = {
    "L001": [rule(access=["CREATE"])],
    "L002": [rule(mesh="default", access=["DELETE"])],
    "L003": [rule(types=["Secret"], mesh="default", access=["UPDATE"])],
    "L004": [rule(types=["AccessRoleBinding"], access=["CREATE"])],
    "L005": [rule(access=["GENERATE_USER_TOKEN"])],
    "L006": [rule(access=["GENERATE_ZONE_TOKEN"])],
    "L007": [rule(mesh="default", access=["GENERATE_DATAPLANE_TOKEN"])],
    "L008": [rule(types=["MeshProxyPatch"], mesh="default", access=["CREATE"])],
    "L010": [rule(types=["Mesh"], access=["UPDATE"], when=[{"targetRef": {"kind": "Mesh"}}])],
    "L011": [
        rule(
            types=["TrafficPermission"],
            mesh="default",
            access=["CREATE"],
            when=[{"sources": {"match": {"kuma.io/service": "*"}}}],
        )
    ],
    "L012": [rule(types=["NoSuchType"], mesh="default", access=["CREATE"])],
    "L013": [
        rule(
            types=["Dataplane"],
            mesh="default",
            access=["GENERATE_DATAPLANE_TOKEN"],
            when=[{"dpToken": {"tags": [{"name": "kuma.io/service", "value": "web"}]}}],
        )
    ],
}


@pytest.mark.parametrize("code", sorted([*LINT_CASES, "L009"]))
def test_lint_code(tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str) -> None:
    if code == "L009":
        docs: list[dict[str, Any]] = [
            {"type": "AccessRole", "name": "admin", "rules": [{"access": ["CREATE"]}]},
            {
                "type": "AccessRoleBinding",
                "name": "default",
                "roles": ["admin"],
                "subjects": [{"type": "Group", "name": "mesh-system:authenticated"}],
            },
        ]
    else:
        docs = [{"type": "AccessRole", "name": "r", "rules": LINT_CASES[code]}]
    path = write(tmp_path, "roles.yaml", *docs)
    code_ = main(["lint", path, "--fail-on", "info"])
    out = capsys.readouterr().out
    assert f" {code} [" in out, out
    assert code_ == 1


def test_lint_clean_exit_0_and_bad_input_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ok.yaml", ROLE, BIND)
    assert main(["lint", path, "--fail-on", "warn"]) == 0
    assert (
        main(
            [
                "lint",
                write(
                    tmp_path, "bad.yaml", {"type": "AccessRole", "name": "r", "rules": [{"access": ["NOPE"]}]}
                ),
            ]
        )
        == 2
    )
    assert main(["lint", path, "--fail-on", "bogus"]) == 2
