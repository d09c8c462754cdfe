"""`meshauthz.parse_yaml` and `meshauthz.parse_resource`: the public entry points the conformance runner
and the CLI read YAML and single documents through (conformance.md rule 2, #11 item 8)."""

from __future__ import annotations

import pytest

import meshauthz
from meshauthz import ParseError, SchemaError, ValidationError


def test_parse_yaml_keeps_non_empty_documents_in_order() -> None:
    text = "a: 1\n---\n---\n# only a comment\n---\n- x\n- 2\n"
    assert meshauthz.parse_yaml(text) == [{"a": 1}, ["x", 2]]
    assert meshauthz.parse_yaml(b"") == []


def test_parse_yaml_locates_a_syntax_error() -> None:
    with pytest.raises(ParseError) as e:
        meshauthz.parse_yaml("ok: 1\nbad: [1, 2\n", "vectors.yaml")
    p = e.value.problems[0]
    assert p.file == "vectors.yaml" and p.line is not None and p.line >= 2


def test_parse_resource_reads_the_envelope_of_either_form_without_validating() -> None:
    # A TrafficPermission without sources is invalid for Kuma (T5), but its envelope reads.
    k8s = {"apiVersion": "kuma.io/v1alpha1", "kind": "TrafficPermission", "mesh": "demo",
           "metadata": {"name": "tp-1"}, "spec": {"destinations": [{"match": {"kuma.io/service": "b"}}]}}
    r = meshauthz.parse_resource(k8s, check=False)
    assert (r.kind.name, r.mesh, r.name) == ("TrafficPermission", "demo", "tp-1")
    assert r.body == {"destinations": [{"match": {"kuma.io/service": "b"}}]}
    with pytest.raises(ValidationError):
        meshauthz.parse_resource(k8s)


def test_parse_resource_checks_by_default_and_rejects_a_non_resource() -> None:
    r = meshauthz.parse_resource({"type": "Mesh", "name": "default"})
    assert (r.kind.name, r.name, r.mesh) == ("Mesh", "default", None)
    with pytest.raises(SchemaError):
        meshauthz.parse_resource({"type": "NoSuchKind", "name": "x"}, check=False)
    with pytest.raises(ValidationError):
        meshauthz.parse_resource({"type": "NoSuchKind", "name": "x"})
