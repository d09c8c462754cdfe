"""hypothesis over `/_meshauthz/openapi.json` (§9): random requests on every documented route and method,
with and without a token, with random JSON bodies and near-valid resource documents. The server must
never answer 5xx, and every error must be the S3.1 JSON body. One real server per module; bounded."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("starlette")
import httpx  # noqa: E402

from meshauthz.server import ServerConfig, start_in_thread  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
_known = st.sampled_from(["default"] * 8 + ["demo", "x", "web-to-backend", "admin", "user-token-signing-key-1",
                                            "admin-user-token", "user-token-revocations", ""])
names = st.one_of(_known, _known, _known, st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%", min_size=1,
                                                   max_size=12))
KINDS = ["Mesh", "Dataplane", "TrafficPermission", "MeshTrafficPermission", "AccessRole", "AccessRoleBinding",
         "GlobalSecret", "Secret", "ExternalService", "MeshTrace", "TrafficRoute"]


SPECS = {
    "TrafficPermission": {"sources": [{"match": {"kuma.io/service": "a"}}],
                          "destinations": [{"match": {"kuma.io/service": "b"}}]},
    "MeshTrafficPermission": {"spec": {"targetRef": {"kind": "Mesh"},
                                       "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}]}},
    "AccessRole": {"rules": [{"access": ["CREATE"], "types": ["Mesh"]}]},
    "AccessRoleBinding": {"subjects": [{"type": "User", "name": "bob"}], "roles": ["admin"]},
    "Secret": {"data": "dGVzdA=="}, "GlobalSecret": {"data": "dGVzdA=="},
    "Dataplane": {"networking": {"address": "10.0.0.1", "inbound": [{"port": 80, "tags": {"kuma.io/service": "a"}}]}},
}


@st.composite
def resource_bodies(draw: st.DrawFn, path: str = "", mesh: str = "", name: str = "") -> object:
    """Near-valid documents: usually the path's own type, name and mesh, a valid body, random changes."""
    from meshauthz.server.types import BY_PATH

    segment = [p for p in path.split("/") if p and not p.startswith("{")]
    rtype = BY_PATH.get(segment[-1]) if segment else None
    if rtype is not None and draw(st.integers(0, 9)) < 7:
        doc = {"type": rtype.name, "name": name}
        if rtype.mesh_scoped:
            doc["mesh"] = mesh
        doc.update(SPECS.get(rtype.name, {}))
        mutations = [] if draw(st.booleans()) else draw(st.lists(st.sampled_from(
            ["labels", "spec", "sources", "data", "rules", "roles", "name", "mesh", "type"]), max_size=2))
        for key in mutations:
            doc[key] = draw(json_values)
        return doc
    doc = {"type": draw(st.sampled_from(KINDS)), "name": draw(names)}
    if draw(st.booleans()):
        doc["mesh"] = draw(names)
    for key in draw(st.lists(st.sampled_from(["spec", "labels", "data", "sources", "destinations", "rules",
                                              "subjects", "roles", "networking", "mtls", "conf"]), max_size=3)):
        doc[key] = draw(json_values)
    return doc


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "db.sqlite"
    running = start_in_thread(ServerConfig(address="127.0.0.1:0", https_port=None, store=f"sqlite:{path}",
                                           localhost_is_admin=False, access_log=False))
    client = httpx.Client(base_url=running.url, timeout=30, trust_env=False)
    doc = client.get("/_meshauthz/openapi.json").json()
    admin = running.service.snapshot.docs[("GlobalSecret", "", "admin-user-token")]
    import base64

    token = base64.b64decode(admin["data"]).decode()
    ops = sorted((path, method.upper()) for path, item in doc["paths"].items() for method in item)
    yield client, ops, token
    client.close()
    running.stop()


def _check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.request.method, r.request.url, r.text[:500])
    if r.status_code >= 400:
        body = r.json()
        assert body["type"] == "/std-errors" and body["status"] == r.status_code
        assert isinstance(body["title"], str) and body["details"] == body["detail"]


@settings(max_examples=int(__import__("os").environ.get("MESHAUTHZ_FUZZ_EXAMPLES", "400")),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_no_5xx_on_documented_routes(server, data) -> None:
    client, ops, token = server
    path, method = data.draw(st.sampled_from(ops))
    mesh, name = data.draw(names, "mesh"), data.draw(names, "name")
    concrete = path.replace("{mesh}", mesh).replace("{name}", name)
    headers = data.draw(st.sampled_from([{}, {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {token}"},
                                         {"Authorization": "Bearer garbage"}, {"Authorization": "Basic eDp5"}]))
    params = {} if data.draw(st.booleans()) else data.draw(st.dictionaries(
        st.sampled_from(["size", "offset", "name", "filter[labels.a]", "filter[x]", "format"]), st.text(max_size=6),
        max_size=3))
    body = None
    if method in ("PUT", "POST"):
        body = data.draw(st.one_of(resource_bodies(path, mesh, name), resource_bodies(path, mesh, name), json_values,
                                   st.fixed_dictionaries({"action": st.sampled_from(["CREATE", "UPDATE", "X"]),
                                                          "resource": resource_bodies()}),
                                   st.fixed_dictionaries({"checks": st.lists(json_values, max_size=3)})))
    content = None if body is None else json.dumps(body).encode()
    if method in ("PUT", "POST") and data.draw(st.integers(0, 9)) == 0:
        content = data.draw(st.binary(max_size=20))  # not JSON at all
    r = client.request(method, concrete, params=params, headers=headers, content=content)
    _check(r)
