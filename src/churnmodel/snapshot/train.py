"""Training in snapshot mode: stratified K-fold cross-validation of every candidate.

The labelled rows (a flag) are split into ``cv_folds`` stratified folds. Each candidate is
fitted on K-1 folds and scores the held-out fold, so every labelled row gets one
out-of-fold raw score per candidate. LightGBM's early stopping uses an inner stratified
tenth of the training folds, never the held-out fold. Calibration is fitted out of fold
too: the probabilities reported for fold k come from a calibrator fitted on the other
folds' out-of-fold scores, so no reported metric is computed on rows used for fitting,
early stopping or calibration. The champion (best pooled out-of-fold ROC AUC) is then
refitted on every labelled row (LightGBM with the mean number of trees of its folds) and
shipped with a calibrator fitted on all its out-of-fold scores.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from churnmodel.config import Config
from churnmodel.errors import ChurnModelError, DataError
from churnmodel.modeling.calibration import Calibrator
from churnmodel.modeling.candidates import LightGBMCandidate
from churnmodel.modeling.metrics import evaluate
from churnmodel.snapshot.candidates import BestColumnCandidate, LogisticOneHotCandidate
from churnmodel.snapshot.columns import TABLE, Typing, feature_frame, parse_flag, type_columns
from churnmodel.snapshot.model import MODE, SnapshotModel

CANDIDATES = ("lightgbm", "logistic", "best_column")
# fewer churners (or stayers) than this cannot be cross-validated with any confidence
MIN_MINORITY = 50


@dataclass
class SnapshotResult:
    """What :func:`train_snapshot` learnt and measured."""

    model: SnapshotModel
    typing: Typing
    champion: str
    cv_metrics: dict[str, dict[str, float]]  # candidate -> pooled out-of-fold metrics
    fold_auc: dict[str, list[float]]  # candidate -> ROC AUC of each fold
    oof: pd.DataFrame  # customer_id, churned, one calibrated probability column per candidate
    skipped: dict[str, str]
    n_labelled: int
    n_to_score: int
    folds: int
    seconds: float
    features: pd.DataFrame = field(repr=False)  # typed features of the labelled rows
    warnings: list[str] = field(default_factory=list)

    def metrics_json(self) -> dict[str, Any]:
        return {"mode": MODE, "champion": self.champion, "folds": self.folds,
                "best_single_column": self.model.info.get("best_single_column"),
                "n_labelled": self.n_labelled,
                "cv": {k: dict(v, fold_roc_auc=self.fold_auc[k]) for k, v in self.cv_metrics.items()},
                "skipped": self.skipped}


def split_labelled(df: pd.DataFrame, id_column: str, flag_column: str) -> tuple[pd.Series, pd.Series]:
    """The flag as 1.0 / 0.0 / NaN per row, and the mask of the labelled rows."""
    if flag_column not in df.columns:
        from churnmodel.errors import nearest

        raise DataError(TABLE, flag_column, f"the churn flag column is missing."
                        f"{nearest(flag_column, map(str, df.columns))} Columns present: "
                        f"{', '.join(map(str, df.columns[:25]))}",
                        "set [data.customers] churned = \"<your flag column>\"")
    y = parse_flag(df[flag_column], flag_column)
    return y, y.notna()


def check_labels(y: pd.Series, flag_column: str, folds: int) -> list[str]:
    """Refuse labels nothing can be learnt from; warnings for thin ones."""
    n = int(y.notna().sum())
    if n == 0:
        raise DataError(TABLE, flag_column, "has no labelled row: every churn flag is blank",
                        "fill the flag (Yes/No) of the customers whose outcome is known")
    pos = int((y == 1).sum())
    minority = min(pos, n - pos)
    if minority == 0:
        only = "churned" if pos else "stayed"
        raise DataError(TABLE, flag_column, f"has one class only: all {n:,} labelled customers "
                        f"{only}", "a model needs customers who churned and customers who stayed")
    if minority < folds * 2:
        raise DataError(TABLE, flag_column, f"has only {minority} customer(s) of the rarer class "
                        f"among {n:,} labelled rows; {folds}-fold cross-validation needs at least "
                        f"{folds * 2}", "label more customers, or lower [training] cv_folds")
    if minority < MIN_MINORITY:
        return [f"only {minority} labelled customers of the rarer class (of {n:,}): the "
                f"cross-validated metrics are rough and the model may be unstable; "
                f"{MIN_MINORITY} or more is advisable"]
    return []


def _candidate(name: str, cfg: Config, n_rounds: int | None = None):
    if name == "lightgbm":
        return LightGBMCandidate(cfg.model, cfg.training.seed, n_rounds)
    if name == "logistic":
        return LogisticOneHotCandidate(cfg.training.seed)
    if name == "best_column":
        return BestColumnCandidate()
    raise ChurnModelError(f"unknown snapshot candidate {name!r}; known: {', '.join(CANDIDATES)}")


def snapshot_candidates(cfg: Config) -> list[str]:
    """The candidates a snapshot run compares: LightGBM and both baselines, always.

    ``[model] candidates`` names purchase-log candidates; here ``lightgbm`` is trained when it
    is listed (it is by default) and the two baselines always are, as the yardsticks.
    """
    return [c for c in CANDIDATES if c != "lightgbm" or "lightgbm" in cfg.model.candidates]


def _fit(name: str, cfg: Config, X: pd.DataFrame, y: np.ndarray, seed: int):
    """Fit one candidate on a training part; LightGBM stops early on an inner tenth."""
    cand = _candidate(name, cfg)
    if name != "lightgbm":
        return cand.fit(X, y, None, None)
    idx = np.arange(len(y))
    tr, va = train_test_split(idx, test_size=0.1, stratify=y, random_state=seed)
    tr, va = np.sort(tr), np.sort(va)
    return cand.fit(X.iloc[tr], y[tr], X.iloc[va], y[va])


def train_snapshot(df: pd.DataFrame, cfg: Config, id_column: str, flag_column: str,
                   value_column: str | None = None, leave_out: dict[str, str] | None = None,
                   on_step: Callable[[str], Any] | None = None) -> SnapshotResult:
    """Type the columns, cross-validate every candidate, refit and calibrate the champion.

    ``df`` is the customers table as read (one row per customer, the user's column names);
    rows with a blank flag are not trained on (they are the customers to score).
    ``leave_out`` maps columns to the reason they are no feature (e.g. a mapped churn date).
    """
    t0 = time.perf_counter()
    step = on_step or (lambda s: None)
    folds = cfg.training.cv_folds
    if id_column not in df.columns:
        from churnmodel.errors import nearest

        raise DataError(TABLE, id_column, "the customer id column is missing."
                        f"{nearest(id_column, map(str, df.columns))} Columns present: "
                        f"{', '.join(map(str, df.columns[:25]))}",
                        "set [data.customers] customer_id to the id column of the file")
    y_all, labelled = split_labelled(df, id_column, flag_column)
    warnings = check_labels(y_all, flag_column, folds)
    unknown = [c for c in cfg.features.exclude if c not in df.columns]
    if unknown:
        warnings.append(f"[features] exclude names {len(unknown)} column(s) the table does not "
                        f"have: {', '.join(unknown[:10])}")
    typing = type_columns(df[labelled.to_numpy()], id_column, flag_column, cfg.features.exclude,
                          leave_out)
    if not typing.features:
        raise DataError(TABLE, None, "has no usable attribute column: "
                        + "; ".join(typing.notes()[:8]),
                        "add attribute columns, or remove them from [features] exclude")
    lab = df[labelled.to_numpy()].reset_index(drop=True)
    ids = lab[id_column].astype("string").str.strip()
    dup = ids.duplicated() & ids.notna()
    if ids.isna().any() or dup.any():
        what = "empty customer ids" if ids.isna().any() else "repeated customer ids"
        raise DataError(TABLE, id_column, f"has {what} (one row per customer is expected)",
                        "fill or drop those rows, keeping one row per customer",
                        n_rows=int(ids.isna().sum() + dup.sum()))
    y = y_all[labelled].to_numpy(dtype=int)
    shell = _shell(typing, cfg)
    X = shell.prepare(feature_frame(lab, typing))
    step("typing")

    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=cfg.training.seed)
    splits = list(skf.split(np.zeros(len(y)), y))
    raw: dict[str, np.ndarray] = {}
    rounds: list[int] = []
    skipped: dict[str, str] = {}
    for name in snapshot_candidates(cfg):
        r = np.full(len(y), np.nan)
        try:
            for k, (tr, te) in enumerate(splits):
                cand = _fit(name, cfg, X.iloc[tr], y[tr], cfg.training.seed + k)
                r[te] = cand.raw_score(X.iloc[te])
                if name == "lightgbm":
                    rounds.append(int(cand.best_iteration_))
        except (ValueError, np.linalg.LinAlgError) as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        raw[name] = r
        step(name)
    if not raw:
        raise ChurnModelError("no candidate could be trained: " + "; ".join(
            f"{k}: {v}" for k, v in skipped.items()))

    # calibrated out-of-fold probabilities: fold k calibrated on the other folds' scores
    method = cfg.model.calibration
    probs: dict[str, np.ndarray] = {}
    metrics: dict[str, dict[str, float]] = {}
    fold_auc: dict[str, list[float]] = {}
    for name, r in raw.items():
        p = np.empty(len(y))
        for tr, te in splits:
            p[te] = Calibrator(method).fit(r[tr], y[tr]).predict(r[te])
        probs[name] = p
        metrics[name] = evaluate(y, p)
        fold_auc[name] = [evaluate(y[te], p[te])["roc_auc"] for _, te in splits]
    champion = max(metrics, key=lambda k: (metrics[k]["roc_auc"], -CANDIDATES.index(k)))
    # the column the baseline picks on all labelled rows (each fold picks its own)
    best_column = BestColumnCandidate().fit(X, y).column_ if "best_column" in raw else None

    n_rounds = max(1, int(round(float(np.mean(rounds))))) if champion == "lightgbm" else None
    final = _candidate(champion, cfg, n_rounds).fit(X, y, None, None)
    calibrator = Calibrator(method).fit(raw[champion], y)
    model = dataclasses.replace(shell, name=champion, candidate=final, calibrator=calibrator)
    model.info.update(_scoring_info(y, probs[champion], cfg, customer_values(lab, value_column)))
    model.info["cv"] = {k: {m: v[m] for m in ("roc_auc", "pr_auc", "brier", "log_loss",
                                              "lift_top_decile", "base_rate", "n")}
                        for k, v in metrics.items()}
    model.info["reference"] = {"mean_probability": float(probs[champion].mean()),
                               "cutoff": f"{folds}-fold cross-validation"}
    model.info.update(champion=champion, folds=folds, n_labelled=int(len(y)),
                      best_single_column=best_column)
    if n_rounds is not None:
        model.info["n_rounds"] = n_rounds
    if champion == "best_column":
        model.info["best_column"] = final.column_
    step("refit")
    oof = pd.DataFrame({"customer_id": ids.to_numpy(), "churned": y,
                        **{f"p_{k}": v for k, v in probs.items()}})
    return SnapshotResult(model, typing, champion, metrics, fold_auc, oof, skipped,
                          int(len(y)), int((~labelled).sum()), folds,
                          time.perf_counter() - t0, X.set_index(ids.rename("customer_id")),
                          warnings)


def _shell(typing: Typing, cfg: Config) -> SnapshotModel:
    """The model before fitting: its columns, levels and typing (prepare works already)."""
    return SnapshotModel(name="", candidate=None, calibrator=Calibrator(cfg.model.calibration),
                         feature_names=typing.features, categories=typing.categories,
                         builders=[MODE], horizon_days=0, activity_lookback_days=0,
                         info={"mode": MODE, "typing": typing.as_dict()})


def _scoring_info(y: np.ndarray, p: np.ndarray, cfg: Config, value: np.ndarray | None
                  ) -> dict[str, Any]:
    """The at-risk threshold, fixed on the out-of-fold probabilities.

    With a customer value (``[data.customers] value``) or ``[scoring] top_k_percent`` the
    purchase-log rules apply; without a value there are no campaign economics to maximise,
    so the riskiest share equal to the churn rate is flagged.
    """
    from churnmodel.scoring import choose_threshold

    sc = cfg.scoring
    by_rate = sc.top_k_percent is None and value is None
    if by_rate:
        sc = dataclasses.replace(sc, top_k_percent=round(100 * float(np.mean(y)), 2))
    chosen = choose_threshold(y, p, np.zeros(len(y)) if value is None else value, sc)
    if by_rate:
        chosen["rule"] = (f"the riskiest {chosen['share']:.1%} out of fold, the churn rate; map "
                          "[data.customers] value or set [scoring] top_k_percent for another rule")
        chosen["profit"] = 0.0
    chosen.update(risk_bands=list(cfg.scoring.risk_bands), n_drivers=cfg.scoring.n_drivers)
    return {"scoring": chosen}


def customer_values(df: pd.DataFrame, value_column: str | None) -> np.ndarray | None:
    """The ``value`` column as non-negative numbers (blank = 0), or None when not mapped."""
    if value_column is None:
        return None
    if value_column not in df.columns:
        raise DataError(TABLE, value_column, "is mapped as the customer value but missing",
                        "fix [data.customers] value")
    v = pd.to_numeric(df[value_column].astype("string").str.strip().replace("", None),
                      errors="coerce")
    return v.fillna(0).clip(lower=0).to_numpy(dtype=float)
