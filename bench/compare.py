"""meshauthz vs the pure-Python references vs the peers a Python user would pick (Cedar, Casbin).

    .venv/bin/pip install -e '.[bench]'      # cedarpy, casbin
    .venv/bin/python bench/compare.py [--quick] [--budget SECONDS] [--out bench/RESULTS.md]

One process, one run. Every engine's decisions are first checked against the reference on the same
requests (agreement count), then: compile/load time, single-check latency (median), batch throughput
and memory (Python heap peak via tracemalloc, which cannot see Rust allocations, plus the process RSS
growth that can). Slow engines stop at a time budget per measurement (--budget, default 60 s).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

import meshauthz  # noqa: E402
import rbac_reference as rref  # noqa: E402
import traffic_reference as tref  # noqa: E402
from bench_traffic import _world as traffic_world  # noqa: E402
from meshauthz import bundle as mbundle  # noqa: E402
from meshauthz.rbac import Authorizer, User  # noqa: E402

# The RBAC workload compare.py has always measured (the issue #5 set: 4 policy types, rules with a
# MeshService `when`, 1,000 users); bench/workloads_rbac.py holds the issue #11 workload.
TYPES = ["MeshTrafficPermission", "MeshHTTPRoute", "MeshTimeout", "MeshTrace"]


def rbac_world(
    n_roles: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[User], list[dict[str, Any]]]:
    roles = [
        {
            "type": "AccessRole",
            "name": f"r{i}",
            "rules": [
                {
                    "types": [TYPES[(i + k) % 4]],
                    "mesh": "default",
                    "access": ["CREATE", "UPDATE"],
                    "when": [{"targetRef": {"kind": "MeshService", "name": f"svc-{(i + k) % 50}"}}],
                }
                for k in range(5)
            ],
        }
        for i in range(n_roles)
    ]
    bindings = [
        {
            "type": "AccessRoleBinding",
            "name": f"b{i}",
            "roles": [f"r{i % n_roles}", f"r{(i * 7) % n_roles}"],
            "subjects": [{"type": "User", "name": f"user-{i}"}, {"type": "Group", "name": f"team-{i % 20}"}],
        }
        for i in range(1000)
    ]
    users = [User(f"user-{i}", [f"team-{i % 20}", "mesh-system:authenticated"]) for i in range(1000)]
    resources = [
        {
            "type": TYPES[i % 4],
            "mesh": "default",
            "name": f"p{i}",
            "spec": {"targetRef": {"kind": "MeshService", "name": f"svc-{i % 50}"}},
        }
        for i in range(64)
    ]
    return roles, bindings, users, resources

try:
    import cedarpy
except ImportError:  # pragma: no cover - optional peer (pip install '.[bench]')
    cedarpy = None
try:
    import casbin
except ImportError:  # pragma: no cover
    casbin = None


def rss() -> int:
    """Current resident set size in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Result:
    engine: str
    agree: str = ""
    build_s: Optional[float] = None  # compile (+ load) from the workload's documents
    bundle_s: Optional[float] = None  # meshauthz only: load from a compiled bundle
    latency_us: Optional[float] = None
    throughput: Optional[float] = None  # checks / s
    batch_note: str = ""
    py_peak_mb: Optional[float] = None
    rss_mb: Optional[float] = None
    notes: list[str] = field(default_factory=list)


def measure_build(fn: Callable[[], Any], trace_limit: float = 10.0) -> tuple[Any, float, Optional[float], float]:
    """(object, seconds, tracemalloc peak MB, RSS growth MB) of building an engine.

    Timed without tracemalloc (it slows Python allocation several-fold); the heap peak comes from a
    second, traced build when the first took under `trace_limit` seconds."""
    gc.collect()
    before = rss()
    t = time.perf_counter()
    obj = fn()
    elapsed = time.perf_counter() - t
    grow = (rss() - before) / 2**20
    peak = None
    if elapsed < trace_limit:
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return obj, elapsed, peak, grow


def latency(check: Callable[[Any], Any], requests: list[Any], budget: float) -> float:
    """Median single-check latency in µs (one timer per call, cycling the requests)."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    i = 0
    while time.perf_counter() < deadline and len(samples) < 200_000:
        req = requests[i % len(requests)]
        t = time.perf_counter_ns()
        check(req)
        samples.append(time.perf_counter_ns() - t)
        i += 1
    return statistics.median(samples) / 1e3


def throughput(run: Callable[[list[Any]], Any], requests: list[Any], budget: float) -> float:
    """Checks per second running `run` over the whole request list until the budget is spent."""
    done, t = 0, time.perf_counter()
    deadline = t + budget
    while True:
        run(requests)
        done += len(requests)
        if time.perf_counter() >= deadline or done >= 2_000_000:
            break
    return done / (time.perf_counter() - t)


def agreement(check: Callable[[Any], bool], requests: list[Any], want: list[bool], budget: float) -> str:
    ok = n = 0
    deadline = time.perf_counter() + budget
    for req, w in zip(requests, want):
        ok += check(req) == w
        n += 1
        if time.perf_counter() > deadline:
            break
    return f"{ok}/{n}" + ("" if n == len(requests) else f" (of {len(requests)}, budget)")


def loop(check: Callable[[Any], Any]) -> Callable[[list[Any]], Any]:
    return lambda reqs: [check(r) for r in reqs]


# ---- RBAC -----------------------------------------------------------------------------------------

CASBIN_MODEL = """
[request_definition]
r = sub, typ, mesh, ref, act
[policy_definition]
p = sub, typ, mesh, ref, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && keyMatch(r.typ, p.typ) && keyMatch(r.mesh, p.mesh) && keyMatch(r.ref, p.ref) && r.act == p.act
"""


def _ref_str(res: dict[str, Any]) -> str:
    ref = (res.get("spec") or {}).get("targetRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def cedar_policies(roles: list[dict[str, Any]]) -> str:
    """One `permit` per rule: principal in Role, action in the rule's access, resource attributes."""
    out = []
    for role in roles:
        for rule in role["rules"]:
            conds = []
            if rule.get("types") and rule["types"] != ["*"]:
                conds.append(" || ".join(f'resource.type == "{t}"' for t in rule["types"]))
            if rule.get("mesh") and rule["mesh"] != "*":
                conds.append(f'resource.mesh == "{rule["mesh"]}"')
            for q in rule.get("when") or []:
                ref = q["targetRef"]
                conds.append(f'resource.ref == "{ref["kind"]}/{ref.get("name", "")}"')
            acts = ", ".join(f'Action::"{a}"' for a in rule["access"])
            when = " && ".join(f"({c})" for c in conds) or "true"
            out.append(f'permit(principal in Role::"{role["name"]}", action in [{acts}], resource) when {{ {when} }};')
    return "\n".join(out)


def cedar_entities(bindings: list[dict[str, Any]], users: list[User], resources: list[dict[str, Any]]) -> list[dict]:
    parents: dict[tuple[str, str], set[str]] = {}
    for b in bindings:
        for s in b["subjects"]:
            parents.setdefault((s["type"], s["name"]), set()).update(b["roles"])
    ents: dict[tuple[str, str], dict[str, Any]] = {}

    def ent(typ: str, name: str) -> dict[str, Any]:
        return ents.setdefault((typ, name), {"uid": {"type": typ, "id": name}, "attrs": {}, "parents": []})

    for (typ, name), roles in parents.items():
        ent(typ, name)["parents"] += [{"type": "Role", "id": r} for r in sorted(roles)]
        for r in roles:
            ent("Role", r)
    for u in users:
        ent("User", u.name)["parents"] += [{"type": "Group", "id": g} for g in u.groups]
        for g in u.groups:
            ent("Group", g)
    for i, res in enumerate(resources):
        ent("Res", f"p{i}")["attrs"] = {"type": res["type"], "mesh": res["mesh"], "ref": _ref_str(res)}
    return list(ents.values())


def casbin_enforcer(roles: list[dict[str, Any]], bindings: list[dict[str, Any]], users: list[User]) -> Any:
    model = casbin.model.Model()
    model.load_model_from_text(CASBIN_MODEL)
    e = casbin.Enforcer(model)
    rules = []
    for role in roles:
        for rule in role["rules"]:
            refs = [f'{q["targetRef"]["kind"]}/{q["targetRef"].get("name", "")}' for q in rule.get("when") or []]
            for t in rule.get("types") or ["*"]:
                for ref in refs or ["*"]:
                    rules += [[role["name"], t, rule.get("mesh") or "*", ref, a] for a in rule["access"]]
    e.add_policies(rules)
    groups = [[s["name"], r] for b in bindings for s in b["subjects"] for r in b["roles"]]
    groups += [[u.name, g] for u in users for g in u.groups]
    e.add_grouping_policies([list(x) for x in {tuple(g) for g in groups}])
    return e


def bench_rbac(n_roles: int, budget: float, quick: bool) -> tuple[str, list[Result]]:
    roles, bindings, users, resources = rbac_world(n_roles)
    docs = roles + bindings
    plain_roles = [{"name": r["name"], "rules": r["rules"]} for r in roles]
    n_req = 500 if quick else 2000
    requests = [(users[(i * 37) % len(users)], i % len(resources)) for i in range(n_req)]
    want = [rref.decide(plain_roles, bindings, u.name, list(u.groups), "CREATE", resources[j])[0]
            for u, j in requests]
    results = []

    authz, t, peak, grow = measure_build(lambda: Authorizer(docs))
    handles = [authz.target(r) for r in resources]
    r = Result("meshauthz", build_s=t, py_peak_mb=peak, rss_mb=grow)
    data = mbundle.dumps(authz._resources)
    t0 = time.perf_counter()
    mbundle.loads(data).authorizer()
    r.bundle_s = time.perf_counter() - t0

    def m_check(q: tuple[User, int]) -> bool:
        return authz.check(q[0], "CREATE", handles[q[1]]).allowed

    r.agree = agreement(m_check, requests, want, budget)
    r.latency_us = latency(m_check, requests, budget)
    batch_rows = [{"user": u.name, "groups": list(u.groups), "action": "CREATE", "resource": j} for u, j in requests]
    assert list(authz.check_batch(batch_rows, targets=handles).allowed) == want, "batch disagrees with reference"
    big = batch_rows * max(1, 100_000 // len(batch_rows))  # batches of ~100k rows: per-call setup amortised
    r.throughput = throughput(lambda _: authz.check_batch(big, targets=handles), big, budget)
    r.batch_note = f"Authorizer.check_batch, list of {len(big):,} dicts"
    results.append(r)

    def ref_check(q: tuple[User, int]) -> bool:
        return rref.decide(plain_roles, bindings, q[0].name, list(q[0].groups), "CREATE", resources[q[1]])[0]

    rr = Result("reference (pure Python)", build_s=0.0, agree=f"{len(want)}/{len(want)} (is the reference)")
    rr.latency_us = latency(ref_check, requests, budget)
    rr.throughput = throughput(loop(ref_check), requests[:50], budget)
    rr.batch_note = "Python loop"
    results.append(rr)

    if cedarpy is not None:
        import json

        def build_cedar() -> tuple[Any, Any]:
            return (cedarpy.PolicySet.from_str(cedar_policies(roles)),
                    cedarpy.Entities.from_json_str(json.dumps(cedar_entities(bindings, users, resources))))

        (ps, ents), t, peak, grow = measure_build(build_cedar)
        rc = Result("Cedar (cedarpy)", build_s=t, py_peak_mb=peak, rss_mb=grow)
        cedar_reqs = [{"principal": f'User::"{u.name}"', "action": 'Action::"CREATE"',
                       "resource": f'Res::"p{j}"', "context": {}} for u, j in requests]

        def c_check(i: int) -> bool:
            return cedarpy.is_authorized(cedar_reqs[i], ps, ents).allowed

        idx = list(range(len(requests)))
        rc.agree = agreement(c_check, idx, want, budget)
        rc.latency_us = latency(c_check, idx, budget)
        rc.throughput = throughput(lambda ix: cedarpy.is_authorized_batch([cedar_reqs[i] for i in ix], ps, ents),
                                   idx, budget)
        rc.batch_note = "cedarpy.is_authorized_batch"
        results.append(rc)
    if casbin is not None:
        e, t, peak, grow = measure_build(lambda: casbin_enforcer(roles, bindings, users))
        rk = Result("Casbin (pycasbin)", build_s=t, py_peak_mb=peak, rss_mb=grow)
        kreqs = [(u.name, resources[j]["type"], resources[j]["mesh"], _ref_str(resources[j]), "CREATE")
                 for u, j in requests]

        def k_check(i: int) -> bool:
            return bool(e.enforce(*kreqs[i]))

        idx = list(range(len(requests)))
        rk.agree = agreement(k_check, idx, want, budget)
        rk.latency_us = latency(k_check, idx, budget)
        rk.throughput = throughput(lambda ix: e.batch_enforce([list(kreqs[i]) for i in ix]), idx[:100], budget)
        rk.batch_note = "Enforcer.batch_enforce"
        results.append(rk)
    allowed = sum(want)
    title = (f"RBAC: {n_roles} roles × 5 rules, 1,000 users, 1,000 bindings; {len(requests)} CREATE requests "
             f"over 64 resources ({allowed} allowed)")
    return title, results


# ---- traffic --------------------------------------------------------------------------------------


def traffic_workload(n: int) -> tuple[list[dict[str, Any]], Any, list[tuple[Any, Any, tuple]]]:
    """bench_traffic's world plus 20 dataplanes of services svc-0..19 (hit by the TPs) as targets."""
    docs, world = traffic_world(n)
    for k in range(20):
        svc = f"svc-{k * 7 % max(n // 2, 1)}"
        tags = {"kuma.io/service": svc, "version": "v1"}
        docs.append({"type": "Dataplane", "mesh": "default", "name": f"dst-{k}",
                     "networking": {"address": f"10.1.0.{k + 1}", "inbound": [{"port": 8000, "tags": tags}]}})
        world.dataplanes[("default", f"dst-{k}")] = tref.Dataplane(inbounds=[(8000, tags)])
    tags = {"kuma.io/service": "client-1"}
    clients: list[tuple[Any, tuple]] = [("web-1", ("dp", "default", "web-1")),
                                        ("backend-1", ("dp", "default", "backend-1")),
                                        (tags, ("tags", "default", tags))]
    dests = [("backend-1", 9000)] + [(f"dst-{k}", 8000) for k in range(20)]
    requests = [(c, d, rc) for c, rc in clients for d in dests]
    return docs, world, requests


def bench_traffic(n: int, budget: float) -> tuple[str, list[Result]]:
    docs, world, requests = traffic_workload(n)
    want = [tref.authorize_inbound(world, rc, "default", d[0], d[1])[0] for _, d, rc in requests]

    def build() -> Any:
        engine = meshauthz.TrafficEngine(meshauthz.load_dicts(docs))
        return engine

    engine, t, peak, grow = measure_build(build)
    r = Result("meshauthz", build_s=t, py_peak_mb=peak, rss_mb=grow)
    r.notes.append("build = validate + compile from documents")
    data = mbundle.dumps(engine.store)
    t0 = time.perf_counter()
    assert mbundle.loads(data).traffic_engine().compiled is not None
    r.bundle_s = time.perf_counter() - t0

    def m_check(q: tuple) -> bool:
        return engine.check(source=q[0], destination=q[1], mesh="default").allowed

    r.agree = agreement(m_check, requests, want, budget)
    r.latency_us = latency(m_check, requests, budget)
    batch_rows = [{"mesh": "default", "destination": d[0], "port": d[1],
                   **({"source": c} if isinstance(c, str) else
                      {"source_tags": ",".join(f"{k}={v}" for k, v in c.items())})} for c, d, _ in requests]
    assert list(engine.check_batch(batch_rows).allowed) == want, "batch disagrees with the reference"
    big = batch_rows * max(1, 100_000 // len(batch_rows))  # batches of ~100k rows: per-call setup amortised
    r.throughput = throughput(lambda _: engine.check_batch(big), big, budget)
    r.batch_note = f"TrafficEngine.check_batch, list of {len(big):,} dicts"

    def ref_check(q: tuple) -> bool:
        return tref.authorize_inbound(world, q[2], "default", q[1][0], q[1][1])[0]

    rr = Result("reference (pure Python)", build_s=0.0, agree=f"{len(want)}/{len(want)} (is the reference)")
    rr.latency_us = latency(ref_check, requests, budget)
    rr.throughput = throughput(loop(ref_check), requests, budget)
    rr.batch_note = "Python loop"
    allowed = sum(want)
    return (f"Traffic: {n:,} TrafficPermissions, {len(world.dataplanes)} dataplanes; {len(requests)} inbound "
            f"requests ({allowed} allowed)"), [r, rr]


# ---- report -------------------------------------------------------------------------------------------


def _fmt(v: Optional[float], unit: str, base: Optional[float], higher_better: bool = False) -> str:
    if v is None:
        return "–"
    text = f"{v:,.3g} {unit}" if v < 1000 else f"{v:,.0f} {unit}"
    if base and v and base != v:
        ratio = (base / v) if higher_better else (v / base)
        text += f" (×{ratio:.3g})"
    return text


def table(title: str, results: list[Result]) -> str:
    base = results[0]
    lines = [f"### {title}", "",
             "| engine | agrees with reference | build | bundle load | single check (median) | batch throughput "
             "| Python heap peak (build) | RSS growth (build) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r.engine} | {r.agree} | {_fmt(r.build_s and r.build_s * 1e3, 'ms', base.build_s * 1e3)} "
            f"| {_fmt(r.bundle_s and r.bundle_s * 1e3, 'ms', None)} "
            f"| {_fmt(r.latency_us, 'µs', base.latency_us)} "
            f"| {_fmt(r.throughput, '/s', base.throughput, higher_better=True)} ({r.batch_note}) "
            f"| {_fmt(r.py_peak_mb, 'MB', None)} | {_fmt(r.rss_mb, 'MB', None)} |")
    return "\n".join(lines)


def machine() -> str:
    model = "unknown"
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    peers = ", ".join(f"{m.__name__} {getattr(m, '__version__', '')}".strip() for m in (cedarpy, casbin) if m)
    return (f"{os.cpu_count()} CPUs (nproc), {model}; Python {platform.python_version()} "
            f"({platform.python_implementation()}), {platform.system()} {platform.release()}; "
            f"meshauthz {meshauthz.__version__}; peers: {peers or 'not installed'}; "
            f"load average at start {os.getloadavg()[0]:.2f}")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run: 2 s budgets, no 100,000-policy workload")
    ap.add_argument("--budget", type=float, help="seconds per measurement (default 60, --quick 2)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = ap.parse_args(argv)
    budget = args.budget if args.budget is not None else (2.0 if args.quick else 60.0)
    head = machine()
    sections = []
    for n_roles in (100, 2000):
        print(f"RBAC {n_roles} roles ...", file=sys.stderr, flush=True)
        sections.append(table(*bench_rbac(n_roles, budget, args.quick)))
    for n in (100, 10_000) if args.quick else (100, 10_000, 100_000):
        print(f"traffic {n} ...", file=sys.stderr, flush=True)
        sections.append(table(*bench_traffic(n, budget)))
    text = "\n".join([
        "# meshauthz benchmark comparison", "",
        f"Generated by `bench/compare.py{' --quick' if args.quick else ''}` (budget {budget:g} s per measurement, "
        f"one process, one run) on: {head}.", "",
        "Ratios (×) are relative to meshauthz in the same table (time: >1 = slower than meshauthz; "
        "throughput: >1 = meshauthz is that many times faster). *build* = compile from documents (meshauthz: "
        "load + Kuma validation + compile; Cedar: policy and entity parsing; Casbin: model + policies + groupings); "
        "*bundle load* = `meshauthz.bundle.loads` of the compiled bundle + engine build. Python heap peak comes "
        "from tracemalloc and cannot see Rust / C allocations; RSS growth can (coarse: page granularity, "
        "allocator reuse).", "",
        *[s + "\n" for s in sections],
    ])
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
