"""Time to churn: churn onsets, person-period rows, the hazard model's survival curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import ModelConfig
from churnmodel.data.tables import Tables
from churnmodel.modeling.hazard import (
    HazardModel,
    churn_onsets,
    evaluate_survival,
    kaplan_meier,
    person_periods,
    survival_columns,
)

CUT = pd.Timestamp("2025-01-01")


def _tiny() -> Tables:
    """Five customers after a 2025-01-01 cutoff, horizon 30 days, data to 2025-05-01.

    a: quiet after the cutoff: onset day 0 (the fixed-horizon label is 1);
    b: buys on days 10 and 35, then nothing: onset day 35 (period 1);
    c: buys every 20 days to the end of the data: censored at day 120 - 30 = 90;
    d: buys every 25 days from day 20 to day 95: no run reaches 30 days, and after day 95
       only 25 days are observed: censored at day 90;
    e: a refund on day 5 is not a purchase; buys on day 100 -> the run from day 0 reaches
       the horizon: onset day 0.
    """
    rows = [("a", "2024-12-20", 10.0), ("b", "2025-01-11", 10.0), ("b", "2025-02-05", 10.0),
            ("d", "2025-01-21", 10.0), ("d", "2025-02-15", 10.0), ("d", "2025-03-12", 10.0),
            ("d", "2025-04-06", 10.0),
            ("e", "2025-01-06", -5.0), ("e", "2025-04-11", 10.0)]
    rows += [("c", str((CUT + pd.Timedelta(days=d)).date()), 10.0) for d in range(20, 121, 20)]
    tx = pd.DataFrame(rows, columns=["customer_id", "ts", "amount"])
    tx["ts"] = pd.to_datetime(tx["ts"])
    return Tables(tx)


def test_churn_onsets_by_hand_with_censoring():
    o = churn_onsets(_tiny(), CUT, pd.Index(list("abcde")), 30, pd.Timestamp("2025-05-01"))
    assert o["duration"].tolist() == [0.0, 35.0, 90.0, 90.0, 0.0]
    assert o["event"].tolist() == [1, 1, 0, 0, 1]
    assert (o["observed"] == 90.0).all()


def test_person_period_rows_by_hand_with_censoring():
    o = churn_onsets(_tiny(), CUT, pd.Index(list("abcde")), 30, pd.Timestamp("2025-05-01"))
    pp = person_periods(o)
    rows = [(o.index[r], p, e) for r, p, e in pp.itertuples(index=False)]
    # observed to day 90: periods 0-2 (days 0-89) are complete for everyone
    assert rows == [("a", 0, 1),
                    ("b", 0, 0), ("b", 1, 1),
                    ("c", 0, 0), ("c", 1, 0), ("c", 2, 0),
                    ("d", 0, 0), ("d", 1, 0), ("d", 2, 0),
                    ("e", 0, 1)]


def test_an_onset_in_a_partly_observed_period_is_left_out_like_its_survivors():
    o = churn_onsets(_tiny(), CUT, pd.Index(list("abcde")), 30, pd.Timestamp("2025-03-20"))
    assert o["observed"].iloc[0] == 48.0  # 78 days of data minus the horizon
    pp = person_periods(o)
    assert pp["period"].max() == 0  # days 30-59 are not all observed
    assert pp.groupby("period")["event"].sum().tolist() == [2]  # a and e, not b (day 35)


def test_onsets_are_not_known_before_a_horizon_has_passed():
    o = churn_onsets(_tiny(), CUT, pd.Index(list("ab")), 30, pd.Timestamp("2025-01-20"))
    assert len(o) == 0


def test_explicit_cancellation_follows_the_label_rule():
    t = _tiny()
    cu = pd.DataFrame({"customer_id": ["b", "c"],
                       "churned_ts": pd.to_datetime(["2025-03-01", "2025-09-01"])})
    o = churn_onsets(Tables(t.transactions, customers=cu), CUT, pd.Index(list("bc")), 30,
                     pd.Timestamp("2025-05-01"))
    # b cancels on day 59: the label is 1 from cutoff day 29 on; c cancels after the data
    assert o["duration"].tolist() == [29.0, 90.0]
    assert o["event"].tolist() == [1, 0]


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers whose monthly onset hazard rises with x (a known, simple truth)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    h = 1 / (1 + np.exp(-(-1.5 + 1.2 * x)))
    duration = np.floor(rng.geometric(h) - 1) * 30 + rng.integers(0, 30, n)
    observed = np.full(n, 200.0)
    event = (duration <= observed).astype("int8")
    onsets = pd.DataFrame({"duration": np.minimum(duration, observed).astype(float),
                           "event": event, "observed": observed})
    return pd.DataFrame({"x": x, "z": z}), onsets


FAST = ModelConfig(n_jobs=1, min_child_samples=20)


def test_survival_curves_start_at_one_and_never_rise():
    X, onsets = _frame(3000, 1)
    m = HazardModel(FAST, n_rounds=40, seed=3).fit(X, onsets)
    curves = m.survival(X.iloc[:500])
    assert curves.shape == (500, 7)
    assert (curves[:, 0] == 1.0).all()
    assert (np.diff(curves, axis=1) <= 0).all()
    assert ((curves > 0) & (curves <= 1)).all()
    # the riskier half (high x) loses customers faster
    high = X["x"].iloc[:500].to_numpy() > 0
    assert curves[high, 3].mean() < curves[~high, 3].mean() - 0.1


def test_the_hazard_model_beats_a_flat_curve_and_its_concordance_is_high():
    X, onsets = _frame(4000, 2)
    m = HazardModel(FAST, n_rounds=40, seed=3).fit(X.iloc[:3000], onsets.iloc[:3000])
    test = onsets.iloc[3000:]
    curves = m.survival(X.iloc[3000:])
    flat_p = np.full(len(test), 0.3)
    got = evaluate_survival(test["duration"].to_numpy(), test["event"].to_numpy(), curves, flat_p)
    assert got["uno_c"] > 0.65
    assert got["uno_c_fixed_horizon"] == pytest.approx(0.5)  # one score for all: all ties
    assert got["integrated_brier"] < got["integrated_brier_kaplan_meier"]


def test_kaplan_meier_matches_a_hand_computation():
    # onsets at 0, 0, 40 (event) and censored at 70, 100
    km = kaplan_meier(np.array([0.0, 0, 40, 70, 100]), np.array([1, 1, 1, 0, 0]))
    s = km.set_index("day")["retention"]
    assert s[0] == 1.0
    assert s[30] == pytest.approx(3 / 5)
    assert s[60] == pytest.approx(3 / 5 * (1 - 1 / 3))
    assert s[180] == pytest.approx(3 / 5 * (1 - 1 / 3))


def test_survival_columns_read_the_curve_at_30_60_90_180_days():
    curves = np.array([[1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7], [1, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1]])
    cols = survival_columns(curves)
    assert cols["p_active_90d"].tolist() == [0.85, 0.2]
    assert cols["p_active_180d"].tolist() == [0.7, 0.1]
    assert np.isnan(cols["median_days_to_churn"].iloc[0])
    assert cols["median_days_to_churn"].iloc[1] == pytest.approx(0.5 / 0.6 * 30)
    assert cols["time_to_churn"].tolist() == ["beyond 180 days", "1-30 days"]


def test_report_curve_tables_read_30_60_90_180_days_in_the_groups_order():
    from churnmodel.report.lifetime import curve_table

    days = [0, 30, 60, 90, 120, 150, 180]
    df = pd.DataFrame({"band": ["low"] * 7 + ["high"] * 7, "day": days * 2,
                       "survival": [1, .9, .8, .7, .6, .5, .4] + [1, .5, .3, .2, .1, .1, .0],
                       "customers": [5] * 7 + [3] * 7})
    t = curve_table(df, "band", "survival")
    assert t[""].tolist() == ["low", "high"]
    assert t.columns.tolist() == ["", "30 days", "60 days", "90 days", "180 days", "customers"]
    assert t.iloc[1, 1:].tolist() == [0.5, 0.3, 0.2, 0.0, 3]
