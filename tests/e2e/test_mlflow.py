"""MLflow through the real CLI: the run record, the registry alias rule, the REST server."""

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

import cli_process

# 11 monthly cutoffs: the fewest that leave the time-to-churn model a cutoff to be evaluated on
# (180 days of follow-up, with fitted cutoffs before it), so a training prints no note
CONFIG = ('[data]\ndir = "data"\n[data.synthetic]\ncustomers = 1500\nseed = 11\n'
          '[model]\nn_estimators = 300\n[training]\nn_cutoffs = 11\n[output]\nmodel_dir = "{model}"\n'
          '[tracking]\nexperiment = "e2e"\nmodel_name = "churn_e2e"\n')


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return cli_process.run(*args, cwd=cwd)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """Three trainings in one project: a weak recency-only model, LightGBM, LightGBM again."""
    d = tmp_path_factory.mktemp("tracked")
    (d / "config.toml").write_text(CONFIG.format(model="model"))
    # a variant config of the same project: its versions duel with the others
    (d / "weak.toml").write_text('[project]\nname = "config"\n' + CONFIG.format(model="model_weak")
                                 .replace("[model]\n", '[model]\ncandidates = ["recency"]\n'))
    assert run("data", "synth", "--config", "config.toml", cwd=d).returncode == 0
    outs = []
    # the second run's record is checked artifact by artifact; the others need no figures
    for cfg, extra in (("weak.toml", ["--no-report"]), ("config.toml", []),
                       ("config.toml", ["--no-report"])):
        r = run("train", "--config", cfg, "--quiet", *extra, cwd=d)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    return d, outs


def _client(d: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{d / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_every_training_is_one_run_with_params_metrics_inputs_and_artifacts(tracked):
    d, _ = tracked
    client = _client(d)
    exp = client.get_experiment_by_name("e2e")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    assert len(runs) == 3
    run = runs[1]
    assert run.data.params["training.seed"] == "42"
    assert run.data.params["labels.horizon_days"] == "90"
    assert run.data.tags["champion_candidate"] == "lightgbm"
    assert len(run.data.tags["git_commit"]) > 0
    m = run.data.metrics
    for key in ("test_roc_auc", "test_pr_auc", "test_brier", "baseline_recency_test_roc_auc",
                "baseline_logistic_rfm_test_roc_auc", "oracle_test_roc_auc", "at_risk_threshold",
                "drift_test_max_psi", "drift_test_major_features"):
        assert key in m, key
    assert m["test_roc_auc"] > m["baseline_recency_test_roc_auc"]
    names = {i.dataset.name for i in run.inputs.dataset_inputs}
    assert {"transactions", "feedback", "tickets", "customers"} <= names
    top = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "features.json", "config.json", "data_fingerprint.json",
            "scoring.json", "drift_test_vs_valid.csv", "plots"} <= top
    assert 0 <= m["drift_test_max_psi"] < 10
    plots = {f.path for f in client.list_artifacts(run.info.run_id, "plots")}
    for p in ("roc.png", "pr.png", "calibration.png", "gains_lift.png", "profit_curve.png",
              "shap_beeswarm.png"):
        assert f"plots/{p}" in plots
    features = json.loads(Path(client.download_artifacts(run.info.run_id, "features.json",
                                                         str(d))).read_text())
    assert {"feature", "family", "label", "definition"} <= set(features[0])


def test_alias_moves_only_when_the_new_model_wins_on_validation(tracked):
    d, outs = tracked
    client = _client(d)
    versions = sorted(int(v.version) for v in client.search_model_versions("name='churn_e2e'"))
    assert versions == [1, 2, 3]
    assert str(client.get_model_version_by_alias("churn_e2e", "champion").version) == "2"
    assert "first registered version" in outs[0]
    assert "beats the champion (version 1)" in outs[1] and "alias 'champion' moved" in outs[1]
    # the same seed and data give the same model: it does not *beat* the champion
    assert "does not beat the champion (version 2)" in outs[2]
    assert "pass --model models:/churn_e2e@champion" in outs[2]  # the exported copy differs now
    assert "note:" not in outs[1]
    assert "without the alias" in client.get_model_version("churn_e2e", "3").tags["selection"]


def test_score_from_the_registry_equals_score_from_the_exported_model(tracked):
    d, _ = tracked
    r1 = run("score", "--config", "config.toml", "--model", "models:/churn_e2e@champion",
             "--out", "reg.parquet", "--quiet", cwd=d)
    assert r1.returncode == 0, r1.stderr
    r2 = run("score", "--config", "config.toml", "--model", "model/mlflow_model",
             "--out", "exp.parquet", "--quiet", cwd=d)
    assert r2.returncode == 0, r2.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(d / "reg.parquet"), pd.read_parquet(d / "exp.parquet"))


def test_a_score_file_names_the_registered_version_that_made_it(tracked):
    import pyarrow.parquet as pq

    d, _ = tracked
    client = _client(d)
    for model, out, version in ((None, "dir.parquet", "3"),  # model/ holds the last training
                                ("models:/churn_e2e@champion", "alias.parquet", "2")):
        r = run("score", "--config", "config.toml", *(["--model", model] if model else []),
                "--out", out, "--quiet", cwd=d)
        assert r.returncode == 0, r.stderr
        meta = json.loads(pq.read_schema(d / out).metadata[b"churnmodel.scores"])["model"]
        mv = client.get_model_version("churn_e2e", version)
        assert (meta["registered_model"], meta["version"], meta["run_id"]) == (
            "churn_e2e", version, mv.run_id), out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def test_rest_server_answers_like_batch_scoring(tracked):
    from churnmodel.data.io import load_default_tables
    from churnmodel.serving import load_churn_model

    d, _ = tracked
    r = run("score", "--config", "config.toml", "--out", "batch.parquet", "--quiet", cwd=d)
    assert r.returncode == 0, r.stderr
    batch = pd.read_parquet(d / "batch.parquet").set_index("customer_id")

    model = load_churn_model(d / "model")
    X = model.features(load_default_tables(d / "data"), batch.index.size and
                       pd.Timestamp(json.loads((d / "data" / "meta.json").read_text())["end"]))
    # the 20 riskiest (mostly lapsed now) and the 20 riskiest at risk (explained)
    X = X.loc[list(dict.fromkeys([*batch.index[:20], *batch.index[batch["at_risk"]][:20]]))]
    rows = X.reset_index()
    for c in model.categories:
        rows[c] = rows[c].astype("string")
    # exact floats: to_json rounds to 10 digits, which can move a value across a tree split
    payload = {"dataframe_split": {"columns": list(rows.columns), "data": rows.astype(object).where(
        rows.notna(), None).to_numpy().tolist()}}

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen([sys.executable, "-m", "churnmodel.cli", "serve", "--config",
                             "config.toml", "--port", str(port)], cwd=d, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                out = proc.stdout.read() if proc.poll() is not None else "(still running)"
                pytest.fail(f"the REST server did not come up: {out[-2000:]}")
            time.sleep(1)
        got = pd.DataFrame(_post(f"http://127.0.0.1:{port}/invocations", payload)["predictions"])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)

    assert got["customer_id"].tolist() == X.index.tolist()
    np.testing.assert_allclose(got["churn_probability"].to_numpy(),
                               batch.loc[X.index, "churn_probability"].to_numpy(), rtol=0, atol=1e-12)
    assert got["at_risk"].tolist() == batch.loc[X.index, "at_risk"].tolist()
    assert got["risk_band"].tolist() == batch.loc[X.index, "risk_band"].astype(str).tolist()
    assert got["state"].tolist() == batch.loc[X.index, "state"].astype(str).tolist()
    # the riskiest are mostly lapsed now; without customer_value in the request a lapsed
    # customer cannot be valued for a win back (test_projects posts the exported rows, with
    # it, and compares actions): compare the drivers of those the server explained
    flagged = got[got["driver_1_sentence"].notna()]
    assert len(flagged) > 0
    assert flagged["driver_1_sentence"].tolist() == \
        batch.loc[flagged["customer_id"], "driver_1_sentence"].tolist()


def test_a_frame_without_the_models_columns_is_refused_by_the_pyfunc(tracked):
    import mlflow

    d, _ = tracked
    pm = mlflow.pyfunc.load_model(str(d / "model" / "mlflow_model"))
    with pytest.raises(Exception, match="recency_days"):
        pm.predict(pd.DataFrame({"frequency": [1.0]}))
