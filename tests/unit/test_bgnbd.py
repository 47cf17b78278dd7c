"""Tests of the BG/NBD model (Fader, Hardie & Lee 2005).

Reference values come from three independent sources: the worked example in the
paper, numerical integration of the model's definition (no hypergeometric
function involved), and Monte-Carlo simulation of the generative process with
fixed seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import integrate, optimize, special

from churnmodel.modeling.bgnbd import BetaGeoModel

# Published maximum-likelihood estimates for the CDNOW sample (paper, section 4);
# time unit: weeks.
CDNOW_PARAMS: tuple[float, float, float, float] = (0.243, 4.414, 0.793, 2.426)
CDNOW: dict[str, float] = dict(zip(("r", "alpha", "a", "b"), CDNOW_PARAMS, strict=True))


def model_with(r: float, alpha: float, a: float, b: float) -> BetaGeoModel:
    """A model with hand-set parameters, as if it had been fitted."""
    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_ = r, alpha, a, b
    return model


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: np.ndarray | float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (frequency, recency, T) from the BG/NBD generative process.

    Each customer has a Poisson purchase rate lambda ~ Gamma(r, rate=alpha) and a
    dropout probability p ~ Beta(a, b); after each repeat purchase they leave
    with probability p, so they are alive until their K-th repeat purchase with
    K ~ Geometric(p). With N ~ Poisson(lambda * T) purchase opportunities in
    (0, T], the observed count is x = min(N, K), and given N the purchase times
    are N sorted uniforms on (0, T), so t_x is T times the x-th order
    statistic, a Beta(x, N - x + 1) draw.
    """
    lam = rng.gamma(shape=r, scale=1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    ages = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    n_events = rng.poisson(lam * ages)
    dropout_after = rng.geometric(p)
    x = np.minimum(n_events, dropout_after)
    x_safe = np.maximum(x, 1)  # Beta parameters must be > 0 on rows where x == 0
    n_safe = np.maximum(n_events, x_safe)
    t_x = np.where(x > 0, ages * rng.beta(x_safe, n_safe - x_safe + 1), 0.0)
    return x.astype(float), t_x, ages


def unconditional_by_integration(t: float, r: float, alpha: float, a: float, b: float) -> float:
    """E[X(t)] from the model definition.

    E[X(t) | lambda, p] = (1 - exp(-lambda p t)) / p; integrating lambda out
    analytically gives (1 - (alpha / (alpha + p t))**r) / p, and the remaining
    integral over p ~ Beta(a, b) is done by quadrature.
    """

    def integrand(p: float) -> float:
        if p == 0.0:
            return r * t / alpha
        return -np.expm1(-r * np.log1p(p * t / alpha)) / p

    value, _ = integrate.quad(integrand, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b - 1.0))
    return value / special.beta(a, b)


def conditional_by_integration(
    t: float, x: int, t_x: float, T: float, r: float, alpha: float, a: float, b: float
) -> float:
    """E[Y(t) | x, t_x, T] by integrating over the posterior of (lambda, p).

    Only the "still alive" term of the individual likelihood,
    (1-p)^x lambda^x exp(-lambda T), contributes future purchases, each alive
    customer expecting (1 - exp(-lambda p t)) / p of them. lambda is integrated
    out analytically and p by quadrature; everything is scaled by
    (alpha + T)^(r + x) to stay in floating-point range.
    """

    def integrand(p: float) -> float:
        if p == 0.0:
            return (r + x) * t / (alpha + T)
        return -np.expm1(-(r + x) * np.log1p(p * t / (alpha + T))) / p

    numerator, _ = integrate.quad(
        integrand, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b + x - 1.0), limit=200
    )
    log_numerator = np.log(numerator) - special.betaln(a, b)
    log_alive = special.betaln(a, b + x) - special.betaln(a, b)
    log_evidence = log_alive
    if x > 0:
        log_dead = (
            special.betaln(a + 1, b + x - 1)
            - special.betaln(a, b)
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        log_evidence = np.logaddexp(log_alive, log_dead)
    return float(np.exp(log_numerator - log_evidence))


# --------------------------------------------------------------- closed forms


def test_expected_purchases_match_fader_hardie_lee_paper_example() -> None:
    model = model_with(**CDNOW)
    expected = model.expected_purchases(39, 2, 30.43, 38.86)
    assert float(expected) == pytest.approx(1.226, abs=1e-3)


@pytest.mark.parametrize("t", [39.0, 78.0, 0.5, 1000.0])
def test_unconditional_expected_purchases_match_numerical_integration_of_the_model(
    t: float,
) -> None:
    model = model_with(**CDNOW)
    reference = unconditional_by_integration(t, **CDNOW)
    assert float(model.unconditional_expected_purchases(t)) == pytest.approx(reference, rel=1e-8)


def test_unconditional_expected_purchases_are_zero_at_time_zero_and_keep_the_shape_of_t() -> None:
    model = model_with(**CDNOW)
    values = model.unconditional_expected_purchases(np.array([[0.0, 39.0], [78.0, 0.0]]))
    assert values.shape == (2, 2)
    assert values[0, 0] == 0.0 and values[1, 1] == 0.0
    assert 0.0 < values[0, 1] < values[1, 0]


@pytest.mark.parametrize(
    ("t", "x", "t_x", "T"),
    [
        (39.0, 2, 30.43, 38.86),
        (39.0, 0, 0.0, 38.86),
        (10.0, 7, 35.0, 38.0),
        (200.0, 50, 100.0, 101.0),
        (39.0, 500, 1000.0, 1001.0),
        (1e4, 3, 5.0, 20.0),
        (0.01, 3, 5.0, 20.0),
    ],
)
@pytest.mark.parametrize(
    "params",
    [
        (0.243, 4.414, 0.793, 2.426),  # CDNOW, a < 1
        (2.0, 30.0, 3.0, 5.0),  # a > 1
        (0.5, 2.0, 1.0, 1.5),  # a == 1, where the closed form is 0/0
        (0.5, 2.0, 1.0 + 1e-7, 1.5),  # next to it, where it cancels badly
    ],
)
def test_expected_purchases_agree_with_numerical_integration_over_the_posterior(
    t: float, x: int, t_x: float, T: float, params: tuple[float, float, float, float]
) -> None:
    model = model_with(*params)
    reference = conditional_by_integration(t, x, t_x, T, *params)
    assert float(model.expected_purchases(t, x, t_x, T)) == pytest.approx(reference, rel=1e-6)


def test_prob_alive_matches_the_paper_formula() -> None:
    r, alpha, a, b = CDNOW_PARAMS
    x, t_x, T = 2, 30.43, 38.86
    by_hand = 1.0 / (1.0 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert float(model_with(**CDNOW).prob_alive(x, t_x, T)) == pytest.approx(by_hand, rel=1e-12)


def test_log_likelihood_matches_the_paper_formula_evaluated_directly() -> None:
    r, alpha, a, b = CDNOW_PARAMS
    x = np.array([0.0, 1.0, 2.0, 7.0])
    t_x = np.array([0.0, 3.0, 30.43, 35.0])
    T = np.array([10.0, 20.0, 38.86, 38.0])
    g = special.gamma(r + x) * alpha**r / special.gamma(r)
    by_hand = special.beta(a, b + x) / special.beta(a, b) * g / (alpha + T) ** (r + x)
    dead = special.beta(a + 1, b + x - 1) / special.beta(a, b) * g / (alpha + t_x) ** (r + x)
    by_hand = by_hand + np.where(x > 0, dead, 0.0)
    model = BetaGeoModel()  # unfitted: explicit params must be enough
    got = model.log_likelihood(x, t_x, T, params=(r, alpha, a, b))
    np.testing.assert_allclose(got, np.log(by_hand), rtol=1e-12)


def test_analytic_gradient_of_the_log_likelihood_matches_finite_differences() -> None:
    from churnmodel.modeling.bgnbd import _loglik_and_grad

    rng = np.random.default_rng(7)
    x = rng.integers(0, 12, 60).astype(float)
    T = rng.uniform(5.0, 40.0, 60)
    t_x = np.where(x > 0, rng.uniform(0.0, 1.0, 60) * T, 0.0)
    for params in (np.array(CDNOW_PARAMS), np.array([2.0, 0.5, 3.0, 0.7])):
        analytic = _loglik_and_grad(params, x, t_x, T)[1].sum(axis=0)

        def total(log_params: np.ndarray) -> float:
            return float(_loglik_and_grad(np.exp(log_params), x, t_x, T, with_grad=False)[0].sum())

        numeric = optimize.approx_fprime(np.log(params), total, 1e-7)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------- simulation


def test_simulated_purchase_counts_match_the_unconditional_expectation() -> None:
    # Guards the simulator that the recovery test below relies on.
    n, t = 20_000, 52.0
    x, _, _ = simulate_bgnbd(n, *CDNOW_PARAMS, T=t, rng=np.random.default_rng(11))
    standard_error = x.std(ddof=1) / np.sqrt(n)
    expected = float(model_with(**CDNOW).unconditional_expected_purchases(t))
    assert abs(x.mean() - expected) < 4 * standard_error


def test_expected_purchases_average_to_the_unconditional_expectation_over_simulated_histories() -> (
    None
):
    # Law of total expectation: E[X(T + t)] = E[x + E[Y(t) | x, t_x, T]] over
    # histories drawn from the model, which exercises eq. (10) on the whole
    # distribution of (x, t_x) rather than at hand-picked points.
    n, T, t = 20_000, 38.86, 39.0
    model = model_with(**CDNOW)
    x, t_x, ages = simulate_bgnbd(n, *CDNOW_PARAMS, T=T, rng=np.random.default_rng(3))
    total = x + model.expected_purchases(t, x, t_x, ages)
    standard_error = total.std(ddof=1) / np.sqrt(n)
    expected = float(model.unconditional_expected_purchases(T + t))
    assert abs(total.mean() - expected) < 4 * standard_error


def test_fit_recovers_parameters_from_data_simulated_from_the_model() -> None:
    # 5,000 customers observed for 40-160 periods. Over 40 seeds the relative
    # standard deviation of the estimates was about 3% (r), 4% (alpha), 5% (a)
    # and 8% (b); the tolerances are 4-5 of those.
    true = (0.5, 5.0, 0.8, 2.5)  # r, alpha, a, b
    rng = np.random.default_rng(2024)
    ages = rng.uniform(40.0, 160.0, 5_000)
    x, t_x, T = simulate_bgnbd(5_000, *true, T=ages, rng=rng)

    model = BetaGeoModel().fit(x, t_x, T)

    assert model.r_ == pytest.approx(true[0], rel=0.15)
    assert model.alpha_ == pytest.approx(true[1], rel=0.20)
    assert model.a_ == pytest.approx(true[2], rel=0.25)
    assert model.b_ == pytest.approx(true[3], rel=0.35)
    # A maximum-likelihood fit can never be beaten by the true parameters on the
    # data it was fitted to.
    assert model.loglik_ >= model.log_likelihood(x, t_x, T, params=true).sum()
    assert model.loglik_ == pytest.approx(model.log_likelihood(x, t_x, T).sum(), rel=1e-12)
    never_repeated = x == 0
    assert never_repeated.any()
    np.testing.assert_array_equal(
        model.prob_alive(x[never_repeated], t_x[never_repeated], T[never_repeated]), 1.0
    )


def test_fit_gives_the_same_model_whatever_the_time_unit() -> None:
    rng = np.random.default_rng(5)
    x, t_x_weeks, T_weeks = simulate_bgnbd(
        2_000, *CDNOW_PARAMS, T=rng.uniform(20, 80, 2_000), rng=rng
    )
    weeks = BetaGeoModel().fit(x, t_x_weeks, T_weeks)
    days = BetaGeoModel().fit(x, 7.0 * t_x_weeks, 7.0 * T_weeks)
    assert days.r_ == pytest.approx(weeks.r_, rel=1e-4)
    assert days.alpha_ == pytest.approx(7.0 * weeks.alpha_, rel=1e-4)
    assert days.a_ == pytest.approx(weeks.a_, rel=1e-4)
    assert days.b_ == pytest.approx(weeks.b_, rel=1e-4)
    np.testing.assert_allclose(
        days.expected_purchases(70.0, x, 7.0 * t_x_weeks, 7.0 * T_weeks),
        weeks.expected_purchases(10.0, x, t_x_weeks, T_weeks),
        rtol=1e-3,
    )


def test_fit_returns_self_and_accepts_lists() -> None:
    model = BetaGeoModel()
    fitted = model.fit([0, 1, 2, 0, 3, 1], [0, 5, 9, 0, 20, 2], [10, 12, 15, 30, 25, 8])
    assert fitted is model
    for name in ("r_", "alpha_", "a_", "b_"):
        assert np.isfinite(getattr(model, name)) and getattr(model, name) > 0
    assert np.isfinite(model.loglik_)


def test_penalizer_shrinks_the_parameters() -> None:
    rng = np.random.default_rng(9)
    x, t_x, T = simulate_bgnbd(2_000, *CDNOW_PARAMS, T=rng.uniform(20, 80, 2_000), rng=rng)
    plain = BetaGeoModel().fit(x, t_x, T)
    penalised = BetaGeoModel(penalizer=0.1).fit(x, t_x, T)
    size = lambda m: m.r_**2 + m.alpha_**2 + m.a_**2 + m.b_**2  # noqa: E731
    assert size(penalised) < size(plain)
    assert penalised.loglik_ < plain.loglik_


def test_fit_reports_an_optimiser_that_did_not_converge() -> None:
    rng = np.random.default_rng(1)
    x, t_x, T = simulate_bgnbd(500, *CDNOW_PARAMS, T=40.0, rng=rng)
    with pytest.raises(ValueError, match="failed to converge"):
        BetaGeoModel(max_iter=1).fit(x, t_x, T)


# ------------------------------------------------------ qualitative behaviour


def test_prob_alive_is_one_for_customers_without_repeat_purchases() -> None:
    model = model_with(**CDNOW)
    np.testing.assert_array_equal(model.prob_alive([0, 0, 0], [0, 0, 0], [1.0, 38.86, 1e6]), 1.0)


def test_prob_alive_decreases_as_the_last_purchase_gets_older() -> None:
    model = model_with(**CDNOW)
    recency = np.linspace(38.0, 1.0, 20)  # last purchase ever longer ago
    alive = model.prob_alive(3, recency, 38.86)
    assert np.all(np.diff(alive) < 0)
    assert np.all((alive > 0) & (alive <= 1))


def test_expected_purchases_grow_with_the_prediction_horizon() -> None:
    model = model_with(**CDNOW)
    horizons = np.array([0.0, 1.0, 5.0, 13.0, 26.0, 39.0, 52.0, 104.0])
    expected = model.expected_purchases(horizons, 2, 30.43, 38.86)
    assert expected[0] == 0.0
    assert np.all(np.diff(expected) > 0)


def test_expected_purchases_stay_finite_for_very_frequent_long_lived_customers() -> None:
    model = model_with(**CDNOW)
    x = np.array([50.0, 500.0, 5_000.0, 50_000.0])
    T = np.array([101.0, 1_001.0, 10_001.0, 100_001.0])
    expected = model.expected_purchases(39.0, x, T - 1.0, T)
    # About 0.5 purchases per period for 39 periods, times a high P(alive).
    assert np.all(np.isfinite(expected))
    assert np.all((expected > 15.0) & (expected < 19.5 + 1e-9))
    assert np.all(np.isfinite(model.log_likelihood(x, T - 1.0, T)))


def test_expected_purchases_stay_accurate_where_scipy_hyp2f1_returns_nan() -> None:
    # hyp2f1(0.5, 0.5; 1000; 0.99) is about 1.00025, but scipy returns NaN there;
    # these parameters put exactly that call inside eq. (10).
    params = (0.5, 1.0, 1.5, 0.5)
    t, x, t_x, T = 1089.0, 999, 9.99, 10.0
    reference = conditional_by_integration(t, x, t_x, T, *params)
    got = float(model_with(*params).expected_purchases(t, x, t_x, T))
    assert got == pytest.approx(reference, rel=1e-8)


def test_fit_on_data_without_visible_dropout_converges_to_a_usable_model() -> None:
    # Everyone bought 3 times and last bought at the cutoff: the likelihood is
    # maximised at infinity (no dropout, no rate heterogeneity); the fit must
    # still end, and its predictions be the plain Poisson rate 3 / T.
    T = np.linspace(5.0, 50.0, 100)
    model = BetaGeoModel().fit(np.full(100, 3.0), T, T)
    alive = model.prob_alive(np.full(100, 3.0), T, T)
    expected = model.expected_purchases(10.0, np.full(100, 3.0), T, T)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(alive, 1.0, atol=1e-4)
    np.testing.assert_allclose(expected, 10.0 * 300.0 / T.sum(), rtol=1e-2)


# ---------------------------------------------------------------- validation

VALID = {"frequency": [0, 1, 3], "recency": [0.0, 2.0, 9.0], "T": [5.0, 6.0, 10.0]}


@pytest.mark.parametrize(
    ("argument", "values", "message"),
    [
        ("frequency", [0, -1, 3], "frequency: 1 of 3 rows"),
        ("frequency", [0, 1.5, 3], "frequency: 1 of 3 rows.*integer"),
        ("frequency", [0, np.nan, 3], "frequency: 1 of 3 rows.*finite"),
        ("recency", [0.0, -2.0, 9.0], "recency: 1 of 3 rows.*0 <= recency <= T"),
        ("recency", [0.0, 7.0, 11.0], "recency: 2 of 3 rows.*0 <= recency <= T"),
        ("recency", [1.0, 2.0, 9.0], "recency: 1 of 3 rows.*frequency == 0"),
        ("recency", [0.0, np.inf, 9.0], "recency: 1 of 3 rows.*finite"),
        ("T", [5.0, 0.0, 10.0], "T: 1 of 3 rows.*T > 0"),
        ("T", [5.0, 6.0, -1.0], "T: 1 of 3 rows"),
        ("frequency", ["a", "b", "c"], "frequency must be numeric"),
    ],
)
def test_invalid_inputs_raise_value_error_naming_the_argument(
    argument: str, values: list[Any], message: str
) -> None:
    data: dict[str, Any] = {**VALID, argument: values}
    with pytest.raises(ValueError, match=message):
        BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    with pytest.raises(ValueError, match=message):
        model_with(**CDNOW).prob_alive(data["frequency"], data["recency"], data["T"])


def test_fit_rejects_inputs_of_unequal_length() -> None:
    with pytest.raises(ValueError, match="equal length.*3, 2 and 3"):
        BetaGeoModel().fit([0, 1, 2], [0, 1], [5, 5, 5])


def test_fit_rejects_fewer_than_two_customers() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        BetaGeoModel().fit([1], [2.0], [5.0])


@pytest.mark.parametrize(
    ("hyper", "message"),
    [
        ({"penalizer": -1.0}, "penalizer"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
    ],
)
def test_fit_rejects_invalid_hyper_parameters(hyper: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BetaGeoModel(**hyper).fit(VALID["frequency"], VALID["recency"], VALID["T"])  # type: ignore[arg-type]


def test_negative_prediction_horizons_are_rejected() -> None:
    with pytest.raises(ValueError, match="t: 1 of 1 rows"):
        model_with(**CDNOW).expected_purchases(-1.0, 2, 30.43, 38.86)


@pytest.mark.parametrize(
    "predict",
    [
        lambda m: m.expected_purchases(10.0, [1], [2.0], [5.0]),
        lambda m: m.prob_alive([1], [2.0], [5.0]),
        lambda m: m.unconditional_expected_purchases(10.0),
        lambda m: m.log_likelihood([1], [2.0], [5.0]),
    ],
    ids=["expected_purchases", "prob_alive", "unconditional_expected_purchases", "log_likelihood"],
)
def test_predicting_before_fit_raises_an_error_that_says_to_call_fit(predict) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="call fit first"):
        predict(BetaGeoModel())
