"""``[data.<table>] table = "catalog.schema.name"``: tables from Spark's catalog.

The views here are made from the project's files (``createOrReplaceTempView``), as a
Databricks or Hive catalog would hold them: Spark's own types (timestamps in microseconds,
text, no pandas categories). They load exactly as the same rows from CSV files, and `score`
from them writes the scores `score` writes from the Parquet files (the record says where
the rows came from: "spark table cm_events").
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnmodel.cli import main
from churnmodel.config import config_from_dict
from churnmodel.data.io import load_tables

pytestmark = pytest.mark.spark

NAMES = ("transactions", "feedback", "tickets", "customers", "events")


@pytest.fixture(scope="module")
def views(spark, project) -> dict[str, str]:
    """Each table of the project's data as a Spark view ``cm_<table>``."""
    out = {}
    for n in NAMES:
        df = pd.read_parquet(project / "data" / f"{n}.parquet")
        spark.createDataFrame(pa.Table.from_pandas(df, preserve_index=False)) \
            .createOrReplaceTempView(f"cm_{n}")
        out[n] = f"cm_{n}"
    yield out
    for v in out.values():
        spark.catalog.dropTempView(v)


def test_a_catalog_table_loads_as_the_same_rows_from_csv_files(views, project, tmp_path):
    for n in NAMES:
        pd.read_parquet(project / "data" / f"{n}.parquet").to_csv(tmp_path / f"{n}.csv",
                                                                   index=False)
    from_spark = load_tables(config_from_dict(
        {"data": {n: {"table": v} for n, v in views.items()}, "engine": {"name": "spark"}},
        tmp_path))
    from_csv = load_tables(config_from_dict(
        {"data": {n: {"path": f"{n}.csv"} for n in NAMES}}, tmp_path))
    for n in NAMES:
        pd.testing.assert_frame_equal(getattr(from_spark, n), getattr(from_csv, n),
                                      check_exact=True)
    assert from_spark.events["ts"].dtype == "datetime64[ns]" and len(from_spark.events) > 10_000


def _table_config(project: Path, views: dict[str, str], name: str) -> None:
    body = "".join(f'[data.{n}]\ntable = "{v}"\n' for n, v in views.items())
    text = (project / "shop.toml").read_text().replace('[data]\ndir = "data"\n', "")
    (project / name).write_text('[project]\nname = "shop"\n' + body + text
                                + 'name = "spark"\n')  # appended to shop.toml's [engine]


def test_score_from_catalog_tables_writes_the_file_of_the_parquet_files(
        views, project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    monkeypatch.setenv("CHURNMODEL_ROOT", str(project))
    _table_config(project, views, "catalog.toml")
    assert main(["score", "--config", "catalog.toml", "--out", "catalog.parquet",
                 "--quiet"]) == 0, capsys.readouterr().err
    assert main(["score", "--config", "shop.toml", "--out", "files.parquet", "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet("catalog.parquet"),
                                  pd.read_parquet("files.parquet"), check_exact=True)
    meta = {f: json.loads(pq.read_metadata(f).metadata[b"churnmodel.scores"])
            for f in ("catalog.parquet", "files.parquet")}
    source = meta["catalog.parquet"].pop("data_source")
    assert source == {n: f"spark table cm_{n}" for n in sorted(NAMES)}
    meta["files.parquet"].pop("data_source")
    assert meta["catalog.parquet"] == meta["files.parquet"]


def test_a_table_spark_does_not_know_is_one_clear_error(views, project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    monkeypatch.setenv("CHURNMODEL_ROOT", str(project))
    _table_config(project, {**views, "feedback": "main.crm.no_such_view"}, "missing.toml")
    assert main(["score", "--config", "missing.toml", "--out", "x.parquet", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "table 'feedback'" in err[0] and "no table or view 'main.crm.no_such_view'" in err[0]
    assert "SHOW TABLES" in err[0] and "Traceback" not in err[0] and "org.apache" not in err[0]
    assert not Path("x.parquet").exists()
