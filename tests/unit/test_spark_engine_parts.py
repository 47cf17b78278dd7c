"""The Spark engine's parts that need no Spark: frames through Arrow and back with their
exact dtypes, one-line errors from Spark's, the [engine] settings, the bench's ratios, and
that importing the engine does not import PySpark."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from churnmodel.bench.compare import engine_ratios
from churnmodel.config import config_from_dict
from churnmodel.engine import spark as es
from churnmodel.errors import ConfigError


def test_frames_cross_arrow_with_their_exact_dtypes_and_levels():
    df = pd.DataFrame({
        "ts": pd.to_datetime(["2025-01-01 10:00:00.123456789", None, "2024-02-29 00:00:00.000000001"]),
        "cat": pd.Categorical(["b", None, "a"], categories=["z", "b", "a"]),
        "num_cat": pd.Categorical([3, 1, None], categories=[1, 2, 3]),
        "text": pd.array(["x", None, "é"], dtype="string"),
        "small": np.array([1, 2, 3], dtype="int8"),
        "nullable": pd.array([1, None, 3], dtype="Int64"),
        "flag": [True, False, True],
        "x": [0.1 + 0.2, np.nan, -0.0],
    })
    cols = es._Columns.of([df])
    back = cols.decode(cols.encode(df), df.iloc[:0])
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert list(back["cat"].cat.categories) == ["z", "b", "a"]


def test_a_worker_error_comes_back_as_its_own_message():
    text = ("An exception was thrown from the Python worker.\nTraceback (most recent call last):\n"
            '  File "x.py", line 1\nchurnmodel.errors.ConfigError: unknown feature builder \'x\'.\n'
            "\tat org.apache.spark.api.python.BasePythonRunner")
    assert str(es.spark_failure(RuntimeError(text), "building features")) == \
        "unknown feature builder 'x'."
    oom = es.spark_failure(RuntimeError("z:org...\njava.lang.OutOfMemoryError: Java heap space"), "x")
    assert "out of memory" in str(oom) and "[engine] buckets" in str(oom)
    other = str(es.spark_failure(RuntimeError("An error occurred\nCaused by: java.io.IOException: "
                                              "bad file\n\tat org.x"), "loading the tables"))
    assert "IOException: bad file" in other and "\n" not in other


@pytest.mark.parametrize("bad, words", [({"name": "spak"}, "Did you mean 'spark'"),
                                        ({"remote": "localhost:15002"}, "sc://host:15002"),
                                        ({"buckets": -1}, "engine.buckets"),
                                        ({"sample_customers": 5}, "engine.sample_customers"),
                                        ({"bucket": 4}, "Did you mean 'buckets'")])
def test_engine_settings_are_checked(bad, words):
    with pytest.raises(ConfigError, match=words):
        config_from_dict({"engine": bad})


def test_the_default_engine_is_duckdb_and_spark_is_one_word_away():
    assert config_from_dict({}).engine.name == "duckdb"
    e = config_from_dict({"engine": {"name": "spark", "remote": "sc://h:15002"}}).engine
    assert (e.name, e.remote, e.buckets) == ("spark", "sc://h:15002", 0)


def test_bench_reports_the_spark_engine_as_a_ratio_of_duckdb():
    stages = {"features_all": {"seconds": 10.0, "peak_rss_mb": 1000.0},
              "features_all_spark": {"seconds": 50.0, "peak_rss_mb": 900.0, "buckets": 4,
                                     "session_seconds": 12.0, "spark_peak_rss_mb": 3000.0}}
    r = engine_ratios(stages)["features_all_spark_vs_duckdb"]
    assert r["ratio"] == 5.0 and r["spark_jvm_and_workers_peak_rss_mb"] == 3000.0


def test_importing_the_engine_does_not_import_pyspark():
    code = "import sys, churnmodel.engine.spark, churnmodel.cli; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_spark_connect_address_nobody_answers_at_fails_at_once():
    """The Connect client would retry for minutes; the engine checks the port first."""
    import socket

    from churnmodel.errors import ChurnModelError

    with socket.socket() as s:  # a port that was free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ChurnModelError) as err:
        es.reach(f"sc://127.0.0.1:{port}/;user_id=a")
    text = str(err.value)
    assert f"no Spark Connect server answers at 127.0.0.1:{port}" in text
    assert "start-connect-server.sh" in text and "\n" not in text


@pytest.mark.parametrize(("data", "engine", "words"), [
    ({"table": "main.sales.orders"}, {}, 'set [engine] name = "spark"'),
    ({"table": "orders", "path": "o.csv"}, {"name": "spark"}, "exactly one of 'path'"),
    ({"table": "a.b.c.d"}, {"name": "spark"}, "must name a Spark table or view"),
    ({"table": "sales orders"}, {"name": "spark"}, "must name a Spark table or view"),
])
def test_a_catalog_table_source_is_checked_with_the_config(data, engine, words):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"transactions": data}, "engine": engine})
    assert words in str(err.value)


def test_a_catalog_table_source_is_recorded_by_its_name():
    from churnmodel.scorefile import data_source

    cfg = config_from_dict({"data": {"transactions": {"table": "`main`.sales.orders"}},
                            "engine": {"name": "spark"}})
    assert data_source(cfg) == {"transactions": "spark table `main`.sales.orders"}
    assert cfg.data.source_id() == "transactions=spark table `main`.sales.orders"


def test_an_unreachable_spark_connect_server_stops_the_command_before_the_tables_are_read(
        tmp_path, monkeypatch, capsys):
    import socket

    from churnmodel.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from pyspark.sql import SparkSession

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("churnmodel.data.io.load_tables", lambda *args: pytest.fail("tables read"))
    # no cluster job's session here (the Spark tests' own may be alive in this worker)
    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    (tmp_path / "shop.toml").write_text(
        '[data.transactions]\npath = "tx.csv"\n[tracking]\nenabled = false\n'
        f'[engine]\nname = "spark"\nremote = "sc://127.0.0.1:{port}"\n')
    (tmp_path / "tx.csv").write_text("customer_id,ts,amount\n1,2025-01-01,5\n")
    assert main(["train", "--quiet", "--config", "shop.toml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no Spark Connect server answers at 127.0.0.1:{port}" in err[0]


def test_a_process_started_inside_stderr_to_writes_its_stderr_to_the_file(tmp_path, capfd):
    """How a local master's JVM keeps its start-up notes off the terminal (not --verbose)."""
    log = tmp_path / "spark.log"
    with es.stderr_to(str(log)):
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('from the JVM\\n')"],
                       check=True)
    sys.stderr.write("ours again\n")
    assert log.read_text() == "from the JVM\n"
    assert capfd.readouterr().err == "ours again\n"
