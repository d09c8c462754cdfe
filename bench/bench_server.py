"""`meshauthz serve` load benchmark (issue #15; not collected by the test run). Loopback only, bounded.

    .venv/bin/python bench/bench_server.py [--seconds 5] [--connections 8] [--postgres URL]

Measures, with one raw keep-alive HTTP/1.1 client (asyncio, N connections, prebuilt request bytes; the
servers run in their own processes so they do not share the client's GIL):

1. `POST /_meshauthz/v1/access`, one check per request (a token user, a TrafficPermission CREATE with a
   `when`-qualified role): requests/s and p50/p99 latency, against a bare ASGI endpoint returning a
   constant JSON on the same uvicorn (and a Starlette route doing the same, for reference); best of
   `--rounds` interleaved rounds, ratio = decision / bare;
2. one request carrying `{"checks": [10,000 checks]}`: end-to-end checks/s;
3. PUT throughput with RBAC (a token user whose role has a `when` qualifier) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Optional

CONSTANT_APP = r"""
import sys, uvicorn
BODY = b'{"allowed":true,"httpStatus":200,"message":null,"grant":null,"uncovered":[]}'
async def asgi(scope, receive, send):
    more = True
    while more:
        m = await receive()
        more = m.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
app = asgi
if sys.argv[2] == "starlette":
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    async def constant(request):
        await request.body()
        return Response(BODY, media_type="application/json")
    app = Starlette(routes=[Route("/_meshauthz/v1/access", constant, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False, lifespan="off")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def request_bytes(method: str, path: str, port: int, body: bytes = b"", token: Optional[str] = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _load(port: int, make_request, seconds: float, connections: int) -> tuple[int, list[float], dict]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds
    counter = [0]

    async def conn() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                req = make_request(counter[0])
                counter[0] += 1
                t0 = time.perf_counter()
                writer.write(req)
                status, _ = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(conn() for _ in range(connections)))
    return len(latencies), latencies, statuses


def load(port: int, make_request, seconds: float, connections: int) -> dict:
    t0 = time.perf_counter()
    n, lat, statuses = asyncio.run(_load(port, make_request, seconds, connections))
    elapsed = time.perf_counter() - t0
    lat.sort()
    return {"rps": n / elapsed, "p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            "n": n, "statuses": statuses}


def one_request(port: int, req: bytes) -> tuple[int, bytes, float]:
    async def run() -> tuple[int, bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**26)
        t0 = time.perf_counter()
        writer.write(req)
        status, body = await _read_response(reader)
        dt = time.perf_counter() - t0
        writer.close()
        return status, body, dt

    return asyncio.run(run())


def start_meshauthz(store: str, workdir: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN="false", MESHAUTHZ_ACCESS_LOG="false")
    proc = subprocess.Popen([sys.executable, "-m", "meshauthz.server.cli", "serve", "--no-https", "--address",
                             f"127.0.0.1:{port}", "--store", store], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port)
    return proc, port


def admin_token(port: int) -> str:
    status, body, _ = one_request(port, request_bytes("GET", "/global-secrets/admin-user-token", port))
    assert status == 200, body
    return base64.b64decode(json.loads(body)["data"]).decode()


def put(port: int, path: str, doc: dict, token: str) -> int:
    status, body, _ = one_request(port, request_bytes("PUT", path, port, json.dumps(doc).encode(), token))
    return status


def setup_rbac(port: int, admin: str) -> str:
    """Restrict the default binding; give `owner` the doc's backend-owner role; return owner's token."""
    put(port, "/access-role-bindings/default", {"type": "AccessRoleBinding", "name": "default", "subjects": [
        {"type": "Group", "name": "mesh-system:admin"}], "roles": ["admin"]}, admin)
    put(port, "/access-roles/backend-owner", {"type": "AccessRole", "name": "backend-owner", "rules": [{
        "types": ["TrafficPermission"], "mesh": "default", "access": ["CREATE", "UPDATE", "DELETE"],
        "when": [{"destinations": {"match": {"kuma.io/service": "backend"}}}]}]}, admin)
    put(port, "/access-role-bindings/backend-owners", {"type": "AccessRoleBinding", "name": "backend-owners",
                                                       "subjects": [{"type": "User", "name": "owner"}],
                                                       "roles": ["backend-owner"]}, admin)
    body = json.dumps({"name": "owner", "validFor": "1h"}).encode()
    status, tok, _ = one_request(port, request_bytes("POST", "/tokens/user", port, body, admin))
    assert status == 200, tok
    return tok.decode()


def tp(i: int) -> dict:
    return {"type": "TrafficPermission", "mesh": "default", "name": f"tp-{i}",
            "sources": [{"match": {"kuma.io/service": f"web-{i % 7}"}}],
            "destinations": [{"match": {"kuma.io/service": "backend"}}]}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--postgres", default=os.environ.get("MESHAUTHZ_TEST_POSTGRES",
                                                         "postgresql://postgres@127.0.0.1:55432/postgres"))
    ap.add_argument("--put-count", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        # 1. bare constant-JSON endpoint vs the decision endpoint
        cport, sport = free_port(), free_port()
        const = subprocess.Popen([sys.executable, "-c", CONSTANT_APP, str(cport), "asgi"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        sconst = subprocess.Popen([sys.executable, "-c", CONSTANT_APP, str(sport), "starlette"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc, port = start_meshauthz(f"sqlite:{tmp}/bench.db", tmp)
        try:
            wait_up(cport)
            wait_up(sport)
            admin = admin_token(port)
            owner = setup_rbac(port, admin)
            check = json.dumps({"action": "CREATE", "resource": tp(1)}).encode()
            bare_req = request_bytes("POST", "/_meshauthz/v1/access", cport, check, owner)
            dec_req = request_bytes("POST", "/_meshauthz/v1/access", port, check, owner)
            load(cport, lambda i: bare_req, 1.0, args.connections)  # warm-up
            load(port, lambda i: dec_req, 1.0, args.connections)
            star_req = request_bytes("POST", "/_meshauthz/v1/access", sport, check, owner)
            load(sport, lambda i: star_req, 1.0, args.connections)
            # interleaved rounds: the machine is shared, so each ratio compares neighbouring measurements
            rounds: dict[str, list[dict]] = {"bare": [], "starlette": [], "decision": []}
            for _ in range(args.rounds):
                rounds["bare"].append(load(cport, lambda i: bare_req, args.seconds, args.connections))
                rounds["starlette"].append(load(sport, lambda i: star_req, args.seconds, args.connections))
                rounds["decision"].append(load(port, lambda i: dec_req, args.seconds, args.connections))
            for k, v in rounds.items():
                out[k] = max(v, key=lambda m: m["rps"])
            # 2. one 10,000-check batch (as an admin asking for the owner: one user, varied resources)
            checks = [{"user": {"name": "owner", "groups": ["mesh-system:authenticated"]}, "action": "CREATE",
                       "resource": {**tp(i), "destinations": [{"match": {
                           "kuma.io/service": "backend" if i % 2 else "other"}}]}} for i in range(10_000)]
            body = json.dumps({"checks": checks}).encode()
            times = []
            for _ in range(3):
                status, resp, dt = one_request(port, request_bytes("POST", "/_meshauthz/v1/access", port, body, admin))
                assert status == 200, resp[:300]
                results = json.loads(resp)["results"]
                assert len(results) == 10_000 and sum(r["allowed"] for r in results) == 5_000
                times.append(dt)
            out["batch"] = {"best_s": min(times), "checks_per_s": 10_000 / min(times), "body_mb": len(body) / 1e6}
            # 3a. PUT throughput on SQLite (RBAC with a `when` qualifier, each PUT a CREATE)
            t0 = time.perf_counter()
            codes: dict[int, int] = {}
            for i in range(args.put_count):
                c = put(port, f"/meshes/default/traffic-permissions/tp-{i}", tp(i), owner)
                codes[c] = codes.get(c, 0) + 1
            out["put_sqlite"] = {"per_s": args.put_count / (time.perf_counter() - t0), "codes": codes}
        finally:
            for p in (proc, const, sconst):
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=20)
        # 3b. PostgreSQL
        try:
            import psycopg

            name = f"meshauthz_bench_{os.getpid()}"
            with psycopg.connect(args.postgres, autocommit=True, connect_timeout=3) as adm:
                adm.execute(f"DROP DATABASE IF EXISTS {name}")
                adm.execute(f"CREATE DATABASE {name}")
            url = args.postgres.rsplit("/", 1)[0] + "/" + name
            proc, port = start_meshauthz(url, tmp)
            try:
                owner = setup_rbac(port, admin_token(port))
                t0 = time.perf_counter()
                codes = {}
                for i in range(args.put_count):
                    c = put(port, f"/meshes/default/traffic-permissions/tp-{i}", tp(i), owner)
                    codes[c] = codes.get(c, 0) + 1
                out["put_postgresql"] = {"per_s": args.put_count / (time.perf_counter() - t0), "codes": codes}
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
                with psycopg.connect(args.postgres, autocommit=True) as adm:
                    adm.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception as e:  # noqa: BLE001 - report, the SQLite numbers stand
            out["put_postgresql"] = {"error": str(e)}
    b, d = out["bare"], out["decision"]
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; {args.connections} connections, "
          f"{args.seconds:.0f} s per measurement")
    print("| measurement | result |")
    print("|---|---|")
    st = out["starlette"]
    print(f"| bare ASGI constant JSON (uvicorn) | {b['rps']:,.0f} req/s, p50 {b['p50_ms']:.2f} ms, "
          f"p99 {b['p99_ms']:.2f} ms |")
    print(f"| Starlette route, constant JSON (uvicorn) | {st['rps']:,.0f} req/s, p50 {st['p50_ms']:.2f} ms, "
          f"p99 {st['p99_ms']:.2f} ms ({st['rps'] / b['rps']:.2f}× bare) |")
    print(f"| POST /_meshauthz/v1/access, 1 check/request | {d['rps']:,.0f} req/s, p50 {d['p50_ms']:.2f} ms, "
          f"p99 {d['p99_ms']:.2f} ms; **{d['rps'] / b['rps']:.2f}× bare** (statuses {d['statuses']}) |")
    bt = out["batch"]
    print(f"| 10,000-check batch body ({bt['body_mb']:.1f} MB) | {bt['best_s'] * 1000:.0f} ms end to end, "
          f"{bt['checks_per_s']:,.0f} checks/s |")
    ps = out["put_sqlite"]
    print(f"| PUT with RBAC, SQLite (sequential, 1 connection) | {ps['per_s']:,.0f} writes/s {ps['codes']} |")
    pp = out["put_postgresql"]
    if "error" in pp:
        print(f"| PUT with RBAC, PostgreSQL | not measured: {pp['error']} |")
    else:
        print(f"| PUT with RBAC, PostgreSQL (sequential, 1 connection) | {pp['per_s']:,.0f} writes/s {pp['codes']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
