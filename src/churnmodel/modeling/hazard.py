"""Time to churn: a discrete-time hazard model on person-period rows.

**Churn onset.** For purchase logs, a customer seen at cutoff T churns at the first day of
a purchase-free run that reaches the horizon H: onset ``tau`` (days after T) is the
smallest ``s >= 0`` such that the churn label at cutoff ``T + s`` would be 1, i.e. no
purchase in ``(T + s, T + s + H]``. So ``tau = 0`` exactly when the fixed-horizon label
at T is 1; otherwise ``tau`` is the (relative) day of the first later purchase that is
followed by more than H quiet days. An onset is known only H days after it: with data up
to day ``E`` (relative to T), onsets up to ``E - H`` are observed and a customer with no
onset by then is censored there. With an explicit ``churned_ts`` (day ``c``) the label
rule gives ``tau = max(0, c - H)``, observed once ``c <= E``.

**Person-period rows.** Time after the cutoff is cut into 30-day periods ``j = 0..5``
(up to 180 days). A customer contributes one row per period they enter still at risk,
with ``event = 1`` in the period holding their onset; a censored customer contributes
only the periods observed in full. A LightGBM classifier on the cutoff's features plus
``period`` estimates the hazard ``h_j = P(onset in period j | no onset before)``, and the
survival curve is ``S(30 (j + 1)) = prod_{k <= j} (1 - h_k)``, ``S(0) = 1``:
``p_active_30d = S(30)`` is the probability of still buying (no onset) 30 days on.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.config import ModelConfig
from churnmodel.data.tables import Tables, day_end

__all__ = ["CURVE_DAYS", "N_PERIODS", "PERIOD_DAYS", "HazardModel", "churn_onsets",
           "evaluate_survival", "kaplan_meier", "person_periods", "survival_columns"]

PERIOD_DAYS = 30
N_PERIODS = 6
CURVE_DAYS = (30, 60, 90, 180)


def churn_onsets(tables: Tables, cutoff: pd.Timestamp, customers: pd.Index, horizon_days: int,
                 observed_until: pd.Timestamp) -> pd.DataFrame:
    """Days from ``cutoff`` to churn onset, or to censoring, for each of ``customers``.

    Only events dated on or before ``observed_until`` are seen. Returns index
    ``customer_id`` and columns ``duration`` (days: the onset, or the last day an onset
    could have been observed) and ``event`` (1 = onset observed, 0 = censored). Customers
    whose label at ``cutoff`` is not yet known (fewer than ``horizon_days`` days observed)
    are left out.

    >>> tx = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3], "amount": 5.0,
    ...     "ts": pd.to_datetime(["2025-01-01", "2025-01-20", "2025-02-10", "2025-01-01",
    ...                           "2025-01-01"])})
    >>> churn_onsets(Tables(tx), pd.Timestamp("2025-01-01"), pd.Index([1, 2, 3]), 30,
    ...              pd.Timestamp("2025-04-30")
    ... )[["duration", "event"]].to_dict("index")
    {1: {'duration': 40.0, 'event': 1}, 2: {'duration': 0.0, 'event': 1}, 3: {'duration': 0.0, 'event': 1}}
    """
    cut = pd.Timestamp(cutoff).normalize()
    end_day = float((pd.Timestamp(observed_until).normalize() - cut).days)
    s_max = end_day - horizon_days  # the latest onset day that can be known
    ids = pd.Index(customers)
    if s_max < 0:
        return pd.DataFrame({"duration": pd.Series([], dtype="float64"),
                             "event": pd.Series([], dtype="int8"),
                             "observed": pd.Series([], dtype="float64")},
                            index=pd.Index([], name="customer_id", dtype=ids.dtype))
    tx = tables.transactions
    after = tx[(tx["ts"] >= day_end(cut)) & (tx["ts"] < day_end(observed_until)) & (tx["amount"] > 0)
               & tx["customer_id"].isin(ids)]
    days = pd.DataFrame({"customer_id": after["customer_id"].to_numpy(),
                         "day": (after["ts"].dt.normalize() - cut).dt.days.to_numpy(dtype=float)})
    # the cutoff day itself is a virtual purchase: onset 0 if the next H days are quiet
    days = pd.concat([pd.DataFrame({"customer_id": ids.to_numpy(), "day": 0.0}), days],
                     ignore_index=True).drop_duplicates().sort_values(["customer_id", "day"], kind="stable")
    nxt = days.groupby("customer_id", sort=False)["day"].shift(-1)
    gap_closes = (nxt - days["day"] > horizon_days) | (nxt.isna() & (days["day"] + horizon_days <= end_day))
    onset = days[gap_closes.to_numpy()].groupby("customer_id")["day"].min()
    duration = onset.reindex(ids)
    event = duration.notna()
    cu = tables.customers
    if cu is not None and "churned_ts" in cu.columns:
        c = cu.set_index("customer_id")["churned_ts"].reindex(ids)
        has = c.notna()
        c_day = (c.dt.normalize() - cut).dt.days.astype("float64")
        seen = has & (c_day <= end_day)
        duration = duration.where(~has, np.maximum(0.0, c_day - horizon_days))
        event = event.where(~has, seen)
    out = pd.DataFrame({"duration": duration.where(event, s_max).astype("float64").to_numpy(),
                        "event": event.astype("int8").to_numpy(), "observed": s_max}, index=ids)
    out.index.name = "customer_id"
    return out


def person_periods(onsets: pd.DataFrame) -> pd.DataFrame:
    """One row per customer (and cutoff) per 30-day period entered at risk, up to 6 periods.

    ``onsets`` has ``duration``, ``event`` and ``observed`` (:func:`churn_onsets`) on any
    index. Returns columns ``row`` (position in ``onsets``), ``period`` and ``event`` (1 in
    the period of the onset). Only periods observed in full are used, for everyone seen at
    the same cutoff alike (``observed``, the end of the data, is the same for them): keeping
    the onsets of a partly observed period but not its survivors would inflate its hazard.

    >>> o = pd.DataFrame({"duration": [0.0, 45.0, 70.0, 400.0, 20.0],
    ...                   "event": [1, 1, 0, 1, 1], "observed": [400, 400, 70, 400, 25]})
    >>> person_periods(o).values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [[0, 0, 1], [1, 0, 0], [1, 1, 1], [2, 0, 0], [2, 1, 0], [3, 0, 0], [3, 1, 0], [3, 2, 0],
     [3, 3, 0], [3, 4, 0], [3, 5, 0]]
    """
    d = onsets["duration"].to_numpy(dtype=float)
    e = onsets["event"].to_numpy().astype(bool)
    onset_period = np.floor(d / PERIOD_DAYS).astype(int)
    # periods whose every onset day (30j .. 30j + 29) can be observed
    full = np.floor((onsets["observed"].to_numpy(dtype=float) + 1) / PERIOD_DAYS).astype(int)
    n_rows = np.where(e, onset_period + 1, N_PERIODS)
    n_rows = np.clip(np.minimum(n_rows, full), 0, N_PERIODS)
    row = np.repeat(np.arange(len(d)), n_rows)
    start = np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    period = np.arange(len(row)) - start
    event = (e[row] & (period == onset_period[row])).astype("int8")
    return pd.DataFrame({"row": row, "period": period, "event": event})


class HazardModel:
    """LightGBM on person-period rows: monthly churn hazards and survival curves.

    Parameters follow the champion's LightGBM settings (``model_cfg``) with a fixed number
    of trees ``n_rounds`` and ``learning_rate``; learned: ``booster_`` (via the candidate),
    ``features_`` (feature columns without ``period``).
    """

    def __init__(self, model_cfg: ModelConfig, n_rounds: int = 100, learning_rate: float = 0.1,
                 seed: int = 42) -> None:
        self.model_cfg, self.n_rounds, self.learning_rate, self.seed = (
            model_cfg, n_rounds, learning_rate, seed)

    def _candidate(self) -> Any:
        from churnmodel.modeling.candidates import LightGBMCandidate

        cfg = dataclasses.replace(self.model_cfg, learning_rate=self.learning_rate,
                                  monotone_increasing=())
        return LightGBMCandidate(cfg, self.seed, self.n_rounds)

    def fit(self, X: pd.DataFrame, onsets: pd.DataFrame) -> HazardModel:
        """Fit on the feature rows ``X`` and their ``onsets`` (aligned row for row)."""
        pp = person_periods(onsets)
        if pp["event"].nunique() < 2:
            raise ValueError("the person-period rows hold one class only (no onset, or onsets "
                             "only): the hazard model cannot be fitted")
        self.features_ = list(X.columns)
        rows = X.iloc[pp["row"].to_numpy()].reset_index(drop=True).assign(
            period=pp["period"].to_numpy(dtype=float))
        self.candidate_ = self._candidate().fit(rows, pp["event"].to_numpy(), None, None)
        self.n_person_periods_ = len(pp)
        return self

    def hazards(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 6)`` monthly hazards for each row of ``X``."""
        X = X[self.features_]
        out = np.empty((len(X), N_PERIODS))
        for j in range(N_PERIODS):
            raw = self.candidate_.raw_score(X.assign(period=float(j)))
            out[:, j] = 1.0 / (1.0 + np.exp(-raw))
        return out

    def survival(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 7)`` survival ``S`` at days 0, 30, ..., 180 (``S(0) = 1``, non-increasing)."""
        h = self.hazards(X)
        return np.column_stack([np.ones(len(X)), np.cumprod(1.0 - h, axis=1)])


def survival_columns(curves: np.ndarray) -> pd.DataFrame:
    """Score-file columns from ``(n, 7)`` curves at days 0..180 by 30.

    ``p_active_{30,60,90,180}d`` and ``median_days_to_churn``: the day the curve crosses
    0.5, linear between the 30-day points, missing when it stays above 0.5 to day 180;
    ``time_to_churn`` says the same in words ("beyond 180 days" for those).

    >>> survival_columns(np.array([[1, .8, .6, .4, .3, .2, .1], [1, .9, .9, .9, .8, .8, .7]])
    ...                  )[["p_active_30d", "median_days_to_churn", "time_to_churn"]].values.tolist()
    [[0.8, 75.0, '61-90 days'], [0.9, nan, 'beyond 180 days']]
    """
    grid = np.arange(N_PERIODS + 1) * PERIOD_DAYS
    out = {f"p_active_{d}d": curves[:, d // PERIOD_DAYS] for d in CURVE_DAYS}
    below = curves <= 0.5
    k = np.where(below.any(axis=1), below.argmax(axis=1), -1)
    median = np.full(len(curves), np.nan)
    ok = k > 0
    s1, s0 = curves[ok, k[ok]], curves[ok, k[ok] - 1]
    frac = np.where(s0 > s1, (s0 - 0.5) / np.where(s0 > s1, s0 - s1, 1.0), 1.0)
    median[ok] = grid[k[ok] - 1] + frac * PERIOD_DAYS
    words = np.full(len(curves), "beyond 180 days", dtype=object)
    upper = np.ceil(median[ok] / PERIOD_DAYS) * PERIOD_DAYS
    words[ok] = [f"{int(u) - PERIOD_DAYS + 1}-{int(u)} days" if u > PERIOD_DAYS else "1-30 days"
                 for u in upper]
    return pd.DataFrame({**out, "median_days_to_churn": median,
                         "time_to_churn": pd.array(words, dtype="string")})


def kaplan_meier(duration: np.ndarray, event: np.ndarray,
                 days: np.ndarray | None = None) -> pd.DataFrame:
    """Kaplan-Meier retention (no onset yet) at ``days`` (default 0..180 by 30).

    ``S(t) = prod_{onset days u < t} (1 - d_u / n_u)``: an onset on day ``u`` means the
    customer is no longer active after ``u`` days, so ``S(0) = P(tau >= 0) = 1`` and
    ``S(30) = P(tau >= 30)``, as in the hazard model's curves.

    >>> kaplan_meier(np.array([0., 10, 40, 50]), np.array([1, 1, 0, 1]))["retention"].tolist()[:3]
    [1.0, 0.5, 0.0]
    """
    grid = np.arange(N_PERIODS + 1) * float(PERIOD_DAYS) if days is None else np.asarray(days, float)
    d = np.asarray(duration, float)
    e = np.asarray(event).astype(bool)
    times = np.unique(d[e])
    surv, s = [], 1.0
    curve_t, curve_s = [], []
    for u in times:
        at_risk = np.sum(d >= u)
        s *= 1.0 - np.sum(d[e] == u) / at_risk if at_risk else 1.0
        curve_t.append(u)
        curve_s.append(s)
    ct, cs = np.asarray(curve_t), np.asarray(curve_s)
    for t in grid:
        idx = np.searchsorted(ct, t, side="left") - 1  # onsets strictly before t
        surv.append(1.0 if idx < 0 else float(cs[idx]))
    return pd.DataFrame({"day": grid, "retention": surv, "at_risk": [int(np.sum(d >= t)) for t in grid]})


def evaluate_survival(duration: np.ndarray, event: np.ndarray, curves: np.ndarray,
                      fixed_p: np.ndarray) -> dict[str, float]:
    """Uno's C (tau = 180 days) and the integrated Brier score (30..180 days), against the
    fixed-horizon probability and (for the Brier score) Kaplan-Meier without covariates.

    Times are ``duration + 1`` days (so an onset on the cutoff's next day, ``tau = 0``,
    counts as day 1 and ``S(t)`` is ``P(time > t)``). The hazard model's risk score for
    the concordance is minus its restricted mean time without onset up to 180 days; the
    fixed-horizon model's is its probability, and its survival curve is ``1 - p`` flat.
    The censoring distribution of the inverse-probability weights is estimated on the
    evaluated rows themselves (administrative censoring at the end of the data).
    """
    from sksurv.metrics import concordance_index_ipcw, integrated_brier_score
    from sksurv.util import Surv

    time = np.asarray(duration, float) + 1.0
    y = Surv.from_arrays(event=np.asarray(event).astype(bool), time=time)
    tau = float(N_PERIODS * PERIOD_DAYS)
    grid = np.arange(1, N_PERIODS + 1) * float(PERIOD_DAYS)
    grid = grid[grid < time.max()]
    rmst = curves[:, :-1].sum(axis=1) * PERIOD_DAYS  # left Riemann sum of S over 0..180
    out = {
        "uno_c": float(concordance_index_ipcw(y, y, -rmst, tau=tau)[0]),
        "uno_c_fixed_horizon": float(concordance_index_ipcw(y, y, np.asarray(fixed_p, float), tau=tau)[0]),
    }
    if len(grid) >= 2:
        idx = (grid / PERIOD_DAYS).astype(int)
        km = kaplan_meier(time - 1.0, event, grid)["retention"].to_numpy()
        flat = np.repeat(1.0 - np.asarray(fixed_p, float)[:, None], len(grid), axis=1)
        out.update(
            integrated_brier=float(integrated_brier_score(y, y, curves[:, idx], grid)),
            integrated_brier_fixed_horizon=float(integrated_brier_score(y, y, flat, grid)),
            integrated_brier_kaplan_meier=float(integrated_brier_score(
                y, y, np.repeat(km[None, :], len(time), axis=0), grid)),
        )
    out.update(customers=float(len(time)), events=float(np.sum(event)))
    return out
