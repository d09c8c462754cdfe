"""Traffic lint T001-T011 (issue #16): one hand-written mesh per code, generated meshes against the
brute-force reference (tests/traffic_lint_reference.py), the examples/ mesh, and the CLI
(--fail-on, --select / --ignore, -o json / sarif)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

import meshauthz
from meshauthz import TrafficEngine
from meshauthz.cli import main
from meshauthz.findings import Finding
from meshauthz.traffic.lint import RULES, lint_traffic
from traffic_lint_reference import reference

ROOT = Path(__file__).resolve().parent.parent
# MeshService targetRefs are deprecated (a warning), still decided: they stay in the inputs on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:.*MeshService value.*is deprecated")
STRICT = {"type": "Mesh", "name": "m",
          "mtls": {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]}}


def dp(name: str, *inbounds: dict[str, str], mesh: str = "m", port: int = 8080) -> dict[str, Any]:
    return {"type": "Dataplane", "name": name, "mesh": mesh, "networking": {
        "address": "10.0.0.1", "inbound": [{"port": port + i, "tags": t} for i, t in enumerate(inbounds)]}}


def tp(name: str, sources: list[dict[str, str]], destinations: list[dict[str, str]], mesh: str = "m",
       created: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "TrafficPermission", "name": name, "mesh": mesh,
                           "sources": [{"match": s} for s in sources],
                           "destinations": [{"match": d} for d in destinations]}
    if created:
        doc["creationTime"] = created
    return doc


def mtp(name: str, target: dict[str, Any], items: list[tuple[dict[str, Any], str]], mesh: str = "m") -> dict[str, Any]:
    return {"type": "MeshTrafficPermission", "name": name, "mesh": mesh, "spec": {
        "targetRef": target, "from": [{"targetRef": t, "default": {"action": a}} for t, a in items]}}


def svc(s: str, **more: str) -> dict[str, str]:
    return {"kuma.io/service": s, **more}


BASE = [STRICT, dp("web-1", svc("web", team="a")), dp("api-1", svc("api", team="b"))]


def lint(docs: list[dict[str, Any]], gating: str = "legacy") -> list[Finding]:
    return lint_traffic(TrafficEngine(meshauthz.load_dicts(docs), external_service_gating=gating))


def codes(found: list[Finding]) -> set[tuple[str, str]]:
    return {(f.code, f.resource.split("/", 1)[1]) for f in found}


# ---- one hand-written mesh per code -------------------------------------------------------------

def test_t001_dead_matches_no_inbound_and_loses_everywhere() -> None:
    found = lint([*BASE,
                  tp("to-api", [svc("web")], [svc("api")]),
                  tp("to-api-team", [svc("web")], [{"kuma.io/service": "api", "team": "b"}]),
                  tp("to-nothing", [svc("web")], [svc("ghost")])])
    t001 = {f.resource: f.message for f in found if f.code == "T001"}
    # T3.5: to-api-team has rank (2,0) > to-api's (1,0) at api-1:8080, the only inbound to-api matches.
    assert "to-api-team" in t001["TrafficPermission m/to-api"] and "api-1:8080" in t001["TrafficPermission m/to-api"]
    assert "match none of the inbounds" in t001["TrafficPermission m/to-nothing"]
    assert "TrafficPermission m/to-api-team" not in t001


def test_t001_newer_policy_wins_a_tie() -> None:
    # T3.5: equal rank, the later creationTime wins.
    found = lint([*BASE, tp("old", [svc("web")], [svc("api")], created="2024-01-01T00:00:00Z"),
                  tp("new", [svc("web")], [svc("api")], created="2024-06-01T00:00:00Z")])
    assert ("T001", "old") in codes(found) and ("T001", "new") not in codes(found)


def test_t002_selected_but_sources_admit_nobody() -> None:
    found = lint([*BASE, tp("to-api", [svc("nobody")], [svc("api")])])
    f = next(f for f in found if f.code == "T002")
    assert f.resource == "TrafficPermission m/to-api" and f.severity == "warning" and "api-1:8080" in f.message


def test_t003_entries_matching_no_dataplane() -> None:
    found = lint([*BASE, tp("typo", [svc("web"), svc("wbe")], [svc("api"), {"kuma.io/service": "api", "tema": "*"}])])
    paths = {f.path for f in found if f.code == "T003"}
    assert paths == {"sources[1].match", "destinations[1].match"}


def test_t004_mtls_off_except_external_service_gating_tps() -> None:
    off = {"type": "Mesh", "name": "m"}
    es = {"type": "ExternalService", "name": "httpbin", "mesh": "m", "tags": svc("httpbin"),
          "networking": {"address": "httpbin.org:443"}}
    docs = [off, *BASE[1:], es, tp("to-api", [svc("web")], [svc("api")]),
            tp("to-httpbin", [svc("web")], [svc("httpbin")]),
            mtp("mtp", {"kind": "Mesh"}, [({"kind": "Mesh"}, "Allow")])]
    got = {r for c, r in codes(lint(docs)) if c == "T004"}
    # T4.6 / TP A6: TPs gate ExternalServices regardless of mTLS under the legacy gating.
    assert got == {"to-api", "mtp"}
    assert {r for c, r in codes(lint(docs, gating="none")) if c == "T004"} == {"to-api", "to-httpbin", "mtp"}


def test_t005_permissive() -> None:
    perm = {**STRICT, "mtls": {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin",
                                                                      "mode": "PERMISSIVE"}]}}
    found = lint([perm, *BASE[1:], tp("to-api", [svc("web")], [svc("api")])])
    assert [(f.code, f.severity) for f in found] == [("T005", "info")]


def test_t006_item_overridden_by_later_items() -> None:
    found = lint([*BASE, mtp("p", {"kind": "Mesh"}, [
        ({"kind": "MeshService", "name": "web"}, "Deny"),  # every web client is matched again below
        ({"kind": "Mesh"}, "Allow"),
        ({"kind": "MeshService", "name": "nobody"}, "Deny"),  # matches no client at all
    ])])
    got = {f.path: f.message for f in found if f.code == "T006"}
    assert set(got) == {"spec.from[0]", "spec.from[2]"}
    assert "matches none" in got["spec.from[2]"] and "p from[1]" in got["spec.from[0]"]


def test_t007_deny_makes_an_earlier_allow_dead() -> None:
    found = lint([*BASE, mtp("p", {"kind": "Mesh"}, [
        ({"kind": "MeshSubset", "tags": {"team": "a"}}, "Allow"),
        ({"kind": "MeshService", "name": "web"}, "Deny"),
    ])])
    f = next(f for f in found if f.code == "T007")
    assert f.path == "spec.from[0]" and f.severity == "error" and "p from[1]" in f.message
    assert not [f for f in found if f.code == "T006"]


def test_t008_inbound_selected_by_mtp_and_tp() -> None:
    found = lint([*BASE, tp("to-api", [svc("web")], [svc("api")]),
                  mtp("p", {"kind": "MeshService", "name": "api"}, [({"kind": "Mesh"}, "Allow")])])
    f = next(f for f in found if f.code == "T008")
    assert f.resource == "TrafficPermission m/to-api" and "api-1:8080" in f.message and "p" in f.message
    assert ("T001", "to-api") in codes(found)  # ignored everywhere it is selected (M7.1)


def test_t009_external_service_nobody_reaches() -> None:
    es = {"type": "ExternalService", "name": "httpbin", "mesh": "m", "tags": svc("httpbin"),
          "networking": {"address": "httpbin.org:443"}}
    es2 = {**es, "name": "other", "tags": svc("other")}
    found = lint([*BASE, es, es2, tp("to-httpbin", [svc("web")], [svc("httpbin")])])
    assert {r for c, r in codes(found) if c == "T009"} == {"other"}
    assert not [f for f in lint([*BASE, es, es2], gating="none") if f.code == "T009"]  # TP A6: not gated


def test_t010_narrower_tp_takes_over_from_allow_all() -> None:
    found = lint([*BASE, tp("allow-all", [svc("*")], [svc("*")]), tp("to-api", [svc("web")], [svc("api")])])
    f = next(f for f in found if f.code == "T010")
    # T3.6: at api-1:8080 only to-api's sources count, so api-1 (admitted by allow-all) is denied.
    assert f.resource == "TrafficPermission m/to-api" and "api-1" in f.message and f.severity == "info"


def test_t011_wildcards_outrank_exact_tags() -> None:
    found = lint([*BASE, tp("wild", [svc("web")], [{"kuma.io/service": "*", "team": "*"}]),
                  tp("exact", [svc("web")], [svc("api")])])
    f = next(f for f in found if f.code == "T011")
    # T3.2: (0,2) beats (1,0): the tag count first.
    assert f.resource == "TrafficPermission m/wild" and "'exact'" in f.message
    assert ("T001", "exact") in codes(found)


def test_clean_mesh_has_no_findings() -> None:
    assert lint([*BASE, tp("to-api", [svc("web")], [svc("api")]), tp("to-web", [svc("api")], [svc("web")])]) == []


def test_findings_carry_file_document_and_line(tmp_path: Path) -> None:
    import yaml

    p = tmp_path / "mesh.yaml"
    p.write_text(yaml.safe_dump_all([*BASE, tp("typo", [svc("wbe")], [svc("api")])], sort_keys=False))
    f = next(f for f in lint_traffic(TrafficEngine.from_paths(str(p))) if f.code == "T003")
    assert f.file == str(p) and f.document == 3 and f.line is not None
    assert "kuma.io/service: wbe" in "\n".join(p.read_text().splitlines()[f.line - 1:f.line + 1])


def test_every_code_is_documented() -> None:
    semantics = (ROOT / "docs" / "semantics.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for code, (sev, _) in RULES.items():
        assert re.search(rf"^\| {code} \| {sev}:", semantics, re.M), code
        assert code in readme, code


# ---- generated meshes against brute force ------------------------------------------------------

VOCAB = {"kuma.io/service": ["a", "b", "c", "d"], "team": ["x", "y"], "version": ["v1", "v2"]}


def _selector(rnd: random.Random) -> dict[str, str]:
    keys = rnd.sample(sorted(VOCAB), rnd.randint(1, 2))
    return {k: rnd.choice([*VOCAB[k], "*", "zz"] if rnd.random() < 0.9 else ["*"]) for k in keys}


def generated(seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    docs: list[dict[str, Any]] = []
    for mi, mode in enumerate(["STRICT", "PERMISSIVE"]):
        m = f"m{mi}"
        docs.append({"type": "Mesh", "name": m, "mtls": {"enabledBackend": "ca", "backends": [
            {"name": "ca", "type": "builtin", "mode": mode}]}})
        for i in range(rnd.randint(2, 6)):
            ibs = [{k: rnd.choice(v) for k, v in VOCAB.items() if k == "kuma.io/service" or rnd.random() < 0.6}
                   for _ in range(rnd.randint(1, 2))]
            docs.append(dp(f"dp-{i}", *ibs, mesh=m))
        for i in range(rnd.randint(1, 2)):
            docs.append({"type": "ExternalService", "name": f"es-{i}", "mesh": m,
                         "tags": {"kuma.io/service": f"ext-{i}", "team": rnd.choice(VOCAB["team"])},
                         "networking": {"address": "example.com:443"}})
        for i in range(rnd.randint(1, 7)):
            dests = [_selector(rnd) for _ in range(rnd.randint(1, 2))]
            if rnd.random() < 0.2:
                dests.append({"kuma.io/service": f"ext-{rnd.randint(0, 1)}"})
            docs.append(tp(f"tp-{i}", [_selector(rnd) for _ in range(rnd.randint(1, 2))], dests, mesh=m,
                           created=f"2024-01-0{rnd.randint(1, 3)}T00:00:00Z"))
        for i in range(rnd.randint(0, 2)):
            target = rnd.choice([{"kind": "Mesh"},
                                 {"kind": "MeshService", "name": rnd.choice(VOCAB["kuma.io/service"])}])
            items = []
            for _ in range(rnd.randint(1, 4)):
                ref = rnd.choice([{"kind": "Mesh"},
                                  {"kind": "MeshService", "name": rnd.choice(VOCAB["kuma.io/service"])},
                                  {"kind": "MeshSubset", "tags": {k: rnd.choice(v) for k, v in VOCAB.items()
                                                                   if rnd.random() < 0.5}}])
                items.append((ref, rnd.choice(["Allow", "Deny", "AllowWithShadowDeny"])))
            docs.append(mtp(f"mtp-{i}", target, items, mesh=m))
    return docs


def as_reference(found: list[Finding]) -> set[tuple[Any, ...]]:
    out: set[tuple[Any, ...]] = set()
    for f in found:
        mesh, name = f.resource.split(" ", 1)[1].split("/", 1)
        if f.code in ("T001", "T002", "T009"):
            out.add((f.code, mesh, name))
        elif f.code == "T003":
            out.add((f.code, mesh, name, f.path.removesuffix(".match")))
        elif f.code in ("T006", "T007"):
            out.add((f.code, mesh, name, int(f.path.rsplit("[", 1)[1].rstrip("]"))))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_generated_meshes_agree_with_brute_force(seed: int) -> None:
    engine = TrafficEngine(meshauthz.load_dicts(generated(seed)))
    assert as_reference(lint_traffic(engine)) == reference(engine)


def test_generated_meshes_exercise_every_compared_code() -> None:
    seen = {t[0] for seed in range(40) for t in reference(TrafficEngine(meshauthz.load_dicts(generated(seed))))}
    assert seen == {"T001", "T002", "T003", "T006", "T007", "T009"}


# ---- examples and CLI ---------------------------------------------------------------------------

def test_examples_findings_are_the_documented_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(ROOT / "examples"), "-o", "json", "--fail-on", "critical"]) == 0
    data = json.loads(capsys.readouterr().out)
    got = sorted((f["code"], f["resource"]) for f in data["findings"])
    assert got == EXAMPLE_FINDINGS


# What examples/ is meant to show (README "Lint"): the Kubernetes example migrates shop/orders to
# MeshTrafficPermissions (examples/kubernetes/meshtrafficpermission.yaml) while the old
# TrafficPermission is still applied, so the TP is ignored there (M7.1) and decides nothing.
EXAMPLE_FINDINGS = [
    ("T001", "TrafficPermission shop/frontend-to-orders"),
    ("T008", "TrafficPermission shop/frontend-to-orders"),
]


def write(tmp_path: Path, docs: list[dict[str, Any]]) -> str:
    import yaml

    p = tmp_path / "mesh.yaml"
    p.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(p)


def test_cli_fail_on_select_ignore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, [*BASE, tp("to-api", [svc("nobody")], [svc("api")])])  # T002 + T003 warnings
    assert main(["lint", path]) == 0  # default --fail-on high = error
    assert main(["lint", path, "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    assert " T002 [warning] " in out and " T003 [warning] " in out
    assert main(["lint", path, "--fail-on", "warning", "--ignore", "T002,T003"]) == 0
    assert capsys.readouterr().out == "0 findings: ok\n"
    assert main(["lint", path, "--select", "T002", "-o", "json"]) == 0
    assert [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["T002"]


def test_cli_sarif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, [*BASE, tp("to-api", [svc("nobody")], [svc("api")]),
                            {"type": "AccessRole", "name": "r", "rules": [{"access": ["GENERATE_ZONE_TOKEN"]}]}])
    assert main(["lint", path, "-o", "sarif"]) == 1  # L006 is high
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = {(r["ruleId"], r["level"]) for r in run["results"]}
    assert {("T002", "warning"), ("T003", "warning"), ("L006", "error")} <= results
    for r in run["results"]:
        assert ids[r["ruleIndex"]] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == path
        assert r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
