"""Traffic batch API (issue #6): every row of a generated batch equals TrafficEngine.check, for
every input form; bad rows are error codes; the GIL is released while a batch runs."""

from __future__ import annotations

import threading
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz import NON_MESH, InputError, NotFoundError, TrafficEngine
from meshauthz.batch import dataplane_ids

WORLD = """
type: Mesh
name: default
mtls: {enabledBackend: ca, backends: [{name: ca, type: builtin}]}
---
type: Mesh
name: other
mtls: {enabledBackend: ca, backends: [{name: ca, type: builtin, mode: PERMISSIVE}]}
---
type: Mesh
name: plain
---
type: Mesh
name: mtpmesh
mtls: {enabledBackend: ca, backends: [{name: ca, type: builtin}]}
"""


def _dp(mesh: str, name: str, *inbounds: tuple[int, str]) -> str:
    ib = "".join(
        f"\n    - {{port: {p}, tags: {{kuma.io/service: {svc}, team: {'core' if svc == 'backend' else 'edge'}}}}}"
        for p, svc in inbounds
    )
    return f"---\ntype: Dataplane\nmesh: {mesh}\nname: {name}\nnetworking:\n  address: 10.0.0.1\n  inbound:{ib}\n"


def _tp(mesh: str, name: str, src: str, dst: str) -> str:
    return (f"---\ntype: TrafficPermission\nmesh: {mesh}\nname: {name}\n"
            f"sources: [{{match: {{kuma.io/service: '{src}'}}}}]\n"
            f"destinations: [{{match: {{kuma.io/service: '{dst}'}}}}]\n")


DOCS = WORLD + "".join(
    _dp(m, n, *ib)
    for m in ("default", "other", "plain", "mtpmesh")
    for n, ib in (("web", ((8080, "web"),)), ("backend", ((9000, "backend"), (9001, "admin"))))
) + _dp("default", "solo", (7000, "solo")) + _dp("ghost", "spook", (1, "spook")) + "".join(
    _tp(m, f"{m}-web-backend", "web", "backend") + _tp(m, f"{m}-any-solo", "*", "solo")
    for m in ("default", "other", "mtpmesh")
) + """---
type: MeshTrafficPermission
mesh: mtpmesh
name: mtp-admin
spec:
  targetRef: {kind: MeshSubset, tags: {kuma.io/service: admin}}
  from: [{targetRef: {kind: MeshService, name: web}, default: {action: Deny}}]
"""


@pytest.fixture(scope="module")
def engine() -> TrafficEngine:
    return TrafficEngine(meshauthz.loads(DOCS))


NAMES = ["web", "backend", "solo", "spook", "nope"]
row_st = st.tuples(
    st.sampled_from([None, "default", "other", "plain", "mtpmesh", "ghost", "zzz"]),
    st.one_of(st.none(), st.sampled_from(NAMES)),
    st.sampled_from([None, None, "kuma.io/service=web", "kuma.io/service=backend, team=core", "team=edge",
                     "", "broken", "=x", "a=1,a=2"]),
    st.sampled_from(NAMES),
    st.sampled_from([8080, 9000, 9001, 7000, 1, 5]),
)


def _tags(text: str) -> Optional[dict[str, str]]:
    out: dict[str, str] = {}
    if not text.strip():
        return out
    for item in text.split(","):
        k, sep, v = item.partition("=")
        if not sep or not k.strip() or k.strip() in out:
            return None
        out[k.strip()] = v.strip()
    return out


def _error(kind: type) -> str:
    return "notfound" if kind is NotFoundError else "input"


def _batch_error(reason: str) -> str:
    return "notfound" if reason in ("error:unknown-dataplane", "error:unknown-mesh") else "input"


def single(engine: TrafficEngine, row: tuple[Any, ...]) -> tuple[Any, ...]:
    mesh, source, tags, dest, port = row
    src: Any = NON_MESH
    if source is not None:
        src = source
    elif tags is not None:
        parsed = _tags(tags)
        if parsed is None:  # destination errors come first, as in check()
            try:
                engine.check(source=NON_MESH, destination=(dest, port), mesh=mesh)
            except (NotFoundError, InputError) as e:
                return (False, _error(type(e)), None)
            return (False, "input", None)
        src = parsed
    try:
        d = engine.check(source=src, destination=(dest, port), mesh=mesh)
    except (NotFoundError, InputError) as e:
        return (False, _error(type(e)), None)
    return (d.allowed, d.reason, d.policy)


def batched(res: Any) -> list[tuple[Any, ...]]:
    return [(a, _batch_error(r) if r.startswith("error:") else r, p)
            for a, r, p in zip(res.allowed, res.reason, res.policy)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_st, max_size=60))
def test_list_of_dicts_and_tuples_equal_single_checks(engine: TrafficEngine, rows: list[tuple[Any, ...]]) -> None:
    want = [single(engine, r) for r in rows]
    dicts = [{"mesh": m, "source": s, "source_tags": t, "destination": d, "port": p} for m, s, t, d, p in rows]
    assert batched(engine.check_batch(dicts)) == want
    plain = [r for r in rows if r[2] is None]
    tuples = [(m, s, d, p) for m, s, _, d, p in plain]
    assert batched(engine.check_batch(tuples)) == [single(engine, r) for r in plain]
    assert batched(engine.check_batch(tuples, threads=3)) == [single(engine, r) for r in plain]


@pytest.mark.parametrize("form", ["string", "large_string", "string_view", "dictionary"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_st, max_size=60))
def test_arrow_forms_equal_single_checks(engine: TrafficEngine, form: str, rows: list[tuple[Any, ...]]) -> None:
    pa = pytest.importorskip("pyarrow")

    def col(values: list[Any]) -> Any:
        if form == "dictionary":
            return pa.array(values, pa.string()).dictionary_encode()
        return pa.array(values, getattr(pa, form)())

    names = ["mesh", "source", "source_tags", "destination"]
    table = pa.table({n: col([r[i] for r in rows]) for i, n in enumerate(names)}
                     | {"port": pa.array([r[4] for r in rows], pa.int32())})
    want = [single(engine, r) for r in rows]
    assert batched(engine.check_batch(table)) == want
    if rows:  # a RecordBatch (__arrow_c_array__) and a chunked stream as well
        assert batched(engine.check_batch(table.to_batches()[0])) == want
        chunked = pa.concat_tables([table.slice(0, len(rows) // 2), table.slice(len(rows) // 2)])
        assert batched(engine.check_batch(chunked)) == want


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_numpy_ids_equal_single_checks(engine: TrafficEngine, data: st.DataObject) -> None:
    np = pytest.importorskip("numpy")
    ids = dataplane_ids(engine)
    keys = sorted(ids)
    rows = data.draw(st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(keys)), st.sampled_from(keys),
                                        st.sampled_from([8080, 9000, 9001, 7000, 1])), max_size=40))
    src = np.array([-1 if s is None else ids[s] for s, _, _ in rows], dtype=np.int64)
    dst = np.array([ids[d] for _, d, _ in rows], dtype=np.int32)
    res = engine.check_batch({"source": src, "destination": dst, "port": np.array([p for *_, p in rows])})
    want = []
    for s, (m, d), p in rows:
        if s is not None and s[0] != m and s[1] in {k[1] for k in keys if k[0] == m}:
            want.append(None)  # a name also in the destination's mesh: ids are more precise than names
            continue
        want.append(single(engine, (m, None if s is None else s[1], None, d, p)))
    got = batched(res)
    assert [g for g, w in zip(got, want) if w is not None] == [w for w in want if w is not None]


def test_bad_rows_are_error_codes_and_keep_decided_rows(engine: TrafficEngine) -> None:
    rows = [
        {"source": "web", "destination": "backend", "port": 9000, "mesh": "default"},
        {"source": "web", "destination": "backend", "port": 9000},  # in 4 meshes
        {"source": "nope", "destination": "backend", "port": 9000, "mesh": "default"},
        {"source_tags": "oops", "destination": "backend", "port": 9000, "mesh": "default"},
        {"destination": "spook", "port": 1},
        {"destination": None, "port": 1},
        {"source": "web", "destination": "backend", "port": -3, "mesh": "default"},
        {"source": "web", "destination": "backend", "port": 9001, "mesh": "mtpmesh"},
    ]
    res = engine.check_batch(rows)
    assert res.reason == ["allowed", "error:ambiguous-dataplane", "error:unknown-dataplane",
                          "error:malformed-tags", "error:unknown-mesh", "error:missing-field", "error:bad-port",
                          "mtp-deny"]
    assert res.allowed == [True] + [False] * 7
    assert res.policy[0] == "default-web-backend" and res.policy[-1] == "mtp-admin"


def test_result_exports_arrow(engine: TrafficEngine) -> None:
    pa = pytest.importorskip("pyarrow")
    res = engine.check_batch([("default", "web", "backend", 9000), ("default", None, "backend", 9000)])
    rb = pa.record_batch(res)
    assert rb.column_names == ["allowed", "reason", "policy"]
    assert rb.column("policy").to_pylist() == ["default-web-backend", None]
    assert pa.array(res).type.num_fields == 3


def test_other_threads_progress_while_a_batch_runs(engine: TrafficEngine) -> None:
    pa = pytest.importorskip("pyarrow")
    n = 2_000_000
    table = pa.table({"mesh": pa.array(["default"] * n).dictionary_encode(),
                      "source": pa.array(["web", "nope"] * (n // 2)),
                      "destination": pa.array(["backend"] * n), "port": pa.array([9000] * n, pa.int32())})
    counter = [0]
    started, stop = threading.Event(), threading.Event()

    def count() -> None:
        started.set()
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=count)
    t.start()
    started.wait()
    seen = []

    class Probe:  # records the counter right before and after the Rust call
        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            seen.append(counter[0])
            return table.__arrow_c_stream__(requested_schema)

    res = engine.check_batch(Probe())
    seen.append(counter[0])
    stop.set()
    t.join()
    assert len(res) == n and res.reason[:2] == ["allowed", "error:unknown-dataplane"]
    assert seen[1] > seen[0]
