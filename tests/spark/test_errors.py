"""A failure on the Spark engine is one clear error, like the local engine's: never a Java
or Python stack trace."""

from __future__ import annotations

import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.data.io import tables_from_frames
from churnmodel.engine import spark as es
from churnmodel.errors import ChurnModelError
from churnmodel.features import REGISTRY, register

pytestmark = pytest.mark.spark

TRACE = ("Traceback", "py4j", "org.apache", "java.", "at org", "PythonException")


def test_a_corrupt_parquet_table_is_one_clear_error(spark, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "transactions.parquet").write_bytes(b"PAR1" + b"\x00garbage" * 50 + b"PAR1")
    (tmp_path / "shop.toml").write_text('[data.transactions]\npath = "transactions.parquet"\n'
                                        '[tracking]\nenabled = false\n[engine]\nname = "spark"\n')
    assert main(["train", "--config", "shop.toml", "--no-track", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "transactions.parquet" in err[0] and not any(t in err[0] for t in TRACE), err


def test_a_failure_inside_a_spark_task_is_one_clear_error(spark, engine):
    """A builder the executors do not know (churnmodel differs there): the task's own
    error comes back, not Spark's trace."""

    @register("only_on_the_driver", needs=("transactions",))
    def only_here(tables, cutoff, customers):
        return pd.DataFrame({"x": 1.0}, index=customers)

    tx = pd.DataFrame({"customer_id": [1, 2, 3], "amount": [5.0, 6.0, 7.0],
                       "ts": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])})
    try:
        with pytest.raises(ChurnModelError) as err:
            es.features(tables_from_frames({"transactions": tx}), "2025-03-31",
                        ["rfm", "only_on_the_driver"], 90, 365, engine, spark=spark)
    finally:
        REGISTRY.pop("only_on_the_driver")
    text = str(err.value)
    assert "unknown feature builder 'only_on_the_driver'" in text, text
    assert "\n" not in text and not any(t in text for t in TRACE), text


def test_java_missing_says_how_to_install_it(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "java" in es.java_problem().lower()
    assert "openjdk-17-jre-headless" in es.INSTALL_JAVA and "scripts/ensure-java" in es.INSTALL_JAVA
