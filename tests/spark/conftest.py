"""One local[2] Spark session for every Spark engine test (tests/spark runs on one xdist
worker: see ``_split_scope`` in tests/conftest.py).

These tests never skip: without PySpark or Java they fail, saying how to install them
(``make venv`` installs the ``spark`` extra; scripts/ensure-java installs Java).
"""

from __future__ import annotations

import warnings

import pytest

from churnmodel.config import EngineConfig

ENGINE = EngineConfig(name="spark", master="local[2]", buckets=2)


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
