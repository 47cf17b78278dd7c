"""MLflow for snapshot mode: the run record, the registered pyfunc and the alias rule.

The run is opened by :func:`churnmodel.tracking.training_run` like any training; this
module logs what a snapshot run has (the typing decisions, every candidate's
cross-validated metrics, the data fingerprint) and registers the same pyfunc as the
purchase-log mode. The alias moves when there is no champion, when the champion was
trained on other data or is not a snapshot model, or when the new cross-validated ROC AUC
beats the champion's on the same data (same rows, same folds: a fair comparison; scoring
the champion on rows it was trained on would not be).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from churnmodel.config import Config
from churnmodel.tracking import (
    RunReport,
    _flatten,
    _mlflow_prints_to_log,
    _source,
    _store_lock,
    git_commit,
    table_fingerprint,
    tracking_uri,
)

CV_TAG, DATA_TAG = "snapshot_cv_roc_auc", "data_sha256"


def log_snapshot_training(result, cfg: Config, table: pd.DataFrame, model_dir: Path,
                          importance: pd.DataFrame | None) -> RunReport:
    """Record a finished snapshot training in the active run, register it, decide the alias."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    from churnmodel.serving.pyfunc import log_pyfunc

    t0 = time.perf_counter()
    uri = tracking_uri(cfg)
    fp = table_fingerprint("customers", table)
    sha = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_snapshot_training needs an active run (training_run)")
    cv = result.cv_metrics
    with _store_lock(uri):
        mlflow.set_tag("mlflow.runName", f"train snapshot ({result.folds}-fold CV)")
        mlflow.log_params(_flatten(cfg.to_dict()))
        mlflow.set_tags({"git_commit": git_commit(), "seed": str(cfg.training.seed),
                         "mode": "snapshot", "champion_candidate": result.champion,
                         "ladder_step": f"stratified {result.folds}-fold cross-validation",
                         DATA_TAG: sha})
        ds = MetaDataset(source=_source(cfg, "customers"), name="customers",  # type: ignore[abstract]
                         digest=fp["sha256"][:20])
        mlflow.log_input(ds, context="training", tags={k: str(v) for k, v in fp.items()
                                                       if k not in ("columns", "table")})
        metrics = {}
        for name, m in cv.items():
            for k in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile"):
                metrics[f"cv_{name}_{k}"] = float(m[k])
        for k in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile", "base_rate"):
            metrics[f"cv_{k}"] = float(cv[result.champion][k])
        metrics["at_risk_threshold"] = float(result.model.info["scoring"]["threshold"])
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            (t / "metrics.json").write_text(json.dumps(result.metrics_json(), indent=2))
            (t / "typing.json").write_text(json.dumps(result.typing.as_dict(), indent=2))
            (t / "data_fingerprint.json").write_text(json.dumps(fp, indent=2))
            (t / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
            (t / "scoring.json").write_text(json.dumps(result.model.info["scoring"], indent=2))
            if importance is not None:
                importance.to_csv(t / "shap_importance.csv", index=False)
            mlflow.log_artifacts(tmp)
        info = log_pyfunc(result.model, result.features, model_dir / "model.joblib")
        return _register(result, cfg, info, run.info.run_id, uri, sha, t0)


def _register(result, cfg: Config, info, run_id: str, uri: str, sha: str, t0: float) -> RunReport:
    import mlflow
    from mlflow.tracking import MlflowClient

    name, alias = cfg.tracking.model_name, cfg.tracking.alias
    client = MlflowClient()
    with _mlflow_prints_to_log():
        version = mlflow.register_model(info.model_uri, name)
    new_auc = float(result.cv_metrics[result.champion]["roc_auc"])
    try:
        current = client.get_model_version_by_alias(name, alias)
    except Exception:
        current = None
    tags = dict(current.tags) if current is not None else {}
    if current is None:
        move, reason = True, f"first registered version: alias '{alias}' set"
    elif tags.get(DATA_TAG) != sha or CV_TAG not in tags:
        move, reason = True, (f"the champion (version {current.version}) was not cross-validated "
                              f"on this table: alias '{alias}' moved")
    elif new_auc > float(tags[CV_TAG]):
        move, reason = True, (f"cross-validated ROC AUC {new_auc:.4f} beats the champion (version "
                              f"{current.version}) at {float(tags[CV_TAG]):.4f} on the same "
                              f"table: alias '{alias}' moved")
    else:
        move, reason = False, (f"cross-validated ROC AUC {new_auc:.4f} does not beat the champion "
                               f"(version {current.version}) at {float(tags[CV_TAG]):.4f} on the "
                               f"same table: registered without the alias '{alias}'")
    if move:
        client.set_registered_model_alias(name, alias, version.version)
    client.set_model_version_tag(name, version.version, "selection", reason)
    client.set_model_version_tag(name, version.version, CV_TAG, f"{new_auc:.6f}")
    client.set_model_version_tag(name, version.version, DATA_TAG, sha)
    artifacts = [f.path for f in client.list_artifacts(run_id)]
    return RunReport(run_id, cfg.tracking.experiment, uri, info.model_uri, str(version.version),
                     move, reason, artifacts, time.perf_counter() - t0)
