"""TrafficPermission / ExternalService / Dataplane / Mesh / meta validation (trafficpermission.md §5).
Expected values are written from the spec's rule tables."""

from __future__ import annotations

from typing import Any

from meshauthz import kinds
from meshauthz.validation import validate_meta, validate_spec


def v(kind: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(x.field, x.message) for x in validate_spec(kind, body)]


def tp(sources: Any, destinations: Any) -> list[tuple[str, str]]:
    return v("TrafficPermission", {"sources": sources, "destinations": destinations})


OK_SEL = [{"match": {"kuma.io/service": "web"}}]
NAME_MSG = "tag name must consist of alphanumeric characters, dots, dashes, slashes and underscores"
SEL_MSG = 'tag value must consist of alphanumeric characters, dots, dashes, slashes and underscores or be "*"'
TAG_MSG = "tag value must consist of alphanumeric characters, dots, dashes and underscores"


def test_t5_1_lists_required_sources_first() -> None:
    assert v("TrafficPermission", {}) == [("sources", "must have at least one element"),
                                          ("destinations", "must have at least one element")]


def test_t5_2_selector_without_tags() -> None:
    assert tp([{"match": {}}], [{}]) == [("sources[0].match", "must have at least one tag"),
                                         ("destinations[0].match", "must have at least one tag")]


def test_t5_3_empty_key_reported_at_map() -> None:
    assert tp([{"match": {"": "web"}}], OK_SEL) == [("sources[0].match", "tag name must be non-empty")]


def test_t5_4_key_charset() -> None:
    assert tp(OK_SEL, [{"match": {"bad key": "x"}}]) == [('destinations[0].match["bad key"]', NAME_MSG)]


def test_t5_5_empty_value_only_one_violation() -> None:
    assert tp([{"match": {"region": ""}}], OK_SEL) == [('sources[0].match["region"]', "tag value must be non-empty")]


def test_t5_6_partial_wildcard_rejected_but_star_slash_colon_ok() -> None:
    assert tp([{"match": {"kuma.io/service": "web-*"}}], OK_SEL) == [('sources[0].match["kuma.io/service"]', SEL_MSG)]
    assert tp([{"match": {"team": "*"}}], [{"match": {"path": "a/b:c"}}]) == []


def test_t5_7_service_tag_not_required() -> None:
    assert tp([{"match": {"team": "a"}}], [{"match": {"version": "v1"}}]) == []


def test_section5_sorted_keys_and_per_key_order() -> None:
    # keys in byte order; per key: name-empty, name-charset, value-empty, value-charset
    got = tp([{"match": {"z": "", "a b": "a*", "": ""}}], OK_SEL)
    assert got == [("sources[0].match", "tag name must be non-empty"),
                   ('sources[0].match[""]', "tag value must be non-empty"),
                   ('sources[0].match["a b"]', NAME_MSG), ('sources[0].match["a b"]', SEL_MSG),
                   ('sources[0].match["z"]', "tag value must be non-empty")]


def test_section5_go_quoting_of_keys() -> None:
    assert tp([{"match": {'a"b': "x"}}], OK_SEL) == [('sources[0].match["a\\"b"]', NAME_MSG)]


def test_t5_8_wrong_types_never_raise() -> None:
    assert tp("web", {"x": 1}) == [("sources", "must have at least one element"),
                                   ("destinations", "must have at least one element")]
    assert tp([{"match": "web"}], [None]) == [("sources[0].match", "must have at least one tag"),
                                              ("destinations[0].match", "must have at least one tag")]


ES_OK = {"networking": {"address": "httpbin.org:443"}, "tags": {"kuma.io/service": "httpbin"}}


def es(**over: Any) -> list[tuple[str, str]]:
    return v("ExternalService", {**ES_OK, **over})


def test_52_es_valid_addresses() -> None:
    assert es() == []
    assert es(networking={"address": "[fd00:a123::1]:8080"}) == []


def test_52_es_networking_missing_and_address_messages() -> None:
    assert v("ExternalService", {"tags": {"kuma.io/service": "a"}}) == [("networking", "should have networking")]
    assert es(networking={"address": None}) == [("networking.address", "address can't be empty")]
    assert es(networking={"address": "..>_<..:80"}) == [
        ("networking.address", "address has to be a valid IP address or a domain name")]
    assert es(networking={"address": "1.2.3.4:0"}) == [("networking.address", "port must be in the range [1, 65535]")]
    assert es(networking={"address": "fd00::1:8080"}) == [
        ("networking.address", "unable to parse address"),
        ("networking.address", "address has to be a valid IP address or a domain name"),
        ("networking.address", "unable to parse port in address"),
        ("networking.address", "port must be in the range [1, 65535]")]


def test_52_es_tls() -> None:
    net = {"address": "a.com:443", "tls": {"serverName": "", "caCert": {"inline": ""}, "clientKey": {}}}
    assert es(networking=net) == [("networking.tls.serverName", "cannot be empty"),
                                  ("networking.tls.caCert", "data source cannot be empty"),
                                  ("networking.tls.clientKey", "data source cannot be empty")]


def test_52_es_tags_protocol_before_keys_then_mandatory_service() -> None:
    got = es(tags={"kuma.io/protocol": "", "v": "a/b"})
    assert got == [('tags["kuma.io/protocol"]', 'tag "kuma.io/protocol" has an invalid value "". '
                                                "Allowed values: grpc, http, http2, kafka, tcp"),
                   ('tags["kuma.io/protocol"]', "tag value must be non-empty"),
                   ('tags["v"]', TAG_MSG),
                   ("tags", 'mandatory tag "kuma.io/service" is missing')]


def test_52_es_service_equals_address_host() -> None:
    assert es(tags={"kuma.io/service": "httpbin.org"}) == [
        ('tags["kuma.io/service"]', "cannot be the same as networking.address")]


DP_NET = {"address": "192.168.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}


def test_52_dp_networking_required() -> None:
    assert v("Dataplane", {}) == [("networking", "must be defined")]
    assert v("Dataplane", {"networking": {"address": "1.1.1.1"}}) == [
        ("networking", "has to contain at least one inbound interface or gateway")]


def test_52_dp_inbound_tags() -> None:
    net = {**DP_NET, "inbound": [{"port": 1, "tags": {"kuma.io/protocol": "smtp", "v": "*"}}]}
    assert v("Dataplane", {"networking": net}) == [
        ('networking.inbound[0].tags["kuma.io/protocol"]', 'tag "kuma.io/protocol" has an invalid value "smtp". '
                                                           "Allowed values: grpc, http, http2, kafka, tcp"),
        ('networking.inbound[0].tags["v"]', TAG_MSG),
        ('networking.inbound[0].tags["kuma.io/service"]', "tag has to exist")]


def test_52_dp_gateway() -> None:
    net = {"address": "1.1.1.1", "gateway": {"tags": {"kuma.io/protocol": "http"}}}
    assert v("Dataplane", {"networking": net}) == [
        ('networking.gateway.tags["kuma.io/protocol"]', 'other values than tcp are not allowed, provided value "http"'),
        ("networking.gateway.tags", 'mandatory tag "kuma.io/service" is missing')]
    net = {**DP_NET, "gateway": {"tags": {"kuma.io/service": "edge"}}}
    assert v("Dataplane", {"networking": net}) == [("networking.inbound",
                                                    "inbound cannot be defined for delegated gateways")]


def test_52_mesh_mtls_and_zone_egress() -> None:
    mtls = {"enabledBackend": "b-2", "backends": [{"name": "b-1", "type": "builtin"},
                                                  {"name": "b-1", "type": "builtin"}]}
    assert v("Mesh", {"mtls": mtls}) == [("mtls.backends", "cannot have more than 1 backends"),
                                         ("mtls.backends[1].name", '"b-1" name is already used for another backend'),
                                         ("mtls.enabledBackend", "has to be set to one of the backends in the mesh")]
    assert v("Mesh", {"routing": {"zoneEgress": True}}) == [("mtls", "has to be set when zoneEgress enabled")]


def test_53_meta() -> None:
    tpk = kinds.KINDS["TrafficPermission"]

    def meta(name: str, mesh: Any) -> list[tuple[str, str]]:
        return [(x.field, x.message) for x in validate_meta(tpk, name, mesh)]

    assert meta("", None) == [("name", "cannot be empty"), ("mesh", "cannot be empty")]
    assert meta("a" * 254, "m") == [("name", "value length must less or equal 253")]
    assert meta("Web_1", "default") == [("name", "invalid characters. A lowercase RFC 1123 subdomain must consist of "
                                                 "lower case alphanumeric characters, '-' or '.', and must start and "
                                                 "end with an alphanumeric character")]
    assert meta("web\n", "m_1") == [meta("Web_1", "x")[0]]  # no trailing-newline loophole; '_' ok in mesh
    assert meta("web", "Mesh") == [("mesh", "invalid characters. Valid characters are numbers, lowercase latin "
                                            "letters and '-', '_', '.' symbols.")]
    assert meta("mesh-1", None) == [("mesh", "cannot be empty")]
    assert [x.field for x in validate_meta(kinds.KINDS["Mesh"], "default", None)] == []
