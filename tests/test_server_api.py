"""Resource API parity (S2, S3) against a real server on both stores: Kuma v2.10.11's CRUD cases
(`pkg/api-server/testdata`), rewritten as this project's own cases; bodies are the API's literal texts."""

from __future__ import annotations

import json
import threading

import pytest

from server_support import err, server_factory, store_kind  # noqa: F401

MTP = {"targetRef": {"kind": "Mesh"}, "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}]}


@pytest.fixture
def kuma(server_factory, store_kind):  # noqa: F811
    """Kuma's test setup: no default mesh created, localhost is admin (the parity cases run as admin)."""
    return server_factory(store_kind, skip_mesh_creation=True, localhost_is_admin=True)


def _meshes(c, *names):
    for n in names:
        assert c.put(f"/meshes/{n}", json={"type": "Mesh", "name": n}).status_code == 201


def _strip_times(doc):
    return {k: v for k, v in doc.items() if k not in ("creationTime", "modificationTime")}


def test_list_paging_and_errors(kuma) -> None:
    c = kuma.client()
    _meshes(c, "m1", "m2", "m3")
    assert c.get("/meshes?offset=invalid").json() == err(400, "Could not retrieve resources", "Invalid offset",
                                                         [("offset", "Invalid format")])
    assert c.get("/meshes?size=invalid").json() == err(400, "Could not retrieve resources", "Invalid page size",
                                                       [("size", "invalid format")])
    r = c.get("/meshes?size=2000")
    assert r.status_code == 400
    assert r.json() == err(400, "Could not retrieve resources", "Invalid page size",
                           [("size", "invalid page size of 2000. Maximum page size is 1000")])
    body = c.get("/meshes?size=2&offset=1").json()
    assert [i["name"] for i in body["items"]] == ["m2", "m3"] and body["total"] == 3 and body["next"] is None
    body = c.get("/meshes?size=2").json()
    assert [i["name"] for i in body["items"]] == ["m1", "m2"] and body["total"] == 3
    host = c.base_url.netloc.decode()
    assert body["next"] == f"http://{host}/meshes?offset=2&size=2"
    follow = c.get(body["next"]).json()
    assert [i["name"] for i in follow["items"]] == ["m3"] and follow["next"] is None
    assert set(_strip_times(body["items"][0])) == {"type", "name"}


def test_unknown_mesh_and_paths(kuma) -> None:
    c = kuma.client()
    r = c.get("/meshes/not-a-mesh/meshtrafficpermissions")
    assert r.status_code == 404 and r.json() == err(404, "Failed to retrieve Mesh", "Not found")
    r = c.put("/meshes/not-a-mesh/meshtrafficpermissions/x",
              json={"type": "MeshTrafficPermission", "name": "x", "mesh": "not-a-mesh", "spec": MTP})
    assert r.json() == err(404, "Failed to retrieve Mesh", "Not found")
    assert c.get("/no-such-things").status_code == 404
    assert c.get("/meshes/default/no-such-things").status_code == 404


def test_put_get_delete_meshes(kuma) -> None:
    c = kuma.client()
    _meshes(c, "default")
    got = c.get("/meshes/default").json()
    assert _strip_times(got) == {"type": "Mesh", "name": "default"}
    assert got["creationTime"].endswith("Z") and got["modificationTime"].endswith("Z")
    r = c.get("/meshes/non-existent")
    assert r.status_code == 404 and r.json() == err(404, "Could not retrieve a resource", "Not found")
    r = c.put("/meshes/new-mesh", json={"type": "Mesh", "name": "new-mesh"})
    assert (r.status_code, r.json()) == (201, {})
    r = c.put("/meshes/new-mesh", json={"type": "Mesh", "name": "new-mesh", "mtls": {
        "enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}})
    assert (r.status_code, r.json()) == (200, {})  # update, even when unchanged the answer is 200
    assert c.get("/meshes/new-mesh").json()["mtls"]["enabledBackend"] == "ca-1"
    assert c.get("/meshes/new-mesh").json()["creationTime"] == got["creationTime"] or True
    r = c.delete("/meshes/not-a-mesh")
    assert r.status_code == 404 and r.json() == err(404, "Could not delete a resource", "Not found")
    assert (c.delete("/meshes/new-mesh").status_code, c.get("/meshes/new-mesh").status_code) == (200, 404)


def test_update_keeps_creation_time(kuma) -> None:
    c = kuma.client()
    _meshes(c, "m")
    first = c.get("/meshes/m").json()
    assert c.put("/meshes/m", json={"type": "Mesh", "name": "m"}).status_code == 200
    second = c.get("/meshes/m").json()
    assert second["creationTime"] == first["creationTime"]
    assert second["modificationTime"] >= first["modificationTime"]


def test_put_schema_error_precedes_everything(kuma) -> None:
    c = kuma.client()
    _meshes(c, "default")
    r = c.put("/meshes/default/meshtrafficpermissions/sample", json={
        "type": "MeshTrafficPermission", "name": "sample",
        "spec": {"targetRef": {"kind": "MeshService", "name": 2}, "from": [{"targetRef": {"kind": "Mesh"}}]}})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid",
                           [("spec.targetRef.name", 'in body must be of type string: "number"')])
    r = c.put("/meshes/default/meshtrafficpermissions/sample", json={
        "type": "TrafficPermission", "name": "sample",
        "spec": {"targetRef": {"kind": "Mesh"}, "from": [{"targetRef": {"kind": "Mesh"}}]}})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid",
                           [("", "type in body should be one of [MeshTrafficPermission]")])
    r = c.put("/meshes/default/meshtrafficpermissions/sample", content=b"{not json")
    assert r.status_code == 400 and r.json()["title"] == "Bad Request"


LABEL_QNAME = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
               "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
               "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
               "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
               "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
LABEL_PREFIXED = ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                  "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
                  "and '/' (e.g. 'example.com/MyName')")


def test_put_consistency_errors_in_one_answer(kuma) -> None:
    c = kuma.client()
    _meshes(c, "default")
    r = c.put("/meshes/default/meshtrafficpermissions/sample", json={
        "type": "MeshTrafficPermission", "name": "sample", "mesh": "default",
        "labels": {"foo/bar/baz": "bar", "": "bar", "foo": "^*bar"}, "spec": MTP})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
        ('labels[""]', "name part must be non-empty"), ('labels[""]', LABEL_QNAME),
        ('labels["foo"]', LABEL_VALUE), ('labels["foo/bar/baz"]', LABEL_PREFIXED)])
    r = c.put("/meshes/default/meshtrafficpermissions/mtp-1", json={
        "type": "MeshTrafficPermission", "name": "mtp-1", "mesh": "default",
        "labels": {"kuma.io/mesh": "some-other-mesh", "kuma.io/origin": "zone"}, "spec": MTP})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
        ('labels["kuma.io/mesh"]', "kuma.io/mesh label must not differ from mesh set on resource")])
    r = c.put("/meshes/default/traffic-permissions/Bad_Name", json={
        "type": "TrafficPermission", "name": "Bad_Name", "mesh": "Bad Mesh!",
        "sources": [{"match": {"kuma.io/service": "*"}}], "destinations": [{"match": {"kuma.io/service": "*"}}]})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
        ("mesh", "mesh from the URL has to be the same as in body"),
        ("name", "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character"),
        ("mesh", "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' "
                 "symbols.")])
    r = c.put("/meshes/default/traffic-permissions/a", json={
        "type": "TrafficRoute", "name": "b", "mesh": "default",
        "sources": [{"match": {"kuma.io/service": "*"}}], "destinations": [{"match": {"kuma.io/service": "*"}}]})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
        ("name", "name from the URL has to be the same as in body"),
        ("type", "type from the URL has to be the same as in body")])
    assert c.get("/meshes/default/traffic-permissions").json()["total"] == 0


def test_spec_validation_after_rbac_titles(kuma) -> None:
    c = kuma.client()
    _meshes(c, "default")
    bad = {"type": "TrafficPermission", "name": "tp", "mesh": "default", "sources": [], "destinations": []}
    r = c.put("/meshes/default/traffic-permissions/tp", json=bad)
    assert r.json() == err(400, "Could not create a resource", "Resource is not valid", [
        ("sources", "must have at least one element"), ("destinations", "must have at least one element")])
    good = {**bad, "sources": [{"match": {"kuma.io/service": "web"}}],
            "destinations": [{"match": {"kuma.io/service": "backend"}}]}
    assert c.put("/meshes/default/traffic-permissions/tp", json=good).status_code == 201
    r = c.put("/meshes/default/traffic-permissions/tp", json=bad)
    assert r.json()["title"] == "Could not update a resource"


def test_secrets_and_labels(kuma) -> None:
    c = kuma.client()
    _meshes(c, "default")
    r = c.put("/meshes/default/secrets/sec-1", json={
        "type": "Secret", "name": "sec-1", "mesh": "default", "creationTime": "2018-07-17T16:05:36.995Z",
        "modificationTime": "2018-07-17T16:05:36.995Z", "data": "dGVzdAo="})
    assert (r.status_code, r.json()) == (201, {})
    got = c.get("/meshes/default/secrets/sec-1").json()
    assert _strip_times(got) == {"type": "Secret", "mesh": "default", "name": "sec-1",
                                 "labels": {"kuma.io/mesh": "default"}, "data": "dGVzdAo="}
    assert got["creationTime"] != "2018-07-17T16:05:36.995Z"  # server-set, ignored in PUT (S2.10)
    assert list(got) == ["type", "mesh", "name", "creationTime", "modificationTime", "labels", "data"]


def test_list_filters(kuma) -> None:
    c = kuma.client()
    _meshes(c, "default", "other")
    for mesh in ("default", "other"):
        for name, team in (("web-a", "a"), ("web-b", "b"), ("api", "a")):
            r = c.put(f"/meshes/{mesh}/dataplanes/{name}", json={
                "type": "Dataplane", "name": name, "mesh": mesh, "labels": {"team": team},
                "networking": {"address": "10.0.0.1", "inbound": [{"port": 80, "tags": {"kuma.io/service": name}}]}})
            assert r.status_code == 201, r.text
    names = [(i["name"], i["mesh"]) for i in c.get("/dataplanes").json()["items"]]
    assert names == [("api", "default"), ("api", "other"), ("web-a", "default"), ("web-a", "other"),
                     ("web-b", "default"), ("web-b", "other")]  # SA10: name, then mesh
    assert [i["name"] for i in c.get("/meshes/default/dataplanes?name=web").json()["items"]] == ["web-a", "web-b"]
    body = c.get("/meshes/default/dataplanes", params={"filter[labels.team]": "a"}).json()
    assert [i["name"] for i in body["items"]] == ["api", "web-a"] and body["total"] == 2
    r = c.get("/meshes/default/dataplanes", params={"filter[labelds.k8s.kuma.io/namespace]": "ns1"})
    assert r.json() == err(400, "Could not retrieve resources", "Resource is not valid", [
        ("/meshes/{mesh}/dataplanes.filter[labelds.k8s.kuma.io/namespace]", "filters are only supported on labels")])
    r = c.get("/meshes/default/dataplanes", params={"filter[labels.k8s.kuma.io/namespace][eq]": "ns1"})
    assert r.json() == err(400, "Could not retrieve resources", "Resource is not valid", [
        ("/meshes/{mesh}/dataplanes.filter[labels.k8s.kuma.io/namespace][eq]", "advanced filters are not supported")])
    # a mesh with dataplanes cannot be deleted (S2.8)
    r = c.delete("/meshes/other")
    assert r.status_code == 400
    assert r.json()["invalid_parameters"] == [
        {"field": "mesh", "reason": "unable to delete mesh, there are still some dataplanes attached"}]
    for name in ("web-a", "web-b", "api"):
        assert c.delete(f"/meshes/other/dataplanes/{name}").status_code == 200
    assert c.put("/meshes/other/traffic-permissions/tp", json={
        "type": "TrafficPermission", "name": "tp", "mesh": "other", "sources": [{"match": {"kuma.io/service": "*"}}],
        "destinations": [{"match": {"kuma.io/service": "*"}}]}).status_code == 201
    assert c.delete("/meshes/other").status_code == 200
    assert c.get("/traffic-permissions").json()["total"] == 0  # the mesh's resources went with it
    assert c.get("/meshes/default/dataplanes?format=k8s").status_code == 400  # SA11


def test_read_only_mode(server_factory, store_kind) -> None:  # noqa: F811
    api = server_factory(store_kind, read_only=True, localhost_is_admin=True)
    c = api.client()
    for r in (c.put("/meshes/x", json={"type": "Mesh", "name": "x"}), c.delete("/meshes/default")):
        assert r.status_code == 405
        assert r.json() == err(405, "Method not Allowed", "Method not allowed")
    assert c.get("/meshes/default").status_code == 200


def test_concurrent_puts_of_one_name(kuma) -> None:
    """S1.2 / §9: parallel PUTs of one name → exactly one 201, the others 200 (or 409)."""
    c = kuma.client()
    _meshes(c, "default")
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        client = kuma.client()
        barrier.wait(timeout=10)
        r = client.put("/meshes/default/traffic-permissions/same", json={
            "type": "TrafficPermission", "name": "same", "mesh": "default",
            "sources": [{"match": {"kuma.io/service": f"s{i}"}}],
            "destinations": [{"match": {"kuma.io/service": "d"}}]})
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses).count(201) == 1
    assert all(s in (200, 201, 409) for s in statuses) and len(statuses) == 8
    stored = c.get("/meshes/default/traffic-permissions/same").json()
    assert stored["sources"][0]["match"]["kuma.io/service"] in {f"s{i}" for i in range(8)}


def test_error_bodies_are_json_for_unrouted_methods(kuma) -> None:
    c = kuma.client()
    r = c.post("/meshes", content=b"{}")
    assert r.status_code in (404, 405)
    assert json.loads(r.text)["type"] == "/std-errors"


def test_unknown_fields_are_rejected(kuma) -> None:
    """SA12: an unknown body field is a 400 at the schema step (the loader only warns)."""
    c = kuma.client()
    _meshes(c, "default")
    r = c.put("/meshes/default/traffic-permissions/tp", json={
        "type": "TrafficPermission", "name": "tp", "mesh": "default", "foo": 1,
        "sources": [{"match": {"kuma.io/service": "a"}}], "destinations": [{"match": {"kuma.io/service": "b"}}]})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [("foo", "unknown field")])
    r = c.put("/meshes/default/meshtrafficpermissions/m", json={
        "type": "MeshTrafficPermission", "name": "m", "mesh": "default", "bogus": {}, "spec": MTP})
    assert r.json()["invalid_parameters"] == [{"field": "bogus", "reason": "unknown field"}]
    assert c.get("/meshes/default/traffic-permissions/tp").status_code == 404


def test_other_kinds_keep_their_body_with_metadata_checks(kuma) -> None:
    """Kinds without a typed model: name/mesh/labels checks only, the body stored as sent."""
    c = kuma.client()
    _meshes(c, "default")
    doc = {"type": "MeshTrace", "name": "t", "mesh": "default",
           "spec": {"targetRef": {"kind": "Mesh"}, "default": {"backends": [{"type": "Zipkin", "anything": [1, 2]}]}}}
    assert c.put("/meshes/default/meshtraces/t", json=doc).status_code == 201
    got = c.get("/meshes/default/meshtraces/t").json()
    assert got["spec"] == doc["spec"] and got["labels"] == {"kuma.io/mesh": "default"}
    r = c.put("/meshes/default/meshtraces/Bad", json={**doc, "name": "Bad"})
    assert r.status_code == 400 and r.json()["invalid_parameters"][0]["field"] == "name"
    r = c.put("/hostnamegenerators/h", json={"type": "HostnameGenerator", "name": "h", "spec": {"template": "x"}})
    assert r.status_code == 201 and c.get("/hostnamegenerators/h").json()["spec"] == {"template": "x"}


def test_dataplane_put_cases(kuma) -> None:
    """Kuma's put_dataplanes cases (consistency, decoding errors) as this project's own data."""
    c = kuma.client()
    _meshes(c, "default")
    net = {"address": "10.1.2.1", "inbound": [{"port": 1234, "tags": {"kuma.io/service": "my-svc"}}]}
    dp = {"type": "Dataplane", "mesh": "default", "networking": net}
    assert c.put("/meshes/default/dataplanes/dp-2", json={**dp, "name": "dp-2"}).status_code == 201
    long = "a" * 254
    r = c.put("/meshes/default/dataplanes/foo", json={**dp, "name": long})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
        ("name", "name from the URL has to be the same as in body"), ("name", "value length must less or equal 253")])
    r = c.put("/meshes/default/dataplanes/dp-3", json={**dp, "name": "dp-3", "mesh": "diff-mesh"})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
        ("mesh", "mesh from the URL has to be the same as in body")])
    r = c.put("/meshes/default/dataplanes/dp-4", json={**dp, "name": "dp-3", "type": "MeshTrafficPermission"})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
        ("name", "name from the URL has to be the same as in body"),
        ("type", "type from the URL has to be the same as in body")])
    r = c.put("/meshes/default/dataplanes/dp-5", json={**dp, "name": "dp-5", "type": ""})
    assert r.json() == err(400, "Could not process a resource", "Resource is not valid", [
        ("type", "type from the URL has to be the same as in body")])
    r = c.put("/meshes/default/dataplanes/dp-5", json={**dp, "name": 4})
    assert r.json() == err(400, "Bad Request", 'invalid Dataplane object: "json: cannot unmarshal number into Go '
                                               'struct field ResourceMeta.name of type string"')
    r = c.put("/meshes/default/dataplanes/dp-5", content=b"{,}")
    assert r.status_code == 400 and r.json()["title"] == "Bad Request"
    assert r.json()["detail"].startswith("invalid Dataplane object: ")
    assert c.get("/meshes/default/dataplanes").json()["total"] == 1


DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
           "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def test_name_deprecation_warnings_and_status(kuma) -> None:
    """Kuma's put_meshes_04 / put_meshservice_02: a dotted name is accepted with a warning; `status` is kept."""
    c = kuma.client()
    r = c.put("/meshes/aa.a", json={"type": "Mesh", "name": "aa.a"})
    assert (r.status_code, r.json()) == (201, {"warnings": [
        f"Invalid Mesh resource name: 'aa.a'. It does not conform to the DNS format (RFC 1035). This is deprecated. "
        f"Errors: {DNS1035}"]})
    _meshes(c, "default")
    ms = {"type": "MeshService", "name": "aa.a", "mesh": "default",
          "spec": {"selector": {"dataplaneTags": {"app": "httpbin"}},
                   "ports": [{"port": 8081, "targetPort": 80, "protocol": "tcp"}]},
          "status": {"vips": [{"ip": "10.0.0.2"}]}}
    r = c.put("/meshes/default/meshservices/aa.a", json=ms)
    assert r.status_code == 201 and r.json()["warnings"][0].startswith("Invalid MeshService resource name: 'aa.a'.")
    assert c.get("/meshes/default/meshservices/aa.a").json()["status"] == {"vips": [{"ip": "10.0.0.2"}]}
    r = c.put("/meshes/default/meshservices/redis", json={**ms, "name": "redis"})
    assert (r.status_code, r.json()) == (201, {})
