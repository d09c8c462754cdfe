"""#12 "Keep it so", the gaps left by tests/test_traffic_random_input.py and tests/test_rbac_inputs.py:

- every public call of `MtpEngine`, the RBAC analysis queries (`what_can`, `explain`, `check_token`,
  `target`) and the traffic reverse queries returns an answer or raises a `MeshauthzError` subclass
  on random input (ints, bytes, None, nested containers);
- Arrow batches with arbitrary columns, types, dictionaries (indices out of range included), nulls
  and invalid UTF-8, for traffic and RBAC: a `BatchResult` of one row per input row or a
  `MeshauthzError`, and a row is allowed only if the single check of the same values allows it
  with the same policy (never allow what `check` refuses);
- bundle decoding: any payload under a valid header and checksum (so the checksum does not hide the
  decoder) loads or raises `BundleError`; `validate()` on such a file reports, never raises."""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz import NON_MESH, TrafficEngine
from meshauthz import bundle as mb
from meshauthz.errors import MeshauthzError
from meshauthz.mtp import MtpEngine
from meshauthz.rbac import Authorizer, User

ROOT = Path(__file__).resolve().parent.parent
MTLS = {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin", "mode": "PERMISSIVE"}]}

scalar = st.one_of(st.none(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.binary(max_size=4),
                   st.text(max_size=6), st.booleans(), st.just("\udc80"), st.sampled_from(["web-1", "api-1", "*"]))
junk = st.recursive(scalar, lambda c: st.one_of(st.lists(c, max_size=3), st.tuples(c, c),
                                                st.dictionaries(st.text(max_size=4), c, max_size=3)),
                    max_leaves=6)


def _docs() -> list[dict[str, Any]]:
    def dp(name: str, svc: str) -> dict[str, Any]:
        return {"type": "Dataplane", "mesh": "default", "name": name,
                "networking": {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": svc}}]}}

    return [{"type": "Mesh", "name": "default", "mtls": MTLS}, dp("web-1", "web"), dp("api-1", "api"),
            {"type": "MeshTrafficPermission", "mesh": "default", "name": "web-api",
             "spec": {"targetRef": {"kind": "MeshService", "name": "api"},
                      "from": [{"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}},
                                "default": {"action": "Allow"}},
                               {"targetRef": {"kind": "Mesh"}, "default": {"action": "Deny"}}]}}]


def _store() -> meshauthz.ResourceStore:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meshauthz.load_dicts(_docs())


STORE = _store()
MTP = MtpEngine(STORE)
TRAFFIC = TrafficEngine(STORE)
AUTHZ = Authorizer(str(ROOT / "examples" / "universal" / "rbac.yaml"))


def _answers_or_refuses(call: Callable[[], Any]) -> None:
    try:
        call()
    except MeshauthzError:
        pass  # any other exception fails the test


@settings(max_examples=150, deadline=None)
@given(junk, junk, junk)
def test_mtp_engine_calls_answer_or_raise_meshauthz_errors(a: Any, b: Any, c: Any) -> None:
    for call in (
        lambda: MTP.check(source=a, destination=(b, c)),
        lambda: MTP.check(source="web-1", destination=a),
        lambda: MTP.check(source="web-1", destination=("api-1", 8080), mesh=a),
        lambda: MTP.check_batch(a),
        lambda: MTP.check_batch([(a, b, c)]),
        lambda: MTP.decide(a, b, c),
        lambda: MTP.decide_identity(a, "api-1", 8080),
        lambda: MTP.decide_identity({"kuma.io/service": a}, b, 8080),
        lambda: MTP.matched_policies(a, b),
        lambda: MTP.select_rules("api-1", a),
        lambda: MTP.select_rules("api-1", 8080, policy_order=a),
        lambda: MTP.dataplane(a, mesh=b),
        lambda: MTP.explain(source=a, destination=b),
        lambda: MtpEngine(STORE, max_rules=a),
    ):
        _answers_or_refuses(call)


@settings(max_examples=150, deadline=None)
@given(junk, junk, junk)
def test_analysis_queries_answer_or_raise_meshauthz_errors(a: Any, b: Any, c: Any) -> None:
    for call in (
        lambda: TRAFFIC.who_can_reach(a, b, mesh=c),
        lambda: TRAFFIC.who_can_reach("api-1", 8080, mesh=a),
        lambda: TRAFFIC.inspect(a, mesh=b),
        lambda: TRAFFIC.select_policies(a, mesh=b),
        lambda: TRAFFIC.select_policy(external_service=a, mesh=b),
        lambda: TRAFFIC.rank_external_service(a, mesh=b),
        lambda: AUTHZ.what_can(a),
        lambda: AUTHZ.what_can((a, b)),
        lambda: AUTHZ.explain(a, b, c),
        lambda: AUTHZ.explain(User("bob", ["team-backend"]), "CREATE", a),
        lambda: AUTHZ.check_token(a, b, c),
        lambda: AUTHZ.target(a),
        lambda: AUTHZ.check_batch(a),
        lambda: AUTHZ.check_batch([(a, b, "CREATE", c)], targets=a),
    ):
        _answers_or_refuses(call)


# ---- Arrow batches ---------------------------------------------------------------------------------

pa = pytest.importorskip("pyarrow")

STRINGS = st.sampled_from(["web-1", "api-1", "ghost", "", "default", "other", "kuma.io/service=web", "CREATE",
                           "bob", "team-backend", "a,b", "{}", '{"type": "TrafficPermission"}', "8080"])


def _invalid_utf8(values: list[Any]) -> Any:
    raw = pa.array([b"\xff" + (v.encode() if isinstance(v, str) else b"") if v is not None else None
                    for v in values], pa.binary())
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers(), null_count=raw.null_count)


@st.composite
def arrow_column(draw: Any, n: int) -> Any:
    kind = draw(st.sampled_from(["string", "large_string", "dict", "dict_bad_index", "invalid_utf8", "int64",
                                 "uint64", "float64", "bool", "null", "list_string", "binary", "int_dict"]))
    strs = draw(st.lists(st.one_of(st.none(), STRINGS), min_size=n, max_size=n))
    if kind == "string":
        return pa.array(strs, pa.string())
    if kind == "large_string":
        return pa.array(strs, pa.large_string())
    if kind in ("dict", "dict_bad_index"):
        dictionary = pa.array(draw(st.lists(STRINGS, min_size=1, max_size=4)))
        top = len(dictionary) + (50 if kind == "dict_bad_index" else 0)
        keys = draw(st.lists(st.one_of(st.none(), st.integers(0, top - 1)), min_size=n, max_size=n))
        width = draw(st.sampled_from([pa.int8(), pa.int32(), pa.int64()]))
        return pa.DictionaryArray.from_arrays(pa.array(keys, width), dictionary, safe=False)
    if kind == "invalid_utf8":
        return _invalid_utf8(strs)
    if kind in ("int64", "uint64"):
        special = st.sampled_from([8080, 2**63, 2**64 - 1] if kind == "uint64" else [8080, -1, -2**63])
        hi = 2**64 - 1 if kind == "uint64" else 2**63 - 1
        ints = draw(st.lists(st.one_of(st.none(), st.integers(0 if kind == "uint64" else -2**63, hi), special),
                             min_size=n, max_size=n))
        return pa.array(ints, pa.int64() if kind == "int64" else pa.uint64())
    if kind == "float64":
        return pa.array(draw(st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), min_size=n, max_size=n)),
                        pa.float64())
    if kind == "bool":
        return pa.array(draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n)), pa.bool_())
    if kind == "null":
        return pa.nulls(n)
    if kind == "list_string":
        return pa.array([None if s is None else [s, s] for s in strs], pa.list_(pa.string()))
    if kind == "binary":
        return pa.array([None if s is None else s.encode() for s in strs], pa.binary())
    keys = draw(st.lists(st.one_of(st.none(), st.integers(0, 1)), min_size=n, max_size=n))
    return pa.DictionaryArray.from_arrays(pa.array(keys, pa.int32()), pa.array([8080, 1]))


TRAFFIC_COLUMNS = ["source", "source_tags", "destination", "port", "mesh"]
RBAC_COLUMNS = ["user", "groups", "action", "resource", "old_resource", "token_request"]


@st.composite
def tables(draw: Any, columns: list[str]) -> Any:
    n = draw(st.integers(1, 6))
    names = draw(st.lists(st.sampled_from(columns + ["src", "Source", "extra"]), min_size=1, max_size=6,
                          unique=True))
    return pa.table({name: draw(arrow_column(n)) for name in names})


def _cells(table: Any, i: int) -> dict[str, Any] | None:
    """Row `i` as Python values, or None if a cell cannot be read (invalid UTF-8, bad index)."""
    out = {}
    for name in table.column_names:
        try:
            col = table.column(name).combine_chunks()
            col.validate(full=True)
            out[name] = col[i].as_py()
        except Exception:  # noqa: BLE001 - pyarrow raises several types for invalid data
            return None
    return out


def _traffic_single(row: dict[str, Any]) -> Any:
    if set(row) - set(TRAFFIC_COLUMNS) or "destination" not in row or "port" not in row:
        return "refused"
    source: Any = row.get("source")
    if row.get("source_tags") is not None:
        if source is not None or not isinstance(row["source_tags"], str):
            return "refused"
        try:
            source = dict(kv.split("=", 1) for kv in row["source_tags"].split(","))
        except ValueError:
            return "refused"
    try:
        d = TRAFFIC.check(source=NON_MESH if source is None else source, destination=(row["destination"],
                                                                                      row["port"]),
                          mesh=row.get("mesh"))
    except MeshauthzError:
        return "refused"
    return (d.allowed, d.policy)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(TRAFFIC_COLUMNS))
def test_traffic_arrow_batch_never_allows_what_check_refuses(table: Any) -> None:
    try:
        res = TRAFFIC.check_batch(table)
    except MeshauthzError:
        return
    assert len(res.allowed) == len(res.reason) == len(res.policy) == table.num_rows
    for i, (allowed, reason, policy) in enumerate(zip(res.allowed, res.reason, res.policy)):
        assert not (allowed and reason.startswith("error:"))
        if allowed:
            row = _cells(table, i)
            assert row is not None, (i, table)
            assert _traffic_single(row) == (True, policy), (row, reason)


def _rbac_single(row: dict[str, Any]) -> Any:
    if row.get("user") is None or not isinstance(row.get("action"), str):
        return "refused"
    groups = row.get("groups") or []
    if isinstance(groups, str):
        groups = [g for g in groups.split(",") if g]
    try:
        resource = json.loads(row["resource"]) if isinstance(row.get("resource"), str) else row.get("resource")
        old = json.loads(row["old_resource"]) if isinstance(row.get("old_resource"), str) else row.get("old_resource")
        token = (json.loads(row["token_request"]) if isinstance(row.get("token_request"), str)
                 else row.get("token_request"))
        if row["action"].startswith("GENERATE"):
            d = AUTHZ.check_token(User(row["user"], groups), row["action"], token)
        else:
            d = AUTHZ.check(User(row["user"], groups), row["action"], resource, old)
    except (MeshauthzError, ValueError):
        return "refused"
    return (d.allowed,)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(RBAC_COLUMNS))
def test_rbac_arrow_batch_never_allows_what_check_refuses(table: Any) -> None:
    try:
        res = AUTHZ.check_batch(table)
    except MeshauthzError:
        return
    assert len(res.allowed) == len(res.reason) == table.num_rows
    for i, (allowed, reason) in enumerate(zip(res.allowed, res.reason)):
        assert not (allowed and reason.startswith("error:"))
        if allowed:
            row = _cells(table, i)
            assert row is not None, (i, table)
            assert _rbac_single(row) == (True,), (row, reason)


# ---- bundles ---------------------------------------------------------------------------------------

def _forge(zbody: bytes) -> bytes:
    """Bundle bytes with a valid header and checksum whose resources stream is `zbody` (what only a
    forger produces; unsigned, format 3: an empty index, no compiled section)."""
    try:  # the declared inflated size must be right, or the bounded reader refuses before decoding
        body_size = len(zlib.decompress(zbody))
    except zlib.error:
        body_size = len(zbody)
    zindex = zlib.compress(b"{}")
    payload = struct.pack(">IIIIII", len(zindex), 2, len(zbody), body_size, 0, 0) + zindex + zbody
    size = 2 + body_size
    digest = hashlib.sha256(struct.pack(">BQ", 0, size) + payload).digest()
    return mb.MAGIC + mb._HEADER.pack(mb.FORMAT_VERSION, 0, size, digest) + payload


def _resources_json(data: bytes) -> Any:
    """The resources JSON of a format-3 bundle (its second zlib stream)."""
    at = mb.HEADER_SIZE
    table = struct.unpack_from(">IIIIII", data, at)
    start = at + 24 + table[0]
    return json.loads(zlib.decompress(data[start:start + table[2]]))


VALID = _resources_json(mb.dumps(STORE))


@st.composite
def mutated_documents(draw: Any) -> Any:
    doc = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 3))):
        path: list[Any] = []
        node = doc
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
            path.append(key)
            node = node[key]
        value = draw(st.recursive(st.one_of(st.none(), st.integers(-2**70, 2**70), st.text(max_size=5),
                                            st.booleans(), st.floats(allow_nan=False)),
                                  lambda c: st.one_of(st.lists(c, max_size=3),
                                                      st.dictionaries(st.text(max_size=4), c, max_size=3)),
                                  max_leaves=5))
        if not path:
            return value
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    return doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_documents().map(lambda d: zlib.compress(json.dumps(d).encode())),
                 st.binary(max_size=64).map(zlib.compress), st.binary(max_size=64)))
def test_forged_bundles_load_or_raise_bundle_errors(payload: bytes) -> None:
    data = _forge(payload)
    try:
        b = mb.loads(data)
    except MeshauthzError:
        return
    for kind in (TrafficEngine, MtpEngine):
        try:
            kind(b.store)
        except MeshauthzError:
            pass


def test_validate_reports_a_corrupt_bundle(tmp_path: Path) -> None:
    good = mb.dumps(STORE)
    cases = {
        "flipped.bundle": good[:-3] + bytes([good[-3] ^ 0xFF]) + good[-2:],  # checksum mismatch
        "truncated.bundle": good[: mb.HEADER_SIZE - 5],
        "forged.bundle": _forge(zlib.compress(b'{"meshauthz": "0", "resources": [[1, 2, 3]]}')),
        "forged-nonjson.bundle": _forge(zlib.compress(b"\xff\xfe not json")),
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        result = meshauthz.validate(str(p))  # reports, never raises (api.validate)
        assert result.problems, name
        assert not result.resources, name


# ---- the YAML loader ------------------------------------------------------------------------------

yaml_scalars = st.one_of(st.none(), st.integers(-2**70, 2**70), st.booleans(), st.text(max_size=8),
                         st.sampled_from(["TrafficPermission", "MeshTrafficPermission", "Dataplane", "Mesh",
                                          "AccessRole", "default", "*", "kuma.io/service"]))
yaml_values = st.recursive(yaml_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                             st.dictionaries(st.sampled_from(
                                                                 ["type", "name", "mesh", "spec", "sources",
                                                                  "destinations", "match", "from", "targetRef",
                                                                  "kind", "rules", "x"]), c, max_size=4)),
                           max_leaves=12)
yaml_texts = st.one_of(
    st.lists(yaml_values, min_size=1, max_size=3).map(lambda docs: "\n---\n".join(json.dumps(d) for d in docs)),
    st.text(alphabet=st.sampled_from(list("{}[]:,-&*!|>'\"#%@` \n\tab1=")), max_size=80),
    st.binary(max_size=80),
)


@settings(max_examples=300, deadline=None)
@given(yaml_texts)
def test_yaml_loader_reports_or_raises_meshauthz_errors(text: Any) -> None:
    """Any bytes or text: `loads` gives a store or a `MeshauthzError` (a located problem list), and
    every store it gives compiles into engines or is refused with a `MeshauthzError`."""
    try:
        store = meshauthz.loads(text)
    except MeshauthzError:
        return
    for build in (TrafficEngine, MtpEngine, Authorizer):
        _answers_or_refuses(lambda build=build: build(store))  # type: ignore[misc]
