"""Snapshot mode end to end through the real command line: a customers table with a Yes/No
churn flag and no purchase log is generated, trained on, scored in a second file, reported
and served over REST."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnmodel.explain import driver_columns

import cli_process


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return cli_process.run(*args, cwd=cwd)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """2,000 generated customers with the quirks of real exports, trained once."""
    d = tmp_path_factory.mktemp("snapshot")
    r = run("data", "synth", "--scenario", "snapshot", "--customers", "2000", "--seed", "7",
            "--out", "data", cwd=d)
    assert r.returncode == 0, r.stderr
    path = d / "data" / "customers.csv"
    assert b"\r\n" in path.read_bytes()[:2000]  # CRLF, like a spreadsheet export
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.insert(1, "Country", "US")  # constant
    df["AccountNo"] = [f"AC{i:06d}" for i in range(len(df))]  # id-like, unique per row
    df.loc[df.index[:5], "MonthlyCharges"] = " "  # blank strings in a numeric column
    df.loc[df.index[-40:], "Churn"] = ""  # customers to score inside the training file
    df.to_csv(path, index=False, lineterminator="\r\n")
    r = run("train", "--config", "data/snapshot.toml", cwd=d)
    assert r.returncode == 0, r.stderr + r.stdout
    return d, r.stdout


def test_train_types_the_columns_and_compares_every_candidate_by_cross_validation(project):
    d, out = project
    assert "columns: 4 numeric, 15 categorical, 2 left out (id 'customerID', flag 'Churn')" in out
    assert "note: Country: dropped (constant: 'US' on every row)" in out
    assert "note: AccountNo: dropped (id-like: unique per row)" in out
    assert "note: TotalCharges: numeric (numbers stored as text" in out
    assert "note: MonthlyCharges: numeric (numbers stored as text, 5 blank -> missing)" in out
    assert "1,960 labelled customers" in out and "40 with a blank flag (to score)" in out
    meta = json.loads((d / "data" / "model" / "metadata.json").read_text())
    assert meta["mode"] == "snapshot" and meta["builders"] == ["snapshot"]
    assert "Country" not in meta["feature_names"] and "AccountNo" not in meta["feature_names"]
    assert meta["categories"]["Contract"] == ["Month-to-month", "Two year", "One year"]
    cv = meta["cv"]
    assert set(cv) == {"lightgbm", "logistic", "best_column"}
    champion = meta["champion"]
    assert cv[champion]["roc_auc"] == max(v["roc_auc"] for v in cv.values())
    assert cv[champion]["roc_auc"] > cv["best_column"]["roc_auc"] + 0.03  # beats the floor
    assert cv[champion]["roc_auc"] > 0.75
    assert f"{champion} (champion)" in out
    assert "registered 'churnmodel-snapshot' version 1: first registered version" in out
    assert (d / "data" / "model" / "mlflow_model" / "MLmodel").exists()


def test_a_second_file_is_scored_with_drivers_in_sentences(project):
    d, _ = project
    r = run("score", "--config", "data/scoring.toml", "--out", "scores.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "scored 400 customers (the 400 rows with a blank Churn)" in r.stdout
    s = pd.read_csv(d / "scores.csv", dtype={"customer_id": str})
    assert list(s.columns)[:6] == ["customer_id", "churn_probability", "risk_band", "state",
                                   "at_risk", "action"]
    assert set(driver_columns(3)) <= set(s.columns)
    # no purchase log, no lapse: every customer is active, and at risk means retain now
    assert (s["state"] == "active").all()
    assert (s["at_risk"] == (s["action"] == "retain now")).all()
    assert len(s) == 400 and s["customer_id"].is_unique
    assert s["churn_probability"].between(0, 1).all()
    assert s["churn_probability"].is_monotonic_decreasing
    risky = s[s["at_risk"]]
    assert len(risky) > 0 and risky["driver_1_sentence"].str.endswith(": raises risk").all()
    assert s.loc[~s["at_risk"], "driver_1_sentence"].isna().all()
    sentences = set(risky[[f"driver_{k}_sentence" for k in (1, 2, 3)]].stack())
    assert "Contract is Month-to-month: raises risk" in sentences
    assert any(x.startswith("Tenure of ") and " month" in x for x in sentences)
    # against the generator's truth for these (unseen) customers
    truth = pd.read_csv(d / "data" / "customers_to_score_truth.csv").set_index("customerID")
    y = (truth.loc[s["customer_id"], "Churn"] == "Yes").to_numpy()
    assert roc_auc_score(y, s["churn_probability"]) > 0.75


def test_the_training_config_scores_the_rows_without_a_flag(project):
    d, _ = project
    r = run("score", "--config", "data/snapshot.toml", "--out", "inside.parquet", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "scored 40 customers (the 40 rows with a blank Churn)" in r.stdout
    assert len(pd.read_parquet(d / "inside.parquet")) == 40


def test_the_report_is_one_self_contained_page(project):
    d, _ = project
    r = run("report", "--config", "data/snapshot.toml", "--out", "rep.html", cwd=d)
    assert r.returncode == 0, r.stderr
    page = (d / "rep.html").read_text()
    for sid in ("headline", "candidates", "typing", "drivers", "customers"):
        assert f'<section id="{sid}">' in page
    assert "<script" not in page and "data:image/png;base64," in page
    assert "best_column" in page and "id-like: unique per row" in page
    assert (d / "data" / "reports" / "churn_report.html").exists()  # written by train too


def test_purchase_log_commands_say_snapshot_mode_is_not_theirs(project):
    d, _ = project
    r = run("profile", "--config", "data/snapshot.toml", cwd=d)
    assert r.returncode == 2 and "snapshot mode" in r.stderr and "Traceback" not in r.stderr


def test_a_bad_flag_is_one_error_line_with_count_and_examples(project):
    d, _ = project
    df = pd.read_csv(d / "data" / "customers.csv", dtype=str, keep_default_na=False)
    df.loc[df.index[:3], "Churn"] = "maybe"
    df.to_csv(d / "bad.csv", index=False)
    (d / "bad.toml").write_text('[data.customers]\npath = "bad.csv"\ncustomer_id = "customerID"\n'
                                'churned = "Churn"\n[output]\nmodel_dir = "bad_model"\n')
    r = run("train", "--config", "bad.toml", "--no-track", cwd=d)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "column 'Churn'" in lines[0] and "(3 rows)" in lines[0]
    assert "'maybe'" in lines[0] and not (d / "bad_model" / "model.joblib").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_rest_server_answers_like_batch_scoring(project):
    d, _ = project
    r = run("score", "--config", "data/scoring.toml", "--out", "batch.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    batch = pd.read_csv(d / "batch.csv", dtype={"customer_id": str}).set_index("customer_id")
    raw = pd.read_csv(d / "data" / "customers_to_score.csv", dtype={"customerID": str})
    raw = raw.set_index("customerID").loc[batch.index[:20]]  # the riskiest 20
    meta = json.loads((d / "data" / "model" / "metadata.json").read_text())
    rows = raw[meta["feature_names"]].reset_index(names="customer_id")
    rows["TotalCharges"] = pd.to_numeric(rows["TotalCharges"].astype(str).str.strip(), errors="coerce")
    payload = {"dataframe_split": {"columns": list(rows.columns), "data": rows.astype(object).where(
        rows.notna(), None).to_numpy().tolist()}}
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen([sys.executable, "-m", "churnmodel.cli", "serve", "--config",
                             "data/snapshot.toml", "--port", str(port)], cwd=d, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"the server exited: {proc.stdout.read()[-2000:]}")
                time.sleep(1)
        else:
            pytest.fail("the REST server did not come up")
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                     data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            got = pd.DataFrame(json.loads(resp.read())["predictions"])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    assert got["customer_id"].tolist() == rows["customer_id"].tolist()
    np.testing.assert_allclose(got["churn_probability"].to_numpy(),
                               batch.loc[rows["customer_id"], "churn_probability"].to_numpy(),
                               rtol=0, atol=1e-9)
    assert got["at_risk"].tolist() == batch.loc[rows["customer_id"], "at_risk"].tolist()
    flagged = got[got["at_risk"]]
    assert len(flagged) > 0
    assert flagged["driver_1_sentence"].tolist() == \
        batch.loc[flagged["customer_id"], "driver_1_sentence"].tolist()
