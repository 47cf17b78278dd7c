"""One local[2] Spark session for every Spark engine test (tests/spark runs on one xdist
worker: see ``_split_scope`` in tests/conftest.py).

These tests never skip: without PySpark or Java they fail, saying how to install them
(``make venv`` installs the ``spark`` extra; scripts/ensure-java installs Java).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from churnmodel.config import EngineConfig, load_config
from churnmodel.data.io import load_tables
from churnmodel.data.synthetic import generate, write_synthetic
from churnmodel.modeling.train import train

ENGINE = EngineConfig(name="spark", master="local[2]", buckets=2)

# The tests' JVMs (this session's, the piped `score` process's and the Spark Connect
# server's) live a minute or two: with C1 only and the serial collector they start and warm
# up faster. Back to back on 2026-12-07 (an otherwise idle 2-core machine), these 16 tests
# took 113.5 and 112.0 s with it against 126.4 and 121.2 s without. Only the tests set it:
# churnmodel leaves the JVM's defaults (a long Spark job gains from the C2 compiler).
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(scope="session")
def engine() -> EngineConfig:
    """The engine settings of these tests: local[2], two buckets (one Spark task per core)."""
    return ENGINE


@pytest.fixture(scope="session")
def spark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.fail("PySpark is not installed: run `make venv` (the dev extra includes "
                    "churnmodel[spark]) or pip install -e '.[spark]'")
    from churnmodel.engine.spark import INSTALL_JAVA, java_problem, spark_session

    problem = java_problem()
    if problem:
        pytest.fail(f"{problem}; the Spark engine tests need it. Fix: {INSTALL_JAVA}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # py4j's sockets at JVM start
        session = spark_session(ENGINE)
    yield session
    session.stop()


CONFIG = """
[data]
dir = "data"
[tracking]
enabled = false
[training]
n_cutoffs = 7
[model]
candidates = ["lightgbm"]
n_estimators = 60
early_stopping_rounds = 20
[engine]
buckets = 2
"""


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """A small synthetic project (all five tables) with its model trained locally, shared by
    the Spark tests of scoring, Spark Connect and catalog tables."""
    root = tmp_path_factory.mktemp("spark-score")
    write_synthetic(root / "data", generate(customers=500, seed=11))
    (root / "shop.toml").write_text(CONFIG)
    with pytest.MonkeyPatch.context() as mp:  # the project's models/ under its own root
        mp.setenv("CHURNMODEL_ROOT", str(root))
        cfg = load_config(root / "shop.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = train(load_tables(cfg), cfg)
    result.model.save(cfg.output.model_dir)
    root.joinpath("local_metrics.json").write_text(json.dumps(result.metrics_json(), default=str))
    return root
