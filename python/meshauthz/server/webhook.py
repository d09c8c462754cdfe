"""The Kubernetes validating admission webhook (S6): `POST /validate-kuma-io-v1alpha1`.

Flow (S6.3, SA5, SA6): not a Kuma kind → allowed; allowed users → allowed without checks; decode the
objects the operation needs (UPDATE without `oldObject` → 400 denial); RBAC with the Kubernetes user
as sent (nothing appended, R1.3), denial text `access denied: ` + R8.2; DELETE → allowed; otherwise
meshauthz validation → 422 `Invalid`. Engine errors → `allowed: false`, code 500 (S6.4).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Optional

import meshauthz
from meshauthz import User

from .errors import ApiError
from .service import Service, allowed_webhook_users
from .types import TYPES

log = logging.getLogger("meshauthz.server")

API_VERSION = "admission.k8s.io/v1"
WEBHOOK_NAME = "validator.kuma-admission.kuma.io"
PATH = "/validate-kuma-io-v1alpha1"


def _answer(uid: Any, allowed: bool, status: dict[str, Any], warnings: Optional[list[str]] = None) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed, "status": status}
    if warnings:
        response["warnings"] = warnings
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _allowed(uid: Any, warnings: Optional[list[str]] = None) -> dict[str, Any]:
    return _answer(uid, True, {"code": 200}, warnings)


def _denied(uid: Any, code: int, message: str, reason: Optional[str] = None) -> dict[str, Any]:
    status: dict[str, Any] = {"code": code, "message": message}
    if reason:
        status["reason"] = reason
    return _answer(uid, False, status)


def review(service: Service, raw: bytes) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body). Only a malformed review is a non-200 HTTP answer (S6.1)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Bad Request", "could not decode the AdmissionReview") from None
    if not isinstance(doc, dict) or doc.get("apiVersion") != API_VERSION or doc.get("kind") != "AdmissionReview" \
            or not isinstance(doc.get("request"), dict):
        raise ApiError(400, "Bad Request", f"expected an AdmissionReview of {API_VERSION} with a request")
    req = doc["request"]
    uid = req.get("uid")
    try:
        return 200, _decide(service, req, uid)
    except Exception as e:  # noqa: BLE001 - S6.4: any engine/store error denies with 500
        log.exception("webhook error")
        return 200, _denied(uid, 500, f"internal error: {type(e).__name__}")


def _decide(service: Service, req: dict[str, Any], uid: Any) -> dict[str, Any]:
    kind = req.get("kind") or {}
    kind_name = kind.get("kind") if isinstance(kind, dict) else None
    if not isinstance(kind_name, str) or kind_name not in TYPES or kind.get("group") not in ("kuma.io", None):
        return _allowed(uid)  # 1: not a Kuma type
    info = req.get("userInfo") or {}
    username = info.get("username") if isinstance(info, dict) else None
    if isinstance(username, str) and username in allowed_webhook_users(service.config):
        return _allowed(uid)  # 2: bypass, no checks (exact names only)
    op = req.get("operation")
    obj, old = req.get("object"), req.get("oldObject")
    if op == "CONNECT" or op not in ("CREATE", "UPDATE", "DELETE"):
        return _denied(uid, 400, f"operation {op!r} is not supported")
    need = {"CREATE": ("object",), "UPDATE": ("object", "oldObject"), "DELETE": ("oldObject",)}[op]
    for field in need:
        if not isinstance(req.get(field), dict):
            return _denied(uid, 400, f"could not decode {field}: it is missing or not an object")  # 3, SA5
    groups = info.get("groups") if isinstance(info, dict) else None
    if not isinstance(username, str) or (groups is not None and not (
            isinstance(groups, list) and all(isinstance(g, str) for g in groups))):
        return _denied(uid, 400, "could not decode userInfo")
    user = User(username, groups or [])  # R1.3: as sent, nothing appended
    snap = service.snapshot
    authz = snap.authorizer
    if authz is None:
        return _denied(uid, 500, "the RBAC policies could not be compiled")
    try:  # 4
        if op == "CREATE":
            d = authz.check(user, "CREATE", obj)
        elif op == "UPDATE":
            d = authz.check(user, "UPDATE", obj, old)
        else:
            d = authz.check(user, "DELETE", old)
    except meshauthz.MeshauthzError as e:
        return _denied(uid, 400, f"could not decode the object: {e}")
    if not d.allowed:
        return _denied(uid, 403, f"access denied: {d.reason}", "Forbidden")
    if op == "DELETE":  # 5
        return _allowed(uid)
    return _validate(uid, obj, kind_name)


def _validate(uid: Any, obj: dict[str, Any], kind_name: str) -> dict[str, Any]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            meshauthz.load_dicts([obj])
            problems: list[Any] = []
        except meshauthz.InputError as e:
            problems = list(e.problems)
    if not problems:
        notes = [str(w.message) for w in caught if issubclass(w.category, meshauthz.MeshauthzWarning)]
        return _allowed(uid, notes or None)
    causes = []
    for p in problems:
        field = p.path
        if field and not field.startswith(("spec", "metadata", "mesh", "data")):
            field = "spec." + field
        causes.append({"reason": "FieldValueInvalid", "message": p.message, "field": field})
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    message = "; ".join(f"{c['field']}: {c['message']}" if c["field"] else c["message"] for c in causes)
    status = {"code": 422, "reason": "Invalid", "status": "Failure", "message": message,
              "details": {"name": meta.get("name", ""), "kind": kind_name, "causes": causes}}
    return _answer(uid, False, status)


def manifest(service_name: str = "kuma-control-plane", namespace: str = "kuma-system", port: int = 5682,
             ca_bundle: str = "") -> str:
    """S6.5: the ValidatingWebhookConfiguration (YAML)."""
    import yaml

    # CRD plurals; Secrets / GlobalSecrets are v1 Secrets (SA7: not registered by default).
    resources = sorted({t.path.replace("-", "") for t in TYPES.values() if not t.secret}
                       | {"accessroles", "accessrolebindings"})
    doc = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "kuma-validating-webhook-configuration"},
        "webhooks": [{
            "name": WEBHOOK_NAME,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "clientConfig": {"caBundle": ca_bundle,
                             "service": {"namespace": namespace, "name": service_name, "path": PATH, "port": port}},
            "namespaceSelector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]},
            "rules": [{"apiGroups": ["kuma.io"], "apiVersions": ["v1alpha1"],
                       "operations": ["CREATE", "UPDATE", "DELETE"], "resources": resources}],
        }],
    }
    return yaml.safe_dump(doc, sort_keys=False)
