"""Dask scale-out (issue #17): a LocalCluster of 2 worker processes decides exactly what a local
`check_batch` decides, row for row, whatever the partitioning; a worker killed mid-job is replaced
and its tasks re-run; each worker compiles an engine once per bundle digest; `replay_distributed`
writes Parquet atomically and prints the local replay's summary."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

import meshauthz.dask as mdask  # noqa: E402
import scale_gen  # noqa: E402
from meshauthz import InputError, scale  # noqa: E402

ROWS = 200_000
pytestmark = [pytest.mark.filterwarnings("ignore:Sending large graph:UserWarning"),
              pytest.mark.filterwarnings("ignore::meshauthz.MeshauthzWarning")]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       memory_limit="3GiB")
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def traffic() -> tuple[Any, Any, list[tuple[Any, ...]]]:
    engine = scale_gen.traffic_engine()
    table = pa.table(scale_gen.traffic_rows(ROWS))
    return engine, table, _rows(engine.check_batch(scale_gen.inputs_only(table)))


@pytest.fixture(scope="module")
def rbac() -> tuple[Any, Any, list[tuple[Any, ...]]]:
    authz = scale_gen.authorizer()
    table = pa.table(scale_gen.rbac_rows(ROWS))
    return authz, table, _rows(authz.check_batch(scale_gen.inputs_only(table)))


def _rows(res: Any) -> list[tuple[Any, ...]]:
    rb = pa.record_batch(res)
    return list(zip(rb.column("allowed").to_pylist(), rb.column("reason").to_pylist(),
                    rb.column("policy").to_pylist()))


def _frame(table: Any, arrow_backed: bool) -> Any:
    if arrow_backed:
        return table.to_pandas(types_mapper=pd.ArrowDtype)
    # numpy-backed pandas turns the nullable port column into float64 (NaN), and Dask would turn an
    # object column of lists into their repr: groups go as "a,b" text there. Both must decide alike.
    df = table.to_pandas()
    if "groups" in df.columns:
        df["groups"] = [",".join(g) for g in df["groups"]]
    return df


def _decided(df: Any) -> list[tuple[Any, ...]]:
    assert list(df["id"]) == list(range(len(df)))  # every row, once, in input order
    return [(bool(a), r, None if pd.isna(p) else p)
            for a, r, p in zip(df["allowed"], df["reason"], df["policy"])]


# (npartitions, Arrow-backed columns): even and uneven splits, one of them with numpy dtypes.
PARTITIONINGS = [(3, True), (17, True), (8, False)]


@pytest.mark.parametrize(("parts", "arrow_backed"), PARTITIONINGS)
def test_traffic_equals_local_row_for_row(client: Any, traffic: Any, parts: int, arrow_backed: bool) -> None:
    engine, table, want = traffic
    ddf = dd.from_pandas(_frame(table, arrow_backed), npartitions=parts, sort=False)
    out = mdask.check_batch(ddf, engine)
    assert list(out.columns[-3:]) == ["allowed", "reason", "policy"]
    got = out.compute()
    assert out.npartitions == parts
    assert got["allowed"].dtype == bool and isinstance(got["reason"].dtype, pd.CategoricalDtype)
    assert [str(t) for t in got.dtypes] == [str(t) for t in out.dtypes]  # the declared meta holds
    assert _decided(got) == want
    reasons = Counter(r for _, r, _ in want)
    assert reasons["allowed"] > 1000 and reasons["mtp-allow"] > 0 and reasons["mtp-deny"] > 0
    assert sum(n for r, n in reasons.items() if r.startswith("error:")) > 10_000  # bad rows stay rows


@pytest.mark.parametrize(("parts", "arrow_backed"), PARTITIONINGS)
def test_rbac_equals_local_row_for_row(client: Any, rbac: Any, parts: int, arrow_backed: bool) -> None:
    authz, table, want = rbac
    ddf = dd.from_pandas(_frame(table, arrow_backed), npartitions=parts, sort=False)
    got = mdask.check_batch(ddf, authz).compute()
    assert _decided(got) == want
    verdicts = Counter((a, r.split(":")[0]) for a, r, _ in want)
    assert verdicts[(True, "allowed")] > 1000 and verdicts[(False, "error")] > 1000


def test_renamed_columns_and_prefix(client: Any, traffic: Any) -> None:
    engine, table, want = traffic
    small = table.slice(0, 5_000).rename_columns(["id", "mesh", "src", "source_tags", "dst", "port"])
    ddf = dd.from_pandas(small.to_pandas(types_mapper=pd.ArrowDtype), npartitions=4, sort=False)
    got = mdask.check_batch(ddf, engine, columns={"source": "src", "destination": "dst"}, prefix="d_").compute()
    assert [(bool(a), r) for a, r in zip(got["d_allowed"], got["d_reason"])] == [(a, r) for a, r, _ in want[:5_000]]
    with pytest.raises(InputError, match="prefix"):
        mdask.check_batch(ddf.assign(allowed=True), engine)
    with pytest.raises(InputError, match="not traffic inputs"):
        mdask.check_batch(ddf, engine, columns={"src": "source"})


def _stats(client: Any, digest: str) -> dict[str, tuple[int, int]]:
    return {w: s[digest] for w, s in client.run(scale.cache_stats).items() if digest in s}


def test_engine_built_once_per_worker_and_shipped_once(client: Any, traffic: Any) -> None:
    _, table, _ = traffic
    engine = scale_gen.traffic_engine(extra=f"m-{uuid.uuid4().hex[:8]}")  # a digest no other test used
    ref = scale.engine_ref(engine)
    ddf = dd.from_pandas(table.slice(0, 60_000).to_pandas(types_mapper=pd.ArrowDtype), npartitions=24, sort=False)
    out = mdask.check_batch(ddf, ref)
    graph = dict(out.__dask_graph__())
    engine_keys = [k for k in graph if "meshauthz-engine-" in str(k)]
    assert len(engine_keys) == 1  # the bytes are one graph key, not one copy per partition
    assert len(out.compute()) == 60_000
    stats = _stats(client, ref.digest)
    assert stats, "no worker ran a task"
    assert sum(tasks for _, tasks in stats.values()) == 24  # one engine object per partition task
    assert all(builds == 1 for builds, _ in stats.values()), stats  # but one compile per worker process
    # A second job with the same engine compiles nothing new.
    mdask.check_batch(ddf, ref).compute()
    again = _stats(client, ref.digest)
    assert sum(t for _, t in again.values()) == 48 and all(b == 1 for b, _ in again.values()), again


def _die_once(df: Any, marker: str) -> Any:
    """The first task to see row 100,000 kills its worker process (no cleanup, as a crash would)."""
    ids = df["id"]
    if len(ids) and int(ids.iloc[0]) <= 100_000 <= int(ids.iloc[-1]):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return df
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)
    return df


def test_worker_killed_mid_job_is_retried(client: Any, traffic: Any, tmp_path: Path) -> None:
    engine, table, want = traffic
    marker = str(tmp_path / "killed")
    before = set(client.scheduler_info()["workers"])
    ddf = dd.from_pandas(table.to_pandas(types_mapper=pd.ArrowDtype), npartitions=10, sort=False)
    got = mdask.check_batch(ddf.map_partitions(_die_once, marker, meta=ddf._meta), engine).compute()
    assert os.path.exists(marker)  # a worker did die during the job
    assert _decided(got) == want  # and the result is complete and equal
    client.wait_for_workers(2, timeout=120)  # the nanny restarted it
    after = set(client.scheduler_info()["workers"])
    assert after != before


# ---- replay -------------------------------------------------------------------------------------


def _resources(tmp_path: Path, docs: list[dict[str, Any]]) -> str:
    path = tmp_path / "resources.yaml"
    path.write_text("---\n".join(json.dumps(d) + "\n" for d in docs))
    return str(path)


def _local_counts(want: list[tuple[Any, ...]]) -> dict[tuple[Any, str, bool], int]:
    return dict(Counter((p, r, a) for a, r, p in want))


def test_replay_parquet_glob_writes_partitions_atomically(client: Any, traffic: Any, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, table, want = traffic
    logs = tmp_path / "logs"
    logs.mkdir()
    for i, start in enumerate(range(0, ROWS, 70_000)):
        pq.write_table(table.slice(start, 70_000), logs / f"day-{i}.parquet", row_group_size=20_000)
    out = tmp_path / "decisions"
    res = _resources(tmp_path, scale_gen.mesh_docs())
    summary = mdask.replay_distributed(str(logs / "*.parquet"), [res], scheduler=client, out=out)
    assert summary.kind == "traffic" and summary.rows == ROWS and summary.output == str(out)
    assert summary.counts == _local_counts(want)
    printed = capsys.readouterr().out
    assert printed.startswith(f"{ROWS:,} traffic requests from 3 parquet files\n")
    assert summary.table in printed and summary.table.splitlines()[-1].split()[0] == "total"
    written = pq.read_table(out).sort_by("id")
    assert written.column("id").to_pylist() == list(range(ROWS))
    assert list(zip(written.column("allowed").to_pylist(), written.column("reason").to_pylist(),
                    written.column("policy").to_pylist())) == want
    assert sorted(os.listdir(tmp_path)) == ["decisions", "logs", "resources.yaml"]  # no temp dir left
    # A second run replaces the output directory only once it is complete.
    (out / "stale.parquet").write_bytes(b"old")
    mdask.replay_distributed(str(logs / "day-0.parquet"), [res], scheduler=client, out=out, echo=False)
    assert "stale.parquet" not in os.listdir(out) and pq.read_table(out).num_rows == 70_000


def test_replay_failure_leaves_previous_output(client: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("previous run")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable Parquet"):
        mdask.replay_distributed(str(bad), scale_gen.traffic_engine(), scheduler=client, out=out)
    with pytest.raises(InputError, match="no file matches"):
        mdask.replay_distributed(str(tmp_path / "*.jsonl"), scale_gen.traffic_engine(), scheduler=client, out=out)
    bad_jsonl = tmp_path / "bad.jsonl"
    good = json.dumps({"mesh": "default", "source": "svc-1-1", "destination": "svc-2-1", "port": 8080}) + "\n"
    bad_jsonl.write_text(good * 10 + "{not json\n" + good * 1_500)
    with pytest.raises(InputError, match="bad.jsonl:11: not JSON"):  # in the lines read to learn the columns
        mdask.replay_distributed(str(bad_jsonl), scale_gen.traffic_engine(), scheduler=client, out=out)
    bad_jsonl.write_text(good * 1_100 + "{not json\n" + good * 50)
    with pytest.raises(InputError, match=f"bad.jsonl: the line at byte {len(good) * 1_100}: not JSON"):
        mdask.replay_distributed(str(bad_jsonl), scale_gen.traffic_engine(), scheduler=client, out=out,
                                 blocksize=10_000)
    assert (out / "keep").read_text() == "previous run"
    assert sorted(os.listdir(tmp_path)) == ["bad.jsonl", "bad.parquet", "out"]


def test_replay_jsonl_and_csv_match_local(client: Any, rbac: Any, traffic: Any, tmp_path: Path) -> None:
    _, rtable, rwant = rbac
    n = 30_000
    jsonl = tmp_path / "audit.jsonl"
    with jsonl.open("w") as f:
        for r in rtable.slice(0, n).to_pylist():
            if r["resource"] is not None and r["resource"].startswith("{\""):
                r["resource"] = json.loads(r["resource"])  # objects, as audit logs carry them
            if r["id"] % 2:
                r["groups"] = ",".join(r["groups"])
            f.write(json.dumps(r) + "\n")
    got = mdask.replay_distributed(str(jsonl), scale_gen.authorizer(), scheduler=client, blocksize=200_000,
                                   echo=False)
    assert got.kind == "rbac" and got.partitions > 3
    assert got.counts == _local_counts(rwant[:n])

    engine, ttable, _ = traffic
    csv = tmp_path / "access.csv"
    frame = ttable.slice(0, n).to_pandas().astype({"port": "Int64"})
    frame.to_csv(csv, index=False)
    # CSV has no null: an empty field is read as one (as the local replay reads it), so "" tags are null.
    frame["source_tags"] = frame["source_tags"].replace("", None)
    want = _rows(engine.check_batch(scale_gen.inputs_only(pa.Table.from_pandas(frame, preserve_index=False))))
    got = mdask.replay_distributed(str(csv), scale_gen.traffic_engine(), scheduler=client, blocksize=300_000,
                                   echo=False)
    assert got.kind == "traffic" and got.partitions > 1
    assert got.counts == _local_counts(want)


def test_summary_groups_match_local_replay(traffic: Any) -> None:
    _, _, want = traffic
    from meshauthz.cli import replay as local

    allowed, reasons, policies = (list(c) for c in zip(*want))
    assert scale.summary_groups(_local_counts(want)) == local.summarize(allowed, reasons, policies)


def test_replay_local_cluster_string(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"mesh": "default", "source": "svc-1-1", "destination": "svc-2-1", "port": 8080},
        {"mesh": "default", "source": "svc-1-1", "destination": "ghost-1", "port": 8080},
        {"mesh": "default", "source_tags": "broken", "destination": "svc-2-1", "port": "8080"}]) + "\n")
    # Through meshauthz.scale (what the CLI calls: no Dask import of its own), progress forced on.
    got = scale.replay_distributed(str(log), scale_gen.traffic_engine(), scheduler="local:1", progress=True)
    out, err = capsys.readouterr()
    assert out.startswith(f"3 traffic requests from {log}\n") and out.rstrip().endswith(got.table.splitlines()[-1])
    assert "1/1 partitions" in err and "partitions" not in out
    engine = scale_gen.traffic_engine()
    want = _rows(engine.check_batch([json.loads(x) for x in log.read_text().splitlines()[:2]]))
    assert got.rows == 3 and got.errors >= 2
    for a, r, p in want:
        assert got.counts.get((p, r, a), 0) >= 1
    with pytest.raises(InputError, match="local or local:N"):
        mdask.replay_distributed(str(log), engine, scheduler="local:x")


def test_replay_text_ports_are_bad_port_rows(client: Any, tmp_path: Path) -> None:
    log = tmp_path / "text-ports.parquet"
    pq.write_table(pa.table({"mesh": ["default"] * 4, "source": ["svc-1-1"] * 4, "destination": ["svc-2-1"] * 4,
                             "port": ["8080", "80x", None, " 8080"]}), log)
    engine = scale_gen.traffic_engine()
    got = mdask.replay_distributed(str(log), engine, scheduler=client, echo=False)
    row = {"mesh": "default", "source": "svc-1-1", "destination": "svc-2-1", "port": 8080}
    (first,) = _rows(engine.check_batch([row]))
    assert first[1] != "error:bad-port"
    assert got.counts == _local_counts([first]) | {(None, "error:bad-port", False): 3}


def test_replay_jsonl_key_first_seen_late_still_decides(client: Any, tmp_path: Path) -> None:
    rows = [{"mesh": "default", "source": f"svc-{i % 40}-1", "destination": "svc-3-1", "port": 8080}
            for i in range(1_200)]
    rows += [{"mesh": "default", "source_tags": f"kuma.io/service=svc-{i % 40}", "destination": "svc-3-1",
              "port": 8080} for i in range(300)]
    log = tmp_path / "late.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    engine = scale_gen.traffic_engine()
    got = mdask.replay_distributed(str(log), engine, scheduler=client, echo=False)
    assert got.counts == _local_counts(_rows(engine.check_batch(rows)))
    assert all(not r.startswith("error:") for _, r, _ in got.counts)  # the tags were read, not dropped
