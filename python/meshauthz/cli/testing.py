"""`meshauthz test PATH...`: run expectation files kept next to the policies (as `opa test` does).

An expectation file (`*.test.yaml`, `*_test.yaml`, or any file given by name) is one YAML mapping:

    resources: [.]                 # policies, dataplanes, meshes: paths relative to this file
                                   # (default: every other YAML file of this file's directory)
    roles: [rbac.yaml]             # AccessRoles / AccessRoleBindings (default: the resources)
    tests:
      - name: web reaches backend through web-to-backend
        traffic: {from: web-1, to: backend-1:8080}          # mesh: M when names repeat across meshes
        expect: {allowed: true, policy: web-to-backend}     # or just `allow` / `deny`; reason: optional
      - name: bob may not create a TrafficPermission in demo
        rbac: {user: bob, groups: [dev], action: CREATE, resource: {type: TrafficPermission, ...}}
        expect: deny                                        # or {allowed: false, role: R, message: TEXT}
      - name: only backend calls payments
        who-can: payments-1:9090
        expect: {services: [backend, payments]}             # exact sets: services, dataplanes; non_mesh

A conformance vector file (a mapping with `vectors:`, the format of tests/vectors/) is accepted too:
each non-informative vector is a test, compared as the conformance contract's rule 1 says.

Exit status: 0 every test passed, 1 a test failed or could not run, 2 a file could not be read.
JSON / YAML shape: `{passed, failed, errors, skipped, tests: [{file, name, status, message}]}`
(status: pass | fail | error | skip). `--junit FILE` also writes JUnit XML.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import click

from ..conformance.runner import evaluate
from ..errors import MeshauthzError
from ..rbac import TOKEN_KINDS, Authorizer, User
from ..traffic import TrafficEngine
from ._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    TEST_FILE_SUFFIXES,
    CliError,
    emit,
    fail_on_errors,
    output_options,
    quiet_option,
    render_table,
    resolve_format,
    yaml_documents,
)
from .traffic import parse_destination, parse_source

FORMATS = ("text", "json", "yaml", "table")
TEST_SUFFIXES = TEST_FILE_SUFFIXES
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class Result:
    file: str
    name: str
    status: str  # pass | fail | error | skip
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "status": self.status, "message": self.message}


class CaseError(Exception):
    """A test that cannot run (malformed case, unknown dataplane...): reported as `error`."""


def is_test_file(p: Path) -> bool:
    return p.name.endswith(TEST_SUFFIXES)


def discover(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if raw == "-":  # an expectation file on stdin; its paths are relative to the current directory
            files.append(Path("-"))
        elif p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and is_test_file(f))
        elif p.is_file():
            files.append(p)
        else:
            raise CliError(f"PATH {raw}: no such file or directory")
    return files


# ---- expectation files --------------------------------------------------------------------------


def _paths(doc: dict[str, Any], key: str, base: Path, default: list[str]) -> list[str]:
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CliError(f"{key}: expected a path or a list of paths")
    out = []
    for v in value:
        p = (base / v) if not Path(v).is_absolute() else Path(v)
        if not p.exists():
            raise CliError(f"{key}: {v}: no such file or directory (paths are relative to the test file)")
        out.append(str(p))
    return out


def _neighbours(test_file: Path) -> list[str]:
    return [str(f) for f in sorted(test_file.parent.rglob("*"))
            if f.is_file() and f.suffix in YAML_SUFFIXES and not is_test_file(f) and f != test_file]


class Suite:
    """The engines of one expectation file, built on first need."""

    def __init__(self, resources: list[str], roles: list[str]) -> None:
        self.resources, self.roles = resources, roles
        self._traffic: Any = None
        self._authz: Any = None

    def traffic(self) -> Any:
        if self._traffic is None:
            self._traffic = TrafficEngine.from_paths(self.resources)
        return self._traffic

    def authorizer(self) -> Any:
        if self._authz is None:
            self._authz = Authorizer(self.roles)
        return self._authz


def _verdict(expect: Any) -> dict[str, Any]:
    if isinstance(expect, str) and expect.lower() in ("allow", "allowed", "deny", "denied"):
        return {"allowed": expect.lower().startswith("allow")}
    if isinstance(expect, bool):
        return {"allowed": expect}
    if isinstance(expect, dict):
        return expect
    raise CaseError(f"expect: {expect!r} is not allow, deny or a mapping")


def _show(value: Any) -> str:
    """A value as the expectation file would write it (true, null, "text", [a, b])."""
    return json.dumps(value, default=str, ensure_ascii=False)


def _compare(expect: dict[str, Any], got: dict[str, Any]) -> list[str]:
    diffs = []
    for k, want in expect.items():
        if k not in got:
            raise CaseError(f"expect: unknown field {k!r} (known: {', '.join(sorted(got))})")
        have = got[k]
        if isinstance(want, list) and isinstance(have, (list, tuple)):
            if sorted(map(str, want)) != sorted(map(str, have)):
                diffs.append(f"{k}: expected exactly {_show(sorted(map(str, want)))}, "
                             f"got {_show(sorted(map(str, have)))}")
        elif want != have:
            diffs.append(f"{k}: expected {_show(want)}, got {_show(have)}")
    return diffs


def _traffic_case(suite: Suite, case: dict[str, Any]) -> tuple[str, list[str]]:
    q = case["traffic"]
    if not isinstance(q, dict) or "from" not in q or "to" not in q:
        raise CaseError("traffic: expected {from: SOURCE, to: DEST}")
    try:
        src, dst = parse_source(str(q["from"])), parse_destination(str(q["to"]))
    except CliError as e:
        raise CaseError(e.format_message()) from None
    d = suite.traffic().check(source=src, destination=dst, mesh=q.get("mesh"))
    got = {"allowed": d.allowed, "reason": d.reason, "policy": d.policy, "mesh": d.mesh}
    label = f"{q['from']} -> {q['to']}"
    actual = f"{'ALLOW' if d.allowed else 'DENY'} ({d.reason}{', policy ' + d.policy if d.policy else ''})"
    return label, [f"{m}; decision {actual}" for m in _compare(_verdict(case.get("expect")), got)]


def _rbac_case(suite: Suite, case: dict[str, Any], base: Path) -> tuple[str, list[str]]:
    q = case["rbac"]
    if not isinstance(q, dict) or not isinstance(q.get("user"), str) or not isinstance(q.get("action"), str):
        raise CaseError("rbac: expected {user: NAME, action: ACTION, resource: {...} | file: PATH}")

    def doc(key: str) -> Optional[dict[str, Any]]:
        if isinstance(q.get(key), dict):
            return dict(q[key])
        file = q.get(f"{key}_file") or (q.get("file") if key == "resource" else None)
        if file is None:
            return None
        docs = yaml_documents(str(base / file), f"{key}_file")
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise CaseError(f"{file}: expected exactly one YAML mapping")
        return docs[0]

    user = User(q["user"], [str(g) for g in q.get("groups") or []])
    action = q["action"].upper()
    authz = suite.authorizer()
    if action in TOKEN_KINDS.values():
        d = authz.check_token(user, action, doc("resource") or {})
    else:
        resource = doc("resource")
        if resource is None:
            raise CaseError(f"rbac: {action} needs resource: {{...}} or file: PATH")
        d = authz.check(user, action, resource, doc("old"))
    got = {"allowed": d.allowed, "role": d.role, "binding": d.binding, "message": d.message(q.get("channel", "api")),
           "rule": d.rule_index}
    label = f"{user.name} {action} {d.target}"
    return label, [f"{m}; decision {'ALLOW' if d.allowed else 'DENY'}" for m in
                   _compare(_verdict(case.get("expect")), got)]


def _who_can_case(suite: Suite, case: dict[str, Any]) -> tuple[str, list[str]]:
    target = str(case["who-can"])
    dp, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise CaseError(f"who-can: {target!r}: expected DATAPLANE:PORT")
    cs = suite.traffic().who_can_reach(dp, int(port), mesh=case.get("mesh"))
    expect = case.get("expect")
    if not isinstance(expect, dict):
        raise CaseError("who-can: expect must be a mapping, e.g. {services: [a, b]}")
    got = {"services": list(cs.services), "dataplanes": list(cs.dataplanes), "non_mesh": cs.non_mesh,
           "basis": cs.basis, "mesh_clients": cs.summary()}
    return f"who-can {target}", _compare(expect, got)


def run_case(suite: Suite, case: Any, base: Path) -> tuple[str, list[str]]:
    if not isinstance(case, dict):
        raise CaseError("a test must be a mapping")
    kinds = [k for k in ("traffic", "rbac", "who-can") if k in case]
    if len(kinds) != 1:
        raise CaseError("a test needs exactly one of traffic:, rbac:, who-can:")
    if "expect" not in case:
        raise CaseError("a test needs expect:")
    try:
        if kinds[0] == "traffic":
            return _traffic_case(suite, case)
        if kinds[0] == "rbac":
            return _rbac_case(suite, case, base)
        return _who_can_case(suite, case)
    except MeshauthzError as e:
        raise CaseError(str(e)) from None


def run_expectations(path: Path, doc: dict[str, Any]) -> list[Result]:
    base = Path(".") if str(path) == "-" else path.parent
    tests = doc.get("tests")
    if not isinstance(tests, list):
        raise CliError(f"{path}: expected a mapping with a `tests:` list (or a conformance `vectors:` list)")
    resources = _paths(doc, "resources", base, [] if str(path) == "-" else _neighbours(path))
    roles = _paths(doc, "roles", base, resources)
    suite = Suite(resources, roles)
    out = []
    for i, case in enumerate(tests):
        name = case.get("name") if isinstance(case, dict) and isinstance(case.get("name"), str) else None
        try:
            label, diffs = run_case(suite, case, base)
        except CaseError as e:
            out.append(Result(str(path), name or f"tests[{i}]", "error", str(e)))
            continue
        out.append(Result(str(path), name or label, "fail" if diffs else "pass", "; ".join(diffs)))
    return out


# ---- conformance vectors ------------------------------------------------------------------------


def _norm(x: Any) -> Any:
    x = json.loads(json.dumps(x, default=str))
    if isinstance(x, dict) and isinstance(x.get("reachable"), list):
        x["reachable"] = sorted(x["reachable"])
    return x


def vector_passes(vector: dict[str, Any], row: dict[str, Any], rbac: bool) -> tuple[bool, str]:
    """Conformance contract rule 1: every field of `expect` present and equal (RBAC: decision + text)."""
    if "result" not in row:
        return False, str(row.get("error", "no result"))
    result = row["result"]
    if rbac:
        ok = isinstance(result, dict) and result.get("decision") == vector.get("expect") and (
            "error" not in vector or result.get("error") == vector["error"])
        return ok, "" if ok else f"expected {vector.get('expect')!r} / {vector.get('error')!r}, got {result!r}"
    result, expect = _norm(result), _norm(vector.get("expect"))
    if isinstance(expect, dict) and isinstance(result, dict):
        bad = {k: result.get(k, "<missing>") for k, v in expect.items() if k not in result or result[k] != v}
        return not bad, "" if not bad else f"expected {expect!r}, got {bad!r} for those fields"
    return result == expect, "" if result == expect else f"expected {expect!r}, got {result!r}"


def run_vectors(path: Path, doc: dict[str, Any]) -> list[Result]:
    rbac = "roles" in doc or "bindings" in doc
    file_view = {k: v for k, v in doc.items() if k != "vectors"}
    out = []
    for v in doc["vectors"]:
        if not isinstance(v, dict):
            continue
        vid = str(v.get("id", "?"))
        if v.get("informative"):
            out.append(Result(str(path), vid, "skip", "informative vector (not scored)"))
            continue
        with warnings.catch_warnings():  # vectors use deprecated forms on purpose
            warnings.simplefilter("ignore")
            row = evaluate(v, file_view)
        ok, why = vector_passes(v, row, rbac)
        out.append(Result(str(path), vid, "pass" if ok else "fail", why))
    return out


# ---- report -------------------------------------------------------------------------------------


def junit_xml(results: list[Result]) -> str:
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="meshauthz test")
    by_file: dict[str, list[Result]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)
    for file, rs in by_file.items():
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(len(rs)),
                              failures=str(sum(r.status == "fail" for r in rs)),
                              errors=str(sum(r.status == "error" for r in rs)),
                              skipped=str(sum(r.status == "skip" for r in rs)))
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=file, name=r.name)
            if r.status in ("fail", "error"):
                tag = "failure" if r.status == "fail" else "error"
                ET.SubElement(case, tag, message=r.message).text = r.message
            elif r.status == "skip":
                ET.SubElement(case, "skipped", message=r.message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


@click.command("test", short_help="Run expectation files; JUnit XML; exit 1 on failure.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--junit", metavar="FILE", help="Also write the results as JUnit XML to FILE.")
@click.option("-v", "--verbose", is_flag=True, help="List passing tests too (text output).")
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def test_cmd(paths: tuple[str, ...], junit: Optional[str], verbose: bool, output: Optional[str],
             out: Optional[str]) -> int:
    """Run expectation files (*.test.yaml) or conformance vector files; exit 1 if a test fails.

    PATH is a test file or a directory searched for *.test.yaml / *_test.yaml files.
    """
    fmt = resolve_format(output, out, FORMATS)
    files = discover(paths)
    if not files:
        raise CliError(f"no test files (*.test.yaml, *_test.yaml) under {', '.join(paths)}")
    results: list[Result] = []
    for f in files:
        docs = yaml_documents(str(f), "PATH")  # `-` = stdin
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise CliError(f"{f}: expected one YAML mapping with `tests:` or `vectors:`")
        doc = docs[0]
        if isinstance(doc.get("vectors"), list):
            results += run_vectors(f, doc)
        else:
            results += run_expectations(f, doc)
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "error", "skip")}
    data = {"passed": counts["pass"], "failed": counts["fail"], "errors": counts["error"],
            "skipped": counts["skip"], "tests": [r.to_dict() for r in results]}
    summary = (f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors"
               + (f", {counts['skip']} skipped" if counts["skip"] else "") + f" ({len(files)} file"
               + ("s" if len(files) != 1 else "") + ")")

    def text() -> str:
        lines = [f"{r.status.upper()} {r.file}: {r.name}" + (f"\n    {r.message}" if r.message else "")
                 for r in results if verbose or r.status in ("fail", "error")]
        return "".join(line + "\n" for line in lines) + summary + "\n"

    def table() -> str:
        return render_table(("STATUS", "FILE", "TEST", "MESSAGE"),
                            [(r.status, r.file, r.name, r.message or "-") for r in results]) + summary + "\n"

    emit(fmt, out, data, text, table)
    if junit:
        try:
            Path(junit).write_text(junit_xml(results), encoding="utf-8")
        except OSError as e:
            raise CliError(f"--junit {junit}: cannot write: {(e.strerror or str(e)).lower()}") from None
    return EXIT_FINDINGS if counts["fail"] or counts["error"] else EXIT_OK


def register(cli: click.Group) -> None:
    cli.add_command(test_cmd)
