"""Turning any candidate's raw score into a calibrated churn probability."""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from churnmodel.errors import ConfigError

METHODS = ("sigmoid", "isotonic")


class Calibrator:
    """Monotone map from raw score to probability, fitted on held-out (validation) rows.

    ``sigmoid`` (Platt scaling) is strictly increasing, so ranking metrics are unchanged;
    ``isotonic`` is more flexible but creates ties.
    """

    def __init__(self, method: str = "sigmoid") -> None:
        if method not in METHODS:
            raise ConfigError(f"[model] calibration must be one of {METHODS}, got {method!r}.")
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        raw = np.asarray(raw, dtype=float)
        if self.method == "sigmoid":
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(raw[:, None], y)
        else:
            self.model_ = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4,
                                             out_of_bounds="clip").fit(raw, y)
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "sigmoid":
            # LogisticRegression.predict_proba(raw[:, None])[:, 1], same arithmetic (one
            # product, the intercept, expit) without its input checks: they were most of
            # the calibration of a 1-row REST request
            lr = self.model_
            return expit((raw[:, None] @ lr.coef_.T + lr.intercept_).reshape(-1))
        return self.model_.predict(raw)
