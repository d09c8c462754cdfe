"""meshauthz.scale (issue #17), in one process: content-addressed engine references, the
once-per-digest cache, and `decide` (the Arrow step every framework runs)."""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest

pa = pytest.importorskip("pyarrow")

import scale_gen  # noqa: E402
from meshauthz import InputError, scale  # noqa: E402
from meshauthz.rbac import Authorizer  # noqa: E402


@pytest.fixture()
def fresh_cache() -> Iterator[None]:
    scale._reset_cache()
    yield
    scale._reset_cache()


def _rows(res: Any) -> list[tuple[Any, ...]]:
    rb = pa.record_batch(res) if not isinstance(res, pa.Table) else res
    return list(zip(rb.column("allowed").to_pylist(), rb.column("reason").to_pylist(),
                    rb.column("policy").to_pylist()))


def test_refs_are_content_addressed() -> None:
    a, b = scale_gen.traffic_engine(), scale_gen.traffic_engine()
    ra, rb = scale.engine_ref(a), scale.engine_ref(b)
    assert ra.digest == rb.digest and ra.kind == "traffic" and len(ra) > 0  # same content, same address
    other = scale.engine_ref(scale_gen.traffic_engine(extra="another"))
    assert other.digest != ra.digest
    assert scale.engine_ref(ra) is ra
    assert scale.engine_ref(scale_gen.authorizer()).kind == "rbac"
    with pytest.raises(InputError, match="TrafficEngine or an Authorizer"):
        scale.engine_ref(object())


def test_engine_built_once_per_digest_in_a_process(fresh_cache: None) -> None:
    ref = scale.engine_ref(scale_gen.traffic_engine(extra=f"m-{uuid.uuid4().hex[:8]}"))
    assert not scale.cached(ref.digest)
    engines = [scale.engine_for(ref) for _ in range(5)]
    engines.append(scale.engine_for(digest=ref.digest))  # cached: no bytes needed any more
    assert scale.build_counts() == {ref.digest: 1} and scale.task_counts() == {ref.digest: 6}
    table = pa.table(scale_gen.traffic_rows(2_000))
    want = _rows(scale_gen.traffic_engine().check_batch(scale_gen.inputs_only(table)))
    assert all(_rows(e.check_batch(scale_gen.inputs_only(table))) == want for e in engines)


def test_bytes_are_checked_against_their_digest(fresh_cache: None) -> None:
    ref = scale.engine_ref(scale_gen.traffic_engine())
    other = scale.engine_ref(scale_gen.authorizer())
    with pytest.raises(InputError, match="do not match their digest"):
        scale.engine_for(digest=ref.digest, blob=other.blob)
    with pytest.raises(InputError, match="not cached"):
        scale.engine_for(digest=ref.digest)
    with pytest.raises(InputError, match="expected bytes"):
        scale.engine_for(digest=ref.digest, blob=lambda: 42)
    fetched: list[int] = []

    def fetch() -> bytes:
        fetched.append(1)
        return ref.blob

    scale.engine_for(digest=ref.digest, blob=fetch)
    scale.engine_for(digest=ref.digest, blob=fetch)
    assert fetched == [1]  # a lazy fetch runs on the first miss only
    assert scale.build_counts() == {ref.digest: 1}


def test_decide_appends_the_local_decisions() -> None:
    engine = scale_gen.traffic_engine()
    table = pa.table(scale_gen.traffic_rows(5_000))
    out = scale.decide(engine, table)
    assert out.column_names == table.column_names + ["allowed", "reason", "policy"]
    assert out.column("reason").type == pa.string()
    assert _rows(out) == _rows(engine.check_batch(scale_gen.inputs_only(table)))
    # An integer column with nulls stored as float64 (pandas): integral values are ports, others bad rows.
    ports = pa.array([8080.0, None, 8080.5, float("nan"), 9090.0], pa.float64())
    small = pa.table({"mesh": ["default"] * 5, "source": ["svc-1-1"] * 5, "destination": ["svc-2-1"] * 5,
                      "port": ports})
    want = _rows(engine.check_batch([{"mesh": "default", "source": "svc-1-1", "destination": "svc-2-1", "port": p}
                                     for p in (8080, None, None, None, 9090)]))
    assert _rows(scale.decide(engine, small)) == want


def test_decide_columns_and_prefix() -> None:
    authz: Authorizer = scale_gen.authorizer()
    table = pa.table(scale_gen.rbac_rows(3_000)).rename_columns(["id", "who", "groups", "verb", "resource"])
    out = scale.decide(authz, table, columns={"user": "who", "action": "verb"}, prefix="d_")
    want = _rows(authz.check_batch(scale_gen.inputs_only(pa.table(scale_gen.rbac_rows(3_000)))))
    assert list(zip(*(out.column(f"d_{c}").to_pylist() for c in ("allowed", "reason", "policy")))) == want
    with pytest.raises(InputError, match="not rbac inputs"):
        scale.decide(authz, table, columns={"source": "who"})
    with pytest.raises(InputError, match="does not have"):
        scale.decide(authz, table, columns={"user": "nobody"})
    with pytest.raises(InputError, match="prefix"):
        scale.decide(authz, out, columns={"user": "who", "action": "verb"}, prefix="d_")


def test_decide_batches_streams_with_one_engine(fresh_cache: None) -> None:
    engine = scale_gen.traffic_engine()
    ref = scale.engine_ref(engine)
    table = pa.table(scale_gen.traffic_rows(6_000))
    batches = list(scale.decide_batches(ref, table.to_batches(max_chunksize=1_000)))
    assert sum(b.num_rows for b in batches) == 6_000
    assert _rows(pa.Table.from_batches(batches)) == _rows(engine.check_batch(scale_gen.inputs_only(table)))
    assert scale.build_counts() == {ref.digest: 1} and scale.task_counts() == {ref.digest: 1}


def test_format_summary_totals() -> None:
    text = scale.format_summary({("tp-1", "allowed", True): 3, (None, "error:bad-port", False): 1_200,
                                 ("tp-1", "source-not-matched", False): 0})
    lines = text.splitlines()
    assert lines[0].split() == ["policy", "reason", "allowed", "denied"]
    assert lines[1].split() == ["-", "error:bad-port", "0", "1,200"]  # most rows first, zero rows left out
    assert lines[2].split() == ["tp-1", "allowed", "3", "0"]
    assert lines[-1].split() == ["total", "3", "1,200"] and len(lines) == 4
