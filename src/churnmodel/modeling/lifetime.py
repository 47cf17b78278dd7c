"""Customer lifetime value and time to churn, fitted inside a training run.

:func:`fit_value_models` fits the BG/NBD x Gamma-Gamma value model at the validation
cutoff (it values the customers the at-risk threshold is chosen on), at the test cutoff
(checked against the spend that followed it: the value calibration) and at the as-of date
(what ships). :func:`fit_time_to_churn` evaluates the discrete-time hazard model on the
latest cutoff whose 180-day follow-up is complete, fitted only on what was known then,
against a fixed-horizon LightGBM fitted on the same cutoffs, and fits the model that ships
on every labelled cutoff. Either falls back (returns no model, with a note) rather than
failing the run.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.config import Config
from churnmodel.data.tables import Tables
from churnmodel.modeling.clv import ValueModel, fit_value_model, value_calibration
from churnmodel.modeling.hazard import (
    N_PERIODS,
    PERIOD_DAYS,
    HazardModel,
    churn_onsets,
    evaluate_survival,
    person_periods,
)

log = logging.getLogger(__name__)

__all__ = ["SurvivalFit", "ValueFit", "fit_time_to_churn", "fit_value_models", "summary_lines"]

FOLLOW_UP_DAYS = N_PERIODS * PERIOD_DAYS  # 180: the curve's end


@dataclass
class ValueFit:
    """The value models of a run (``None`` where they could not be fitted, with ``note``)."""

    shipped: ValueModel | None = None
    at_valid: ValueModel | None = None
    calibration: pd.DataFrame | None = None
    note: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def _fit(tables: Tables, cutoff: pd.Timestamp, cfg: Config) -> ValueModel:
    v = cfg.value
    return fit_value_model(tables.until(cutoff), cutoff, v.months, v.discount_monthly,
                           v.max_customers, v.penalizer, cfg.training.seed)


def fit_value_models(tables: Tables, valid: pd.Timestamp, test: pd.Timestamp,
                     as_of: pd.Timestamp, test_customers: pd.Index, cfg: Config) -> ValueFit:
    """Value models at the validation cutoff, the test cutoff and ``as_of`` (module doc)."""
    if not cfg.value.enabled:
        return ValueFit(note="[value] enabled = false: customers are valued by trailing spend")
    out = ValueFit()
    try:
        out.shipped = _fit(tables, as_of, cfg)
        out.at_valid = out.shipped if valid == as_of else _fit(tables, valid, cfg)
        at_test = _fit(tables, test, cfg)
        out.calibration = value_calibration(at_test, tables, test, as_of, test_customers)
    except Exception as exc:  # an optional model never fails the run: say why, fall back
        out.note = (f"lifetime value model not fitted ({_why(exc)}); customers are valued by their "
                    f"net spend over the last {cfg.scoring.value_window_days} days instead")
        log.warning("%s", out.note)
        return out
    allrow = out.calibration.iloc[-1] if out.calibration is not None else None
    out.metrics = {**out.shipped.params(),
                   "spend_frequency_corr": out.shipped.info["spend_frequency_corr"]}
    if allrow is not None:
        out.metrics.update(calibration_predicted_mean=float(allrow["predicted_mean"]),
                           calibration_realised_mean=float(allrow["realised_mean"]),
                           calibration_ratio=float(allrow["ratio"]))
    return out


def _why(exc: Exception) -> str:
    """The models' own messages as they are; anything else with its type."""
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


@dataclass
class SurvivalFit:
    """The shipped hazard model and its evaluation (``None`` / empty with ``note``)."""

    model: HazardModel | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    evaluation: pd.DataFrame | None = None  # per customer at the evaluation cutoff


def _onsets(tables: Tables, frame: pd.DataFrame, H: int, until: pd.Timestamp) -> pd.DataFrame:
    """Onsets of every (cutoff, customer) row of ``frame`` seen with data up to ``until``."""
    parts = []
    for c, rows in frame.groupby(level="cutoff", sort=True):
        ids = rows.index.get_level_values("customer_id")
        o = churn_onsets(tables, pd.Timestamp(c), ids, H, until).reindex(ids)
        o.index = rows.index
        parts.append(o)
    return pd.concat(parts) if parts else pd.DataFrame(columns=["duration", "event", "observed"])


def _cap(frame: pd.DataFrame, onsets: pd.DataFrame, max_rows: int, seed: int
         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded sample of rows whose person-period count stays about ``max_rows``."""
    n_pp = len(person_periods(onsets))
    if n_pp <= max_rows:
        return frame, onsets
    keep = np.random.default_rng(seed).random(len(frame)) < max_rows / n_pp
    return frame[keep], onsets[keep]


def _fit_hazard(tables: Tables, frame: pd.DataFrame, features: list[str], until: pd.Timestamp,
                cfg: Config) -> HazardModel:
    H, sc = cfg.labels.horizon_days, cfg.survival
    onsets = _onsets(tables, frame, H, until)
    usable = onsets["observed"].to_numpy() >= PERIOD_DAYS - 1  # at least one full period
    X, onsets = _cap(frame[usable], onsets[usable], sc.max_rows, cfg.training.seed)
    return HazardModel(cfg.model, sc.n_rounds, sc.learning_rate, cfg.training.seed).fit(
        X[features], onsets)


def fit_time_to_churn(tables: Tables, data: pd.DataFrame, features: list[str],
                      as_of: pd.Timestamp, cfg: Config, fixed_rounds: int | None) -> SurvivalFit:
    """Evaluate, then fit the shipped hazard model (module doc).

    ``data``: the run's training set (index ``cutoff, customer_id``; features and
    ``churned``), ``tables`` cut at ``as_of``. ``fixed_rounds``: trees of the fixed-horizon
    LightGBM it is compared with (the champion's setting when LightGBM was fitted).
    """
    if not cfg.survival.enabled:
        return SurvivalFit(note="[survival] enabled = false: no time-to-churn columns")
    H = cfg.labels.horizon_days
    cuts = sorted(pd.Timestamp(c) for c in data.index.get_level_values("cutoff").unique())
    out = SurvivalFit()
    days_left = {c: (as_of.normalize() - c).days - H for c in cuts}
    evaluable = [c for c in cuts if days_left[c] >= FOLLOW_UP_DAYS]
    try:
        if evaluable:
            out.metrics, out.evaluation, out.info = _evaluate(tables, data, features, evaluable[-1],
                                                              cuts, as_of, cfg, fixed_rounds)
        else:
            out.note = (f"no cutoff has the {FOLLOW_UP_DAYS}-day follow-up an evaluation needs "
                        f"(plus the {H}-day horizon): the time-to-churn model is not evaluated")
    except Exception as exc:  # the shipped model is still fitted below
        out.note = f"time-to-churn model not evaluated ({_why(exc)})"
        log.warning("%s", out.note)
    try:
        shipped_cuts = [c for c in cuts if days_left[c] >= PERIOD_DAYS - 1]
        if not shipped_cuts:
            raise ValueError(f"no cutoff has {PERIOD_DAYS} days of follow-up after its horizon")
        frame = data[data.index.get_level_values("cutoff").isin(shipped_cuts)]
        out.model = _fit_hazard(tables, frame, features, as_of, cfg)
        out.info.update(fit_cutoffs=[str(c.date()) for c in shipped_cuts],
                        person_periods=out.model.n_person_periods_)
    except Exception as exc:  # an optional model never fails the run: say why
        out.model = None
        out.note = (out.note + "; " if out.note else "") + (
            f"time-to-churn model not fitted ({_why(exc)}): the survival columns stay empty")
        log.warning("%s", out.note)
    return out


def _evaluate(tables: Tables, data: pd.DataFrame, features: list[str], when: pd.Timestamp,
              cuts: list[pd.Timestamp], as_of: pd.Timestamp, cfg: Config, fixed_rounds: int | None
              ) -> tuple[dict[str, float], pd.DataFrame, dict[str, Any]]:
    """Fit on what was known at ``when``; score ``when``'s customers; compare."""
    from churnmodel.modeling.candidates import LightGBMCandidate

    H, seed = cfg.labels.horizon_days, cfg.training.seed
    known = tables.until(when)
    train_cuts = [c for c in cuts if (when - c).days - H >= PERIOD_DAYS - 1]
    if not train_cuts:
        raise ValueError(f"no cutoff before the evaluation cutoff {when.date()} has a full "
                         f"{PERIOD_DAYS}-day period observed")
    cut = data.index.get_level_values("cutoff")
    frame = data[cut.isin(train_cuts)]
    hazard = _fit_hazard(known, frame, features, when, cfg)
    # the fixed-horizon model fitted on the same cutoffs (their labels are known at `when`)
    labelled = data[cut.isin([c for c in cuts if (when - c).days >= H])]
    fixed_cfg = dataclasses.replace(cfg.model, monotone_increasing=())
    fixed = LightGBMCandidate(fixed_cfg, seed, fixed_rounds or cfg.survival.n_rounds).fit(
        labelled[features], labelled["churned"].to_numpy(), None, None)
    test = data[cut == when]
    ids = test.index.get_level_values("customer_id")
    onsets = churn_onsets(tables, when, ids, H, as_of).reindex(ids)
    curves = hazard.survival(test[features])
    p_fixed = 1.0 / (1.0 + np.exp(-fixed.raw_score(test[features])))
    metrics = evaluate_survival(onsets["duration"].to_numpy(), onsets["event"].to_numpy(),
                                curves, p_fixed)
    per_customer = pd.DataFrame({"customer_id": ids, "duration": onsets["duration"].to_numpy(),
                                 "event": onsets["event"].to_numpy(), "p_fixed": p_fixed,
                                 **{f"s_{PERIOD_DAYS * j}": curves[:, j] for j in range(N_PERIODS + 1)}})
    info = {"evaluation_cutoff": str(when.date()),
            "evaluation_fit_cutoffs": [str(c.date()) for c in train_cuts],
            "evaluation_person_periods": hazard.n_person_periods_}
    return metrics, per_customer, info


def summary_lines(value: ValueFit, survival: SurvivalFit) -> list[str]:
    """What ``churnmodel train`` prints about lifetime value and time to churn."""
    lines = []
    if value.shipped is not None:
        m = value.metrics
        line = (f"lifetime value: BG/NBD x Gamma-Gamma over {value.shipped.months} months "
                f"(Gamma-Gamma p {m['gg_p']:.2f}, q {m['gg_q']:.2f}, gamma {m['gg_gamma']:.2f})")
        if "calibration_ratio" in m:
            line += (f"; after the test cutoff realised / predicted spend "
                     f"{m['calibration_realised_mean']:,.1f} / {m['calibration_predicted_mean']:,.1f}"
                     f" = {m['calibration_ratio']:.2f}")
        lines.append(line)
    elif value.note:
        lines.append(f"note: {value.note}")
    m = survival.metrics
    if "uno_c" in m:
        lines.append(
            f"time to churn (cutoff {survival.info.get('evaluation_cutoff')}, 180-day follow-up): "
            f"Uno's C {m['uno_c']:.4f} vs {m['uno_c_fixed_horizon']:.4f} fixed-horizon; integrated "
            f"Brier {m.get('integrated_brier', float('nan')):.4f} vs "
            f"{m.get('integrated_brier_fixed_horizon', float('nan')):.4f} fixed-horizon, "
            f"{m.get('integrated_brier_kaplan_meier', float('nan')):.4f} Kaplan-Meier")
    if survival.note:
        lines.append(f"note: {survival.note}")
    return lines
