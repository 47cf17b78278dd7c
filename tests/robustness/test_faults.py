"""Faults: killed writers, failed and concurrent trainings, unwritable outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cli_process

CONFIG = ('[data]\ndir = "data"\n[data.synthetic]\ncustomers = 1200\nseed = 5\n'
          '[model]\nn_estimators = 60\n[training]\nn_cutoffs = 8\n'
          '[output]\nreport = false\n[survival]\nenabled = false\n'
          '[tracking]\nexperiment = "faults"\nmodel_name = "churn_faults"\n')


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return cli_process.run(*args, cwd=cwd)


def popen_cli(*args: str, cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen([sys.executable, "-m", "churnmodel.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("faults")
    (d / "config.toml").write_text(CONFIG)
    r = cli("data", "synth", "--config", "config.toml", cwd=d)
    assert r.returncode == 0, r.stderr
    return d


# --- a writer killed mid-write -------------------------------------------------------------

WRITER = textwrap.dedent("""
    import signal, sys
    import numpy as np, pandas as pd
    from churnmodel.cli import _terminate
    from churnmodel.scoring import write_table
    signal.signal(signal.SIGTERM, _terminate)
    n = 4_000_000
    df = pd.DataFrame({"customer_id": np.arange(n), "churn_probability": np.random.rand(n),
                       "note": ["some text"] * n})
    print("ready", flush=True)
    try:
        write_table(df, sys.argv[1])
    except KeyboardInterrupt:
        sys.exit(130)
""")


def _kill_while_writing(tmp_path: Path, sig: int) -> tuple[Path, int]:
    target = tmp_path / "scores.csv"
    target.write_text("customer_id,churn_probability\n1,0.5\n")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        temps = [p for p in tmp_path.glob(".scores.csv.*.tmp") if p.stat().st_size > 100_000]
        if temps:
            break
        assert proc.poll() is None, "the writer finished before it could be killed"
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("the writer never started writing")
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    return target, code


def test_sigterm_mid_write_keeps_the_previous_output_and_removes_the_temp_file(tmp_path):
    target, code = _kill_while_writing(tmp_path, signal.SIGTERM)
    assert code == 130
    assert target.read_text() == "customer_id,churn_probability\n1,0.5\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_sigkill_mid_write_keeps_the_previous_output_and_the_next_run_cleans_up(tmp_path):
    from churnmodel.scoring import check_output_path

    target, code = _kill_while_writing(tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert target.read_text() == "customer_id,churn_probability\n1,0.5\n"  # never partial
    assert len(list(tmp_path.glob(".scores.csv.*.tmp"))) == 1  # SIGKILL cannot clean up...
    check_output_path(target, overwrite=True)  # ...the next run does, before writing
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


# --- MLflow: failed and concurrent trainings ------------------------------------------------

def _client(d: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{d / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_a_failed_training_is_recorded_failed_and_does_not_move_the_alias(project):
    r = cli("train", "--config", "config.toml", "--quiet", "--model-dir", "m_ok", cwd=project)
    assert r.returncode == 0, r.stderr
    (project / "bad.toml").write_text(CONFIG + "[labels]\nhorizon_days = 2000\n")
    r = cli("train", "--config", "bad.toml", "--quiet", "--model-dir", "m_bad", cwd=project)
    assert r.returncode == 2 and "horizon" in r.stderr and "Traceback" not in r.stderr

    client = _client(project)
    exp = client.get_experiment_by_name("faults")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    assert [run.info.status for run in runs][-2:] == ["FINISHED", "FAILED"]
    assert "horizon" in runs[-1].data.tags["error"]
    versions = client.search_model_versions("name='churn_faults'")
    champion = client.get_model_version_by_alias("churn_faults", "champion")
    assert str(champion.version) == str(max(int(v.version) for v in versions))
    assert champion.run_id == runs[-2].info.run_id  # still the successful run's model


def test_two_trainings_at_once_on_a_fresh_sqlite_store_both_finish_and_are_recorded(project,
                                                                                 tmp_path):
    d = tmp_path
    (d / "config.toml").write_text(CONFIG.replace('dir = "data"', f'dir = "{project / "data"}"')
                                   .replace('"faults"', '"concurrent"'))
    procs = [popen_cli("train", "--config", "config.toml", "--quiet", "--model-dir", f"m{i}",
                       cwd=d) for i in (1, 2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "MLflow: run" in out
    client = _client(d)
    runs = client.search_runs([client.get_experiment_by_name("concurrent").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
    assert len(client.search_model_versions("name='churn_faults'")) == 2
    assert client.get_model_version_by_alias("churn_faults", "champion") is not None


# --- outputs that cannot be written ------------------------------------------------------------

def test_an_unwritable_output_directory_fails_before_any_heavy_work(project):
    # /proc refuses new files even for root, unlike chmod-ed directories
    r = cli("score", "--config", "config.toml", "--model", "m_ok", "--out", "/proc/scores.csv",
            cwd=project)
    assert r.returncode == 2
    assert "not writable" in r.stderr and "/proc" in r.stderr
    assert "loaded" not in r.stdout  # refused before reading any data


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_directory_is_refused(project, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = cli("score", "--config", "config.toml", "--model", "m_ok", "--out",
                str(ro / "s.csv"), cwd=project)
    finally:
        ro.chmod(0o700)
    assert r.returncode == 2 and "not writable" in r.stderr


def test_a_missing_output_directory_is_refused(project):
    r = cli("score", "--config", "config.toml", "--model", "m_ok", "--out", "nope/s.csv",
            cwd=project)
    assert r.returncode == 2 and "does not exist" in r.stderr and "loaded" not in r.stdout
