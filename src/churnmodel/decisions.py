"""One state and one action per scored customer, decided once, the same on every path.

A churn probability alone mixes two kinds of customer: those still buying who may stop
(a retention offer can keep them) and those who have already stopped (the churn
definition already holds at the as-of date; only a win-back offer can bring them back).
This module tells them apart and turns risk, value and state into one action. The rules
are fixed at training (:func:`policy` stores them in ``model.info["decisions"]``) and
applied by :func:`decide` inside :func:`churnmodel.scoring.score_frame`, so batch scores,
segments, the report and the REST server show the same state, action and counts.

States (from the features at the as-of date):

* **lapsed**: no purchase for at least ``horizon_days`` (``recency_days >= H``): the
  churn definition already holds, whatever happens next.
* **lapsing**: not lapsed, but the time since the last purchase exceeds
  ``lapsing_factor`` (2) times the customer's own usual gap (``gap_mean_days``); for a
  one-time buyer, times the typical gap of repeat buyers at training.
* **active**: the rest (their own rhythm says they are still buying).
* A model without ``recency_days`` (e.g. it was excluded) cannot tell: everyone is
  ``active``. Customers with an explicit cancellation (``churned_ts``) are not in the
  scored population at all (:func:`churnmodel.labels.active_customers`).

Actions:

* **retain now**: at risk (``p >= threshold``) and not lapsed: the retention campaign's
  list (``at_risk``). The threshold is the most profitable campaign among the validation
  customers who were not lapsed (:func:`churnmodel.scoring.choose_threshold`).
* **win back**: lapsed, and a win-back offer pays on average:
  ``winback_acceptance_rate * value > offer_cost``.
* **let go**: lapsed, and it does not.
* **nurture**: not at risk but lapsing, or in a risk band above the lowest with a value
  at least the median of the validation customers: care worth giving before it is late.
* **monitor**: the rest; watch the score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

STATES: tuple[str, ...] = ("active", "lapsing", "lapsed")
ACTIONS: tuple[str, ...] = ("retain now", "nurture", "monitor", "win back", "let go")
LAPSING_FACTOR = 2.0
# the typical repeat gap when no repeat buyer is seen at training (a month)
FALLBACK_GAP_DAYS = 30.0


@dataclass(frozen=True)
class Policy:
    """What :func:`decide` needs, fixed at training and stored with the model."""

    horizon_days: int
    threshold: float
    offer_cost: float = 30.0
    acceptance_rate: float = 0.25
    winback_acceptance_rate: float = 0.05
    typical_gap_days: float = FALLBACK_GAP_DAYS
    lapsing_factor: float = LAPSING_FACTOR
    nurture_probability: float = 0.2
    nurture_value: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_info(cls, info: Mapping[str, Any], horizon_days: int) -> Policy:
        """The model's stored policy; a model trained before decisions existed gets one
        from its threshold and bands, so old models still score."""
        d = info.get("decisions")
        if d:
            return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
        sc = info.get("scoring", {})
        bands = sc.get("risk_bands") or [0.2]
        return cls(horizon_days=horizon_days, threshold=float(sc.get("threshold", 0.5)),
                   offer_cost=float(sc.get("offer_cost", 30.0)),
                   acceptance_rate=float(sc.get("acceptance_rate", 0.25)),
                   nurture_probability=float(bands[0]))


def customer_state(X: pd.DataFrame, horizon_days: int,
                   typical_gap_days: float = FALLBACK_GAP_DAYS,
                   lapsing_factor: float = LAPSING_FACTOR) -> np.ndarray:
    """``active | lapsing | lapsed`` per row of the feature frame ``X`` (see the module).

    >>> X = pd.DataFrame({"recency_days": [5.0, 70.0, 90.0, 40.0, np.nan],
    ...                   "gap_mean_days": [10.0, 30.0, 10.0, np.nan, np.nan]})
    >>> customer_state(X, 90, typical_gap_days=15.0).tolist()
    ['active', 'lapsing', 'lapsed', 'lapsing', 'active']
    """
    n = len(X)
    if "recency_days" not in X.columns:
        return np.full(n, "active", dtype=object)
    rec = pd.to_numeric(X["recency_days"], errors="coerce").to_numpy(dtype=float)
    gap = (pd.to_numeric(X["gap_mean_days"], errors="coerce").to_numpy(dtype=float)
           if "gap_mean_days" in X.columns else np.full(n, np.nan))
    return state_of(rec, gap, horizon_days, typical_gap_days, lapsing_factor)


def state_of(rec: np.ndarray, gap: np.ndarray, horizon_days: int,
             typical_gap_days: float = FALLBACK_GAP_DAYS,
             lapsing_factor: float = LAPSING_FACTOR) -> np.ndarray:
    """:func:`customer_state` on arrays of ``recency_days`` and ``gap_mean_days``."""
    rec = np.asarray(rec, dtype=float)
    gap = np.asarray(gap, dtype=float)
    gap = np.where(np.isfinite(gap) & (gap > 0), gap, typical_gap_days)
    with np.errstate(invalid="ignore"):
        lapsed = rec >= horizon_days
        lapsing = ~lapsed & (rec > lapsing_factor * gap)
    return np.where(lapsed, "lapsed", np.where(lapsing, "lapsing", "active")).astype(object)


def decide(p: np.ndarray, state: np.ndarray, value: np.ndarray | None,
           pol: Policy) -> tuple[np.ndarray, np.ndarray]:
    """``(at_risk, action)`` per customer from probability, state and value.

    ``value`` may be ``None`` or hold NaN (unknown): a lapsed customer of unknown value is
    let go, an active one is not nurtured for value.

    >>> pol = Policy(horizon_days=90, threshold=0.6, offer_cost=10, winback_acceptance_rate=0.1,
    ...              nurture_probability=0.2, nurture_value=50)
    >>> at, act = decide(np.array([0.9, 0.9, 0.95, 0.3, 0.3, 0.1, 0.1]),
    ...                  np.array(["active", "lapsing", "lapsed", "active", "active", "lapsing",
    ...                            "lapsed"]),
    ...                  np.array([10.0, 10.0, 200.0, 80.0, 20.0, 5.0, 50.0]), pol)
    >>> at.tolist()
    [True, True, False, False, False, False, False]
    >>> act.tolist()
    ['retain now', 'retain now', 'win back', 'nurture', 'monitor', 'nurture', 'let go']
    """
    p = np.asarray(p, dtype=float)
    state = np.asarray(state, dtype=object)
    v = np.full(len(p), np.nan) if value is None else np.asarray(value, dtype=float)
    lapsed = state == "lapsed"
    at_risk = (p >= pol.threshold) & ~lapsed
    with np.errstate(invalid="ignore"):
        worth_winback = pol.winback_acceptance_rate * v > pol.offer_cost
        worth_care = (p >= pol.nurture_probability) & (v >= pol.nurture_value)
    nurture = ~at_risk & ~lapsed & ((state == "lapsing") | worth_care)
    action = np.where(at_risk, "retain now",
                      np.where(lapsed, np.where(worth_winback, "win back", "let go"),
                               np.where(nurture, "nurture", "monitor"))).astype(object)
    return at_risk, action


def typical_gap(X: pd.DataFrame) -> float:
    """The median usual gap of the repeat buyers in ``X``: a one-time buyer's yardstick.

    >>> typical_gap(pd.DataFrame({"gap_mean_days": [10.0, np.nan, 30.0, 20.0]}))
    20.0
    """
    if "gap_mean_days" not in X.columns:
        return FALLBACK_GAP_DAYS
    g = pd.to_numeric(X["gap_mean_days"], errors="coerce").to_numpy(dtype=float)
    g = g[np.isfinite(g) & (g > 0)]
    return float(np.median(g)) if len(g) else FALLBACK_GAP_DAYS


def policy(horizon_days: int, threshold: float, scoring_cfg: Any, X_valid: pd.DataFrame,
           value_valid: np.ndarray, risk_bands: tuple[float, ...]) -> Policy:
    """The decision rules fixed at training from the validation customers' features."""
    typical = typical_gap(X_valid)
    state = customer_state(X_valid, horizon_days, typical)
    v = np.asarray(value_valid, dtype=float)[state != "lapsed"]
    median_value = float(np.median(v)) if len(v) else 0.0
    return Policy(horizon_days=int(horizon_days), threshold=float(threshold),
                  offer_cost=float(scoring_cfg.offer_cost),
                  acceptance_rate=float(scoring_cfg.acceptance_rate),
                  winback_acceptance_rate=float(scoring_cfg.winback_acceptance_rate),
                  typical_gap_days=round(typical, 6), lapsing_factor=LAPSING_FACTOR,
                  nurture_probability=float(risk_bands[0]) if risk_bands else 0.2,
                  nurture_value=round(median_value, 6) if math.isfinite(median_value) else 0.0)


def counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Customers per state, per action and at risk: the figures every output must agree on."""
    return {
        "state": {s: int((frame["state"] == s).sum()) for s in STATES},
        "action": {a: int((frame["action"] == a).sum()) for a in ACTIONS},
        "at_risk": {"at_risk": int(frame["at_risk"].astype(bool).sum())},
    }
