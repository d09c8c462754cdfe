"""Spark (issue #17): README's `mapInArrow` recipe, run as written on a local[2] session, decides
what a local `check_batch` decides, row for row; no Python worker compiles the engine twice.

Runs only where pyspark and a Java runtime are installed (not part of `.[test]`)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
pa = pytest.importorskip("pyarrow")
pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("pyspark needs a Java runtime", allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

import scale_gen  # noqa: E402
from meshauthz import scale  # noqa: E402

ROWS = 50_000
TESTS = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    path = os.pathsep.join(p for p in (TESTS, os.environ.get("PYTHONPATH", "")) if p)
    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # Python workers need this interpreter's meshauthz
    session = (SparkSession.builder.master("local[2]").appName("meshauthz-test")
               .config("spark.ui.enabled", "false").config("spark.driver.memory", "1g")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.executorEnv.PYTHONPATH", path)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    try:
        yield session
    finally:
        session.stop()
        if saved is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = saved


def test_map_in_arrow_recipe_equals_local(spark: Any) -> None:
    engine = scale_gen.traffic_engine()
    table = pa.table(scale_gen.traffic_rows(ROWS))
    res = pa.record_batch(engine.check_batch(scale_gen.inputs_only(table)))
    want = list(zip(res.column("allowed").to_pylist(), res.column("reason").to_pylist(),
                    res.column("policy").to_pylist()))

    # --- the README recipe -----------------------------------------------------------------------
    ref = spark.sparkContext.broadcast(scale.engine_ref(engine))  # shipped once per executor

    def decide(batches: Iterator[Any]) -> Iterator[Any]:
        yield from scale.decide_batches(ref.value, batches)  # compiled once per Python worker

    df = spark.createDataFrame(table.to_pandas()).repartition(7)
    schema = T.StructType([*df.schema.fields, T.StructField("allowed", T.BooleanType()),
                           T.StructField("reason", T.StringType()), T.StructField("policy", T.StringType())])
    out = df.mapInArrow(decide, schema)
    # -------------------------------------------------------------------------------------------

    rows = sorted(out.select("id", "allowed", "reason", "policy").collect(), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == list(range(ROWS))
    assert [(r["allowed"], r["reason"], r["policy"]) for r in rows] == want

    digest = scale.engine_ref(engine).digest

    def stats(batches: Iterator[Any]) -> Iterator[Any]:
        for b in batches:
            builds, tasks = scale.cache_stats().get(digest, (0, 0))
            yield pa.RecordBatch.from_pydict({"pid": [os.getpid()], "builds": [builds], "rows": [b.num_rows]})

    reports = out.mapInArrow(stats, "pid long, builds long, rows long").collect()
    assert sum(r["rows"] for r in reports) == ROWS
    # A later Python operator may run in a worker that never decided (0); none compiled twice.
    builds = {r["builds"] for r in reports}
    assert 1 in builds and builds <= {0, 1}, builds
