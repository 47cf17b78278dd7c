"""Gamma-Gamma model of the monetary value of repeat purchases.

Implements Fader & Hardie (2013), "The Gamma-Gamma model of monetary value"
(http://www.brucehardie.com/notes/025/), the spend sub-model that, combined with a
purchase-count model (:mod:`churnmodel.modeling.bgnbd`), gives customer lifetime value.

Model assumptions (per customer):

* The value ``z_i`` of each repeat transaction is ``Gamma(shape=p, rate=nu)``, so the
  customer's mean transaction value is ``zeta = p / nu``;
* ``nu ~ Gamma(shape=q, rate=gamma)`` across customers;
* spend is independent of the purchase process (check it: the correlation between
  ``frequency`` and ``monetary_value`` should be small).

A customer is summarised by ``frequency`` (``x``, the number of *repeat* transactions,
> 0) and ``monetary_value`` (``m_x``, their mean value, > 0). Equation numbers refer to
the note.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from churnmodel.modeling.bgnbd import NotFittedError

__all__ = ["GammaGammaModel"]

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

_PARAM_NAMES = ("p", "q", "gamma")
_LOG_PARAM_BOUND = 25.0


class GammaGammaModel:
    """Gamma-Gamma spend model fitted by maximum likelihood (scikit-learn style).

    Parameters
    ----------
    penalizer : float, default 0.0
        Coefficient of an L2 penalty ``penalizer * (p**2 + q**2 + gamma**2)`` added to the
        mean negative log-likelihood (as in ``lifetimes``); 0 is plain maximum likelihood.
    max_iter : int, default 2000
        Maximum number of L-BFGS-B iterations.

    Attributes
    ----------
    p_, q_, gamma_ : float
        Shape of the per-transaction spend, shape and rate of the distribution of ``nu``
        (``gamma_`` is in the currency unit of the data).
    loglik_ : float
        Total log-likelihood of the training data at the fitted parameters.

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
    On the CDNOW 1/10 sample the note reports p = 6.25, q = 3.74, gamma = 15.44.

    Examples
    --------
    >>> m = GammaGammaModel()
    >>> m.p_, m.q_, m.gamma_ = 6.25, 3.74, 15.44
    >>> round(float(m.conditional_expected_spend(1, 10.0)), 4)
    17.6863
    """

    p_: float
    q_: float
    gamma_: float
    loglik_: float
    n_iter_: int

    def __init__(self, penalizer: float = 0.0, max_iter: int = 2000) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    def __repr__(self) -> str:
        return f"{type(self).__name__}(penalizer={self.penalizer!r}, max_iter={self.max_iter!r})"

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaModel:
        """Estimate ``p, q, gamma`` by maximum likelihood (note, eq. 3 marginalised).

        Parameters
        ----------
        frequency : array-like of shape (n_customers,)
            Number of repeat transactions ``x``; integers > 0 (leave out one-time buyers).
        monetary_value : array-like of shape (n_customers,)
            Mean value ``m_x`` of those transactions; > 0.

        Returns
        -------
        GammaGammaModel
            ``self``, fitted.

        Raises
        ------
        ValueError
            On invalid inputs (naming the count of failing rows), fewer than 2 customers,
            or an optimiser that does not converge.
        """
        penalizer = float(self.penalizer)
        if not np.isfinite(penalizer) or penalizer < 0:
            raise ValueError(f"penalizer must be a finite number >= 0, got {self.penalizer!r}.")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}.")
        x, m = _validate(frequency, monetary_value, broadcast=False)
        if x.size < 2:
            raise ValueError(f"fit needs at least 2 customers with repeat purchases, got {x.size}.")
        # Rescale money so that gamma is O(1) whatever the currency: the likelihood is
        # equivariant under (m, gamma) -> (m, gamma) / c (each row shifts by a constant).
        scale = float(np.mean(m))
        ms = m / scale
        n = x.size

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, grad = _loglik_and_grad(params, x, ms)
            value = -float(np.sum(ll)) / n
            g = -grad.sum(axis=0) / n
            if penalizer > 0.0:
                natural = params.copy()
                natural[2] *= scale
                value += penalizer * float(np.sum(natural**2))
                g = g + 2.0 * penalizer * natural**2
            return value, g

        x0 = np.array([0.0, np.log(2.0), 0.0])  # p = 1, q = 2, gamma = mean spend
        bounds = [(-_LOG_PARAM_BOUND, _LOG_PARAM_BOUND)] * 3
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            res = optimize.minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": self.max_iter, "ftol": 1e-13, "gtol": 1e-9})
        if not (res.success or res.status == 2) or not np.all(np.isfinite(res.x)):
            raise ValueError(f"Gamma-Gamma maximum-likelihood optimisation failed to converge: "
                             f"{res.message} (after {res.nit} iterations; consider a small positive "
                             "penalizer).")
        p, q, g = np.exp(res.x)
        self.p_, self.q_, self.gamma_ = float(p), float(q), float(g * scale)
        self.n_iter_ = int(res.nit)
        self.loglik_ = float(np.sum(self.log_likelihood(x, m)))
        return self

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood of the observed mean spend ``m_x`` (note, eq. 5).

        ``ln f(m_x | p, q, gamma, x) = lnG(px+q) - lnG(px) - lnG(q) + q ln gamma
        + (px-1) ln m_x + px ln x - (px+q) ln(gamma + x m_x)``.
        """
        params = self._params()
        x, m = _validate(frequency, monetary_value, broadcast=True)
        return _loglik_and_grad(params, x, m, with_grad=False)[0]

    def conditional_expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Expected mean transaction value given the history (note, eq. 5 posterior mean).

        ``E[M | p, q, gamma, m_x, x] = p (gamma + x m_x) / (p x + q - 1)``: a weighted mean of
        the population mean ``p gamma / (q - 1)`` and the customer's own mean ``m_x``,
        with weight ``p x / (p x + q - 1)`` on the latter. Customers with ``x = 0`` get the
        population mean. Needs ``q > 1`` (otherwise the population mean is infinite).

        >>> m = GammaGammaModel()
        >>> m.p_, m.q_, m.gamma_ = 2.0, 3.0, 10.0
        >>> m.conditional_expected_spend([0, 2], [0.0, 25.0]).tolist()
        [10.0, 20.0]
        """
        p, q, g = self._params()
        if q <= 1.0:
            raise ValueError(f"the expected spend is infinite when q <= 1 (fitted q = {q:.4g}); "
                             "refit with a small positive penalizer.")
        x = np.asarray(frequency, dtype=np.float64)
        m = np.asarray(monetary_value, dtype=np.float64)
        x, m = np.broadcast_arrays(x, m)
        bad = ~np.isfinite(x) | ~np.isfinite(m) | (x < 0) | ((x > 0) & (m <= 0))
        if bad.any():
            raise ValueError(f"frequency / monetary_value: {int(bad.sum())} of {bad.size} rows are "
                             "invalid; expected frequency >= 0 and monetary_value > 0 when "
                             "frequency > 0.")
        mx = np.where(x > 0, m, 0.0)
        return p * (g + x * mx) / (p * x + q - 1.0)

    def population_mean_spend(self) -> float:
        """Mean transaction value of a new customer, ``p gamma / (q - 1)``."""
        p, q, g = self._params()
        return float(p * g / (q - 1.0)) if q > 1.0 else float("inf")

    def _params(self) -> FloatArray:
        values = [getattr(self, n + "_", None) for n in _PARAM_NAMES]
        if any(v is None for v in values):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call fit "
                                 "first (or set p_, q_ and gamma_).")
        arr = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(arr) & (arr > 0)):
            raise ValueError(f"params (p, q, gamma) must be finite and > 0, got {arr.tolist()}.")
        return arr


def _loglik_and_grad(params: FloatArray, x: FloatArray, m: FloatArray,
                     with_grad: bool = True) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and its gradient with respect to ``log(p, q, gamma)``."""
    p, q, g = (float(v) for v in params)
    px = p * x
    log_gm = np.log(g + x * m)
    ll = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(g)
          + (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * log_gm)
    if not with_grad:
        return ll, np.empty((0, 3))
    psi_pxq = special.digamma(px + q)
    d_p = x * (psi_pxq - special.digamma(px) + np.log(m) + np.log(x) - log_gm)
    d_q = psi_pxq - special.digamma(q) + np.log(g) - log_gm
    d_g = q / g - (px + q) / (g + x * m)
    return ll, np.column_stack((d_p * p, d_q * q, d_g * g))


def _validate(frequency: ArrayLike, monetary_value: ArrayLike,
              broadcast: bool) -> tuple[FloatArray, FloatArray]:
    try:
        x = np.asarray(frequency, dtype=np.float64)
        m = np.asarray(monetary_value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"frequency and monetary_value must be numeric: {exc}") from exc
    if broadcast:
        x, m = np.broadcast_arrays(x, m)
    elif x.ndim != 1 or m.shape != x.shape:
        raise ValueError(f"frequency and monetary_value must be 1-D of equal length, got shapes "
                         f"{x.shape} and {m.shape}.")
    for name, arr, ok, expected in (
        ("frequency", x, np.isfinite(x) & (x > 0) & (x == np.floor(x)),
         "integer counts of repeat transactions > 0 (leave out customers without a repeat purchase)"),
        ("monetary_value", m, np.isfinite(m) & (m > 0),
         "a mean transaction value > 0 (leave out customers whose repeat spend is 0 or negative)"),
    ):
        n_bad = int(np.count_nonzero(~ok))
        if n_bad:
            raise ValueError(f"{name}: {n_bad} of {arr.size} rows are invalid; expected {expected}.")
    return x, m
