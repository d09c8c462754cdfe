"""Acceptance: the Kong Mesh RBAC page's Universal walkthrough (spec sources/004, "Example roles" →
Universal), run with HTTP calls in place of kumactl against a real server, localhost-is-admin off.
The page spells the action `ALLOW` (Kuma 2.0); Kuma 2.10 rejects it at the schema step (S2.7 step 2),
so the scenario uses `Allow` and a separate step shows the 400 naming `Allow`."""

from __future__ import annotations

import base64

import pytest

from server_support import api, err, server_factory, store_kind  # noqa: F401

BACKEND_OWNER = "backend-owner/mesh-system:authenticated"


def _mtp(target: str, action: str = "Allow") -> dict:
    return {"type": "MeshTrafficPermission", "mesh": "default", "name": "web-to-backend",
            "spec": {"targetRef": {"kind": "MeshService", "name": target},
                     "from": [{"targetRef": {"kind": "MeshService", "name": "web"}, "default": {"action": action}}]}}


def test_rbac_walkthrough_universal(api) -> None:  # noqa: F811
    anon = api.client()
    # 1. Extract the admin token: `curl .../global-secrets/admin-user-token | jq -r .data | base64 -d`
    r = anon.get("/global-secrets/admin-user-token")
    assert r.status_code == 200
    admin_token = base64.b64decode(r.json()["data"]).decode()
    admin = api.client(admin_token)
    assert admin.get("/who-am-i").json() == {"name": "mesh-system:admin",
                                             "groups": ["mesh-system:admin", "mesh-system:authenticated"]}
    # 2. Configure backend-owner: `kumactl generate user-token --valid-for=24h --name backend-owner`
    r = admin.post("/tokens/user", json={"name": "backend-owner", "validFor": "24h"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    owner = api.client(r.text)
    assert owner.get("/who-am-i").json() == {"name": "backend-owner", "groups": ["mesh-system:authenticated"]}
    # 3. Restrict the default binding to mesh-system:admin.
    r = admin.put("/access-role-bindings/default", json={
        "type": "AccessRoleBinding", "name": "default",
        "subjects": [{"type": "Group", "name": "mesh-system:admin"}], "roles": ["admin"]})
    assert r.status_code == 200, r.text  # the default binding exists: an update
    # anonymous callers lost their (default) admin role
    r = anon.put("/meshes/default/meshtrafficpermissions/x", json={**_mtp("backend"), "name": "x"})
    assert r.json() == err(403, "Access Denied",
                           'user "mesh-system:anonymous/mesh-system:unauthenticated" cannot access the resource')
    # 4. The backend-owner role and binding.
    r = admin.put("/access-roles/backend-owner", json={
        "type": "AccessRole", "name": "backend-owner",
        "rules": [{"types": ["MeshTrafficPermission"], "mesh": "default", "access": ["CREATE", "UPDATE", "DELETE"],
                   "when": [{"targetRef": {"kind": "MeshService", "name": "backend"}}]}]})
    assert r.status_code == 201, r.text
    r = admin.put("/access-role-bindings/backend-owners", json={
        "type": "AccessRoleBinding", "name": "backend-owners",
        "subjects": [{"type": "User", "name": "backend-owner"}], "roles": ["backend-owner"]})
    assert r.status_code == 201, r.text
    # 5. As backend-owner: the policy for `backend` succeeds ...
    r = owner.put("/meshes/default/meshtrafficpermissions/web-to-backend", json=_mtp("backend"))
    assert r.status_code == 201, r.text
    stored = admin.get("/meshes/default/meshtrafficpermissions/web-to-backend").json()
    assert stored["spec"]["targetRef"] == {"kind": "MeshService", "name": "backend"}
    # ... and the one for `not-backend` is denied with the page's text.
    r = owner.put("/meshes/default/meshtrafficpermissions/web-to-backend", json=_mtp("not-backend"))
    assert r.status_code == 403
    assert r.json() == err(403, "Access Denied", f'user "{BACKEND_OWNER}" cannot access the resource')
    assert f'Access Denied (user "{BACKEND_OWNER}" cannot access the resource)' == \
        f"{r.json()['title']} ({r.json()['detail']})"  # what kumactl prints after "Error: "
    # nothing was written by the denied request
    assert admin.get("/meshes/default/meshtrafficpermissions/web-to-backend").json() == stored
    # a new policy for not-backend (CREATE) is denied too
    r = owner.put("/meshes/default/meshtrafficpermissions/other", json={**_mtp("not-backend"), "name": "other"})
    assert r.status_code == 403
    assert owner.get("/meshes/default/meshtrafficpermissions/other").status_code == 404


def test_walkthrough_spelling_allow_uppercase_is_a_schema_400(api) -> None:  # noqa: F811
    """The page's `action: ALLOW` fails Kuma 2.10's enum before RBAC (S2.7 step 2): 400, not 403, naming `Allow`."""
    admin = api.client(api.admin_token())
    owner = api.client(api.token("backend-owner"))
    admin.put("/access-role-bindings/default", json={
        "type": "AccessRoleBinding", "name": "default",
        "subjects": [{"type": "Group", "name": "mesh-system:admin"}], "roles": ["admin"]})
    for who in (admin, owner):  # the same answer whoever asks: schema precedes RBAC
        r = who.put("/meshes/default/meshtrafficpermissions/web-to-backend", json=_mtp("not-backend", "ALLOW"))
        assert r.status_code == 400
        assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
            ("spec.from[0].default.action", "in body should be one of [Allow Deny AllowWithShadowDeny]")])
        assert "Allow" in r.json()["invalid_parameters"][0]["reason"].split("[")[1]


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_backend_owner_update_and_delete_follow_the_role(api) -> None:  # noqa: F811
    admin = api.client(api.admin_token())
    owner = api.client(api.token("backend-owner"))
    admin.put("/access-role-bindings/default", json={
        "type": "AccessRoleBinding", "name": "default",
        "subjects": [{"type": "Group", "name": "mesh-system:admin"}], "roles": ["admin"]})
    admin.put("/access-roles/backend-owner", json={
        "type": "AccessRole", "name": "backend-owner",
        "rules": [{"types": ["MeshTrafficPermission"], "mesh": "default", "access": ["CREATE", "UPDATE", "DELETE"],
                   "when": [{"targetRef": {"kind": "MeshService", "name": "backend"}}]}]})
    admin.put("/access-role-bindings/backend-owners", json={
        "type": "AccessRoleBinding", "name": "backend-owners",
        "subjects": [{"type": "User", "name": "backend-owner"}], "roles": ["backend-owner"]})
    # someone else's policy (stored by the admin) cannot be taken over (UPDATE checks old and new, R5.9)
    assert admin.put("/meshes/default/meshtrafficpermissions/theirs", json={**_mtp("payments"), "name": "theirs"}
                     ).status_code == 201
    r = owner.put("/meshes/default/meshtrafficpermissions/theirs", json={**_mtp("backend"), "name": "theirs"})
    assert r.status_code == 403
    r = owner.delete("/meshes/default/meshtrafficpermissions/theirs")
    assert r.status_code == 403
    assert owner.put("/meshes/default/meshtrafficpermissions/mine", json={**_mtp("backend"), "name": "mine"}
                     ).status_code == 201
    assert owner.put("/meshes/default/meshtrafficpermissions/mine", json={**_mtp("backend"), "name": "mine"}
                     ).status_code == 200
    assert owner.delete("/meshes/default/meshtrafficpermissions/mine").json() == {}
    assert owner.get("/meshes/default/meshtrafficpermissions/mine").status_code == 404
