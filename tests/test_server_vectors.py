"""Every `../shared/vectors/rbac.yaml` case replayed as a real request against a running server (§9):

* Kubernetes-webhook vectors → an AdmissionReview to `/validate-kuma-io-v1alpha1` with the vector's user;
* API vectors whose user is a token user (groups end with `mesh-system:authenticated`) or anonymous,
  whose resource is a valid Universal document with a route → the real PUT / DELETE / GET /
  `POST /tokens/user` with a token for that user (the server appends `mesh-system:authenticated`);
* the rest (other identities, partial documents, dataplane/zone token actions) → `POST
  /_meshauthz/v1/access` with the vector's user, asked by an admin.

Denials must carry the exact 403 body. Before each case the vector's roles and bindings replace the
stored ones (as `mesh-system:control-plane`, S1.3); tokens are signed by a static validator key
(`validator.publicKeys`), so cases that write signing-key GlobalSecrets cannot break authentication.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path

import pytest

from server_support import err

pytest.importorskip("jwt")
import jwt  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

import meshauthz  # noqa: E402
from meshauthz.server import ServerConfig, start_in_thread  # noqa: E402
from meshauthz.server.types import TYPES  # noqa: E402

VECTORS = Path(__file__).resolve().parent / "vectors" / "rbac.yaml"  # the repository's copy of the shared file
import yaml  # noqa: E402

SUITE = yaml.safe_load(VECTORS.read_text())
CASES = SUITE["vectors"]
AUTH = "mesh-system:authenticated"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUB = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def token(name: str, groups: list[str]) -> str:
    now = int(time.time())
    return jwt.encode({"Name": name, "Groups": groups, "iat": now, "nbf": now - 300, "exp": now + 3600,
                       "jti": str(uuid.uuid4())}, KEY, algorithm="RS256", headers={"kid": "vectors"})


ADMIN = token("mesh-system:admin", ["mesh-system:admin"])


def universal(doc: dict) -> dict:
    """A Kubernetes-form AccessRole / AccessRoleBinding as the Universal document the store keeps."""
    if "kind" not in doc:
        return copy.deepcopy(doc)
    out = {"type": doc["kind"], "name": doc["metadata"]["name"]}
    out.update(copy.deepcopy(doc.get("spec") or {}))
    return out


def go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # enough for the vectors' printable names


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    assert CASES, f"no vectors in {VECTORS}"
    made = {}
    for mode in ("rbac", "static"):
        path = tmp_path_factory.mktemp(f"vectors-{mode}") / "db.sqlite"
        cfg = ServerConfig(address="127.0.0.1:0", https_port=None, store=f"sqlite:{path}", localhost_is_admin=False,
                           access_type=mode, access_log=False, public_keys=[{"kid": "vectors", "key": PUB.decode()}])
        made[mode] = start_in_thread(cfg)
        key = ("GlobalSecret", "", "user-token-signing-key-1")
        made[mode].signing_key = dict(made[mode].service.snapshot.docs[key])  # restored before each case
    yield made
    for s in made.values():
        s.stop()


def _valid_universal(doc: dict) -> bool:
    if "type" not in doc or doc["type"] not in TYPES:
        return False
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meshauthz.load_dicts([doc])
        return True
    except meshauthz.MeshauthzError:
        return False


def _server_valid(doc: dict) -> bool:
    """The server also requires signing-key GlobalSecrets to hold an RSA key (it signs with them)."""
    if doc.get("type") == "GlobalSecret" and str(doc.get("name", "")).startswith("user-token-signing-key"):
        import base64

        return b"PRIVATE KEY" in base64.b64decode(doc.get("data", ""))
    return _valid_universal(doc)


def _path(doc: dict) -> str:
    t = TYPES[doc["type"]]
    return f"/{t.path}/{doc['name']}" if t.global_scoped else f"/meshes/{doc['mesh']}/{t.path}/{doc['name']}"


def _key(doc: dict) -> tuple:
    t = TYPES[doc["type"]]
    return (doc["type"], "" if t.global_scoped else doc["mesh"], doc["name"])


def _denial_detail(case: dict) -> str:
    if case.get("error"):
        text = case["error"]
        assert text.startswith("Access Denied (") and text.endswith(")")
        return text[len("Access Denied ("):-1]
    u = case["user"]
    return f"user {go_quote(u['name'] + '/' + ','.join(u['groups']))} cannot access the resource"


def _route(case: dict, roles: list[dict]) -> str:
    if case.get("channel") == "kubernetes-webhook":
        return "webhook"
    u = case["user"]
    token_user = bool(u["groups"]) and u["groups"][-1] == AUTH
    anonymous = u == {"name": "mesh-system:anonymous", "groups": ["mesh-system:unauthenticated"]}
    if not (token_user or anonymous):
        return "access"
    action = case["action"]
    if action == "GENERATE_USER_TOKEN":
        return "http"
    if action.startswith("GENERATE_"):
        return "access"
    res = case.get("resource") or {}
    old = case.get("old_resource")
    if not _server_valid(res) or (old is not None and (not _server_valid(old) or _key(old) != _key(res))):
        return "access"
    if _key(res) in {_key(r) for r in roles}:
        return "access"  # the case's own roles/bindings occupy the key: not a plain CREATE/DELETE
    return "http"


def _reset(running, case: dict) -> list[dict]:
    service = running.service
    for key, doc in list(service.snapshot.docs.items()):  # cases may write or delete signing keys
        if key[0] == "GlobalSecret" and key[2].startswith("user-token-signing-key") and \
                doc.get("data") != running.signing_key["data"]:
            service.system_delete("GlobalSecret", None, key[2])
    if ("GlobalSecret", "", "user-token-signing-key-1") not in service.snapshot.docs:
        service.system_put(running.signing_key)
    if case.get("mode", "rbac") != "rbac":
        return []
    docs = [universal(SUITE["roles"][k]) for k in case.get("roles", [])]
    docs += [universal(SUITE["bindings"][k]) for k in case.get("bindings", [])]
    for key in list(service.snapshot.docs):
        if key[0] in ("AccessRole", "AccessRoleBinding"):
            service.system_delete(key[0], None, key[2])
    for d in docs:
        service.system_put(d)
    return docs


def _ensure_mesh(service, doc: dict) -> None:
    t = TYPES.get(doc.get("type", ""))
    if t is not None and t.mesh_scoped and ("Mesh", "", doc["mesh"]) not in service.snapshot.docs:
        service.system_put({"type": "Mesh", "name": doc["mesh"]})


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_vector_over_http(servers, case) -> None:
    import httpx

    running = servers[case.get("mode", "rbac")]
    service = running.service
    roles = _reset(running, case)
    route = _route(case, roles)
    u = case["user"]
    allowed = case["expect"] == "allow"
    with httpx.Client(base_url=running.url, timeout=30, trust_env=False) as http:
        if route == "webhook":
            req = {"uid": case["id"], "kind": {"group": "kuma.io", "version": "v1alpha1",
                                               "kind": (case.get("resource") or case["old_resource"])["kind"]},
                   "operation": case["action"], "userInfo": {"username": u["name"], "groups": u["groups"]}}
            if case["action"] in ("CREATE", "UPDATE"):
                req["object"] = case["resource"]
            if case["action"] == "UPDATE":
                req["oldObject"] = case["old_resource"]
            if case["action"] == "DELETE":
                req["oldObject"] = case["resource"]
            r = http.post("/validate-kuma-io-v1alpha1", json={"apiVersion": "admission.k8s.io/v1",
                                                               "kind": "AdmissionReview", "request": req})
            assert r.status_code == 200
            resp = r.json()["response"]
            assert resp["uid"] == case["id"]
            if allowed:
                assert resp["status"]["code"] != 403, resp
            else:
                assert resp["allowed"] is False
                assert resp["status"]["code"] == 403 and resp["status"]["reason"] == "Forbidden"
                if case.get("error"):
                    assert resp["status"]["message"] == case["error"]
            return
        if route == "access":
            body = {"user": u, "action": case["action"]}
            if case.get("resource") is not None:
                body["resource"] = case["resource"]
            if case.get("old_resource") is not None:
                body["oldResource"] = case["old_resource"]
            if case.get("token_request") is not None:
                body["tokenRequest"] = case["token_request"]
            r = http.post("/_meshauthz/v1/access", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["allowed"] is allowed and out["httpStatus"] == (200 if allowed else 403)
            if not allowed:
                assert out["message"] == _denial_detail(case)
            return
        # a real request as the vector's user
        headers = {}
        if u["groups"] and u["groups"][-1] == AUTH:
            headers["Authorization"] = f"Bearer {token(u['name'], u['groups'][:-1])}"
        action = case["action"]
        if action == "GENERATE_USER_TOKEN":
            tr = case.get("token_request") or {}
            r = http.post("/tokens/user", json={"name": tr.get("name") or "someone", "groups": tr.get("groups") or [],
                                                "validFor": "1h"}, headers=headers)
            ok = 200
        else:
            res = case["resource"]
            _ensure_mesh(service, res)
            key = _key(res)
            if action == "CREATE":
                service.system_delete(key[0], key[1] or None, key[2])
                r = http.put(_path(res), json=res, headers=headers)
                ok = 201
            elif action == "UPDATE":
                service.system_put(case["old_resource"])
                r = http.put(_path(res), json=res, headers=headers)
                ok = 200
            elif action == "DELETE":
                service.system_put(res)
                r = http.delete(_path(res), headers=headers)
                ok = 200
            elif action == "GET":
                service.system_put(res)
                r = http.get(_path(res), headers=headers)
                ok = 200
            elif action == "LIST":
                t = TYPES[res["type"]]
                r = http.get(f"/{t.path}" if t.global_scoped else f"/meshes/{res['mesh']}/{t.path}", headers=headers)
                ok = 200
            else:
                pytest.fail(f"no route for {action}")
        if allowed:
            assert r.status_code == ok, r.text
        else:
            assert r.status_code == 403, r.text
            assert r.json() == err(403, "Access Denied", _denial_detail(case))
            if action == "CREATE":  # nothing written after a 403
                assert key not in service.snapshot.docs


def test_every_route_is_exercised() -> None:
    """Guard against a silent routing change: most API vectors go through real resource requests."""
    routes = {"http": 0, "access": 0, "webhook": 0}
    for case in CASES:
        roles = [universal(SUITE["roles"][k]) for k in case.get("roles", [])]
        roles += [universal(SUITE["bindings"][k]) for k in case.get("bindings", [])]
        routes[_route(case, roles)] += 1
    assert routes["webhook"] == sum(1 for c in CASES if c.get("channel") == "kubernetes-webhook")
    assert routes["http"] >= len(CASES) // 2, routes
