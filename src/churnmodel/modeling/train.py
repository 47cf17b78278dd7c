"""One training run: cutoffs, training set, every candidate, champion, test report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnmodel import drift
from churnmodel.config import Config
from churnmodel.data.tables import Tables
from churnmodel.errors import DataError
from churnmodel.features import available_builders
from churnmodel.modeling.calibration import Calibrator
from churnmodel.modeling.candidates import make_candidate
from churnmodel.modeling.metrics import evaluate
from churnmodel.modeling.model import ChurnModel
from churnmodel.modeling.sanity import learnt_nothing
from churnmodel.scoring import choose_threshold, customer_value
from churnmodel.training_set import Split, cutoff_dates, time_split, training_set

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: ChurnModel
    champion: str
    split: Split
    as_of: pd.Timestamp
    valid_metrics: dict[str, dict[str, float]]
    test_metrics: dict[str, dict[str, float]]
    oracle_metrics: dict[str, float] | None
    rows: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    test_predictions: pd.DataFrame | None = None
    valid_predictions: pd.DataFrame | None = None  # customer_id, churned, p, customer_value
    test_sample: pd.DataFrame | None = None  # features of up to 5,000 test customers (plots)
    valid_features: pd.DataFrame | None = None  # validation cutoff features (champion duel)
    # PSI of the test sample against the validation reference: how far the population moves
    # in one cutoff step (printed by train, logged to MLflow)
    test_drift: pd.DataFrame | None = None

    def metrics_json(self) -> dict[str, Any]:
        """``metrics.json``: the champion as ``model``, others under ``baselines``, ``oracle``."""
        baselines = {k: v for k, v in self.test_metrics.items() if k != "lightgbm"}
        if self.champion != "lightgbm" and "lightgbm" in self.test_metrics:
            baselines["lightgbm"] = self.test_metrics["lightgbm"]
        out: dict[str, Any] = {
            "model": {"name": self.champion, **self.test_metrics[self.champion]},
            "baselines": baselines,
            "validation": self.valid_metrics,
            "test_cutoff": str(self.split.test.date()),
            "valid_cutoff": str(self.split.valid.date()),
            "train_cutoffs": [str(c.date()) for c in self.split.train],
            "as_of": str(self.as_of.date()),
            "rows": self.rows,
        }
        if self.oracle_metrics is not None:
            out["oracle"] = self.oracle_metrics
        return out


def _model_features(data: pd.DataFrame, exclude: tuple[str, ...]) -> list[str]:
    """The built feature columns minus ``[features] exclude`` (whose names must exist)."""
    from churnmodel.errors import ConfigError, nearest

    built = [c for c in data.columns if c != "churned"]
    unknown = [c for c in exclude if c not in built]
    if unknown:
        raise ConfigError(f"[features] exclude names '{unknown[0]}', which the builders do not "
                          f"produce.{nearest(unknown[0], built)} Built features: {', '.join(built)}.")
    features = [c for c in built if c not in exclude]
    if not features:
        raise ConfigError("[features] exclude removes every feature: keep at least one.")
    return features


def _xy(frame: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    return frame[features], frame["churned"].to_numpy()


def _check_two_classes(y: np.ndarray, what: str, cutoffs: str) -> None:
    if len(y) == 0:
        raise DataError("transactions", None, f"no active customers at the {what} cutoff(s) {cutoffs}",
                        "check the as-of date and [labels] activity_lookback_days")
    if y.min() == y.max():
        kind = "churners" if y.max() == 0 else "retained customers"
        raise DataError("transactions", None,
                        f"the {what} window ({cutoffs}) has no {kind}: all {len(y):,} labels are {int(y[0])}",
                        "use more cutoffs ([training] n_cutoffs), a different horizon_days, or more data")


def train(tables: Tables, cfg: Config, oracle: pd.DataFrame | None = None,
          progress: bool = False) -> TrainResult:
    """Train every candidate on the training cutoffs and pick the champion on validation.

    ``tables`` are cut at ``cfg.training.as_of`` (default: the latest event), so nothing
    after it is seen. ``oracle`` (``customer_id, cutoff, p_churn``; synthetic data only) adds
    the ceiling to the test report.
    """
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    H, L = cfg.labels.horizon_days, cfg.labels.activity_lookback_days
    as_of = pd.Timestamp(cfg.training.as_of) if cfg.training.as_of else tables.max_event_ts()
    as_of = as_of.normalize()
    tables = tables.until(as_of)
    builders = available_builders(tables, cfg.features.builders)
    cutoffs = cutoff_dates(as_of, H, cfg.training.n_cutoffs, cfg.training.cutoff_step_months)
    first_tx = tables.transactions["ts"].min().normalize()
    if cutoffs[-1] <= first_tx:
        raise DataError("transactions", "ts",
                        f"the history ({first_tx.date()} to {as_of.date()}) is shorter than the "
                        f"{H}-day label horizon plus one month",
                        "use a shorter [labels] horizon_days or a later --as-of date")
    cutoffs = [c for c in cutoffs if c > first_tx]
    split = time_split(cutoffs, H, cfg.training.embargo)
    used = split.train + [split.valid, split.test]
    data = training_set(tables, used, builders, H, L, cfg.training.max_customers_per_cutoff,
                        cfg.training.seed, progress=progress)
    seconds["features"] = time.perf_counter() - t0
    cut = data.index.get_level_values("cutoff")
    tr, va, te = data[cut.isin(split.train)], data[cut == split.valid], data[cut == split.test]
    features = _model_features(data, cfg.features.exclude)
    categories = {c: list(data[c].cat.categories) for c in features
                  if isinstance(data[c].dtype, pd.CategoricalDtype)}
    X, y = _xy(tr, features)
    Xv, yv = _xy(va, features)
    Xt, yt = _xy(te, features)
    _check_two_classes(y, "training", ", ".join(str(c.date()) for c in split.train))
    _check_two_classes(yv, "validation", str(split.valid.date()))
    _check_two_classes(yt, "test", str(split.test.date()))

    fitted: dict[str, tuple[Any, Calibrator]] = {}
    skipped: list[str] = []
    valid_metrics, test_metrics = {}, {}
    test_pred = pd.DataFrame({"customer_id": te.index.get_level_values("customer_id"),
                              "churned": yt})
    for name in cfg.model.candidates:
        t1 = time.perf_counter()
        cand = make_candidate(name, cfg.model, H, cfg.training.seed)
        lacking = cand.lacks(features) if hasattr(cand, "lacks") else ""
        if lacking:  # e.g. a baseline whose columns were excluded or never built
            log.warning("%s skipped: %s", name, lacking)
            skipped.append(name)
            continue
        cand = cand.fit(X, y, Xv, yv)
        raw_v = cand.raw_score(Xv)
        if not np.isfinite(raw_v).all():
            # a broken candidate must never be shipped or crash the run: report and skip it
            log.warning("%s gave %d non-finite scores on validation; skipped",
                        name, int((~np.isfinite(raw_v)).sum()))
            skipped.append(name)
            continue
        cal = Calibrator(cfg.model.calibration).fit(raw_v, yv)
        valid_metrics[name] = evaluate(yv, cal.predict(raw_v))
        p_test = cal.predict(cand.raw_score(Xt))
        test_metrics[name] = evaluate(yt, p_test)
        test_pred[name] = p_test
        fitted[name] = (cand, cal)
        seconds[f"fit_{name}"] = time.perf_counter() - t1
        log.info("%s: valid AUC %.4f", name, valid_metrics[name]["roc_auc"])

    # The champion is chosen on validation only; the test cutoff stays untouched by choices.
    champion = max(valid_metrics, key=lambda k: valid_metrics[k]["roc_auc"])
    cand, cal = fitted[champion]
    # The at-risk threshold is fixed on validation too (campaign profit or top-k share).
    valid_ids = va.index.get_level_values("customer_id")
    valid_pred = pd.DataFrame({
        "customer_id": valid_ids, "churned": yv, "p": cal.predict(cand.raw_score(Xv)),
        "customer_value": customer_value(tables, split.valid, pd.Index(valid_ids),
                                         cfg.scoring.value_window_days).to_numpy()})
    threshold = choose_threshold(yv, valid_pred["p"].to_numpy(),
                                 valid_pred["customer_value"].to_numpy(), cfg.scoring)
    oracle_metrics = None
    if oracle is not None:
        o = oracle[oracle["cutoff"] == split.test].set_index("customer_id")["p_churn"]
        ids = te.index.get_level_values("customer_id")
        if len(o) and ids.isin(o.index).all():
            test_pred["oracle"] = o.reindex(ids).to_numpy()
            oracle_metrics = evaluate(yt, test_pred["oracle"].to_numpy())
    reference = drift.profile(Xv[features])
    info = {
        "as_of": str(as_of.date()),
        "cutoffs": {"train": [str(c.date()) for c in split.train],
                    "valid": str(split.valid.date()), "test": str(split.test.date())},
        "best_iteration": getattr(cand, "best_iteration_", None),
        "seed": cfg.training.seed,
        "learnt_nothing": learnt_nothing(yv, valid_pred["p"].to_numpy(), valid_metrics[champion]["roc_auc"]),
        "skipped_candidates": skipped,
        "config": cfg.to_dict(),
        # what the scored population is compared with at scoring (churnmodel.drift)
        "reference": {"cutoff": str(split.valid.date()), "profile": reference,
                      "mean_probability": float(valid_pred["p"].mean())},
        "scoring": {**threshold, "risk_bands": list(cfg.scoring.risk_bands),
                    "n_drivers": cfg.scoring.n_drivers,
                    "value_window_days": cfg.scoring.value_window_days},
    }
    model = ChurnModel(champion, cand, cal, features, categories, builders, H, L, info)
    seconds["total"] = time.perf_counter() - t0
    rows = {"train": len(tr), "valid": len(va), "test": len(te)}
    sample = Xt.sample(min(len(Xt), 5000), random_state=cfg.training.seed).droplevel("cutoff")
    return TrainResult(model, champion, split, as_of, valid_metrics, test_metrics,
                       oracle_metrics, rows, seconds, test_pred, valid_pred, sample,
                       Xv.droplevel("cutoff"),
                       drift.compare(reference, sample))
