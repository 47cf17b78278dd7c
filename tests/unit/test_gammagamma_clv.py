"""Gamma-Gamma spend model (Fader & Hardie 2013) and the combined BG/NBD x Gamma-Gamma CLV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmodel.data.tables import Tables
from churnmodel.modeling.bgnbd import BetaGeoModel, NotFittedError
from churnmodel.modeling.clv import (
    DAYS_PER_MONTH,
    ValueModel,
    fit_value_model,
    purchase_summary,
    value_calibration,
)
from churnmodel.modeling.gammagamma import GammaGammaModel

CDNOW = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow_customers_summary_with_transactions.csv"


def gg_with(p: float, q: float, gamma: float) -> GammaGammaModel:
    m = GammaGammaModel()
    m.p_, m.q_, m.gamma_ = p, q, gamma
    return m


def bg_with(r: float, alpha: float, a: float, b: float) -> BetaGeoModel:
    m = BetaGeoModel()
    m.r_, m.alpha_, m.a_, m.b_ = r, alpha, a, b
    return m


def test_gamma_gamma_reproduces_the_published_cdnow_parameters_to_two_decimals():
    cdnow = pd.read_csv(CDNOW)
    repeat = cdnow[cdnow["x"] > 0]
    assert len(repeat) == 946  # the note's 946 repeat buyers of the 2,357-customer sample
    m = GammaGammaModel().fit(repeat["x"], repeat["zbar"])
    # Fader & Hardie (2013): p = 6.25, q = 3.74, gamma = 15.44 (the MLE is 15.4477, which
    # the note truncates and lifetimes prints as 15.45: both within 0.01)
    assert m.p_ == pytest.approx(6.25, abs=0.005)
    assert m.q_ == pytest.approx(3.74, abs=0.005)
    assert m.gamma_ == pytest.approx(15.44, abs=0.01)
    # the optimum: no neighbouring parameter set fits better
    for dp, dq, dg in ((0.05, 0, 0), (0, 0.05, 0), (0, 0, 0.1), (-0.05, 0, 0), (0, -0.05, 0)):
        other = gg_with(m.p_ + dp, m.q_ + dq, m.gamma_ + dg)
        assert other.log_likelihood(repeat["x"], repeat["zbar"]).sum() < m.loglik_


def test_the_fit_does_not_depend_on_the_currency_unit():
    cdnow = pd.read_csv(CDNOW)
    repeat = cdnow[cdnow["x"] > 0]
    cents = GammaGammaModel().fit(repeat["x"], repeat["zbar"] * 100)
    assert cents.p_ == pytest.approx(6.2488, abs=1e-3)
    assert cents.gamma_ == pytest.approx(1544.77, rel=1e-4)


def test_conditional_expected_spend_of_a_hand_made_customer():
    m = gg_with(6.25, 3.74, 15.44)
    # p (gamma + x m) / (p x + q - 1) = 6.25 * (15.44 + 3 * 20) / (18.75 + 2.74) = 21.9337...
    assert m.conditional_expected_spend(3, 20.0) == pytest.approx(6.25 * 75.44 / 21.49, rel=1e-12)
    # a new customer gets the population mean p gamma / (q - 1)
    assert m.conditional_expected_spend(0, 0.0) == pytest.approx(6.25 * 15.44 / 2.74)
    assert m.population_mean_spend() == pytest.approx(6.25 * 15.44 / 2.74)


def test_invalid_spend_inputs_name_the_count_of_failing_rows():
    with pytest.raises(ValueError, match=r"monetary_value: 2 of 4 rows are invalid"):
        GammaGammaModel().fit([1, 2, 3, 4], [5.0, 0.0, -1.0, 3.0])
    with pytest.raises(ValueError, match=r"frequency: 1 of 3 rows are invalid.*repeat"):
        GammaGammaModel().fit([1, 0, 2], [5.0, 4.0, 3.0])
    with pytest.raises(NotFittedError):
        GammaGammaModel().conditional_expected_spend(1, 1.0)
    with pytest.raises(ValueError, match="q <= 1"):
        gg_with(1.0, 0.9, 1.0).conditional_expected_spend(1, 1.0)


def test_purchase_summary_counts_repeat_days_and_their_mean_spend_by_hand():
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b", "c"],
                       "amount": [10.0, 5.0, 30.0, 20.0, 7.0, 9.0],
                       "ts": pd.to_datetime(["2025-01-01 09:00", "2025-01-01 18:00", "2025-01-11 00:00",
                                             "2025-01-21 00:00", "2025-01-31 23:00", "2025-02-01 00:00"])})
    s = purchase_summary(Tables(tx), pd.Timestamp("2025-01-31"))
    assert s.index.tolist() == ["a", "b"]  # c bought after the cutoff
    assert s.loc["a"].tolist() == [2.0, 20.0, 31.0, 25.0]  # first day (15) is not a repeat
    assert s.loc["b"].tolist() == [0.0, 0.0, 1.0, 0.0]


def _simulate_clv(bg: BetaGeoModel, gg: GammaGammaModel, x: int, t_x: float, T: float, m_x: float,
                  months: int, d: float, n: int, seed: int) -> float:
    """Monte-Carlo CLV from the generative models, by importance sampling the posterior.

    Draw (lambda, p) from the BG/NBD prior; weight each by the likelihood of the history
    (alive: (1-p)^x lambda^x e^{-lambda T}; dropped after the last purchase: p (1-p)^(x-1)
    lambda^x e^{-lambda t_x}), keep it alive with the posterior odds, then run the purchase
    process month by month (Poisson purchases, dropout with probability p after each). Spend
    per purchase is p_gg / nu with nu from its Gamma-Gamma posterior Gamma(p x + q, gamma + x m).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(bg.r_, 1.0 / bg.alpha_, n)
    p = rng.beta(bg.a_, bg.b_, n)
    alive_w = (1 - p) ** x * lam**x * np.exp(-lam * T)
    dead_w = p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x) if x > 0 else np.zeros(n)
    weight = alive_w + dead_w
    alive = rng.random(n) < alive_w / weight
    nu = rng.gamma(gg.p_ * x + gg.q_, 1.0 / (gg.gamma_ + x * m_x), n)
    spend = gg.p_ / nu
    left = rng.geometric(p)  # purchases until the one after which the customer drops out
    left = np.where(alive, left, 0)
    value = np.zeros(n)
    for k in range(1, months + 1):
        buys = np.minimum(rng.poisson(lam * DAYS_PER_MONTH), left)
        left = left - buys
        value += buys * spend / (1 + d) ** k
    return float(np.sum(weight * value) / np.sum(weight))


@pytest.mark.parametrize("x, t_x, T, m_x", [(0, 0.0, 60.0, 0.0), (3, 80.0, 120.0, 40.0)])
def test_combined_clv_equals_a_monte_carlo_simulation_of_the_models_within_one_percent(x, t_x, T, m_x):
    bg, gg = bg_with(0.8, 20.0, 0.5, 4.0), gg_with(4.0, 3.0, 25.0)
    vm = ValueModel(bg, gg, months=12, discount_monthly=0.01)
    summary = pd.DataFrame({"frequency": [float(x)], "recency": [t_x], "T": [T],
                            "monetary_value": [m_x]})
    closed = float(vm.clv(summary)[0])
    # 400,000 draws: the relative standard error is about 0.2 % (measured over 8 seeds)
    simulated = _simulate_clv(bg, gg, x, t_x, T, m_x, 12, 0.01, 400_000, seed=7)
    assert closed > 0
    assert simulated == pytest.approx(closed, rel=0.01)


def test_discounting_lowers_clv_and_a_longer_horizon_raises_it():
    bg, gg = bg_with(0.8, 20.0, 0.5, 4.0), gg_with(4.0, 3.0, 25.0)
    s = pd.DataFrame({"frequency": [3.0], "recency": [80.0], "T": [120.0], "monetary_value": [40.0]})
    base = ValueModel(bg, gg, 12, 0.01).clv(s)[0]
    assert ValueModel(bg, gg, 12, 0.0).clv(s)[0] > base
    assert ValueModel(bg, gg, 24, 0.01).clv(s)[0] > base
    # undiscounted 12-month CLV = expected purchases in a year x expected spend
    flat = ValueModel(bg, gg, 12, 0.0)
    assert flat.clv(s)[0] == pytest.approx(
        flat.expected_purchases(12 * DAYS_PER_MONTH, s)[0] * flat.expected_spend(s)[0], rel=1e-12)


def _retail(n: int = 400, seed: int = 3) -> Tables:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        start = rng.integers(0, 200)
        rate = rng.gamma(1.0, 1 / 30)
        life = rng.exponential(300)
        mean = rng.gamma(4.0, 10.0)
        t = float(start)
        while t < min(start + life, 700):
            rows.append((c, pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(t)),
                         float(rng.gamma(4.0, mean / 4.0))))
            t += rng.exponential(1 / max(rate, 1e-3))
    return Tables(pd.DataFrame(rows, columns=["customer_id", "ts", "amount"]))


def test_value_model_fits_on_a_small_log_and_calibration_compares_predicted_with_realised():
    tables = _retail()
    cut = pd.Timestamp("2025-03-01")
    vm = fit_value_model(tables.until(cut), cut, months=12, discount_monthly=0.01)
    assert vm.spend.q_ > 1 and vm.info["repeat_customers"] > 100
    ids = pd.Index(purchase_summary(tables, cut).index)
    calib = value_calibration(vm, tables, cut, pd.Timestamp("2025-06-01"), ids)
    assert calib["decile"].tolist() == [str(i) for i in range(1, 11)] + ["all"]
    assert calib["customers"].iloc[:10].sum() == calib["customers"].iloc[-1] == len(ids)
    # predicted spend rises by decile, and the realised spend follows it
    assert calib["predicted_mean"].iloc[:10].is_monotonic_increasing
    assert calib["realised_mean"].iloc[9] > calib["realised_mean"].iloc[0]


def test_value_model_refuses_a_log_without_repeat_buyers():
    tx = pd.DataFrame({"customer_id": range(50), "amount": 10.0,
                       "ts": pd.date_range("2025-01-01", periods=50, freq="D")})
    with pytest.raises(ValueError, match="only 0 customers bought more than once"):
        fit_value_model(Tables(tx), pd.Timestamp("2025-03-01"))


def test_clv_given_alive_is_the_clv_divided_by_the_probability_of_being_alive():
    bg, gg = bg_with(0.8, 20.0, 0.5, 4.0), gg_with(4.0, 3.0, 25.0)
    s = pd.DataFrame({"frequency": [3.0, 5.0, 0.0], "recency": [30.0, 40.0, 0.0],
                      "T": [300.0, 200.0, 50.0], "monetary_value": [40.0, 20.0, 0.0]})
    vm = ValueModel(bg, gg, 12, 0.01)
    alive = bg.prob_alive(s["frequency"], s["recency"], s["T"])
    assert alive[0] < 0.5 and alive[2] == 1.0
    np.testing.assert_allclose(vm.clv(s, given_alive=True), vm.clv(s) / alive, rtol=1e-12)


def test_customer_value_is_clv_if_kept_unless_the_customers_table_maps_a_value():
    from churnmodel.scoring import customer_clv, customer_value

    tables = _retail()
    cut = pd.Timestamp("2025-03-01")
    vm = fit_value_model(tables.until(cut), cut)
    ids = pd.Index(purchase_summary(tables, cut).index[:50])
    v = customer_value(tables, cut, ids, 365, vm)
    assert v.attrs["source"] == "clv"
    np.testing.assert_allclose(v, customer_clv(vm, tables, cut, ids, given_alive=True).clip(lower=0))
    assert (v >= customer_clv(vm, tables, cut, ids) - 1e-9).all()
    assert customer_value(tables, cut, ids, 365).attrs["source"] == "trailing spend"
    mapped = Tables(tables.transactions, customers=pd.DataFrame({"customer_id": ids, "value": 7.0}))
    w = customer_value(mapped, cut, ids, 365, vm)
    assert w.attrs["source"] == "customers.value" and (w == 7.0).all()


def test_training_falls_back_to_trailing_spend_with_a_note_when_clv_cannot_be_fitted():
    from churnmodel.config import Config, with_overrides
    from churnmodel.modeling.lifetime import fit_value_models

    tx = pd.DataFrame({"customer_id": range(50), "amount": 10.0,
                       "ts": pd.date_range("2025-01-01", periods=50, freq="D")})
    day = pd.Timestamp("2025-03-01")
    fit = fit_value_models(Tables(tx), day, day, day, pd.Index(range(50)), Config())
    assert fit.shipped is None and fit.at_valid is None
    assert "only 0 customers bought more than once" in fit.note and "net spend" in fit.note
    off = fit_value_models(Tables(tx), day, day, day, pd.Index(range(50)),
                           with_overrides(Config(), value={"enabled": False}))
    assert off.shipped is None and "enabled = false" in off.note
