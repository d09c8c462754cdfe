"""The Kubernetes validating webhook (S6) over TLS with the certificate generated at first start:
bypass users, RBAC with the Kubernetes identity (UPDATE old + new), missing oldObject (SA5), Kuma's
validation answer (422, shape of Kuma's `webhooks/testdata/validation` goldens), the manifest (S6.5)."""

from __future__ import annotations

import contextlib
import io
import ssl

import httpx
import pytest
import yaml

from server_support import server_factory  # noqa: F401

ROLES = [
    {"type": "AccessRole", "name": "backend-owner", "rules": [{
        "types": ["TrafficPermission"], "mesh": "default", "access": ["CREATE", "UPDATE", "DELETE"],
        "when": [{"destinations": {"match": {"kuma.io/service": "backend"}}}]}]},
    {"type": "AccessRoleBinding", "name": "backend-owners", "subjects": [{"type": "User", "name": "jane"}],
     "roles": ["backend-owner"]},
    {"type": "AccessRoleBinding", "name": "default",
     "subjects": [{"type": "Group", "name": "system:masters"}], "roles": ["admin"]},
]


def tp(name: str, dest: str, **extra) -> dict:
    return {"apiVersion": "kuma.io/v1alpha1", "kind": "TrafficPermission", "mesh": "default",
            "metadata": {"name": name}, "spec": {"sources": [{"match": {"kuma.io/service": "web"}}],
                                                 "destinations": [{"match": {"kuma.io/service": dest}}], **extra}}


def review(op: str, user: str, groups: list, obj=None, old=None, kind="TrafficPermission", group="kuma.io") -> dict:
    req = {"uid": "u-1", "kind": {"group": group, "version": "v1alpha1", "kind": kind}, "operation": op,
           "userInfo": {"username": user, "groups": groups}}
    if obj is not None:
        req["object"] = obj
    if old is not None:
        req["oldObject"] = old
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


@pytest.fixture
def hook(server_factory, tmp_path):  # noqa: F811
    api = server_factory("sqlite", https_port=0, allowed_users=["system:serviceaccount:ops:deployer"])
    for d in ROLES:
        api.service.system_put(d)
    cert = tmp_path / "meshauthz-tls.crt"  # generated beside the SQLite file at first start
    assert cert.exists()
    ctx = ssl.create_default_context(cafile=str(cert))  # verifies the generated certificate (SAN 127.0.0.1)
    client = httpx.Client(base_url=api.running.https_url, verify=ctx, timeout=30, trust_env=False)
    yield lambda body: client.post("/validate-kuma-io-v1alpha1", json=body)
    client.close()


def test_denial_and_allow_over_tls(hook) -> None:
    r = hook(review("CREATE", "jane", ["system:authenticated"], tp("t1", "other")))
    assert r.status_code == 200
    assert r.json() == {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
        "uid": "u-1", "allowed": False, "status": {
            "code": 403, "reason": "Forbidden",
            "message": 'access denied: user "jane/system:authenticated" cannot access the resource'}}}
    r = hook(review("CREATE", "jane", ["system:authenticated"], tp("t1", "backend"))).json()["response"]
    assert r == {"uid": "u-1", "allowed": True, "status": {"code": 200}}
    # dryRun requests get the same answer
    body = review("CREATE", "jane", ["system:authenticated"], tp("t1", "other"))
    body["request"]["dryRun"] = True
    assert hook(body).json()["response"]["status"]["code"] == 403


def test_update_checks_old_and_new(hook) -> None:
    jane = ("jane", ["system:authenticated"])
    assert hook(review("UPDATE", *jane, tp("t", "backend"), tp("t", "backend"))).json()["response"]["allowed"]
    for new, old in (("other", "backend"), ("backend", "other")):  # taking over / giving away
        r = hook(review("UPDATE", *jane, tp("t", new), tp("t", old))).json()["response"]
        assert r["allowed"] is False and r["status"]["code"] == 403
    r = hook(review("UPDATE", *jane, tp("t", "backend"))).json()["response"]  # SA5: no oldObject
    assert r["allowed"] is False and r["status"]["code"] == 400
    r = hook(review("DELETE", *jane, old=tp("t", "other"))).json()["response"]
    assert r["status"]["code"] == 403
    assert hook(review("DELETE", *jane, old=tp("t", "backend"))).json()["response"]["allowed"] is True
    r = hook(review("DELETE", *jane)).json()["response"]
    assert r["allowed"] is False and r["status"]["code"] == 400


def test_bypass_users_and_other_kinds(hook) -> None:
    for user in ("system:serviceaccount:kuma-system:kuma-control-plane",
                 "system:serviceaccount:kube-system:generic-garbage-collector", "system:serviceaccount:ops:deployer"):
        r = hook(review("CREATE", user, [], tp("t", "other", unknown=1))).json()["response"]
        assert r == {"uid": "u-1", "allowed": True, "status": {"code": 200}}, user
    # no group or prefix bypass
    r = hook(review("CREATE", "system:serviceaccount:ops:deployer2", ["system:serviceaccounts"],
                    tp("t", "other"))).json()["response"]
    assert r["status"]["code"] == 403
    r = hook(review("CREATE", "jane", [], {"apiVersion": "v1", "kind": "ConfigMap"}, kind="ConfigMap",
                    group="")).json()["response"]
    assert r["allowed"] is True
    # not an admission.k8s.io/v1 review → HTTP 400
    body = review("CREATE", "jane", [], tp("t", "backend"))
    body["apiVersion"] = "admission.k8s.io/v1beta1"
    assert hook(body).status_code == 400


def test_validation_answer(hook) -> None:
    """Allowed by RBAC (system:masters → admin), then Kuma's validation: 422 Invalid with causes."""
    empty = {"apiVersion": "kuma.io/v1alpha1", "kind": "TrafficPermission", "mesh": "default",
             "metadata": {"name": "empty"}, "spec": {}}
    r = hook(review("CREATE", "kubernetes-admin", ["system:masters", "system:authenticated"], empty)).json()
    status = r["response"]["status"]
    assert r["response"]["allowed"] is False
    assert (status["code"], status["reason"], status["status"]) == (422, "Invalid", "Failure")
    assert status["details"]["name"] == "empty" and status["details"]["kind"] == "TrafficPermission"
    assert {c["reason"] for c in status["details"]["causes"]} == {"FieldValueInvalid"}
    assert {c["field"] for c in status["details"]["causes"]} == {"spec.sources", "spec.destinations"}
    assert status["message"] == "; ".join(f"{c['field']}: {c['message']}" for c in status["details"]["causes"])
    # RBAC precedes validation (SA6): jane gets the 403, not the 422
    r = hook(review("CREATE", "jane", ["system:authenticated"], empty)).json()["response"]
    assert r["status"]["code"] == 403


def test_webhook_manifest() -> None:
    from meshauthz.server.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["webhook-manifest"]) == 0
    doc = yaml.safe_load(out.getvalue())
    assert doc["kind"] == "ValidatingWebhookConfiguration" and doc["apiVersion"] == "admissionregistration.k8s.io/v1"
    (hook,) = doc["webhooks"]
    assert hook["name"] == "validator.kuma-admission.kuma.io"
    assert (hook["sideEffects"], hook["failurePolicy"], hook["admissionReviewVersions"]) == ("None", "Fail", ["v1"])
    assert hook["clientConfig"]["service"]["path"] == "/validate-kuma-io-v1alpha1"
    (rule,) = hook["rules"]
    assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"] and rule["apiGroups"] == ["kuma.io"]
    assert {"accessroles", "accessrolebindings", "meshtrafficpermissions", "trafficpermissions"} <= set(
        rule["resources"])
    assert "secrets" not in rule["resources"] and "globalsecrets" not in rule["resources"]
    assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system"]
