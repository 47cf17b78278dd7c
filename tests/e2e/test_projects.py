"""Workspaces and one decision per customer, through the real CLI (issue 12).

One workspace holds the default project (the embedded data, no config) and a second project
of a user's own (a transaction-only CSV with its config in another folder), both tracked in
the same MLflow store. Training the second must leave everything of the first untouched;
the state, action and at-risk counts must agree in the score file, the segment table, the
report and the REST answers; the exported features, posted to a real server, must give
batch scoring's answers exactly.
"""

from __future__ import annotations

import hashlib
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

from churnmodel.decisions import counts

import cli_process

pytestmark = pytest.mark.slow

SHOP = ('[project]\nname = "shop"\n'
        '[data.transactions]\npath = "../data/orders.csv"\ncustomer_id = "cust"\n'
        'ts = "day"\namount = "eur"\n[model]\nn_estimators = 80\n[training]\nn_cutoffs = 8\n')


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    r = cli_process.run(*args, cwd=cwd, unset=("MLFLOW_TRACKING_URI", "CHURNMODEL_ROOT"))
    if check:
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def alias_version(ws: Path, name: str) -> str:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{ws / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(
        name, "champion").version


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, small_data_dir):
    """The default project trained and scored; then a second project trained beside it."""
    ws = tmp_path_factory.mktemp("workspace")
    (ws / "data").mkdir()
    (ws / "data" / "default").symlink_to(small_data_dir, target_is_directory=True)
    cli("train", "--quiet", cwd=ws)
    cli("score", "--out", "before.parquet", "--call-list", "10", cwd=ws)
    before = {"models": digest(ws / "models" / "default"),
              "reports": digest(ws / "reports" / "default"),
              "alias": alias_version(ws, "churnmodel-default")}
    # the second project: its own CSV and config in another folder, paths relative to the file
    other = ws / "elsewhere"
    (other / "conf").mkdir(parents=True)
    (other / "data").mkdir()
    tx = pd.read_parquet(small_data_dir / "transactions.parquet")
    tx.rename(columns={"customer_id": "cust", "ts": "day", "amount": "eur"})[
        ["cust", "day", "eur"]].to_csv(other / "data" / "orders.csv", index=False)
    (other / "conf" / "shop.toml").write_text(SHOP)
    shop = cli("train", "--config", "elsewhere/conf/shop.toml", "--quiet", cwd=ws)
    return ws, before, shop


def test_a_second_project_leaves_the_first_untouched(workspace):
    ws, before, shop = workspace
    assert (ws / "models" / "shop" / "model.joblib").exists()
    assert (ws / "reports" / "shop" / "churn_report.html").exists()
    assert digest(ws / "models" / "default") == before["models"]
    assert digest(ws / "reports" / "default") == before["reports"]
    assert alias_version(ws, "churnmodel-default") == before["alias"]
    assert str(alias_version(ws, "churnmodel-shop")) == "1"
    assert "registered 'churnmodel-shop' version 1" in shop.stdout
    # the default project scores exactly as before
    cli("score", "--out", "after.parquet", cwd=ws)
    pd.testing.assert_frame_equal(pd.read_parquet(ws / "before.parquet"),
                                  pd.read_parquet(ws / "after.parquet"))


def test_scoring_the_default_data_with_the_second_projects_model_fails_clearly(workspace):
    ws, _, _ = workspace
    r = cli("score", "--model", "models/shop", "--out", "wrong.parquet", cwd=ws, check=False)
    assert r.returncode == 2
    assert "belongs to project 'shop', but the config is project 'default'" in r.stderr
    assert not (ws / "wrong.parquet").exists()


def test_no_track_and_model_dir_write_only_where_they_point(workspace, tmp_path):
    ws, _, _ = workspace
    d = tmp_path / "alone"
    d.mkdir()
    (d / "data").symlink_to(ws / "data", target_is_directory=True)
    cli("train", "--no-track", "--quiet", "--model-dir", "out", cwd=d)
    assert sorted(p.name for p in d.iterdir()) == ["data", "out"]  # no mlflow.db, no reports/
    assert (d / "out" / "model.joblib").exists() and (d / "out" / "churn_report.html").exists()


def test_the_at_risk_list_holds_no_lapsed_customer(workspace):
    ws, _, _ = workspace
    from churnmodel import ChurnModel

    s = pd.read_parquet(ws / "before.parquet")
    model = ChurnModel.load(ws / "models" / "default")
    X = model.features(_tables(ws), _as_of(ws)).loc[s["customer_id"]]
    rec = X["recency_days"].to_numpy()
    assert s["at_risk"].any()
    assert (rec[s["at_risk"].to_numpy()] < model.horizon_days).all()
    assert (s.loc[rec >= model.horizon_days, "state"] == "lapsed").all()
    assert set(s.loc[s["state"] == "lapsed", "action"]) <= {"win back", "let go"}
    assert (s["at_risk"] == (s["action"] == "retain now")).all()
    calls = pd.read_csv(ws / "before_call_list.csv")
    assert len(calls) == 10 and set(calls["action"]) <= {"retain now", "win back"}
    assert calls["expected_gain"].is_monotonic_decreasing  # the offer's worth, contact first
    pol = model.policy()
    rate = calls["action"].map({"retain now": pol.acceptance_rate,
                                "win back": pol.winback_acceptance_rate})
    assert np.allclose(calls["expected_gain"],
                       rate * calls["value_at_stake"] - pol.offer_cost)


def test_state_action_and_at_risk_counts_agree_everywhere(workspace):
    from churnmodel import ChurnModel, load_config
    from churnmodel.report import churn_report

    ws, _, _ = workspace
    scores = pd.read_parquet(ws / "before.parquet")
    want = counts(scores)
    cli("segment", "--out", "seg.parquet", "--overwrite", cwd=ws)
    seg = pd.read_parquet(ws / "seg.parquet")
    assert counts(seg) == want
    merged = scores.merge(seg, on="customer_id", suffixes=("", "_seg"))
    assert len(merged) == len(scores)
    for c in ("state", "action", "at_risk", "risk_band"):
        assert (merged[c].astype(str) == merged[f"{c}_seg"].astype(str)).all(), c
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        cfg = load_config(None)
        rep = churn_report(_tables(ws).until(_as_of(ws)), cfg, ChurnModel.load(ws / "models" / "default"),
                           ws / "models" / "default", _as_of(ws))
    finally:
        os.chdir(cwd)
    assert rep.headline["counts"] == want
    assert rep.headline["at_risk"] == want["at_risk"]["at_risk"]
    assert rep.headline["win_back"] == want["action"]["win back"]


def test_exported_features_posted_to_a_real_server_give_batch_answers_exactly(workspace):
    ws, _, _ = workspace
    scores = pd.read_parquet(ws / "before.parquet").set_index("customer_id")
    # the 60 riskiest and 60 others: at risk, win back, nurture, monitor, let go all appear
    ids = [*scores.index[:60], *scores.index[-60:]]
    cli("features", "--customers", ",".join(map(str, ids)), "--out", "rows.json", "--overwrite",
        cwd=ws)
    body = (ws / "rows.json").read_bytes()
    assert json.loads(body)["dataframe_split"]["columns"][0] == "customer_id"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen([sys.executable, "-m", "churnmodel.cli", "serve", "--model",
                             "models/default", "--port", str(port)], cwd=ws, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        _wait(proc, port)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            got = pd.DataFrame(json.loads(resp.read())["predictions"]).set_index("customer_id")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    want = scores.loc[ids]
    assert got.index.tolist() == ids
    np.testing.assert_array_equal(got["churn_probability"].to_numpy(),
                                  want["churn_probability"].to_numpy())
    for c in ("risk_band", "state", "action"):
        assert got[c].tolist() == want[c].astype(str).tolist(), c
    assert got["at_risk"].tolist() == want["at_risk"].tolist()
    assert counts(got.reset_index()) == counts(want.reset_index())
    contacted = want["action"].isin(["retain now", "win back"]).to_numpy()
    assert contacted.any()
    for k in (1, 2, 3):
        c = f"driver_{k}_sentence"
        assert got.loc[contacted, c].fillna("").tolist() == want.loc[contacted, c].fillna("").tolist()


# --- helpers ---------------------------------------------------------------------------

def _tables(ws: Path):
    from churnmodel.data.io import load_default_tables

    return load_default_tables(ws / "data" / "default")


def _as_of(ws: Path) -> pd.Timestamp:
    return _tables(ws).max_event_ts().normalize()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(proc: subprocess.Popen, port: int) -> None:
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            out = proc.stdout.read() if proc.poll() is not None and proc.stdout else "(running)"
            pytest.fail(f"the REST server did not come up: {out[-2000:]}")
        time.sleep(1)
