"""what_can agrees with brute-force Authorizer checks; diff and the analysis CLI (exit codes, output)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshauthz.analysis import diff_rbac, diff_traffic
from meshauthz.api import load
from meshauthz.cli import main
from meshauthz.rbac import Authorizer, User

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
USERS = [User("alice"), User("bob", ["dev"]), User("carol", ["dev", "ops"])]
RESOURCES = [
    {"type": "TrafficPermission", "name": n, "mesh": m,
     "sources": [{"match": {"kuma.io/service": "web"}}], "destinations": [{"match": {"kuma.io/service": s}}]}
    for n in ("p1", "p2") for m in ("m1", "m2") for s in ("web", "db")
] + [{"type": "Mesh", "name": "m1"}, {"type": "MeshRetry", "name": "r1", "mesh": "m1", "spec": {}}]

rule = st.fixed_dictionaries(
    {"access": st.lists(st.sampled_from(["CREATE", "UPDATE", "DELETE"]), min_size=1, max_size=3, unique=True)},
    optional={
        "types": st.lists(st.sampled_from(["TrafficPermission", "Mesh", "MeshRetry"]), min_size=1, max_size=2),
        "names": st.lists(st.sampled_from(["p1", "p2", "m1", "r1"]), min_size=1, max_size=2),
        "mesh": st.sampled_from(["m1", "m2", "*"]),
        "when": st.just([{"destinations": {"match": {"kuma.io/service": "db"}}}]),
    })


@st.composite
def role_sets(draw: st.DrawFn) -> list[dict]:
    docs = [{"type": "AccessRole", "name": f"r{i}", "rules": draw(st.lists(rule, max_size=3))}
            for i in range(draw(st.integers(1, 3)))]
    for i in range(draw(st.integers(1, 3))):
        subjects = draw(st.lists(st.sampled_from([{"type": "User", "name": "alice"}, {"type": "Group", "name": "dev"},
                                                  {"type": "Group", "name": "ops"}]), min_size=1, max_size=2))
        roles = draw(st.lists(st.sampled_from([f"r{j}" for j in range(4)]), min_size=1, max_size=2))
        docs.append({"type": "AccessRoleBinding", "name": f"b{i}", "subjects": subjects, "roles": roles})
    return docs


@settings(max_examples=80)
@given(role_sets())
def test_what_can_agrees_with_enumeration(docs: list[dict]) -> None:
    authz = Authorizer(docs)
    for user in USERS:
        caps = authz.what_can(user)
        for res in RESOURCES:
            for action in ("CREATE", "DELETE"):
                allowed = authz.check(user, action, res).allowed
                predicted = caps.decides(action, res["type"], res.get("mesh"), res["name"])
                if predicted is not None:  # None: only `when`-qualified rules could grant it
                    assert predicted == allowed, (user, action, res, caps)
                else:
                    assert any(p.when for p in caps.permissions)


def test_what_can_examples() -> None:
    caps = Authorizer(EXAMPLES / "universal" / "rbac.yaml").what_can(User("bob", ["team-backend"]))
    assert caps.roles == ("backend-owner",) and len(caps.permissions) == 2
    assert caps.permissions[0].bindings == ("backend-owners",) and caps.permissions[0].mesh == "demo"
    assert Authorizer(EXAMPLES / "universal" / "rbac.yaml").what_can("nobody").permissions == ()


def _after(tmp_path: Path) -> Path:
    after = tmp_path / "after"
    shutil.copytree(EXAMPLES / "universal", after)
    tps = after / "trafficpermissions.yaml"
    tps.write_text(tps.read_text().replace("kuma.io/service: edge}", "kuma.io/service: batch}"))
    rb = after / "rbac.yaml"
    rb.write_text(rb.read_text().replace("name: team-backend", "name: team-platform"))
    return after


def test_diff_api(tmp_path: Path) -> None:
    before, after = load(EXAMPLES / "universal"), load(_after(tmp_path))
    report = diff_traffic(before, after)
    got = {(c.source, c.destination, c.before, c.after) for c in report.traffic}
    assert got == {("batch", "backend", "deny", "allow"), ("edge", "backend", "allow", "deny")}
    assert all(c.policies_before == ("web-to-backend (source-not-matched)",) for c in report.traffic
               if c.source == "batch")
    assert not diff_traffic(before, before).changed
    res = [{"type": "TrafficPermission", "name": "t", "mesh": "demo", "sources": [{"match": {"kuma.io/service": "a"}}],
            "destinations": [{"match": {"kuma.io/service": "backend"}}]}]
    r = diff_rbac(before, after, [User("bob", ["team-backend"])], res)
    assert {(c.action, c.before, c.after) for c in r.rbac} == {(a, "allow", "deny") for a in ("CREATE", "UPDATE",
                                                                                              "DELETE")}


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = str(EXAMPLES / "universal")
    assert main(["who-can", "backend-1:8080", "-f", ex, "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["services"] == ["edge", "web"]
    assert main(["who-can", "backend-1", "-f", ex]) == 2
    assert main(["who-can", "ghost:80", "-f", ex]) == 2
    assert main(["what-can", "--user", "bob", "--group", "team-backend", "--roles", ex + "/rbac.yaml"]) == 0
    assert "backend-owner[0]" in capsys.readouterr().out
    assert main(["what-can", "--user", "bob", "--roles", str(tmp_path / "missing.yaml")]) == 2
    assert main(["matrix", "demo", "-f", ex, "-o", "csv"]) == 0
    assert capsys.readouterr().out.startswith("source,backend,batch,payments,web\n")
    assert main(["matrix", "demo", "-f", ex, "--output", "json", "--out", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["mesh"] == "demo"
    assert main(["matrix", "nope", "-f", ex]) == 2
    assert main(["matrix", "demo", "-f", ex, "--output", "png"]) == 2  # png needs --out
    after = str(_after(tmp_path))
    users = tmp_path / "users.yaml"
    users.write_text("- {name: bob, groups: [team-backend]}\n- alice\n")
    resources = tmp_path / "res.yaml"
    resources.write_text("type: MeshTrafficPermission\nname: t\nmesh: demo\nspec:\n  targetRef: {kind: MeshService, "
                         "name: backend}\n  from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]\n")
    assert main(["diff", "--before", ex, "--after", ex]) == 0
    capsys.readouterr()
    assert main(["diff", "--before", ex, "--after", after, "--users", str(users), "--resources", str(resources),
                 "--output", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] and len(out["traffic"]) == 2 and {c["user"] for c in out["rbac"]} == {"bob"}
    assert main(["diff", "--before", ex, "--after", str(tmp_path / "missing")]) == 2
    assert main(["diff", "--before", ex, "--after", after, "--users", str(users)]) == 2


def test_cli_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "m.png"
    assert main(["matrix", "demo", "-f", str(EXAMPLES / "universal"), "--output", "png", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
