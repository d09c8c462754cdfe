"""Decision endpoints (S7.1, S7.2, single and batch), the OpenAPI document (S7.3) and the §7 P0 inspect
endpoints, against a real server loaded with `examples/universal` through the resource API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import meshauthz
from server_support import err, server_factory  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "universal"
ORDER = {"Mesh": 0, "Dataplane": 1, "ExternalService": 1}


def _docs() -> list[dict]:
    docs = []
    for f in sorted(EXAMPLES.glob("*.yaml")):
        if f.name == "rbac.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return sorted(docs, key=lambda d: ORDER.get(d["type"], 2))


@pytest.fixture
def loaded(server_factory):  # noqa: F811
    api = server_factory("sqlite")
    admin = api.client(api.admin_token())
    from meshauthz.server.types import TYPES

    for d in _docs():
        t = TYPES[d["type"]]
        path = f"/{t.path}/{d['name']}" if t.global_scoped else f"/meshes/{d['mesh']}/{t.path}/{d['name']}"
        r = admin.put(path, json=d)
        assert r.status_code == 201, (path, r.text)
    return api


def test_traffic_single_and_batch_match_the_library(loaded) -> None:
    c = loaded.client(loaded.admin_token())
    # README examples: web-1 → backend-1:8080 allowed by web-to-backend; batch-1 → payments-1:9090 denied
    r = c.post("/_meshauthz/v1/traffic", json={"source": "web-1", "destination": "backend-1:8080"}).json()
    assert (r["allowed"], r["policy"], r["mesh"]) == (True, "web-to-backend", "demo")
    r = c.post("/_meshauthz/v1/traffic", json={"source": "batch-1",
                                               "destination": {"dataplane": "payments-1", "port": 9090}}).json()
    assert (r["allowed"], r["policy"]) == (False, "core-to-payments")
    engine = meshauthz.TrafficEngine(meshauthz.load_dicts(_docs()))
    checks = []
    for src in ("web-1", "backend-1", "batch-1", "reports-1", "storefront-1", "non-mesh"):
        for dst in ("backend-1:8080", "payments-1:9090", "api-1:8080", "storefront-1:8080", "web-1:8080"):
            checks.append({"source": src, "destination": dst})
    checks.append({"source": "web-1", "destination": "nowhere:1"})
    checks.append({"source": 5, "destination": "web-1:8080"})
    out = c.post("/_meshauthz/v1/traffic", json={"checks": checks}).json()["results"]
    assert len(out) == len(checks)
    for row, res in zip(checks, out):
        try:
            src = meshauthz.NON_MESH if row["source"] == "non-mesh" else row["source"]
            name, port = row["destination"].split(":")
            d = engine.check(source=src, destination=meshauthz.Inbound(name, int(port)))
            assert (res["allowed"], res["reason"], res["policy"]) == (d.allowed, d.reason, d.policy), row
        except (meshauthz.MeshauthzError, AttributeError):
            assert res["allowed"] is False and "error" in res, row
    # a bad single request is a 400, not a 5xx
    r = c.post("/_meshauthz/v1/traffic", json={"source": "web-1"})
    assert r.status_code == 400 and r.json()["title"] == "Invalid request"


def test_traffic_decisions_follow_writes(loaded) -> None:
    c = loaded.client(loaded.admin_token())
    q = {"source": "batch-1", "destination": "payments-1:9090"}
    assert c.post("/_meshauthz/v1/traffic", json=q).json()["allowed"] is False
    assert c.put("/meshes/demo/traffic-permissions/batch-to-payments", json={
        "type": "TrafficPermission", "name": "batch-to-payments", "mesh": "demo",
        "sources": [{"match": {"kuma.io/service": "batch"}}],
        "destinations": [{"match": {"kuma.io/service": "payments"}}]}).status_code == 201
    r = c.post("/_meshauthz/v1/traffic", json=q).json()
    assert (r["allowed"], r["policy"]) == (True, "batch-to-payments")


def test_access_single_batch_and_impersonation(loaded) -> None:
    admin = loaded.client(loaded.admin_token())
    tp = {"type": "TrafficPermission", "mesh": "demo", "name": "x", "sources": [{"match": {"kuma.io/service": "a"}}],
          "destinations": [{"match": {"kuma.io/service": "b"}}]}
    r = admin.post("/_meshauthz/v1/access", json={"action": "CREATE", "resource": tp}).json()
    assert r["allowed"] is True and r["httpStatus"] == 200 and r["grant"]["role"] == "admin"
    assert r["grant"]["binding"] == "default" and r["message"] is None
    # restrict the default binding, then ask about bob
    admin.put("/access-role-bindings/default", json={
        "type": "AccessRoleBinding", "name": "default", "subjects": [{"type": "Group", "name": "mesh-system:admin"}],
        "roles": ["admin"]})
    bob = {"name": "bob", "groups": ["mesh-system:authenticated"]}
    r = admin.post("/_meshauthz/v1/access", json={"user": bob, "action": "CREATE", "resource": tp}).json()
    assert r == {"allowed": False, "httpStatus": 403, "grant": None, "uncovered": r["uncovered"],
                 "message": 'user "bob/mesh-system:authenticated" cannot access the resource'}
    batch = {"checks": [
        {"user": bob, "action": "CREATE", "resource": tp},
        {"action": "CREATE", "resource": tp},
        {"action": "FLY", "resource": tp},
        {"action": "UPDATE", "resource": tp},
        "not an object",
        {"user": bob, "action": "GENERATE_USER_TOKEN", "tokenRequest": {"name": "x"}},
    ]}
    out = admin.post("/_meshauthz/v1/access", json=batch).json()["results"]
    assert [o["allowed"] for o in out] == [False, True, False, False, False, False]
    assert [o["httpStatus"] for o in out] == [403, 200, 400, 400, 400, 403]
    assert "error" in out[2] and "error" in out[3] and "error" in out[4]
    # a non-admin may only ask about itself
    bob_client = loaded.client(loaded.token("bob"))
    r = bob_client.post("/_meshauthz/v1/access", json={"action": "CREATE", "resource": tp}).json()
    assert r["allowed"] is False and r["message"] == 'user "bob/mesh-system:authenticated" cannot access the resource'
    r = bob_client.post("/_meshauthz/v1/access", json={"user": {"name": "mesh-system:admin",
                                                               "groups": ["mesh-system:admin"]},
                                                      "action": "CREATE", "resource": tp})
    assert r.status_code == 403 and r.json()["title"] == "Access Denied"
    r = admin.post("/_meshauthz/v1/access", content=b"{")
    assert r.status_code == 400


def test_openapi_document_lists_every_route(loaded) -> None:
    c = loaded.client(loaded.admin_token())
    doc = c.get("/_meshauthz/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for p in ("/_meshauthz/v1/access", "/_meshauthz/v1/traffic", "/tokens/user", "/who-am-i", "/meshes/{name}",
              "/meshes/{mesh}/meshtrafficpermissions/{name}", "/access-roles/{name}", "/global-secrets/{name}"):
        assert p in doc["paths"], p
    for path, ops in doc["paths"].items():
        if "get" in ops:
            concrete = path.replace("{mesh}", "demo").replace("{name}", "demo")
            assert c.get(concrete).status_code < 500, concrete


def test_resources_index_and_policy_dataplanes(loaded) -> None:
    c = loaded.client()
    items = {i["name"]: i for i in c.get("/_resources").json()["resources"]}
    assert items["MeshTrafficPermission"]["path"] == "meshtrafficpermissions"
    assert items["AccessRole"] == {**items["AccessRole"], "path": "access-roles", "scope": "Global"}
    assert items["TrafficPermission"]["scope"] == "Mesh"
    body = c.get("/meshes/demo/traffic-permissions/web-to-backend/_resources/dataplanes").json()
    assert [i["name"] for i in body["items"]] == ["backend-1"]
    body = c.get("/meshes/mtp-demo/meshtrafficpermissions/mesh-wide/_resources/dataplanes").json()
    assert {"api-1", "storefront-1"} <= {i["name"] for i in body["items"]}
    r = c.get("/meshes/demo/traffic-permissions/nope/_resources/dataplanes")
    assert r.json() == err(404, "Could not retrieve a resource", "Not found")


def test_batch_rows_never_abort(loaded) -> None:
    """A non-admin asking about someone else in a batch gets a 403 row, not an aborted batch; odd user
    specs are error rows."""
    bob = loaded.client(loaded.token("bob"))
    res = {"type": "Mesh", "name": "x"}
    out = bob.post("/_meshauthz/v1/access", json={"checks": [
        {"action": "CREATE", "resource": res},
        {"user": {"name": "alice", "groups": []}, "action": "CREATE", "resource": res},
        {"user": {"name": "bob", "groups": [["nested"]]}, "action": "CREATE", "resource": res},
        {"user": "bob", "action": "CREATE", "resource": res},
    ]}).json()["results"]
    assert [o["httpStatus"] for o in out] == [200, 403, 400, 400]
    assert all("error" in o for o in out[1:])


def test_dataplane_policies_inspect(loaded) -> None:
    c = loaded.client()
    body = c.get("/meshes/demo/dataplanes/backend-1/policies").json()
    assert body["kind"] == "SidecarDataplane" and body["total"] == 1
    (item,) = body["items"]
    assert (item["type"], item["name"], item["service"]) == ("inbound", "10.0.0.2:8080:80", "backend")
    (tp,) = item["matchedPolicies"]["TrafficPermission"]
    assert tp["name"] == "web-to-backend" and tp["sources"][0]["match"]["kuma.io/service"] == "web"
    body = c.get("/meshes/mtp-demo/dataplanes/api-1/policies").json()
    assert [i["type"] for i in body["items"]] == ["dataplane"]
    assert [p["name"] for p in body["items"][0]["matchedPolicies"]["MeshTrafficPermission"]] == [
        "mesh-wide", "api-policy"]  # M4.9: lowest priority first
    assert c.get("/meshes/demo/dataplanes/nope/policies").json()["title"] == "Could not retrieve a resource"
