"""Loading both YAML forms into the store (issue #3; TP §1, A13; rbac.md R4.1–R4.2; MTP §2)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest

import meshauthz
from meshauthz.resource import GO_ZERO_TIME

ROOT = Path(__file__).resolve().parent.parent

K8S_TP = """
apiVersion: kuma.io/v1alpha1
kind: TrafficPermission
metadata:
  name: web-to-backend
  creationTimestamp: "2024-02-03T04:05:06Z"
spec:
  sources: [{match: {kuma.io/service: web}}]
  destinations: [{match: {kuma.io/service: backend}}]
"""


def test_kubernetes_legacy_policy_without_mesh_is_in_default() -> None:
    # TP A13: a Kubernetes legacy resource without top-level `mesh` belongs to mesh `default`.
    [tp] = meshauthz.loads(K8S_TP)
    assert tp.key == ("TrafficPermission", "default", "web-to-backend")
    assert tp.form == "kubernetes"
    assert tp.body == {"sources": [{"match": {"kuma.io/service": "web"}}],
                       "destinations": [{"match": {"kuma.io/service": "backend"}}]}
    assert tp.creation_time == datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def test_kubernetes_top_level_mesh_wins() -> None:
    [tp] = meshauthz.loads(K8S_TP.replace("kind: TrafficPermission", "kind: TrafficPermission\nmesh: prod"))
    assert tp.mesh == "prod"


def test_universal_and_kubernetes_forms_normalise_to_the_same_body() -> None:
    uni = meshauthz.loads("""
type: TrafficPermission
name: web-to-backend
mesh: default
sources: [{match: {kuma.io/service: web}}]
destinations: [{match: {kuma.io/service: backend}}]
""")
    k8s = meshauthz.loads(K8S_TP)
    assert [r.body for r in uni] == [r.body for r in k8s]


def test_missing_creation_time_is_go_zero_time() -> None:
    [tp] = meshauthz.loads(K8S_TP.replace('  creationTimestamp: "2024-02-03T04:05:06Z"\n', ""))
    assert tp.creation_time == GO_ZERO_TIME == datetime(1, 1, 1, tzinfo=timezone.utc)


def test_namespaced_kind_gets_core_name_and_derived_labels() -> None:
    # rbac.md R4.2 / A11 core name; MTP M2.5 labels.
    [mtp] = meshauthz.loads("""
apiVersion: kuma.io/v1alpha1
kind: MeshTrafficPermission
metadata:
  name: allow-orders
  namespace: kuma-demo
  labels: {kuma.io/mesh: shop}
spec:
  targetRef: {kind: Mesh}
  from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]
""")
    assert mtp.key == ("MeshTrafficPermission", "shop", "allow-orders.kuma-demo")
    assert mtp.display_name == "allow-orders"
    assert mtp.labels["k8s.kuma.io/namespace"] == "kuma-demo"
    assert mtp.labels["kuma.io/policy-role"] == "workload-owner"
    assert mtp.spec["from"][0]["default"] == {"action": "Allow"}


def test_mtp_in_system_namespace_has_system_role() -> None:
    [mtp] = meshauthz.loads("""
apiVersion: kuma.io/v1alpha1
kind: MeshTrafficPermission
metadata: {name: a, namespace: kuma-system}
spec: {from: [{targetRef: {kind: Mesh}, default: {action: Deny}}]}
""")
    assert mtp.labels["kuma.io/policy-role"] == "system"
    assert mtp.mesh == "default"


def test_universal_mtp_without_mesh_is_in_default() -> None:
    # MTP §2.1: mesh defaults to "default" (schema default), unlike legacy kinds (TP A13).
    [mtp] = meshauthz.loads("type: MeshTrafficPermission\nname: a\nspec:\n  from: "
                            "[{targetRef: {kind: Mesh}, default: {action: Allow}}]\n")
    assert mtp.mesh == "default"


def test_kubernetes_secret_becomes_kuma_secret() -> None:
    [secret, global_secret] = meshauthz.loads("""
apiVersion: v1
kind: Secret
type: system.kuma.io/secret
metadata: {name: ca-key, namespace: kuma-system, labels: {kuma.io/mesh: prod}}
data: {value: YWJj}
---
apiVersion: v1
kind: Secret
type: system.kuma.io/global-secret
metadata: {name: admin-user-token, namespace: kuma-system}
data: {value: YWJj}
""").list()
    keys = {secret.key, global_secret.key}
    assert keys == {("Secret", "prod", "ca-key"), ("GlobalSecret", "", "admin-user-token")}


def test_generic_kinds_load_with_their_spec() -> None:
    [route] = meshauthz.loads("""
type: MeshHTTPRoute
name: route
mesh: default
spec:
  targetRef: {kind: Mesh}
  to: [{targetRef: {kind: MeshService, name: backend}}]
""")
    assert route.kind.family == "targetRef" and route.spec["to"][0]["targetRef"]["name"] == "backend"


def test_global_kinds_have_no_mesh() -> None:
    [role] = meshauthz.loads("type: AccessRole\nname: admin\nmesh: ignored\nrules: []\n")
    assert role.mesh is None and role.key == ("AccessRole", "", "admin")


def test_directories_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "tp.yaml").write_text(K8S_TP)
    (tmp_path / "notes.txt").write_text("not yaml")
    assert len(meshauthz.load(tmp_path)) == 1
    run = subprocess.run([sys.executable, "-m", "meshauthz.cli", "validate", "-"], input=K8S_TP, text=True,
                         capture_output=True)
    assert run.returncode == 0, run.stderr
    assert "1 valid resource" in run.stdout


def test_load_raises_one_error_listing_every_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("type: Nope\nname: a\n---\ntype: Mesh\nname: Bad\n")
    with pytest.raises(meshauthz.ValidationError) as e:
        meshauthz.load(tmp_path)
    assert len(e.value.problems) == 2
    assert isinstance(e.value, meshauthz.MeshauthzError)


def test_load_dicts() -> None:
    store = meshauthz.load_dicts([{"type": "Mesh", "name": "m"}])
    assert store.get("Mesh", "m").mesh is None
    with pytest.raises(meshauthz.NotFoundError):
        store.get("Mesh", "other")


def test_examples_are_valid() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = meshauthz.load(ROOT / "examples")
    assert {"Mesh", "Dataplane", "TrafficPermission", "ExternalService", "AccessRole",
            "AccessRoleBinding"} <= {r.type for r in store}
    assert {r.form for r in store} == {"universal", "kubernetes"}


def test_cli_json_output(tmp_path: Path) -> None:
    import json

    (tmp_path / "bad.yaml").write_text("type: Mesh\nname: a\nname: b\n")
    run = subprocess.run([sys.executable, "-m", "meshauthz.cli", "validate", "--output", "json", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["valid"] is False
    assert report["problems"][0]["line"] == 3 and report["problems"][0]["code"] == "duplicate-key"
