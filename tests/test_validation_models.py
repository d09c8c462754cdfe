"""Typed models (parse_model): type errors are ModelErrors naming the path (TP A18); unknown fields are
returned as warnings (TP A18, MTP A9); values stay permissive."""

from __future__ import annotations

import pytest

from meshauthz.models import ModelError, parse_model
from meshauthz.validation import render_path


def test_a18_tp_wrong_type_names_path() -> None:
    with pytest.raises(ModelError) as e:
        parse_model("TrafficPermission", {"sources": [{"match": "web"}]})
    (path, message, _expected), = e.value.errors
    assert path == ("sources", 0, "match")
    assert message.startswith('invalid TrafficPermission object: "') and "sources[0].match" in message


def test_a18_unknown_fields_are_warnings() -> None:
    body = {"sources": [{"match": {"a": "b"}, "kuma.io/service": "web"}], "destinations": [{"match": {"a": "*"}}]}
    model, unknown = parse_model("TrafficPermission", body)
    assert unknown == [("sources", 0, "kuma.io/service")]
    assert model.sources[0].match == {"a": "b"}


def test_a9_mtp_to_is_unknown() -> None:
    model, unknown = parse_model("MeshTrafficPermission", {"spec": {"to": [], "from": [
        {"targetRef": {"kind": "Mesh"}, "default": {"action": "NotAnAction"}}]}})
    assert unknown == [("spec", "to")]
    assert model.spec.from_[0].default.action == "NotAnAction"  # enums are the schema layer's (M3.7)


def test_map_keys_render_quoted() -> None:
    with pytest.raises(ModelError) as e:
        parse_model("Dataplane", {"networking": {"inbound": [{"port": 1, "tags": {"version": 1}}]}})
    assert render_path(e.value.errors[0][0]) == 'networking.inbound[0].tags["version"]'


def test_permissive_values() -> None:
    """The model layer checks types only: empty strings, zero ports and free-form `conf` pass through
    unchanged (the values are Kuma validation's to judge, TP A18) and nothing is reported unknown."""
    es, unknown = parse_model("ExternalService", {"tags": {"kuma.io/service": ""}, "networking": {"address": None}})
    assert unknown == [] and es.tags == {"kuma.io/service": ""} and es.networking.address is None
    mesh, unknown = parse_model("Mesh", {"mtls": {"enabledBackend": "", "backends": [
        {"name": "", "type": "builtin", "mode": "PERMISSIVE", "conf": {"x": 1}}]},
        "networking": {"outbound": {"passthrough": False}}, "routing": {"zoneEgress": True},
        "skipCreatingInitialPolicies": ["*"]})
    assert unknown == []
    assert (mesh.mtls.enabledBackend, mesh.mtls.backends[0].mode) == ("", "PERMISSIVE")
    assert mesh.networking.outbound.passthrough is False and mesh.routing.zoneEgress is True
    dp, unknown = parse_model("Dataplane", {"networking": {"address": "", "inbound": [{"port": 0, "state": "Ignored"}],
                                                           "gateway": {"type": "BUILTIN", "tags": {}}}})
    assert unknown == []
    assert (dp.networking.inbound[0].port, dp.networking.inbound[0].state) == (0, "Ignored")
    assert dp.networking.gateway.tags == {}


def test_wrong_scalar_types() -> None:
    for kind, body in (("Mesh", {"routing": {"zoneEgress": "yes"}}), ("Dataplane", {"networking": {"inbound": {}}}),
                       ("AccessRoleBinding", {"subjects": [{"type": "User", "name": 3}]}),
                       ("AccessRole", {"rules": [{"access": "CREATE"}]})):
        with pytest.raises(ModelError):
            parse_model(kind, body)


def test_rbac_payloads_not_inspected() -> None:
    role = {"rules": [{"types": ["MeshTrafficPermission"], "mesh": "default", "access": ["CREATE"],
                       "when": [{"targetRef": {"kind": "Mesh"}, "from": {"targetRef": {"kind": "MeshSubset",
                                                                                      "tags": {"a": "b"}}}}]}]}
    _, unknown = parse_model("AccessRole", role)
    assert unknown == []
    assert parse_model("Secret", {"data": 1}) == (None, [])
