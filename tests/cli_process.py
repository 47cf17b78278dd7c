"""Run ``churnmodel <command>`` for a test: in this process by default, or as a real process.

A new Python process pays for its start and its imports again (pandas, scikit-learn,
LightGBM, SHAP, MLflow: 5 to 8 s a command on a 2-core machine), which was a fifth of the
suite's time. In process, :func:`run` calls ``churnmodel.cli.main`` as the entry point does,
with what a new process would have: the working directory, the environment (less the
variables named in ``unset``), a root logger writing to the command's own stderr, and stdout
and stderr captured; all of it is restored afterwards. It returns a
:class:`subprocess.CompletedProcess` like ``subprocess.run``.

The tests that are about the process itself (what reaches a pipe, signals, two commands at
once, the installed entry point) start real processes and do not use this module.
``CHURNMODEL_TEST_CLI=subprocess`` runs every call here as a real process too, to check that
both ways give the same results.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

TIMEOUT = 600

# What MLflow and alembic print when their loggers reach the terminal: MLflow's log format is
# "<date> <time> INFO mlflow.<module>: ..."; alembic's names its logger.
LIBRARY_MARKS = (" mlflow.", "INFO mlflow", "alembic", "Successfully registered", "Created version",
                 "Validating input example", "Creating initial", "INFO ")


def library_lines(text: str) -> list[str]:
    """The lines of ``text`` a library's logger wrote (:data:`LIBRARY_MARKS`)."""
    return [line for line in text.splitlines() if any(mark in line for mark in LIBRARY_MARKS)]


def _as_process(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "churnmodel.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


@contextlib.contextmanager
def _fresh_root_logger(stream: io.StringIO):
    """The root logger as a new process has it (no handler, WARNING), so that the command's
    ``logging.basicConfig`` writes to ``stream``; pytest's handlers are put back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    loggers = {name: logging.getLogger(name).level
               for name in ("churnmodel", "mlflow", "alembic", "sqlalchemy", "huey", "urllib3",
                            "matplotlib", "numba", "shap", "lightgbm")}
    for h in handlers:
        root.removeHandler(h)
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for h in root.handlers[:]:
            root.removeHandler(h)
            if getattr(h, "stream", None) is stream:
                h.close()
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
        for name, lv in loggers.items():
            logging.getLogger(name).setLevel(lv)


def run(*args: str, cwd: Path, unset: tuple[str, ...] = ("MLFLOW_TRACKING_URI",),
        env: dict[str, str] | None = None, process: bool = False) -> subprocess.CompletedProcess:
    """``churnmodel *args`` in ``cwd``; ``env`` adds variables, ``unset`` removes them;
    ``process`` starts a real process (``python -m churnmodel.cli``)."""
    new_env = {k: v for k, v in os.environ.items() if k not in unset}
    new_env.update(env or {})
    if process or os.environ.get("CHURNMODEL_TEST_CLI") == "subprocess":
        return _as_process(args, cwd, new_env)

    from churnmodel.cli import main

    out, err = io.StringIO(), io.StringIO()
    with as_a_new_process(new_env, cwd, out, err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # as the interpreter turns it into an exit status
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:  # raised through (--debug): a traceback and status 1
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(["churnmodel", *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def as_a_new_process(env: dict[str, str], cwd: Path, out: io.StringIO, err: io.StringIO):
    """Inside: ``env`` as the environment, ``cwd`` as the working directory, the warning
    filters and the root logger as a new process has them, stdout and stderr into ``out`` and
    ``err``; all of it put back afterwards."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        with (warnings.catch_warnings(), _fresh_root_logger(err),
              contextlib.redirect_stdout(out), contextlib.redirect_stderr(err)):
            yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
