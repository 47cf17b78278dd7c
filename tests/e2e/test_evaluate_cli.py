"""`churnmodel evaluate` end to end on the default data: score, wait for the horizon, evaluate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from churnmodel.data.io import load_default_tables
from churnmodel.labels import churn_labels
from churnmodel.modeling import cbpe
from churnmodel.scorefile import META_KEY

import cli_process


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return cli_process.run(*args, cwd=cwd)


@pytest.fixture(scope="module")
def project(default_training, default_data_dir, tmp_path_factory) -> Path:
    """The shared default training's shipped model, exported where a config finds it."""
    d = tmp_path_factory.mktemp("evaluate")
    default_training.model.save(d / "model")
    (d / "config.toml").write_text('[project]\nname = "default"\n'  # the shared training's
                                   f'[data]\ndir = "{default_data_dir}"\n'
                                   '[output]\nmodel_dir = "model"\n')
    return d


@pytest.fixture(scope="module")
def data_end(default_data_dir) -> pd.Timestamp:
    return load_default_tables(default_data_dir).max_event_ts().normalize()


@pytest.fixture(scope="module")
def matured(project, data_end):
    """A score file made 90 days (one horizon) before the data end, then evaluated."""
    as_of = str((data_end - pd.Timedelta(days=90)).date())
    r = run("score", "--config", "config.toml", "--as-of", as_of, "--out", "past.parquet",
            "--quiet", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "estimated before labels (CBPE" in r.stdout
    ev = run("evaluate", "--config", "config.toml", "--scores", "past.parquet", "--out",
             "past.json", "--quiet", cwd=project)
    assert ev.returncode == 0, ev.stderr
    return as_of, ev, json.loads((project / "past.json").read_text())


def test_estimated_roc_auc_90_days_before_the_data_end_is_within_001_of_realised(matured):
    _, r, ev = matured
    assert ev["status"] == "matured" and ev["days_run"] == 90
    real, est = ev["realised"]["roc_auc"], ev["estimated"]["roc_auc"]
    assert abs(real - est) < 0.01, (real, est)
    assert "horizon: complete" in r.stdout
    table = r.stdout.split("\n\n")[1]
    assert table.splitlines()[0].split() == ["realised", "estimated", "difference"]


def test_realised_metrics_equal_a_recomputation_from_the_labels(matured, project,
                                                                default_data_dir):
    as_of, _, ev = matured
    scores = pd.read_parquet(project / "past.parquet")
    y = churn_labels(load_default_tables(default_data_dir), as_of,
                     pd.Index(scores["customer_id"]), 90).to_numpy()
    p = scores["churn_probability"].to_numpy()
    assert ev["realised"]["n"] == len(scores)
    assert ev["realised"]["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert ev["realised"]["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    flagged = scores["at_risk"].to_numpy()
    assert ev["realised"]["at_risk_precision"] == pytest.approx(y[flagged].mean())
    lost = sum(r["value_lost"] for r in ev["bands"])
    assert lost == pytest.approx(float((scores["customer_value"].to_numpy() * y).sum()))


def test_each_evaluation_is_an_mlflow_run_tagged_with_the_model(matured, project):
    from mlflow.tracking import MlflowClient

    _, r, ev = matured
    assert "MLflow: run " in r.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    from churnmodel.config import load_config

    name = load_config(project / "config.toml").tracking.experiment
    assert name == "churnmodel-default"  # the project's own experiment, not a shared one
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], "tags.`churnmodel.kind` = 'evaluation'")
    assert len(runs) == 1
    run_ = runs[0]
    assert run_.data.tags["model_fingerprint"] == ev["score_file"]["model"]["fingerprint"]
    assert run_.data.metrics["realised_roc_auc"] == pytest.approx(ev["realised"]["roc_auc"])
    assert run_.data.metrics["estimated_roc_auc"] == pytest.approx(ev["estimated"]["roc_auc"])


def test_the_model_that_never_saw_the_test_cutoff_is_estimated_within_001(default_training):
    """Out of time and out of sample: the champion before its refit, on the test cutoff."""
    res = default_training
    pred = res.test_predictions  # churned and every candidate's probability, before the refit
    real = roc_auc_score(pred["churned"], pred[res.champion])
    est = cbpe.expected_roc_auc(pred[res.champion].to_numpy())
    assert real == pytest.approx(res.test_metrics[res.champion]["roc_auc"], abs=1e-9)
    assert abs(real - est) < 0.01, (real, est)


def test_a_score_file_made_at_the_data_end_gives_only_the_estimate(project, data_end):
    r = run("score", "--config", "config.toml", "--out", "now.csv", "--quiet", cwd=project)
    assert r.returncode == 0, r.stderr
    ev = run("evaluate", "--config", "config.toml", "--scores", "now.csv", "--no-track",
             "--quiet", cwd=project)
    assert ev.returncode == 0, ev.stderr
    assert "no label has matured" in ev.stdout and "0 of 90 days" in ev.stdout
    assert f"labels mature on {(data_end + pd.Timedelta(days=90)).date()}" in ev.stdout
    assert ev.stdout.split("\n\n")[1].splitlines()[0].split() == ["estimated"]


def test_a_file_that_is_not_a_score_file_fails_clearly(project, default_data_dir):
    r = run("evaluate", "--config", "config.toml", "--scores",
            str(default_data_dir / "transactions.parquet"), "--no-track", cwd=project)
    assert r.returncode == 2 and "is not a churnmodel score file" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_a_score_file_of_another_project_fails_clearly(project, matured):
    table = pq.read_table(project / "past.parquet")
    meta = json.loads(table.schema.metadata[META_KEY])
    meta["project"] = "shop-b"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata,
                                                  META_KEY: json.dumps(meta).encode()}),
                   project / "other.parquet")
    r = run("evaluate", "--config", "config.toml", "--scores", "other.parquet", "--no-track",
            cwd=project)
    assert r.returncode == 2 and "made by project 'shop-b'" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_every_candidate_has_its_own_fingerprint_stable_across_a_save_and_load(default_training,
                                                                                tmp_path):
    import dataclasses

    from churnmodel.modeling.model import ChurnModel
    from churnmodel.scorefile import model_fingerprint

    res = default_training
    models = {name: dataclasses.replace(res.model, candidate=f.candidate, calibrator=f.calibrator)
              for name, f in res.fitted.items()}
    prints = {name: model_fingerprint(m) for name, m in models.items()}
    assert len(set(prints.values())) == len(prints)  # recency, bgnbd, logistic, lightgbm
    for name, m in models.items():
        m.save(tmp_path / name)
        assert model_fingerprint(ChurnModel.load(tmp_path / name)) == prints[name], name
