"""Shared fixtures: synthetic data sets and trained models, each built once per test session.

Layers: tests/unit, tests/data and the fast part of tests/model run in ``make check`` (under
two minutes); whatever trains on the 20,000-customer default or runs the real command line
(tests/e2e, tests/robustness) is marked ``slow`` and runs in ``make test`` only.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from churnmodel.config import Config, DataConfig, ModelConfig, OutputConfig, SurvivalConfig, TrainingConfig
from churnmodel.data.io import load_default_tables
from churnmodel.data.synthetic import generate, write_synthetic
from churnmodel.modeling.train import train

SLOW_LAYERS = ("e2e", "robustness", "spark")  # real commands, servers, notebooks, a JVM: slow

# The small model every fast model test shares (seed 42, the default).
FAST_MODEL = ModelConfig(n_estimators=200, early_stopping_rounds=30)


# Under pytest-xdist (`make test` runs `-n 2`), tests are dealt out file by file, and the files
# sharing a trained session fixture go to the same worker, so each model is still trained once.
# (pytest-xdist 3.8's `--dist loadgroup` does not group under pytest 9: it renames `_nodeid`.)
# (test_quality.py also trains `default_no_events_training`, on the same worker.)
SHARED_MODEL_FILES = {
    "default_training": ("tests/model/test_quality.py", "tests/model/test_explain.py",
                         "tests/model/test_lifetime.py", "tests/e2e/test_evaluate_cli.py"),
    "small_training": ("tests/model/test_behaviour.py", "tests/model/test_backtest.py"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (any(f"tests/{layer}/" in item.nodeid for layer in SLOW_LAYERS)
                or {"default_training", "default_no_events_training"}
                & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.slow)


# Seconds each of the longest units took in `CI=true make test` (2026-12-07 20:30 UTC, an
# otherwise idle 2-core machine; both workers' setup + call + teardown from the JUnit XML;
# 1,099 s in all). The workers take units longest first, so that they finish together:
# xdist's own order is by number of tests, which put the Spark tests (a JVM, few tests)
# after a thousand quick ones, and one worker ran on alone at the end. A unit not listed
# counts 1 s a test in the slow layers, 0.05 s elsewhere; a stale figure only changes the
# order, never what runs.
UNIT_SECONDS = {
    "tests/model/test_real_log_shapes.py": 159, "tests/spark": 157, "default_training": 154,
    "tests/e2e/test_projects.py": 74, "tests/e2e/test_notebooks.py": 66,
    "tests/robustness/test_server_load.py": 50, "tests/e2e/test_mlflow.py": 49,
    "tests/e2e/test_cli.py": 48, "tests/e2e/test_team_server.py": 42,
    "tests/robustness/test_faults.py": 39, "tests/robustness/test_bad_input.py": 34,
    "small_training": 31, "tests/e2e/test_report.py": 26, "tests/e2e/test_bench.py": 23,
    "tests/e2e/test_snapshot.py": 18, "tests/robustness/test_odd_tables.py": 15,
    "tests/robustness/test_hostile.py": 14, "tests/data/test_point_in_time.py": 14,
    "tests/e2e/test_quiet.py": 13, "tests/e2e/test_python_api.py": 12,
}


def unit_seconds(unit: str, n_tests: int) -> float:
    """The expected seconds of a scheduling unit of ``n_tests`` tests (:data:`UNIT_SECONDS`).

    >>> unit_seconds("tests/spark", 16), unit_seconds("tests/e2e/test_new.py", 4)
    (157, 4.0)
    >>> unit_seconds("tests/unit/test_config.py", 40)
    2.0
    """
    if unit in UNIT_SECONDS:
        return UNIT_SECONDS[unit]
    slow = any(unit.startswith(f"tests/{layer}/") for layer in SLOW_LAYERS)
    return n_tests * (1.0 if slow else 0.05)


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    group_of = {path: group for group, paths in SHARED_MODEL_FILES.items() for path in paths}

    class SharedModelScheduling(LoadScopeScheduling):
        """``--dist loadfile``, with the files of one trained fixture as one unit, dealt out
        longest first (:func:`unit_seconds`)."""

        _longest_first = False  # the queue sorted yet (done once, at the first assignment)

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            if path.startswith("tests/spark/"):  # one worker, one Spark session (a JVM)
                return "tests/spark"
            return group_of.get(path, path)

        def _assign_work_unit(self, node) -> None:
            # the queue is complete at the first assignment (LoadScopeScheduling.schedule)
            if not self._longest_first:
                self._longest_first = True
                units = sorted(self.workqueue.items(),
                               key=lambda kv: -unit_seconds(kv[0], len(kv[1])))
                self.workqueue.clear()
                self.workqueue.update(units)
            super()._assign_work_unit(node)

    return SharedModelScheduling(config, log)


@pytest.fixture(scope="session")
def default_data_dir(tmp_path_factory) -> Path:
    """The synthetic default exactly as `make train` generates it (20,000 customers)."""
    d = tmp_path_factory.mktemp("default")
    write_synthetic(d, generate())
    return d


@pytest.fixture(scope="session")
def default_training(default_data_dir, tmp_path_factory):
    """One training run on the synthetic default, shared by the model-quality tests."""
    import pandas as pd

    warnings.filterwarnings("ignore", category=UserWarning)
    cfg = Config(data=DataConfig(dir=default_data_dir),
                 output=OutputConfig(model_dir=tmp_path_factory.mktemp("model")))
    tables = load_default_tables(default_data_dir)
    return train(tables, cfg, oracle=pd.read_parquet(default_data_dir / "oracle.parquet"))


@pytest.fixture(scope="session")
def default_no_events_training(tmp_path_factory):
    """The synthetic default without its engagement log (``data synth --events none``),
    trained like ``default_training``: the world of purchase logs alone.

    Its tests read the candidates' test metrics and predictions, which come before the refit
    and never touch the time-to-churn model, so both are off (about half of its training).
    """
    import pandas as pd

    warnings.filterwarnings("ignore", category=UserWarning)
    d = tmp_path_factory.mktemp("default_no_events")
    write_synthetic(d, generate(events="none"))
    cfg = Config(data=DataConfig(dir=d), output=OutputConfig(model_dir=d / "model"),
                 training=TrainingConfig(refit=False), survival=SurvivalConfig(enabled=False))
    return train(load_default_tables(d), cfg, oracle=pd.read_parquet(d / "oracle.parquet"))


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory) -> Path:
    """A small synthetic set (2,000 customers) for fast end-to-end and determinism tests."""
    d = tmp_path_factory.mktemp("small")
    write_synthetic(d, generate(customers=2_000, seed=7))
    return d


@pytest.fixture(scope="session")
def small_config(small_data_dir) -> Config:
    """How ``small_training`` trains: FAST_MODEL on 8 labelled monthly cutoffs, not the
    default 15 (still the full ladder step, at half the feature building)."""
    return Config(data=DataConfig(dir=small_data_dir), model=FAST_MODEL,
                  training=TrainingConfig(n_cutoffs=8))


@pytest.fixture(scope="session")
def small_training(small_config):
    """One training with ``small_config``, shared by the behaviour tests."""
    warnings.filterwarnings("ignore", category=UserWarning)
    return train(load_default_tables(small_config.data.dir), small_config)


@pytest.fixture
def fast_model_config() -> ModelConfig:
    return FAST_MODEL
