"""``--verbose`` brings MLflow's lines back to `churnmodel train` into a pipe.

Quiet by default (our lines only: no MLflow or alembic log line, no carriage return from a
progress bar) is checked on the tracked training of a real process in
tests/e2e/test_cli.py::test_synth_train_score_round_trip, with :func:`cli_process.library_lines`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from churnmodel.data.synthetic import generate, write_synthetic

import cli_process


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


def test_verbose_shows_the_library_lines_again(project):
    r = cli_process.run("train", "--config", "config.toml", "--verbose", "--model-dir",
                        "model_verbose", "--no-report", cwd=project, process=True,
                        unset=("MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL"))
    assert r.returncode == 0, r.stderr
    assert "INFO mlflow" in r.stderr and "Validating input example" in r.stderr
    assert "\r" not in r.stdout + r.stderr


def test_our_own_log_lines_read_like_the_commands_notes_and_a_librarys_keep_its_name():
    """A churnmodel warning (e.g. the time-to-churn model that cannot be evaluated) prints as
    ``warning: ...``, like the commands' own notes; a library's keeps level and name."""
    import io
    import logging
    import os

    from churnmodel.cli import _setup_logging

    err = io.StringIO()
    with cli_process.as_a_new_process(dict(os.environ), Path.cwd(), io.StringIO(), err):
        _setup_logging(verbose=False, debug=False)
        logging.getLogger("churnmodel.modeling.lifetime").warning("not evaluated (%d cutoffs)", 0)
        logging.getLogger("urllib3.connectionpool").warning("a library's line")
        logging.getLogger("churnmodel.features.base").info("below the level: not shown")
    assert err.getvalue().splitlines() == ["warning: not evaluated (0 cutoffs)",
                                           "WARNING urllib3.connectionpool: a library's line"]
