"""End to end through the real command line: synth -> train -> score, and user CSVs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.data.synthetic import generate
from churnmodel.explain import driver_columns

import cli_process


def run(*args: str, cwd: Path, process: bool = False) -> subprocess.CompletedProcess:
    return cli_process.run(*args, cwd=cwd, unset=(), process=process)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("project")
    (d / "config.toml").write_text(
        '[data]\ndir = "data"\n[data.synthetic]\ncustomers = 1500\nseed = 11\n'
        '[model]\nn_estimators = 300\n[training]\nn_cutoffs = 11\n'  # the fewest with a
        '[output]\nmodel_dir = "model"\n')  # time-to-churn evaluation (tests/e2e/test_mlflow.py)
    return d


def test_synth_train_score_round_trip(project):
    r = run("data", "synth", "--config", "config.toml", cwd=project, process=True)
    assert r.returncode == 0, r.stderr
    assert (project / "data" / "transactions.parquet").exists()

    # a real process into pipes, tracked, without --quiet: our step lines only (quiet by
    # default: no MLflow or alembic line, no carriage return from a progress bar)
    r = cli_process.run("train", "--config", "config.toml", cwd=project, process=True,
                        unset=("MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL"))
    assert r.returncode == 0, r.stderr
    assert cli_process.library_lines(r.stdout + r.stderr) == []
    assert "\r" not in r.stdout + r.stderr
    assert "MLflow: run " in r.stdout and "registered 'churnmodel-config' version 1" in r.stdout
    assert (project / "mlflow.db").exists()
    assert "oracle (true probability)" in r.stdout and "baseline: bgnbd" in r.stdout
    assert "drift test cutoff vs " in r.stdout
    assert (project / "model" / "metrics.json").exists()

    r = run("score", "--config", "config.toml", "--as-of", "2025-11-30", "--out", "s.parquet",
            cwd=project)
    assert r.returncode == 0, r.stderr
    scores = pd.read_parquet(project / "s.parquet")
    assert list(scores.columns)[:8] == [
        "customer_id", "churn_probability", "risk_band", "state", "at_risk", "action",
        "customer_value", "expected_value_at_risk"]
    assert "rfm_segment" in scores.columns and set(driver_columns(3)) <= set(scores.columns)
    assert scores["customer_id"].is_unique and scores["churn_probability"].between(0, 1).all()
    assert scores["churn_probability"].is_monotonic_decreasing  # riskiest first
    risky = scores[scores["at_risk"]]
    assert len(risky) > 0 and risky["driver_1_sentence"].notna().all()
    contacted = scores["action"].isin(["retain now", "win back"])
    assert scores.loc[~contacted, "driver_1_feature"].isna().all()
    assert "at risk, to retain now (p >= " in r.stdout and "expected value at risk" in r.stdout
    assert "win back (lapsed, worth an offer): " in r.stdout and "states: active " in r.stdout
    assert "on the model's reference cutoff " in r.stdout and "on validation)" in r.stdout  # yardsticks
    # feature drift against the validation cutoff, one row per model feature
    drift = pd.read_csv(project / "s_drift.csv")
    meta = json.loads((project / "model" / "metadata.json").read_text())
    assert sorted(drift["feature"]) == sorted(meta["feature_names"])
    assert drift["psi"].ge(0).all() and drift["psi"].is_monotonic_decreasing
    assert f"drift vs {meta['reference']['cutoff']}: " in r.stdout


def test_score_refuses_to_overwrite_without_the_flag(project):
    (project / "exists.csv").write_text("x\n")
    r = run("score", "--config", "config.toml", "--out", "exists.csv", cwd=project)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert "Traceback" not in r.stderr


def test_train_as_of_ignores_later_events(project):
    r = run("train", "--config", "config.toml", "--quiet", "--as-of", "2025-06-30",
            "--model-dir", "model_june", "--no-report", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "test 2025-04-01" in r.stdout  # latest month start with a complete 90-day window


def test_bad_input_prints_one_clear_line_and_exits_2(tmp_path):
    pd.DataFrame({"cust": ["a"], "day": ["not a date"], "usd": [3.0]}).to_csv(
        tmp_path / "o.csv", index=False)
    (tmp_path / "c.toml").write_text(
        '[data.transactions]\npath = "o.csv"\ncustomer_id = "cust"\nts = "day"\namount = "usd"\n')
    r = run("train", "--config", "c.toml", cwd=tmp_path)
    assert r.returncode == 2
    assert "table 'transactions', column 'ts'" in r.stderr and "'not a date'" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_usage_error_is_one_error_line_with_status_2(tmp_path):
    r = run("train", "--as-of", "31/31/2025", cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: churnmodel train: argument --as-of")
    assert "YYYY-MM-DD" in lines[0] and "usage:" not in r.stderr


def test_score_flags_amounts_that_changed_unit_as_major_drift(project):
    """The same customers with every amount in cents: the money features move, nothing else."""
    cents = project / "data_cents"
    shutil.copytree(project / "data", cents, dirs_exist_ok=True)
    tx = pd.read_parquet(cents / "transactions.parquet")
    tx.assign(amount=tx["amount"] * 100).to_parquet(cents / "transactions.parquet")
    (project / "cents.toml").write_text('[project]\nname = "config"\n[data]\ndir = "data_cents"\n'
                                       '[output]\nmodel_dir = "model"\n')
    r = run("score", "--config", "cents.toml", "--as-of", "2025-11-30", "--out", "cents.csv",
            "--no-drivers", cwd=project)
    assert r.returncode == 0, r.stderr
    drift = pd.read_csv(project / "cents_drift.csv").set_index("feature")
    major = set(drift.index[drift["level"] == "major"])
    assert {"monetary_total", "spend_365d"} <= major
    assert drift.loc["recency_days", "level"] == "stable" and "n_90d" not in major
    assert "major (PSI > 0.25)" in r.stdout and "monetary" in r.stdout


def test_score_with_a_model_saved_before_drift_references_says_so(project, tmp_path):
    from churnmodel.modeling.model import ChurnModel

    m = ChurnModel.load(project / "model")
    m.info.pop("reference")
    m.save(tmp_path / "old")
    r = run("score", "--config", "config.toml", "--model", str(tmp_path / "old"), "--out",
            str(tmp_path / "s.csv"), "--no-drivers", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "drift: not measured (the model was trained before drift references" in r.stdout
    assert not (tmp_path / "s_drift.csv").exists()


def test_backtest_prints_each_fold_and_the_summary_and_writes_the_metrics(project):
    r = run("backtest", "--config", "config.toml", "--folds", "2", "--out", "bt.csv", "--quiet",
            cwd=project)
    assert r.returncode == 0, r.stderr
    assert "fold 1: as of 2025-10-01 (full step" in r.stdout and "fold 2: as of 2025-07-01" in r.stdout
    assert "2 folds 3 months apart" in r.stdout and "shipped ahead" in r.stdout
    assert "lightgbm refit" in r.stdout and "shipped champion" in r.stdout
    frame = pd.read_csv(project / "bt.csv")
    assert len(frame) == 2 * 9  # four candidates as chosen and refitted, and the oracle, per fold
    assert frame.groupby("fold")["shipped"].sum().tolist() == [1, 1]
    r = run("backtest", "--config", "config.toml", "--folds", "0", cwd=project)
    assert r.returncode == 2 and r.stderr.count("error:") == 1 and "folds must be at least 1" in r.stderr


def test_explain_prints_both_directions_for_chosen_customers(project):
    scores = pd.read_parquet(project / "s.parquet")
    ids = [str(scores["customer_id"].iloc[0]), str(scores["customer_id"].iloc[-1])]
    r = run("explain", "--config", "config.toml", "--as-of", "2025-11-30", "--customers",
            ",".join(ids), "--out", "why.csv", cwd=project)
    assert r.returncode == 0, r.stderr
    for cid in ids:
        assert f"customer {cid} at 2025-11-30: churn probability " in r.stdout
    assert "pushes risk up:" in r.stdout and "holds risk down:" in r.stdout
    why = pd.read_csv(project / "why.csv")
    assert set(why["customer_id"].astype(str)) == set(ids)
    assert {"up", "down"} <= set(why["direction"]) <= {"up", "down", "lever"}


def test_a_training_without_report_removes_the_replaced_models_figures_and_page(
        tmp_path, monkeypatch, capsys):
    """``[output] report = false`` (a scheduled retraining): no figures, no page, and the ones
    the previous model left behind go, so that `churnmodel report` cannot show them as this
    model's."""
    import warnings

    from churnmodel.cli import main

    monkeypatch.chdir(tmp_path)
    generate(customers=400, seed=3).transactions.to_csv("tx.csv", index=False)
    Path("c.toml").write_text(
        '[data.transactions]\npath = "tx.csv"\n[model]\nn_estimators = 30\n'
        'candidates = ["lightgbm", "recency"]\n[training]\nn_cutoffs = 6\n'
        '[output]\nmodel_dir = "m"\nreport_dir = "r"\nreport = false\n[tracking]\nenabled = false\n')
    (tmp_path / "m" / "plots").mkdir(parents=True)
    (tmp_path / "m" / "plots" / "roc.png").write_bytes(b"old")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "churn_report.html").write_text("<html>the old model</html>")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["train", "--config", "c.toml", "--quiet"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "report: not written ([output] report = false or --no-report)" in out
    removed = out.split("removed the replaced model's ", 1)[1].splitlines()[0]
    assert removed == f"{tmp_path / 'm' / 'plots'}, {tmp_path / 'r' / 'churn_report.html'}"
    assert (tmp_path / "m" / "model.joblib").exists()
    assert not (tmp_path / "m" / "plots").exists() and not list((tmp_path / "r").glob("*.html"))
    assert "plots to" not in out
