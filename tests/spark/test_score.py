"""`churnmodel score --engine spark` writes the local engine's score file, row for row and
byte for byte: probabilities, bands, states, actions, values, drivers, levers, time to churn,
the RFM segment and the call list."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.config import load_config
from churnmodel.data.io import load_tables
from churnmodel.engine import spark as es
from churnmodel.modeling.train import train
from churnmodel.scoring import score_customers

pytestmark = pytest.mark.spark

def test_score_on_spark_writes_the_local_file(spark, project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    monkeypatch.setenv("CHURNMODEL_ROOT", str(project))
    for engine in ("duckdb", "spark"):
        assert main(["score", "--config", "shop.toml", "--out", f"{engine}.parquet", "--engine",
                     engine, "--call-list", "50", "--quiet"]) == 0, capsys.readouterr().err
    local, on_spark = pd.read_parquet("duckdb.parquet"), pd.read_parquet("spark.parquet")
    pd.testing.assert_frame_equal(local, on_spark, check_exact=True)
    assert local["driver_1_sentence"].notna().any() and local["action"].nunique() >= 3
    assert Path("duckdb.parquet").read_bytes() == Path("spark.parquet").read_bytes()
    assert Path("duckdb_call_list.csv").read_text() == Path("spark_call_list.csv").read_text()
    assert Path("duckdb_drift.csv").read_text() == Path("spark_drift.csv").read_text()


def test_score_customers_on_spark_equals_the_library_call(spark, engine, project, monkeypatch):
    monkeypatch.setenv("CHURNMODEL_ROOT", str(project))
    cfg = load_config(project / "shop.toml")
    from churnmodel.modeling.model import ChurnModel

    model = ChurnModel.load(cfg.output.model_dir)
    tables = load_tables(cfg)
    as_of = pd.Timestamp("2025-09-30")  # an earlier date: another population
    local = score_customers(model, tables, as_of, cfg.scoring)
    seen: list[pd.DataFrame] = []
    on_spark = es.score_customers(model, tables, as_of, cfg.scoring, engine=engine, spark=spark,
                                  on_features=seen.append)
    pd.testing.assert_frame_equal(local, on_spark, check_exact=True)
    assert local.attrs == on_spark.attrs
    pd.testing.assert_frame_equal(seen[0], model.features(tables, as_of), check_exact=True)


def test_train_on_spark_fits_the_local_model(spark, engine, project, monkeypatch):
    """The training set built on Spark (no sample: fewer customers than the cap), then
    everything after it unchanged: the same champion, metrics, threshold and probabilities."""
    monkeypatch.setenv("CHURNMODEL_ROOT", str(project))
    cfg = load_config(project / "shop.toml")
    cfg = dataclasses.replace(cfg, engine=dataclasses.replace(engine, name="spark"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = train(load_tables(cfg), cfg)
    local = json.loads((project / "local_metrics.json").read_text())
    assert json.loads(json.dumps(result.metrics_json(), default=str)) == local
    from churnmodel.modeling.model import ChurnModel

    shipped = ChurnModel.load(cfg.output.model_dir)
    tables = load_tables(cfg)
    X = shipped.features(tables, "2025-12-31")
    assert (result.model.predict_proba(X) == shipped.predict_proba(X)).all()
    assert result.model.info["scoring"] == shipped.info["scoring"]


def test_score_on_spark_into_a_pipe_prints_no_jvm_line(project):
    """A local master's JVM says "Using incubator modules" and "Setting default log level"
    on its stderr before any log configuration: without --verbose those go to Spark's log
    file, and the terminal gets churnmodel's lines only."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, CHURNMODEL_ROOT=str(project))
    r = subprocess.run([sys.executable, "-m", "churnmodel.cli", "score", "--config", "shop.toml",
                        "--engine", "spark", "--out", "piped.parquet", "--quiet"], cwd=project,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    noise = [line for line in (r.stdout + r.stderr).splitlines()
             if any(m in line for m in ("WARNING:", "WARN", "log level", "org.apache", "INFO"))]
    assert noise == [] and "wrote piped.parquet" in r.stdout
    assert "Setting default log level" in Path(es.SPARK_LOG).read_text()
