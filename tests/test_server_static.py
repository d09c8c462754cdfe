"""Static access mode (`KUMA_ACCESS_TYPE=static`, rbac.md §7, R8.6) for the API and the webhook."""

from __future__ import annotations

from server_support import err, server_factory  # noqa: F401


def test_static_mode_api_and_webhook(server_factory) -> None:  # noqa: F811
    api = server_factory("sqlite", access_type="static")
    assert not any(k[0] in ("AccessRole", "AccessRoleBinding") for k in api.service.snapshot.docs)
    admin = api.client(api.admin_token())
    bob = api.client(api.token("bob"))
    # AccessRoles mean nothing in static mode: ordinary writes are open
    assert bob.put("/meshes/m", json={"type": "Mesh", "name": "m"}).status_code == 201
    assert api.client().put("/meshes/m", json={"type": "Mesh", "name": "m"}).status_code == 200
    # admin resources (Secret, GlobalSecret) only for mesh-system:admin
    secret = {"type": "Secret", "mesh": "m", "name": "s", "data": "dGVzdA=="}
    r = bob.put("/meshes/m/secrets/s", json=secret)
    assert r.json() == err(403, "Access Denied",
                           'user "bob/mesh-system:authenticated" cannot access the resource of type "Secret"')
    assert admin.put("/meshes/m/secrets/s", json=secret).status_code == 201
    assert bob.get("/meshes/m/secrets/s").status_code == 403
    assert admin.get("/meshes/m/secrets/s").json()["data"] == "dGVzdA=="
    r = bob.post("/tokens/user", json={"name": "x", "validFor": "1h"})
    assert r.json() == err(403, "Access Denied", "action not allowed")
    # the webhook applies the same static rules to Kubernetes users
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "1", "kind": {"group": "kuma.io", "version": "v1alpha1", "kind": "MeshTrace"}, "operation": "CREATE",
        "userInfo": {"username": "jane", "groups": ["system:authenticated"]},
        "object": {"apiVersion": "kuma.io/v1alpha1", "kind": "MeshTrace",
                   "metadata": {"name": "t", "namespace": "kuma-system", "labels": {"kuma.io/mesh": "default"}},
                   "spec": {"targetRef": {"kind": "Mesh"}}}}}
    r = api.client().post("/validate-kuma-io-v1alpha1", json=review).json()["response"]
    assert r["status"]["code"] != 403
