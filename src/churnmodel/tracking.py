"""MLflow tracking and registry: every training run is recorded and its model registered.

* Tracking URI: ``MLFLOW_TRACKING_URI`` if set, else ``[tracking] tracking_uri``, else an
  embedded SQLite file ``mlflow.db`` in the current directory (nothing to start).
* One run per ``churnmodel train`` in the experiment ``[tracking] experiment``: resolved
  config (params), seed, git commit, a data fingerprint per table (logged as MLflow
  dataset inputs), metrics of the champion, every baseline and the oracle, plots, the
  feature list with definitions, SHAP importance, and the pyfunc model.
* Registry: the pyfunc is registered as ``[tracking] model_name``. The alias
  ``champion`` moves to the new version only if it beats the current champion on the
  new run's validation cutoff (both scored on the same rows); otherwise the version is
  registered without the alias, and the report says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.config import Config, tracking_uri_problem, workspace_root
from churnmodel.data.tables import Tables
from churnmodel.errors import ChurnModelError, ConfigError, one_line

DEFAULT_DB = "mlflow.db"

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _mlflow_prints_to_log() -> Iterator[None]:
    """Route what MLflow prints straight to stderr (``eprint``: "Successfully registered
    model ...", "Created version ...") through this module's logger, where the CLI's
    ``--verbose`` decides whether it shows; lines that say WARNING or ERROR keep that level."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stderr(buf):
            yield
    finally:
        for line in buf.getvalue().splitlines():
            if line.strip():
                loud = any(w in line for w in ("WARNING", "ERROR", "Traceback"))
                log.log(logging.WARNING if loud else logging.INFO, "%s", line)


def tracking_uri(cfg: Config) -> str:
    """The tracking URI in force; a malformed one is a :class:`ConfigError` naming its source."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        problem = tracking_uri_problem(env)
        if problem:
            raise ConfigError(f"MLFLOW_TRACKING_URI {env!r} {problem}.")
        return env
    if cfg.tracking.tracking_uri:
        return cfg.tracking.tracking_uri
    return f"sqlite:///{workspace_root() / DEFAULT_DB}"


def uri_source(cfg: Config) -> str:
    """Which setting chose the tracking URI, for messages."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return "MLFLOW_TRACKING_URI"
    return "[tracking] tracking_uri" if cfg.tracking.tracking_uri else "the default store"


def preflight_store(cfg: Config) -> str:
    """Check the tracking store before any work (see :func:`churnmodel.preflight.tracking_store`)."""
    from churnmodel.preflight import tracking_store

    uri = tracking_uri(cfg)
    tracking_store(uri, uri_source(cfg))
    return uri


def resolve_served_model(model: str, uri: str) -> str:
    """The local directory of the model ``churnmodel serve`` will serve, or one error line.

    ``models:/name@alias`` must exist in the registry at ``uri``; a directory must hold an
    MLflow model (its ``MLmodel`` file).
    """
    if not model.startswith(("models:/", "runs:/")) and "://" not in model:
        p = Path(model)
        if (p / "mlflow_model" / "MLmodel").exists():
            p = p / "mlflow_model"
        if not (p / "MLmodel").exists():
            what = "does not exist" if not p.exists() else "holds no MLflow model (no MLmodel file)"
            raise ChurnModelError(f"model {model!r} (--model) {what}; pass an exported "
                                  "models/<name>/mlflow_model directory or a models:/ URI.")
        return str(p.resolve())
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    try:
        return _download_artifact_from_uri(model)
    except Exception as exc:
        raise ChurnModelError(f"model {model!r} cannot be loaded from the tracking store {uri!r} "
                              f"({one_line(exc)[:300]}); run `churnmodel train` first, or pass "
                              "--model with an existing model.") from None


def configure(cfg: Config) -> str:
    """Point MLflow at the configured tracking store; returns the URI."""
    import mlflow

    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def seed_new_store(uri: str) -> bool:
    """Start a SQLite store that does not exist yet as a copy of an empty store; True if it did.

    MLflow creates a new store's tables by running its whole history of schema migrations
    (over a hundred): 2.5 s of a new process's first training, and more on a busy machine.
    The copy is of a store MLflow itself created with the installed version (see
    :func:`_empty_store`), so MLflow opens it as any existing store at the latest schema
    and adds its default experiment, with this store's artifact folder, itself. Anything
    that goes wrong here leaves the file absent, and MLflow creates the store as before.
    Only a training about to record its run seeds (:func:`training_run`): a command that
    merely points MLflow at the store (serving a model folder) leaves no new file.
    """
    if not uri.startswith("sqlite:///"):
        return False
    db = Path(uri.removeprefix("sqlite:///"))
    if db.exists() or not db.parent.is_dir():
        return False
    import shutil

    from churnmodel.files import atomic_write

    try:
        template = _empty_store()
        with _store_lock(uri):
            if db.exists():  # another process created it meanwhile
                return False
            # whole or absent, never a half-copied store
            atomic_write(db, lambda tmp: shutil.copyfile(template, tmp))
        return True
    except Exception as exc:  # noqa: BLE001 (MLflow then creates the store itself)
        log.debug("new store %s not seeded from a template: %s", db, exc)
        return False


def _empty_store() -> Path:
    """An empty MLflow SQLite store of the installed MLflow, built once per version and user
    in the temp folder: MLflow's tables at its latest schema, and no experiment at all.

    The temp folder is shared: a file of that name that is a link, or that this user does
    not own, is never used (:class:`OSError`; the caller lets MLflow create the store).
    """
    import sqlite3

    import mlflow

    uid = os.getuid() if hasattr(os, "getuid") else None  # no owners to compare on Windows
    path = Path(tempfile.gettempdir()) / f"churnmodel-mlflow-{mlflow.__version__}-{uid or 0}.db"
    if path.is_symlink() or (path.exists() and uid is not None and path.stat().st_uid != uid):
        raise OSError(f"{path} is a link or another user's file: not used as a store template")
    if path.exists():
        return path
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with tempfile.TemporaryDirectory(prefix="churnmodel-store-") as d:
        built = Path(d) / "store.db"
        build_uri = f"sqlite:///{built}"
        SqlAlchemyStore(build_uri, str(Path(d) / "mlruns")).engine.dispose()
        getattr(SqlAlchemyStore, "_engine_map", {}).pop(build_uri, None)
        con = sqlite3.connect(built)
        try:  # its default experiment points into the build folder: MLflow re-adds it on open
            con.execute("DELETE FROM experiment_tags")
            con.execute("DELETE FROM experiments")
            con.commit()
        finally:
            con.close()
        os.replace(built, path)  # from inside the temp folder: an atomic rename
    return path


def git_commit(cwd: str | Path | None = None) -> str:
    """The current commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def table_fingerprint(name: str, df: pd.DataFrame) -> dict[str, Any]:
    """Row count, columns, date range and a content hash (order-sensitive) of one table."""
    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    dates = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
    out: dict[str, Any] = {"table": name, "rows": int(len(df)), "columns": list(map(str, df.columns)),
                           "sha256": h.hexdigest()}
    for c in dates:
        out[f"{c}_min"] = str(df[c].min()) if len(df) else None
        out[f"{c}_max"] = str(df[c].max()) if len(df) else None
    if "customer_id" in df.columns:
        out["customers"] = int(df["customer_id"].nunique())
    return out


def data_fingerprint(tables: Tables) -> dict[str, dict[str, Any]]:
    return {n: table_fingerprint(n, getattr(tables, n)) for n in tables.names()}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, list | dict) else str(v)
    return out


def _metrics(metrics_json: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}

    def put(prefix: str, m: dict[str, Any]) -> None:
        for k, v in m.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v):
                out[f"{prefix}{k}"] = float(v)

    put("test_", metrics_json["model"])
    for name, m in metrics_json["baselines"].items():
        put(f"baseline_{name}_test_", m)
    for name, m in metrics_json.get("validation", {}).items():
        put(f"valid_{name}_", m)
    for section in ("value", "survival"):  # CLV parameters / calibration, hazard Uno C and IBS
        put(f"{section}_", metrics_json.get(section, {}))
    if "oracle" in metrics_json:
        put("oracle_test_", metrics_json["oracle"])
        out["gap_to_oracle_roc_auc"] = metrics_json["oracle"]["roc_auc"] - metrics_json["model"]["roc_auc"]
    return out


@dataclass
class RunReport:
    run_id: str
    experiment: str
    tracking_uri: str
    model_uri: str
    version: str
    alias_moved: bool
    reason: str
    artifacts: list[str] = field(default_factory=list)
    seconds: float = 0.0


def model_identity(model) -> dict[str, str]:
    """What a champion duel must share: project, feature set and data source."""
    feats = ",".join(sorted(model.feature_names))
    return {"project": str(model.info.get("project", "default")),
            "feature_set": hashlib.sha256(feats.encode()).hexdigest()[:16],
            "data_source": str(model.info.get("data_source", "unknown"))[:4000]}


def _not_comparable(client, name: str, alias: str,
                    identity: dict[str, str]) -> tuple[str, str, str] | None:
    """``(what differs, champion version, description)`` when the current champion was
    trained for another project, feature set or data source; ``None`` when comparable."""
    try:
        current = client.get_model_version_by_alias(name, alias)
    except Exception:
        return None
    tags = current.tags or {}
    words = {"project": "project '{}'", "feature_set": "another feature set ({})",
             "data_source": "another data source ({})"}
    for key in ("project", "feature_set", "data_source"):
        theirs = tags.get(key)
        if theirs is not None and theirs != identity[key]:
            return key, str(current.version), words[key].format(theirs)
    return None


def _champion_auc_on(client, name: str, alias: str, X: pd.DataFrame, y: np.ndarray,
                     valid_cutoff: str | None = None) -> tuple[str | None, float | None, str]:
    """Current champion's version and ROC AUC on ``X, y``; (None, None, why) if it cannot.

    A champion fitted on these very rows (its training or refit cutoffs hold the validation
    cutoff ``valid_cutoff``, as a refit on the latest cutoffs of the same data does) would
    be judged in-sample; then its own recorded validation ROC AUC stands in, and ``why``
    says so.
    """
    from sklearn.metrics import roc_auc_score

    try:
        current = client.get_model_version_by_alias(name, alias)
    except Exception:
        return None, None, "no current champion"
    try:
        from churnmodel.serving.pyfunc import load_churn_model

        model = load_churn_model(f"models:/{name}@{alias}")
    except Exception as exc:  # a champion that cannot be loaded loses
        return current.version, None, (f"the current champion (version {current.version}) cannot "
                                       f"be loaded: {exc}")
    cuts = model.info.get("cutoffs", {})
    seen = {*cuts.get("train", []), cuts.get("valid"), cuts.get("test"), *cuts.get("refit", [])}
    if valid_cutoff is not None and valid_cutoff in seen:
        recorded = None
        try:
            recorded = client.get_run(current.run_id).data.metrics.get(f"valid_{model.name}_roc_auc")
        except Exception:
            pass
        if recorded is not None:
            return current.version, float(recorded), (
                f"the champion was fitted on the rows of cutoff {valid_cutoff}: its own recorded "
                "validation ROC AUC is compared")
    try:
        p = model.predict_proba(X)
    except Exception as exc:  # a champion that cannot score these features loses
        return current.version, None, (f"the current champion (version {current.version}) cannot "
                                       f"score this run's validation features: {exc}")
    return current.version, float(roc_auc_score(y, p)), ""


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Serialise writers of an embedded SQLite store across processes (no-op for servers).

    SQLite allows one writer at a time; MLflow waits on a busy database, but two processes
    creating the tables, or deciding the champion alias, at the same moment must not
    interleave.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    lock = Path(uri.removeprefix("sqlite:///") + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def training_run(cfg: Config, enabled: bool = True) -> Iterator[str | None]:
    """Open the MLflow run of one training *before* it starts; yields the run id (or None).

    A training that raises is recorded as FAILED (KILLED on Ctrl-C / SIGTERM) with the
    error as a tag, and never reaches registration, so the champion alias cannot move.
    """
    if not enabled:
        yield None
        return
    import mlflow

    uri = configure(cfg)
    seed_new_store(uri)  # a run is about to be recorded: the store is created now anyway
    try:
        with _store_lock(uri):
            mlflow.set_experiment(cfg.tracking.experiment)
            run = mlflow.start_run(run_name="train")
    except ChurnModelError:
        raise
    except Exception as exc:  # a damaged store, an unreachable server: before any work
        raise ChurnModelError(f"the tracking store {uri!r} ({uri_source(cfg)}) cannot be used: "
                              f"{one_line(exc)[:300]}; fix or move it, set MLFLOW_TRACKING_URI "
                              "to another store, or pass --no-track.") from None
    try:
        yield run.info.run_id
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt | SystemExit) else "FAILED"
        with _store_lock(uri):
            mlflow.set_tag("error", f"{type(exc).__name__}: {exc}"[:4000])
            mlflow.end_run(status=status)
        raise
    with _store_lock(uri):
        mlflow.end_run(status="FINISHED")


def log_training(result, cfg: Config, tables: Tables, model_dir: Path,
                 plots: dict[str, Path], importance: pd.DataFrame | None) -> RunReport:
    """Record a finished training in the active MLflow run, register the model, decide the alias."""
    import time

    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    from churnmodel.features import catalog
    from churnmodel.serving.pyfunc import log_pyfunc

    t0 = time.perf_counter()
    uri = tracking_uri(cfg)
    metrics = result.metrics_json()
    fingerprint = data_fingerprint(tables)
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_training needs an active run: use `with training_run(cfg):`")
    with _store_lock(uri):
        mlflow.set_tag("mlflow.runName", f"train as of {result.as_of.date()}")
        mlflow.log_params(_flatten(cfg.to_dict()))
        mlflow.set_tags({
            "git_commit": git_commit(), "seed": str(cfg.training.seed),
            "champion_candidate": result.champion, "as_of": str(result.as_of.date()),
            "test_cutoff": str(result.split.test.date()),
            "valid_cutoff": str(result.split.valid.date()),
            # which honest scheme the history allowed (churnmodel.modeling.ladder), and why
            "ladder_step": result.split.step, "ladder_reason": result.split.reason[:4000],
            "refitted": str(bool(result.refit.get("refitted"))),
            "data_sha256": hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode())
            .hexdigest(),
        })
        for tname, fp in fingerprint.items():
            source = _source(cfg, tname)
            ds = MetaDataset(source=source, name=tname, digest=fp["sha256"][:20])  # type: ignore[abstract]
            mlflow.log_input(ds, context="training", tags={
                k: str(v) for k, v in fp.items() if k not in ("columns", "table")})
        mlflow.log_metrics(_metrics(metrics))
        mlflow.log_metric("at_risk_threshold", result.model.info["scoring"]["threshold"])
        mlflow.log_metric("valid_campaign_profit", result.model.info["scoring"]["profit"])
        test_drift = result.test_drift
        if test_drift is not None:  # how far the population moves in one validation-to-test step
            mlflow.log_metric("drift_test_max_psi", float(test_drift["psi"].max()))
            mlflow.log_metric("drift_test_major_features", int((test_drift["level"] == "major").sum()))
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            (t / "metrics.json").write_text(json.dumps(metrics, indent=2))
            (t / "data_fingerprint.json").write_text(json.dumps(fingerprint, indent=2))
            (t / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
            (t / "features.json").write_text(json.dumps(catalog.describe(result.model.feature_names),
                                                        indent=2))
            (t / "scoring.json").write_text(json.dumps(result.model.info["scoring"], indent=2))
            mlflow.log_artifacts(tmp)
            if importance is not None:
                importance.to_csv(t / "shap_importance.csv", index=False)
                mlflow.log_artifact(str(t / "shap_importance.csv"))
            if test_drift is not None:
                test_drift.to_csv(t / "drift_test_vs_valid.csv", index=False)
                mlflow.log_artifact(str(t / "drift_test_vs_valid.csv"))
        for p in plots.values():
            mlflow.log_artifact(str(p), artifact_path="plots")
        info = log_pyfunc(result.model, result.test_sample, model_dir / "model.joblib")
        run_id = run.info.run_id
        return _register(result, cfg, info, run_id, uri, t0)


def _register(result, cfg: Config, info, run_id: str, uri: str, t0: float) -> RunReport:
    """Register the logged model; move the alias only on a validation win (under the lock)."""
    import time

    import mlflow
    from mlflow.tracking import MlflowClient

    name, alias = cfg.tracking.model_name, cfg.tracking.alias
    client = MlflowClient()
    with _mlflow_prints_to_log():
        version = mlflow.register_model(info.model_uri, name)
    yv = result.valid_predictions["churned"].to_numpy()
    new_auc = result.valid_metrics[result.champion]["roc_auc"]
    identity = model_identity(result.model)
    for key, value in identity.items():
        client.set_model_version_tag(name, version.version, key, value)
    other = _not_comparable(client, name, alias, identity)
    old_version, old_auc, why = (None, None, "") if other else _champion_auc_on(
        client, name, alias, result.valid_features, yv, str(result.split.valid.date()))
    if other and other[0] == "project":
        move, reason = False, (f"did not compare: the champion (version {other[1]}) belongs to "
                               f"{other[2]}; registered without the alias '{alias}' (give each "
                               "project its own [tracking] model_name)")
    elif other:
        move, reason = True, (f"did not compare with the champion (version {other[1]}): it was "
                              f"trained on {other[2]}; alias '{alias}' moved to this project's "
                              "newest model")
    elif old_version is None:
        move, reason = True, f"first registered version: alias '{alias}' set"
    elif old_auc is None:
        move, reason = True, why + f"; alias '{alias}' moved"
    elif new_auc > old_auc:
        where = f" ({why})" if why else " on the same rows"
        move, reason = True, (f"validation ROC AUC {new_auc:.4f} beats the champion (version "
                              f"{old_version}) at {old_auc:.4f}{where}: alias '{alias}' moved")
    else:
        where = f" ({why})" if why else " on the same rows"
        move, reason = False, (f"validation ROC AUC {new_auc:.4f} does not beat the champion "
                               f"(version {old_version}) at {old_auc:.4f}{where}: "
                               f"registered without the alias '{alias}'")
    if move:
        client.set_registered_model_alias(name, alias, version.version)
    client.set_model_version_tag(name, version.version, "selection", reason)
    artifacts = [f.path for f in client.list_artifacts(run_id)] + \
        [f.path for f in client.list_artifacts(run_id, "plots")]
    return RunReport(run_id, cfg.tracking.experiment, uri, info.model_uri, str(version.version),
                     move, reason, artifacts, time.perf_counter() - t0)


def _source(cfg: Config, table: str):
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    src = cfg.data.tables.get(table)
    if src is not None and src.path is not None:
        raw = str(Path(src.path).resolve())
    elif src is not None and src.table is not None:
        return CodeDatasetSource(tags={"spark_table": src.table[:500]})
    elif src is not None:
        return CodeDatasetSource(tags={"query": str(src.query)[:500]})
    else:
        raw = str((cfg.data.dir / f"{table}.parquet").resolve())
    try:
        return resolve_dataset_source(raw)
    except Exception:
        return CodeDatasetSource(tags={"path": raw})


# --- score files and their evaluation (churnmodel evaluate) ------------------------------

def registered_identity(model_uri: str) -> dict[str, Any]:
    """The registry identity of ``models:/name@alias``, ``models:/name/N`` or ``runs:/id/...``
    (``registered_model, version, run_id, model_id``); empty when the store cannot say."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        if model_uri.startswith("runs:/"):
            return {"run_id": model_uri.removeprefix("runs:/").split("/")[0]}
        if not model_uri.startswith("models:/"):
            return {}
        ref = model_uri.removeprefix("models:/").rstrip("/")
        if "@" in ref:
            name, alias = ref.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        elif "/" in ref:
            name, version = ref.rsplit("/", 1)
            mv = client.get_model_version(name, version)
        else:  # models:/m-... (a logged model, no registry entry)
            return {"model_id": ref}
    except Exception as exc:  # the model loaded, so its identity is a nice-to-have
        log.info("no registry identity for %s: %s", model_uri, exc)
        return {}
    # the SQLite store leaves model_id empty; the source is the logged model's models:/m-... URI
    source = str(mv.source or "")
    model_id = getattr(mv, "model_id", None) or (
        source.removeprefix("models:/") if source.startswith("models:/m-") else None)
    return {"registered_model": mv.name, "version": str(mv.version), "run_id": mv.run_id,
            "model_id": model_id}


def evaluation_metrics(evaluation) -> dict[str, float]:
    """``estimated_*`` and ``realised_*`` metrics of an evaluation, finite ones only."""
    out: dict[str, float] = {}
    for prefix, m in (("estimated_", evaluation.estimated), ("realised_", evaluation.realised or {})):
        for k, v in m.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v):
                out[prefix + k] = float(v)
    out["days_run"] = float(evaluation.days_run)
    return out


def log_evaluation(evaluation, cfg: Config, score_file: str | Path) -> str:
    """One MLflow run in the project's experiment per evaluation, tagged (and, with a logged
    model id, linked) to the model version that made the scores; returns the run id."""
    import mlflow

    uri = configure(cfg)
    m = evaluation.meta.get("model", {})
    tags = {"churnmodel.kind": "evaluation", "scores_as_of": str(evaluation.as_of.date()),
            "score_file": str(Path(score_file).resolve()), "horizon_status": evaluation.status,
            "project": str(evaluation.meta.get("project")),
            "model_fingerprint": str(m.get("fingerprint")), "model_candidate": str(m.get("name"))}
    for key, tag in (("registered_model", "registered_model"), ("version", "model_version"),
                     ("run_id", "model_run_id"), ("model_id", "model_id")):
        if m.get(key):
            tags[tag] = str(m[key])
    metrics = evaluation_metrics(evaluation)
    try:
        with _store_lock(uri):
            mlflow.set_experiment(cfg.tracking.experiment)
            with mlflow.start_run(run_name=f"evaluate scores of {evaluation.as_of.date()}") as run:
                mlflow.set_tags(tags)
                mlflow.log_params({"as_of": str(evaluation.as_of.date()),
                                   "horizon_days": evaluation.horizon_days,
                                   "data_end": str(evaluation.data_end.date())})
                mlflow.log_metrics(metrics)
                if m.get("model_id") and evaluation.realised is not None:
                    _link_to_model(metrics, m["model_id"])
                with tempfile.TemporaryDirectory() as tmp:
                    t = Path(tmp)
                    (t / "evaluation.json").write_text(
                        json.dumps(evaluation.as_dict(), indent=2, default=str))
                    for name in ("deciles", "bands", "groups"):
                        getattr(evaluation, name).to_csv(t / f"{name}.csv", index=False)
                    mlflow.log_artifacts(tmp, artifact_path="evaluation")
        if m.get("registered_model") and m.get("version") and evaluation.realised is not None:
            _tag_version(m["registered_model"], m["version"], evaluation)
    except ChurnModelError:
        raise
    except Exception as exc:
        raise ChurnModelError(f"the evaluation could not be logged to the tracking store {uri!r} "
                              f"({uri_source(cfg)}): {one_line(exc)[:300]}; fix the store or pass "
                              "--no-track.") from None
    return run.info.run_id


def _link_to_model(metrics: dict[str, float], model_id: str) -> None:
    """The realised metrics on the logged model too (MLflow 3 model metrics)."""
    import mlflow

    try:
        mlflow.log_metrics({k: v for k, v in metrics.items() if k.startswith("realised_")},
                           model_id=model_id)
    except Exception as exc:  # the logged model lives in another store: the run still has them
        log.info("realised metrics not linked to logged model %s: %s", model_id, exc)


def _tag_version(name: str, version: str, evaluation) -> None:
    """The latest realised ROC AUC as a tag of the registered version that made the scores."""
    from mlflow.tracking import MlflowClient

    r = evaluation.realised
    try:
        MlflowClient().set_model_version_tag(
            name, version, f"realised_roc_auc_{evaluation.as_of.date()}",
            f"{r['roc_auc']:.4f} (estimated {evaluation.estimated['roc_auc']:.4f}, "
            f"n={int(r['n']):,})")
    except Exception as exc:  # another store, or the version was deleted
        log.info("version %s/%s not tagged: %s", name, version, exc)
