"""One training run: the ladder step, training set, every candidate, champion, refit, test report.

The champion and its settings (number of trees, calibration) are chosen on validation;
the model that ships is then refitted on the labelled cutoffs closest to the as-of date
(``[training] refit``), with its calibration fitted out of fold, because the customers
scored at the as-of date are older (or younger) than those of the oldest cutoffs.
``churnmodel backtest`` measures, fold by fold, whether that helps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnmodel import drift, engine
from churnmodel.config import Config
from churnmodel.data.tables import Tables
from churnmodel.decisions import customer_state, policy, typical_gap
from churnmodel.errors import DataError
from churnmodel.features import available_builders, build_features, fix_builders
from churnmodel.modeling import ladder
from churnmodel.modeling.calibration import Calibrator
from churnmodel.modeling.candidates import make_candidate
from churnmodel.modeling.lifetime import SurvivalFit, ValueFit, fit_time_to_churn, fit_value_models
from churnmodel.modeling.metrics import evaluate
from churnmodel.modeling.model import ChurnModel
from churnmodel.modeling.sanity import learnt_nothing
from churnmodel.scoring import choose_threshold, customer_value
from churnmodel.threads import in_one_thread
from churnmodel.training_set import CutoffCache, Split

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    """A candidate with its calibrator, and the number of trees where that applies."""

    candidate: Any
    calibrator: Calibrator
    n_rounds: int | None = None

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator.predict(self.candidate.raw_score(X))


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
    # how the shipped model was refitted (cutoffs, rows, trees) or why not
    refit: dict[str, Any] = field(default_factory=dict)
    # PSI of the as-of population against the rows the model was chosen on and shipped with
    asof_drift: dict[str, pd.DataFrame] = field(default_factory=dict)
    # every candidate as chosen (fitted, calibrated) and, with refit_all, refitted
    fitted: dict[str, Fitted] = field(default_factory=dict)
    refitted: dict[str, Fitted] = field(default_factory=dict)
    # lifetime value (BG/NBD x Gamma-Gamma) and time to churn (discrete-time hazard)
    value: ValueFit = field(default_factory=ValueFit)
    survival: SurvivalFit = field(default_factory=SurvivalFit)

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
            "ladder": {"step": self.split.step, "reason": self.split.reason},
            "refit": {k: v for k, v in self.refit.items()},
        }
        if self.oracle_metrics is not None:
            out["oracle"] = self.oracle_metrics
        out["value"] = {**self.value.metrics, "note": self.value.note,
                        "months": self.model.info.get("value", {}).get("months"),
                        "discount_monthly": self.model.info.get("value", {}).get("discount_monthly")}
        out["survival"] = {**self.survival.metrics, "note": self.survival.note,
                           **{k: v for k, v in self.survival.info.items() if k != "fit_cutoffs"}}
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


@in_one_thread
def train(tables: Tables, cfg: Config, oracle: pd.DataFrame | None = None,
          progress: bool = False, refit_all: bool = False,
          cache: CutoffCache | None = None, drift_at_as_of: bool = True) -> TrainResult:
    """Train every candidate, pick the champion on validation, refit it on the latest data.

    ``tables`` are cut at ``cfg.training.as_of`` (default: the latest event), so nothing
    after it is seen. The ladder step (:mod:`churnmodel.modeling.ladder`) follows from the
    labelled history. ``oracle`` (``customer_id, cutoff, p_churn``; synthetic data only)
    adds the ceiling to the test report. ``refit_all`` refits every candidate, not only the
    champion (the backtest compares them). ``cache`` (a :class:`CutoffCache` of these very
    ``tables``) reuses the cutoff frames an earlier training on them built (the backtest).
    ``drift_at_as_of=False`` skips comparing the population at the as-of date with the
    training rows (``TrainResult.asof_drift`` stays empty; the backtest does not report it).
    """
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    H, L, tc = cfg.labels.horizon_days, cfg.labels.activity_lookback_days, cfg.training
    as_of = pd.Timestamp(tc.as_of) if tc.as_of else tables.max_event_ts()
    as_of = as_of.normalize()
    if cache is not None:
        cache.check(tables)
    tables = tables.until(as_of)
    # what builders learn from the data (the event types of engagement) is fixed here, once
    builders = fix_builders(tables, available_builders(tables, cfg.features.builders))
    first_tx = tables.transactions["ts"].min().normalize()
    split = ladder.plan(first_tx, as_of, H, tc.n_cutoffs, tc.cutoff_step_months, tc.embargo)
    labelled = ladder.labelled_cutoffs(first_tx, as_of, H, tc.n_cutoffs, tc.cutoff_step_months)
    full = split.step == "full"
    # the refit window: as many cutoffs as training used, ending at the latest labelled one
    refit_cuts = labelled[-len(split.train):] if full else labelled
    used = sorted(set(split.train) | {split.valid, split.test} | (set(refit_cuts) if tc.refit else set()))
    if cfg.features.exclude:  # a misspelt name fails now, not after every cutoff's features
        one = pd.Index(tables.transactions["customer_id"].iloc[:1], name="customer_id")
        _model_features(build_features(tables, used[-1], one, builders), cfg.features.exclude)
    # on Spark, features per customer bucket and a sample here; the model fits here either way
    data = engine.training_set(tables, used, builders, cfg, progress=progress, cache=cache)
    seconds["features"] = time.perf_counter() - t0
    features = _model_features(data, cfg.features.exclude)
    categories = {c: list(data[c].cat.categories) for c in features
                  if isinstance(data[c].dtype, pd.CategoricalDtype)}
    cut = data.index.get_level_values("cutoff")
    ids = data.index.get_level_values("customer_id")
    if full:
        tr, va, te = data[cut.isin(split.train)], data[cut == split.valid], data[cut == split.test]
        fit_rows = tr
    else:  # held-out customers never reach a fit; the rest is cross-validated
        held = ladder.holdout(ids, tc.holdout_share, tc.seed)
        fit_rows = data[~held & cut.isin(split.train)]
        va = fit_rows[fit_rows.index.get_level_values("cutoff") == split.valid]
        te = data[held & (cut == split.test)]
    X, y = _xy(fit_rows, features)
    Xv, yv = _xy(va, features)
    Xt, yt = _xy(te, features)
    _check_two_classes(y, "training", ", ".join(str(c.date()) for c in split.train))
    _check_two_classes(yv, "validation", str(split.valid.date()))
    _check_two_classes(yt, "test", str(split.test.date()))

    fitted: dict[str, Fitted] = {}
    skipped: list[str] = []
    valid_metrics, test_metrics = {}, {}
    valid_p: dict[str, np.ndarray] = {}
    test_pred = pd.DataFrame({"customer_id": te.index.get_level_values("customer_id"),
                              "churned": yt})
    for name in cfg.model.candidates:
        t1 = time.perf_counter()
        cand = make_candidate(name, cfg.model, H, tc.seed)
        lacking = cand.lacks(features) if hasattr(cand, "lacks") else ""
        if lacking:  # e.g. a baseline whose columns were excluded or never built
            log.warning("%s skipped: %s", name, lacking)
            skipped.append(name)
            continue
        cv: tuple[Fitted, np.ndarray] | None = None  # the fitted candidate, validation p
        if full:
            cand = cand.fit(X, y, Xv, yv)
            raw_v = cand.raw_score(Xv)
            if not _broken(name, raw_v):
                cal = Calibrator(cfg.model.calibration).fit(raw_v, yv)
                cv = Fitted(cand, cal, getattr(cand, "best_iteration_", None)), cal.predict(raw_v)
        else:
            cv = _cross_validate(name, fit_rows, features, cfg, split.valid)
        if cv is None:
            skipped.append(name)
            continue
        fit, p_v = cv
        valid_metrics[name] = evaluate(yv, p_v)
        valid_p[name] = p_v
        p_test = fit.predict(Xt)
        test_metrics[name] = evaluate(yt, p_test)
        test_pred[name] = p_test
        fitted[name] = fit
        seconds[f"fit_{name}"] = time.perf_counter() - t1
        log.info("%s: valid AUC %.4f", name, valid_metrics[name]["roc_auc"])
    if not valid_metrics:
        raise DataError("transactions", None, "no candidate model could be fitted "
                        f"(skipped: {', '.join(skipped)})",
                        "check [model] candidates and [features] builders / exclude")

    # The champion is chosen on validation only; the test rows stay untouched by choices.
    champion = max(valid_metrics, key=lambda k: valid_metrics[k]["roc_auc"])
    # Lifetime value models at the validation and test cutoffs and the as-of date: the
    # validation customers are valued by CLV (what a kept churner is worth) for the threshold.
    t1 = time.perf_counter()
    value_fit = fit_value_models(tables, split.valid, split.test, as_of,
                                 pd.Index(te.index.get_level_values("customer_id")), cfg)
    seconds["value"] = time.perf_counter() - t1
    # The at-risk threshold is fixed on validation too (campaign profit or top-k share).
    # Lapsed customers (no purchase for a horizon) are a win-back matter, never at risk: the
    # threshold is the most profitable retention campaign among the others.
    valid_ids = va.index.get_level_values("customer_id")
    valid_pred = pd.DataFrame({
        "customer_id": valid_ids, "churned": yv, "p": valid_p[champion],
        "customer_value": customer_value(tables, split.valid, pd.Index(valid_ids),
                                         cfg.scoring.value_window_days,
                                         value_fit.at_valid).to_numpy()})
    Xv_rows = va[features]
    valid_pred["state"] = customer_state(Xv_rows, H, typical_gap(Xv_rows))
    keep = (valid_pred["state"] != "lapsed").to_numpy()
    if not keep.any():
        keep[:] = True  # every validation customer lapsed: fall back to all of them
    threshold = choose_threshold(yv[keep], valid_pred["p"].to_numpy()[keep],
                                 valid_pred["customer_value"].to_numpy()[keep], cfg.scoring)
    threshold["excluded_lapsed"] = int((~keep).sum())
    decision_policy = policy(H, threshold["threshold"], cfg.scoring, Xv_rows,
                             valid_pred["customer_value"].to_numpy(), cfg.scoring.risk_bands)
    threshold["winback"] = _winback_economics(valid_pred, decision_policy)
    oracle_metrics = None
    if oracle is not None:
        o = oracle[oracle["cutoff"] == split.test].set_index("customer_id")["p_churn"]
        tids = te.index.get_level_values("customer_id")
        if len(o) and tids.isin(o.index).all():
            test_pred["oracle"] = o.reindex(tids).to_numpy()
            oracle_metrics = evaluate(yt, test_pred["oracle"].to_numpy())

    # Refit on the cutoffs closest to the as-of date: the champion (and with refit_all every
    # candidate) with the settings chosen above, calibrated out of fold.
    t1 = time.perf_counter()
    refitted: dict[str, Fitted] = {}
    window = data[cut.isin(refit_cuts)] if tc.refit else fit_rows
    refit_info: dict[str, Any] = {"refitted": False}
    if tc.refit:
        for name in (list(fitted) if refit_all else [champion]):
            refitted[name] = _refit(name, window, features, cfg, fitted[name].n_rounds)
        refit_info = {"refitted": True, "cutoffs": [str(c.date()) for c in refit_cuts],
                      "rows": len(window), "n_rounds": refitted[champion].n_rounds,
                      "calibration": f"out of fold ({REFIT_FOLDS} customer-grouped folds)"}
        seconds["refit"] = time.perf_counter() - t1
    shipped = refitted.get(champion, fitted[champion])
    latest = window.index.get_level_values("cutoff").max()
    ref_rows = window[window.index.get_level_values("cutoff") == latest]
    Xr = ref_rows[features]
    reference = drift.profile(Xr)
    # against the rows the champion was chosen on too, when the refit moved away from them
    compared = {"chosen": fit_rows, "shipped": window} if tc.refit else {"shipped": window}
    asof_drift = (_asof_drift(tables, as_of, builders, features, compared, tc.seed, cfg)
                  if drift_at_as_of else {})
    info = {
        "as_of": str(as_of.date()),
        "cutoffs": {"train": [str(c.date()) for c in split.train],
                    "valid": str(split.valid.date()), "test": str(split.test.date()),
                    "refit": refit_info.get("cutoffs", [])},
        "ladder": {"step": split.step, "reason": split.reason},
        "refit": refit_info,
        "best_iteration": shipped.n_rounds,
        "seed": tc.seed,
        "learnt_nothing": learnt_nothing(yv, valid_pred["p"].to_numpy(),
                                         valid_metrics[champion]["roc_auc"]),
        "skipped_candidates": skipped,
        "config": cfg.to_dict(),
        # what the scored population is compared with at scoring (churnmodel.drift): the
        # latest cutoff the shipped model was fitted on
        "reference": {"cutoff": str(pd.Timestamp(latest).date()), "profile": reference,
                      "mean_probability": float(shipped.predict(Xr).mean())},
        "project": cfg.project.name,
        "data_source": cfg.data.source_id(),
        "decisions": decision_policy.as_dict(),
        "scoring": {**threshold, "risk_bands": list(cfg.scoring.risk_bands),
                    "n_drivers": cfg.scoring.n_drivers,
                    "value_window_days": cfg.scoring.value_window_days},
    }
    t1 = time.perf_counter()
    lgb_rounds = fitted["lightgbm"].n_rounds if "lightgbm" in fitted else None
    survival_fit = fit_time_to_churn(tables, data, features, as_of, cfg, lgb_rounds)
    seconds["survival"] = time.perf_counter() - t1
    info["value"] = {"months": cfg.value.months, "discount_monthly": cfg.value.discount_monthly,
                     "source": "clv" if value_fit.shipped is not None else "trailing spend",
                     "note": value_fit.note, **value_fit.metrics,
                     # predicted vs realised spend after the test cutoff, by decile (report)
                     "calibration": ([] if value_fit.calibration is None
                                     else value_fit.calibration.to_dict("records"))}
    info["survival"] = {"note": survival_fit.note, **survival_fit.metrics, **survival_fit.info}
    model = ChurnModel(champion, shipped.candidate, shipped.calibrator, features, categories,
                       builders, H, L, info, value_fit.shipped, survival_fit.model)
    seconds["total"] = time.perf_counter() - t0
    rows = {"train": len(fit_rows), "valid": len(va), "test": len(te), "refit": len(window)}
    sample = Xt.sample(min(len(Xt), 5000), random_state=tc.seed).droplevel("cutoff")
    valid_reference = drift.profile(Xv)
    return TrainResult(model, champion, split, as_of, valid_metrics, test_metrics,
                       oracle_metrics, rows, seconds, test_pred, valid_pred, sample,
                       Xv.droplevel("cutoff"), drift.compare(valid_reference, sample),
                       refit_info, asof_drift, fitted, refitted, value_fit, survival_fit)


def _winback_economics(valid_pred: pd.DataFrame, pol) -> dict[str, Any]:
    """What the win-back list would have made among the lapsed validation customers:
    offers to those worth one, each accepted with ``winback_acceptance_rate`` by those who
    did not come back by themselves."""
    from churnmodel.decisions import decide

    _, action = decide(valid_pred["p"].to_numpy(), valid_pred["state"].to_numpy(),
                       valid_pred["customer_value"].to_numpy(), pol)
    win = action == "win back"
    y = valid_pred["churned"].to_numpy()[win]
    v = valid_pred["customer_value"].to_numpy()[win]
    lapsed = int((valid_pred["state"] == "lapsed").sum())
    return {"lapsed": lapsed, "contacted": int(win.sum()),
            "acceptance_rate": pol.winback_acceptance_rate,
            "profit": float((y * pol.winback_acceptance_rate * v - pol.offer_cost).sum())}


REFIT_FOLDS = 3  # out-of-fold calibration of a refit: 3 extra fits of the champion


def _broken(name: str, raw: np.ndarray) -> bool:
    """A broken candidate must never be shipped or crash the run: say so; the caller skips it."""
    if np.isfinite(raw).all():
        return False
    log.warning("%s gave %d non-finite scores on validation; skipped", name,
                int((~np.isfinite(raw)).sum()))
    return True


def _cross_validate(name: str, rows: pd.DataFrame, features: list[str], cfg: Config,
                    valid_cutoff: pd.Timestamp) -> tuple[Fitted, np.ndarray] | None:
    """Customer-grouped K-fold: the candidate's settings and its out-of-fold probabilities.

    Each fold's model is fitted on the other folds (LightGBM early-stops on one of them,
    never on the fold it predicts); each fold's probabilities come from a calibrator
    fitted on the other folds' out-of-fold scores. Returns the candidate refitted on all
    ``rows`` with the median number of trees and a calibrator fitted on every
    out-of-fold score, and the out-of-fold probabilities of the rows at ``valid_cutoff``.
    """
    tc, H = cfg.training, cfg.labels.horizon_days
    X, y = _xy(rows, features)
    ids = rows.index.get_level_values("customer_id")
    k = tc.cv_folds
    folds = ladder.customer_folds(ids, k, tc.seed)
    raw = np.full(len(rows), np.nan)
    rounds: list[int] = []
    for f in range(k):
        cand = make_candidate(name, cfg.model, H, tc.seed)
        test = folds == f
        stop = folds == (f + 1) % k if getattr(cand, "early_stopping", False) else np.zeros_like(test)
        fit = ~test & ~stop
        if len(np.unique(y[fit])) < 2 or (stop.any() and len(np.unique(y[stop])) < 2):
            continue  # a fold of one class: leave its rows out of the estimate
        cand.fit(X[fit], y[fit], X[stop] if stop.any() else None, y[stop] if stop.any() else None)
        raw[test] = cand.raw_score(X[test])
        if getattr(cand, "best_iteration_", None) is not None:
            rounds.append(int(cand.best_iteration_))
    done = ~np.isnan(raw)
    if not done.any() or _broken(name, raw[done]):
        return None
    p = np.full(len(rows), np.nan)
    for f in range(k):
        this, other = done & (folds == f), done & (folds != f)
        if this.any():
            p[this] = Calibrator(cfg.model.calibration).fit(raw[other], y[other]).predict(raw[this])
    n_rounds = int(np.median(rounds)) if rounds else None
    final = make_candidate(name, cfg.model, H, tc.seed, n_rounds).fit(X, y, None, None)
    cal = Calibrator(cfg.model.calibration).fit(raw[done], y[done])
    at_valid = np.asarray(rows.index.get_level_values("cutoff") == valid_cutoff)
    if np.isnan(p[at_valid]).any():  # rows of a skipped fold: predicted by the final model
        miss = at_valid & np.isnan(p)
        p[miss] = cal.predict(final.raw_score(X[miss]))
        log.warning("%s: %d validation rows of single-class folds scored in-sample", name,
                    int(miss.sum()))
    return Fitted(final, cal, n_rounds), p[at_valid]


def _refit(name: str, rows: pd.DataFrame, features: list[str], cfg: Config,
           n_rounds: int | None) -> Fitted:
    """Fit ``name`` on ``rows`` with fixed settings; calibrate on out-of-fold scores."""
    tc, H = cfg.training, cfg.labels.horizon_days
    X, y = _xy(rows, features)
    folds = ladder.customer_folds(rows.index.get_level_values("customer_id"), REFIT_FOLDS, tc.seed)
    raw = np.full(len(rows), np.nan)
    for f in range(REFIT_FOLDS):
        fit = folds != f
        if len(np.unique(y[fit])) < 2:
            continue
        cand = make_candidate(name, cfg.model, H, tc.seed, n_rounds).fit(X[fit], y[fit], None, None)
        raw[~fit] = cand.raw_score(X[~fit])
    final = make_candidate(name, cfg.model, H, tc.seed, n_rounds).fit(X, y, None, None)
    done = np.isfinite(raw)
    if len(np.unique(y[done])) < 2:
        raise DataError("transactions", None, "the refit window has one class only",
                        "set [training] refit = false, or use more history")
    return Fitted(final, Calibrator(cfg.model.calibration).fit(raw[done], y[done]), n_rounds)


def _asof_drift(tables: Tables, as_of: pd.Timestamp, builders: list[str], features: list[str],
                rows: dict[str, pd.DataFrame], seed: int, cfg: Config) -> dict[str, pd.DataFrame]:
    """PSI of the population at ``as_of`` against each named set of training rows."""
    try:
        now = engine.features_at(tables, as_of, builders, cfg)[features]
    except DataError:  # nobody active at the as-of date: nothing to compare
        return {}
    now = now.sample(min(len(now), 100_000), random_state=seed)
    out = {}
    for key, frame in rows.items():
        ref = frame[features].sample(min(len(frame), 100_000), random_state=seed)
        out[key] = drift.compare(drift.profile(ref), now)
    return out
