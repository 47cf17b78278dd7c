"""BG/NBD ("buy till you die") model of repeat purchasing and customer dropout.

Implements the beta-geometric / negative-binomial distribution model of
Fader, Hardie & Lee (2005), "'Counting your customers' the easy way: an
alternative to the Pareto/NBD model", *Marketing Science* 24(2), 275-284,
using only numpy and scipy.

Model assumptions (per customer, time measured from the first purchase):

* While alive, repeat purchases follow a Poisson process with rate ``lambda``;
  ``lambda ~ Gamma(shape=r, rate=alpha)`` across customers.
* Immediately after each *repeat* purchase the customer drops out for good with
  probability ``p``; ``p ~ Beta(a, b)`` across customers.

The data summarising one customer are ``frequency`` (``x``, the number of repeat
purchases), ``recency`` (``t_x``, the age at the last purchase) and ``T`` (the
age at the end of the observation window). Any time unit may be used, as long
as ``recency``, ``T`` and the prediction horizon ``t`` share it; ``alpha`` is
then expressed in that unit.

Equation numbers in the comments refer to the paper.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

__all__ = ["BetaGeoModel", "NotFittedError"]

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

_PARAM_NAMES: tuple[str, str, str, str] = ("r", "alpha", "a", "b")

# Bounds on the *log* of each parameter during optimisation. Time is rescaled
# internally (see ``fit``) so the parameters are O(1) for sensible data; the
# bounds only stop the optimiser from wandering into regions where gammaln /
# exp overflow (e.g. a, b -> infinity when the data show no dropout at all).
_LOG_PARAM_BOUND: float = 25.0

# Below this distance from a == 1 the closed form of eq. (7)/(10), which divides
# by (a - 1), loses precision to cancellation; we then interpolate between
# evaluations at 1 -/+ this step (the expectation is smooth in a, so the
# interpolation error is O(step^2) ~ 1e-10, relative).
_A_NEAR_ONE: float = 1e-5

# Term budget of the power-series fallback for scipy's hyp2f1 (see _hyp2f1).
_SERIES_MAX_TERMS: int = 10_000

# L-BFGS-B is asked for a tight gradient tolerance so that estimates do not
# depend on the starting point or time unit. Should its line search give up on
# floating-point noise (possible when the maximum lies at infinity, e.g. no
# dropout visible in the data: a -> 0, r and alpha -> infinity), the run is
# still accepted if its projected gradient meets scipy's default tolerance.
_GTOL: float = 1e-8
_GTOL_FALLBACK: float = 1e-5


class NotFittedError(ValueError, AttributeError):
    """Raised when a prediction is requested from a model that was not fitted.

    Inherits from both ``ValueError`` and ``AttributeError`` (as scikit-learn's
    exception of the same name does) so callers catching either keep working.
    """


class BetaGeoModel:
    """BG/NBD model fitted by maximum likelihood (scikit-learn style).

    Parameters
    ----------
    penalizer : float, default 0.0
        Coefficient of an L2 penalty ``penalizer * (r**2 + alpha**2 + a**2 + b**2)``
        added to the *mean* negative log-likelihood, as in the ``lifetimes``
        package. Useful to keep the estimates finite on small or degenerate
        data; 0 gives the plain maximum-likelihood estimate. Note that, as in
        ``lifetimes``, the penalty on ``alpha`` depends on the time unit.
    max_iter : int, default 2000
        Maximum number of L-BFGS-B iterations.

    Attributes
    ----------
    r_ : float
        Shape of the gamma distribution of purchase rates.
    alpha_ : float
        Rate (inverse scale) of the gamma distribution of purchase rates, in
        the time unit of the data.
    a_ : float
        First shape parameter of the beta distribution of dropout probabilities.
    b_ : float
        Second shape parameter of the beta distribution of dropout probabilities.
    loglik_ : float
        Total (summed over customers, unpenalised) log-likelihood of the
        training data at the fitted parameters.
    n_iter_ : int
        Number of optimiser iterations used.

    Notes
    -----
    The learned attributes may also be set by hand (e.g. to published
    parameter values); the prediction methods only need ``r_``, ``alpha_``,
    ``a_`` and ``b_``.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your
    customers" the easy way: an alternative to the Pareto/NBD model.
    Marketing Science, 24(2), 275-284.

    Examples
    --------
    >>> model = BetaGeoModel().fit(frequency, recency, T)  # doctest: +SKIP
    >>> model.expected_purchases(30, frequency, recency, T)  # doctest: +SKIP
    """

    r_: float
    alpha_: float
    a_: float
    b_: float
    loglik_: float
    n_iter_: int

    def __init__(self, penalizer: float = 0.0, max_iter: int = 2000) -> None:
        # scikit-learn convention: store hyper-parameters untouched, validate in fit.
        self.penalizer = penalizer
        self.max_iter = max_iter

    def __repr__(self) -> str:
        return f"{type(self).__name__}(penalizer={self.penalizer!r}, max_iter={self.max_iter!r})"

    # ------------------------------------------------------------------ fitting

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoModel:
        """Estimate ``r, alpha, a, b`` by (penalised) maximum likelihood.

        Parameters
        ----------
        frequency : array-like of shape (n_customers,)
            Number of repeat purchases ``x`` (distinct purchase periods minus
            one); non-negative integers.
        recency : array-like of shape (n_customers,)
            Age at the last purchase ``t_x`` (time from first to last
            purchase); ``0 <= recency <= T`` and ``0`` when ``frequency == 0``.
        T : array-like of shape (n_customers,)
            Age at the end of the observation window (time from first purchase
            to the cutoff); strictly positive.

        Returns
        -------
        BetaGeoModel
            The fitted model (``self``).

        Raises
        ------
        ValueError
            If the inputs are invalid, there are fewer than 2 customers, the
            hyper-parameters are invalid, or the optimiser fails.
        """
        penalizer = _check_penalizer(self.penalizer)
        max_iter = _check_max_iter(self.max_iter)
        x, t_x, age = _validate_rfm(frequency, recency, T, broadcast=False)
        if x.size < 2:
            raise ValueError(f"fit needs at least 2 customers (rows), got {x.size}.")

        # Rescale time so that alpha is O(1) whatever unit the caller uses
        # (days, weeks, seconds...). The likelihood is equivariant under
        # (t_x, T, alpha) -> (t_x, T, alpha) / c: each row's log-likelihood only
        # shifts by the constant x*log(c), so the optimum in (r, a, b) is
        # unchanged and alpha = c * alpha_scaled. This keeps L-BFGS-B well
        # conditioned and the log-parameter bounds meaningful.
        scale = float(np.mean(age))
        t_x_s = t_x / scale
        age_s = age / scale
        n = x.size

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, grad_log = _loglik_and_grad(params, x, t_x_s, age_s)
            # Mean rather than sum: gradients stay O(1) whatever n is, so the
            # optimiser's default tolerances mean the same thing for 100 or
            # 1e6 customers.
            value = -float(np.sum(ll)) / n
            grad = -grad_log.sum(axis=0) / n
            if penalizer > 0.0:
                # Penalise the parameters in the caller's time unit, exactly as
                # lifetimes does (its objective is mean NLL + c * sum(theta^2)).
                natural = params.copy()
                natural[1] *= scale
                value += penalizer * float(np.sum(natural**2))
                # d/d(log theta) of theta^2 is 2 theta^2.
                grad = grad + 2.0 * penalizer * natural**2
            return value, grad

        x0 = _initial_log_params(x, t_x_s, age_s)
        bounds = [(-_LOG_PARAM_BOUND, _LOG_PARAM_BOUND)] * 4
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            result = optimize.minimize(
                objective,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": max_iter, "ftol": 1e-12, "gtol": _GTOL},
            )
        converged = bool(result.success) or (
            result.status == 2  # ABNORMAL: line search could not make progress
            and _projected_gradient_norm(result.x, result.jac, bounds) <= _GTOL_FALLBACK
        )
        if not converged or not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
            raise ValueError(
                "BG/NBD maximum-likelihood optimisation failed to converge: "
                f"{result.message} (after {result.nit} iterations; consider a "
                "larger max_iter or a small positive penalizer)."
            )

        params = np.exp(result.x)
        self.r_ = float(params[0])
        self.alpha_ = float(params[1] * scale)
        self.a_ = float(params[2])
        self.b_ = float(params[3])
        self.n_iter_ = int(result.nit)
        # Report the log-likelihood in the caller's time unit (not the scaled
        # one used internally), without the penalty.
        self.loglik_ = float(np.sum(self._loglik(self._params(), x, t_x, age)))
        return self

    # ------------------------------------------------------------- likelihood

    def log_likelihood(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        params: tuple[float, float, float, float] | None = None,
    ) -> FloatArray:
        """Per-customer log-likelihood (paper eq. 6).

        Parameters
        ----------
        frequency, recency, T : array-like
            Customer summaries as in :meth:`fit`; broadcast against each other.
        params : tuple of 4 floats, optional
            ``(r, alpha, a, b)``; defaults to the fitted parameters.

        Returns
        -------
        numpy.ndarray
            Log-likelihood of each customer, shape of the broadcast inputs.

        Raises
        ------
        NotFittedError
            If ``params`` is None and the model has not been fitted.
        ValueError
            If the inputs or ``params`` are invalid.
        """
        theta = self._params() if params is None else _check_params(params)
        x, t_x, age = _validate_rfm(frequency, recency, T, broadcast=True)
        return self._loglik(theta, x, t_x, age)

    @staticmethod
    def _loglik(params: FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            ll, _ = _loglik_and_grad(params, x, t_x, age, with_grad=False)
        return ll

    # ------------------------------------------------------------ predictions

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected number of purchases in ``(T, T + t]`` given the history (eq. 10).

        Parameters
        ----------
        t : array-like
            Length of the prediction window (same time unit as ``T``), >= 0.
        frequency, recency, T : array-like
            Customer summaries as in :meth:`fit`.

        Returns
        -------
        numpy.ndarray
            ``E[Y(t) | x, t_x, T]``, shape of the broadcast inputs.

        Notes
        -----
        Eq. (10) contains ``((alpha+T)/(alpha+T+t))**(r+x) * 2F1(r+x, b+x;
        a+b+x-1; z)`` with ``z = t/(alpha+T+t)``. For large ``x`` the power
        underflows while the hypergeometric function overflows. Euler's
        transformation ``2F1(A,B;C;z) = (1-z)**(C-A-B) 2F1(C-A, C-B; C; z)``
        turns the product into ``(1-z)**(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z)``,
        whose parameters no longer grow with ``x`` (except ``C``, which only
        speeds up the series), so nothing overflows. Where scipy's ``hyp2f1``
        still returns NaN (it does for some tame arguments) the hypergeometric
        series is summed directly.
        """
        theta = self._params()
        t_arr = _as_float_array("t", t)
        _check_finite("t", t_arr)
        _check_rows("t", t_arr < 0, t_arr.size, "t >= 0 (length of the prediction window)")
        x, t_x, age = _validate_rfm(frequency, recency, T, broadcast=True)
        t_arr, x, t_x, age = np.broadcast_arrays(t_arr, x, t_x, age)
        return _expected_future_purchases(theta, t_arr, x, t_x, age)

    def prob_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability that the customer is still alive at age ``T`` (eq. 11).

        Parameters
        ----------
        frequency, recency, T : array-like
            Customer summaries as in :meth:`fit`.

        Returns
        -------
        numpy.ndarray
            ``P(alive | x, t_x, T)``; exactly 1 when ``x == 0`` (in the BG/NBD
            model a customer can only drop out right after a repeat purchase).
        """
        theta = self._params()
        x, t_x, age = _validate_rfm(frequency, recency, T, broadcast=True)
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return np.exp(-_log_dead_odds_plus_one(theta, x, t_x, age))

    def unconditional_expected_purchases(self, t: ArrayLike) -> FloatArray:
        """Expected number of repeat purchases of a new customer in ``(0, t]`` (eq. 7).

        Parameters
        ----------
        t : array-like
            Time since the first purchase, >= 0.

        Returns
        -------
        numpy.ndarray
            ``E[X(t)]``, same shape as ``t``.
        """
        theta = self._params()
        t_arr = _as_float_array("t", t)
        _check_finite("t", t_arr)
        _check_rows("t", t_arr < 0, t_arr.size, "t >= 0 (time since first purchase)")
        zeros = np.zeros_like(t_arr)
        # Eq. (7) is eq. (10) for a brand-new customer: x = t_x = T = 0
        # (the "alive" denominator is then exactly 1).
        return _expected_future_purchases(theta, t_arr, zeros, zeros, zeros)

    # ----------------------------------------------------------------- helpers

    def _params(self) -> FloatArray:
        values = [getattr(self, name + "_", None) for name in _PARAM_NAMES]
        if any(v is None for v in values):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: call fit first "
                "(or set r_, alpha_, a_ and b_)."
            )
        return _check_params(tuple(values))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Numerical core (module-private, validation-free)
# ---------------------------------------------------------------------------


def _loglik_and_grad(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    age: FloatArray,
    with_grad: bool = True,
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood (eq. 6) and its gradient w.r.t. the log-parameters.

    Writing ``B(a+1, b+x-1) = B(a, b+x) * a / (b+x-1)`` and
    ``r ln(alpha) - (r+x) ln(alpha+T) = -r ln(1+T/alpha) - x ln(alpha+T)``,
    eq. (6) becomes

        log L = lnpoch(r, x) + [lnpoch(b, x) - lnpoch(a+b, x)] + logaddexp(u1, u2)
        u1 = -r ln(1 + T/alpha) - x ln(alpha+T)
        u2 = ln(a) - ln(b+x-1) - r ln(1 + t_x/alpha) - x ln(alpha+t_x)  (x > 0 only)

    with ``lnpoch(z, x) = lnG(z+x) - lnG(z)``. The only sum of exponentials is
    a ``logaddexp``, so nothing over- or underflows for large ``x`` or ``T``;
    and no term is a difference of two numbers of size ``r ln(alpha)`` or
    ``lnG(r)``, which would otherwise drown the likelihood in rounding noise
    when the optimiser walks out along the near-Poisson ridge (``r``,
    ``alpha`` -> infinity) that data without visible dropout produce.
    ``w = sigmoid(u2 - u1)`` (the posterior probability of having dropped
    out) weights the two branches in the gradient.

    Returns
    -------
    ll : ndarray of shape (n,)
    grad : ndarray of shape (n, 4)
        d ll / d log(theta) per row (empty array when ``with_grad`` is False).
    """
    r, alpha, a, b = (float(v) for v in params)
    has_repeat = x > 0
    # b + x - 1 can be <= 0 only on rows with x == 0, where u2 is unused; a safe
    # value there avoids log warnings without affecting the result.
    b_x1 = np.where(has_repeat, b + x - 1.0, 1.0)
    log1p_T = np.log1p(age / alpha)
    log1p_tx = np.log1p(t_x / alpha)
    log_alpha_T = np.log(alpha + age)
    log_alpha_tx = np.log(alpha + t_x)

    u1 = -r * log1p_T - x * log_alpha_T
    u2 = np.where(has_repeat, np.log(a) - np.log(b_x1) - r * log1p_tx - x * log_alpha_tx, -np.inf)
    ll = (
        _log_pochhammer(r, x)
        + _log_pochhammer(b, x)
        - _log_pochhammer(a + b, x)
        + np.logaddexp(u1, u2)
    )
    if not with_grad:
        return ll, np.empty((0, 4))

    # Weight of the "dropped out" branch; exactly 0 when x == 0.
    w = np.where(has_repeat, special.expit(u2 - u1), 0.0)
    d_r = _digamma_difference(r, x) - (1.0 - w) * log1p_T - w * log1p_tx
    # alpha * d/d(alpha), with r/alpha - (r+x)/(alpha+T) put over one
    # denominator so the two (nearly equal, on the ridge) terms do not cancel.
    alpha_d_alpha = (1.0 - w) * (r * age - x * alpha) / (alpha + age) + w * (
        r * t_x - x * alpha
    ) / (alpha + t_x)
    psi_ab = _digamma_difference(a + b, x)
    d_a = w / a - psi_ab
    d_b = _digamma_difference(b, x) - psi_ab - w / b_x1
    # Chain rule for theta = exp(log theta).
    grad = np.column_stack((d_r * r, alpha_d_alpha, d_a * a, d_b * b))
    return ll, grad


# Above this argument, lnG and digamma differences are taken from their
# asymptotic (Stirling) series, which keep full relative precision; below it,
# the direct differences lose at most ~1e-13 in absolute terms.
_ASYMPTOTIC_FROM: float = 100.0


def _stirling_remainder(z: FloatArray | float) -> FloatArray:
    """``lnG(z) - [(z - 1/2) ln z - z + ln(2 pi)/2]``; error < 1e-22 for z >= 100."""
    inv = 1.0 / np.asarray(z, dtype=np.float64)
    inv2 = inv * inv
    return inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680))))


def _log_pochhammer(z: float, x: FloatArray) -> FloatArray:
    """``lnG(z + x) - lnG(z)`` without cancellation for large ``z``."""
    if z < _ASYMPTOTIC_FROM:
        return special.gammaln(z + x) - special.gammaln(z)
    # (z+x-1/2) ln(z+x) - (z-1/2) ln z - x, rearranged so that no two terms of
    # size z ln z are subtracted.
    return (
        (z - 0.5) * np.log1p(x / z)
        + x * np.log(z + x)
        - x
        + _stirling_remainder(z + x)
        - _stirling_remainder(z)
    )


def _digamma_difference(z: float, x: FloatArray) -> FloatArray:
    """``digamma(z + x) - digamma(z)`` without cancellation for large ``z``."""
    if z < _ASYMPTOTIC_FROM:
        return special.digamma(z + x) - special.digamma(z)
    # digamma(y) ~ ln y - 1/(2y) - 1/(12y^2) + 1/(120y^4) - 1/(252y^6) + 1/(240y^8)
    zx = z + x

    def tail(y: FloatArray | float) -> FloatArray:
        inv2 = 1.0 / np.square(np.asarray(y, dtype=np.float64))
        return inv2 * (-1 / 12 + inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240))))

    return np.log1p(x / z) + x / (2.0 * z * zx) + tail(zx) - tail(z)


def _log_dead_odds_plus_one(
    params: FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """``log(1 + delta(x>0) * a/(b+x-1) * ((alpha+T)/(alpha+t_x))**(r+x))``.

    This is ``-log P(alive)`` (eq. 11) and the denominator of eq. (10); the
    power is formed in log space because ``(r+x)`` can be in the thousands,
    and the log-ratio as ``log1p`` because it is tiny when ``alpha`` is large.
    """
    r, alpha, a, b = (float(v) for v in params)
    has_repeat = x > 0
    b_x1 = np.where(has_repeat, b + x - 1.0, 1.0)
    log_ratio = np.log1p((age - t_x) / (alpha + t_x))
    log_odds = np.log(a) - np.log(b_x1) + (r + x) * log_ratio
    return np.where(has_repeat, np.logaddexp(0.0, log_odds), 0.0)


def _expected_future_purchases(
    params: FloatArray, t: FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """Eq. (10) without input validation (see ``BetaGeoModel.expected_purchases``)."""
    if abs(float(params[2]) - 1.0) < _A_NEAR_ONE:
        # The closed form is 0/0 at a == 1 and loses digits to cancellation
        # next to it. The expectation is smooth in a, so interpolate linearly
        # between two evaluations at a safe distance on either side of 1
        # (error O(step^2), far below the cancellation error it avoids).
        lo = params.copy()
        hi = params.copy()
        lo[2] = 1.0 - _A_NEAR_ONE
        hi[2] = 1.0 + _A_NEAR_ONE
        weight = (float(params[2]) - lo[2]) / (hi[2] - lo[2])
        f_lo = _expected_future_purchases_closed_form(lo, t, x, t_x, age)
        f_hi = _expected_future_purchases_closed_form(hi, t, x, t_x, age)
        return (1.0 - weight) * f_lo + weight * f_hi
    return _expected_future_purchases_closed_form(params, t, x, t_x, age)


def _expected_future_purchases_closed_form(
    params: FloatArray, t: FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """Eq. (10) in its Euler-transformed closed form; requires ``a != 1``."""
    r, alpha, a, b = (float(v) for v in params)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        log_one_minus_z = -np.log1p(t / (alpha + age))
        z = t / (alpha + age + t)  # in [0, 1) for finite t
        # Euler-transformed hypergeometric term (see docstring of expected_purchases).
        hyp = _hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        log_power = (a - 1.0) * log_one_minus_z
        # bracket = 1 - (1-z)**(a-1) * hyp; expm1 keeps precision when the
        # product is close to 1 (short horizons).
        bracket = np.where(
            hyp > 0.0,
            -np.expm1(log_power + np.log(np.where(hyp > 0.0, hyp, 1.0))),
            1.0 - np.exp(log_power) * hyp,
        )
        numerator = (a + b + x - 1.0) / (a - 1.0) * bracket
        result = numerator * np.exp(-_log_dead_odds_plus_one(params, x, t_x, age))
    # t == 0 gives exactly 0 expected purchases; avoid any rounding residue.
    return np.where(t == 0.0, 0.0, result)


def _hyp2f1(A: float, B: float, C: FloatArray, z: FloatArray) -> FloatArray:
    """Gauss hypergeometric function, with a series fallback where scipy fails.

    scipy's ``hyp2f1`` returns NaN for some arguments where the function is
    perfectly tame, e.g. ``hyp2f1(0.5, 0.5, 1000, 0.99)`` (large ``C`` - i.e.
    very frequent buyers - with ``z`` near 1) or ``|A|`` in the millions (the
    degenerate, near-Poisson fits that the optimiser can return on data with
    no visible dropout). In those cases the defining power series converges
    quickly (its term ratio is about ``A*B*z/C`` at first and tends to ``z < 1``),
    so it is summed directly for the failing entries only. Entries where the
    series does not settle within the term budget, or where alternating terms
    much larger than the sum cancel away more than half of the digits, stay
    NaN rather than being silently wrong.
    """
    C_arr, z_arr = np.broadcast_arrays(np.asarray(C, dtype=np.float64), z)
    result = np.array(special.hyp2f1(A, B, C_arr, z_arr), dtype=np.float64)
    failed = ~np.isfinite(result)
    if not np.any(failed):
        return result
    c = C_arr[failed]
    zf = z_arr[failed]
    total = np.ones_like(c)
    term = np.ones_like(c)
    largest = np.ones_like(c)
    pending = np.ones(c.shape, dtype=bool)
    for n in range(_SERIES_MAX_TERMS):
        ratio = (A + n) * (B + n) / ((c + n) * (n + 1.0)) * zf
        term = np.where(pending, term * ratio, 0.0)
        total = total + term
        largest = np.maximum(largest, np.abs(term))
        # Converged once the last term is negligible and the terms are
        # shrinking geometrically from here on.
        next_ratio = np.abs((A + n + 1) * (B + n + 1) / ((c + n + 1) * (n + 2.0)) * zf)
        done = (term == 0.0) | ((np.abs(term) <= 1e-16 * np.abs(total)) & (next_ratio < 0.9))
        pending &= ~done
        if not np.any(pending):
            break
    # Rounding error of the sum is about eps * largest term; insist on ~8 digits.
    inaccurate = ~np.isfinite(total) | (largest * 1e-16 > 1e-8 * np.abs(total))
    result[failed] = np.where(pending | inaccurate, np.nan, total)
    return result


def _initial_log_params(x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
    """Moment-style starting point in log space.

    With ``r = 1`` the prior mean purchase rate is ``1/alpha``; matching it to
    the observed repeat rate gives a start of the right order of magnitude.
    ``a = b = 1`` (uniform dropout probability) is a neutral start.
    """
    rate = float(np.sum(x)) / float(np.sum(age))
    alpha0 = 1.0 / rate if rate > 0 else 1.0
    alpha0 = float(np.clip(alpha0, np.exp(-10.0), np.exp(10.0)))
    return np.array([0.0, np.log(alpha0), 0.0, 0.0])


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _as_float_array(name: str, values: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric (array-like of numbers): {exc}") from exc
    return arr


def _check_rows(name: str, bad: npt.NDArray[np.bool_], total: int, expected: str) -> None:
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        raise ValueError(f"{name}: {n_bad} of {total} rows are invalid; expected {expected}.")


def _check_finite(name: str, arr: FloatArray) -> None:
    _check_rows(name, ~np.isfinite(arr), arr.size, "finite values (no NaN or inf)")


def _validate_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, broadcast: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Convert and check the (frequency, recency, T) triple.

    For ``fit`` (``broadcast=False``) the three must be 1-D with equal length;
    for predictions they are broadcast so scalars can be mixed with arrays.
    """
    x = _as_float_array("frequency", frequency)
    t_x = _as_float_array("recency", recency)
    age = _as_float_array("T", T)
    if broadcast:
        try:
            x, t_x, age = np.broadcast_arrays(x, t_x, age)
        except ValueError as exc:
            raise ValueError(
                "frequency, recency and T must have broadcast-compatible shapes, got "
                f"{x.shape}, {t_x.shape} and {age.shape}."
            ) from exc
    else:
        for name, arr in (("frequency", x), ("recency", t_x), ("T", age)):
            if arr.ndim != 1:
                raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}.")
        if not (x.shape == t_x.shape == age.shape):
            raise ValueError(
                "frequency, recency and T must have equal length, got "
                f"{x.size}, {t_x.size} and {age.size}."
            )
    n = x.size
    for name, arr in (("frequency", x), ("recency", t_x), ("T", age)):
        _check_finite(name, arr)
    _check_rows("frequency", x < 0, n, "frequency >= 0 (number of repeat purchases)")
    _check_rows("frequency", x != np.floor(x), n, "integer counts of repeat purchases")
    _check_rows("T", age <= 0, n, "T > 0 (time from first purchase to the cutoff)")
    _check_rows("recency", t_x < 0, n, "0 <= recency <= T")
    _check_rows("recency", t_x > age, n, "0 <= recency <= T (recency larger than T)")
    _check_rows(
        "recency",
        (x == 0) & (t_x != 0),
        n,
        "recency == 0 when frequency == 0 (no repeat purchase, so the last purchase is the first)",
    )
    return x, t_x, age


def _check_params(params: Any) -> FloatArray:
    arr = np.asarray(params, dtype=np.float64).ravel()
    if arr.size != 4:
        raise ValueError(f"params must be (r, alpha, a, b), got {arr.size} values.")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(
            "params (r, alpha, a, b) must all be finite and > 0, got "
            + ", ".join(f"{n}={v!r}" for n, v in zip(_PARAM_NAMES, arr.tolist(), strict=True))
            + "."
        )
    return arr


def _check_penalizer(penalizer: float) -> float:
    try:
        value = float(penalizer)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"penalizer must be a finite number >= 0, got {penalizer!r}.")
    return value


def _check_max_iter(max_iter: int) -> int:
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    return int(max_iter)


def _projected_gradient_norm(
    x: FloatArray, grad: FloatArray, bounds: list[tuple[float, float]]
) -> float:
    """Max-norm of the gradient with components pushing against an active bound removed.

    This is the quantity L-BFGS-B compares with ``gtol``.
    """
    lower = np.array([lo for lo, _ in bounds])
    upper = np.array([hi for _, hi in bounds])
    g = np.asarray(grad, dtype=np.float64).copy()
    g[(x <= lower) & (g > 0)] = 0.0
    g[(x >= upper) & (g < 0)] = 0.0
    return float(np.max(np.abs(g))) if np.all(np.isfinite(g)) else float("inf")
