"""Quiet by default: `churnmodel train` into a pipe shows our lines only.

No MLflow or alembic log line (they would say ``INFO mlflow...`` or ``alembic``), no
"Successfully registered model", and no carriage return from a progress bar: stdout and
stderr are pipes here, not a terminal. ``--verbose`` brings MLflow's lines back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from churnmodel.data.synthetic import generate, write_synthetic

# MLflow's log format is "<date> <time> INFO mlflow.<module>: ..."; alembic's names its logger
LIBRARY_MARKS = (" mlflow.", "INFO mlflow", "alembic", "Successfully registered", "Created version",
                 "Validating input example", "Creating initial", "INFO ")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("quiet")
    write_synthetic(d / "data", generate(customers=600, seed=4))
    (d / "config.toml").write_text(
        '[data]\ndir = "data"\n[training]\nn_cutoffs = 8\n'
        '[model]\nn_estimators = 40\nearly_stopping_rounds = 10\n'
        'candidates = ["lightgbm", "recency"]\n[output]\nmodel_dir = "model"\n'
        '[tracking]\nexperiment = "quiet"\nmodel_name = "quiet"\n')
    return d


def train(project: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL")}
    return subprocess.run([sys.executable, "-m", "churnmodel.cli", "train", "--config", "config.toml",
                           *extra], cwd=project, env=env, capture_output=True, text=True, timeout=900)


def test_train_into_a_pipe_prints_no_library_line_and_no_carriage_return(project):
    r = train(project)  # tracked: creates the SQLite store, validates the signature, registers
    assert r.returncode == 0, r.stderr
    assert "MLflow: run " in r.stdout and "registered 'quiet' version 1" in r.stdout
    noise = [line for line in (r.stdout + r.stderr).splitlines()
             if any(mark in line for mark in LIBRARY_MARKS)]
    assert noise == []
    assert "\r" not in r.stdout + r.stderr
    assert (project / "mlflow.db").exists()


def test_verbose_shows_the_library_lines_again(project):
    r = train(project, "--verbose", "--model-dir", "model_verbose", "--no-report")
    assert r.returncode == 0, r.stderr
    assert "INFO mlflow" in r.stderr and "Validating input example" in r.stderr
    assert "\r" not in r.stdout + r.stderr
