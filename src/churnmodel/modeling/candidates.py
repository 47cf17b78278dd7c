"""The models compared in every training run: LightGBM and three baselines.

Each candidate maps a feature frame to a *raw* score (higher = more likely to churn); a
:class:`~churnmodel.modeling.calibration.Calibrator` fitted on the validation cutoff turns
it into a probability. The champion is the candidate with the best validation ROC AUC.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from churnmodel.config import ModelConfig
from churnmodel.modeling.bgnbd import BetaGeoModel

# The RFM core a logistic baseline (and BG/NBD) can rely on in any data set.
RFM_CORE = ("recency_days", "frequency", "monetary_total", "tenure_days", "n_90d", "n_365d",
            "spend_90d", "gap_mean_days", "overdue_ratio", "trend_90d")


# Threads of LightGBM's predict and pred_contrib (scoring, explanations, the REST server),
# whatever the model was trained with. Measured 2026-12-02 on the shared 2-core machine (load
# 5-10): 100 rows p50 2.1 ms with 1 thread vs 16.0 ms with 2 (min 1.5 vs 1.2 ms: a second
# thread saves at most 20% when the core is free); 1 row 0.03-0.06 ms either way, but p50
# 12 ms with 2 threads once both cores are busy. See README, Performance.
PREDICT_THREADS = 1


def _log1p_positive(a: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(a, 0))


class LightGBMCandidate:
    """Gradient-boosted trees on every feature, with early stopping on validation.

    With ``n_rounds`` (a refit, once the number of trees is chosen) it grows exactly that
    many trees and needs no validation rows.
    """

    name = "lightgbm"
    early_stopping = True

    def __init__(self, cfg: ModelConfig, seed: int = 42, n_rounds: int | None = None) -> None:
        self.cfg, self.seed, self.n_rounds = cfg, seed, n_rounds

    def params(self) -> dict:
        c = self.cfg
        return {
            "objective": "binary", "metric": "binary_logloss", "verbosity": -1,
            "learning_rate": c.learning_rate, "num_leaves": c.num_leaves, "max_depth": c.max_depth,
            "min_child_samples": c.min_child_samples, "feature_fraction": c.feature_fraction,
            "bagging_fraction": c.bagging_fraction, "bagging_freq": 1, "lambda_l2": c.lambda_l2,
            # determinism: same seed + same threads + same data = same trees
            "seed": self.seed, "deterministic": True, "force_col_wise": True,
            "num_threads": c.n_jobs,
        }

    def fit(self, X: pd.DataFrame, y: np.ndarray, Xv: pd.DataFrame | None = None,
            yv: np.ndarray | None = None):
        train = lgb.Dataset(X, y, free_raw_data=True)
        params = self.params()
        if self.cfg.monotone_increasing:
            params["monotone_constraints"] = [int(c in self.cfg.monotone_increasing) for c in X.columns]
        if Xv is None or self.n_rounds is not None:
            if self.n_rounds is None:
                raise ValueError("LightGBM needs validation rows or a fixed n_rounds")
            self.booster_ = lgb.train(params, train, num_boost_round=self.n_rounds)
            self.best_iteration_ = self.n_rounds
            return self
        valid = lgb.Dataset(Xv, yv, reference=train)
        self.booster_ = lgb.train(
            params, train, num_boost_round=self.cfg.n_estimators, valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.cfg.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.num_trees())
        return self

    def _matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray | pd.DataFrame:
        """``X`` as the float64 matrix LightGBM itself builds from a frame (category codes, -1
        as NaN), without its per-column pandas work, which dominated a 1-row prediction.

        Only when every categorical column holds exactly the training levels in training
        order (what :meth:`ChurnModel.prepare` returns); otherwise LightGBM maps the frame.
        A matrix (:meth:`ChurnModel.design`) is that matrix already.
        """
        if isinstance(X, np.ndarray):
            return X
        levels = getattr(self.booster_, "pandas_categorical", None) or []
        cat_pos = [j for j, t in enumerate(X.dtypes) if isinstance(t, pd.CategoricalDtype)]
        if len(cat_pos) != len(levels) or any(
                list(X.dtypes.iloc[j].categories) != list(lv) for j, lv in zip(cat_pos, levels, strict=True)):
            return X
        m = np.empty(X.shape, dtype=np.float64)
        for j, (_, col) in enumerate(X.items()):
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes = col.cat.codes.to_numpy()
                m[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                m[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return m

    def raw_score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return np.asarray(self.booster_.predict(self._matrix(X), raw_score=True,
                                                num_iteration=self.best_iteration_,
                                                num_threads=PREDICT_THREADS))

    def contributions(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """TreeSHAP values (n x features + 1 for the expected value), raw-score scale.

        LightGBM's ``pred_contrib`` is the same path-dependent TreeSHAP that
        ``shap.TreeExplainer`` computes (tests check they agree), in C++ and multithreaded.
        """
        return np.asarray(self.booster_.predict(self._matrix(X), pred_contrib=True,
                                                num_iteration=self.best_iteration_,
                                                num_threads=PREDICT_THREADS))


class LogisticRFMCandidate:
    """Logistic regression on log-scaled RFM features (the classic, transparent baseline)."""

    name = "logistic_rfm"

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed

    @staticmethod
    def lacks(features: list[str]) -> str:
        """Why this baseline cannot run on ``features`` ('' when it can)."""
        return "" if set(RFM_CORE) & set(features) else "no RFM core feature among the features"

    def fit(self, X: pd.DataFrame, y: np.ndarray, Xv: pd.DataFrame, yv: np.ndarray):
        self.columns_ = [c for c in RFM_CORE if c in X.columns]
        self.pipeline_ = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True),
            FunctionTransformer(_log1p_positive),
            StandardScaler(),
            LogisticRegression(max_iter=2000, random_state=self.seed),
        ).fit(X[self.columns_].to_numpy(dtype=float), y)
        return self

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.decision_function(X[self.columns_].to_numpy(dtype=float))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Exact linear SHAP values on the logit scale (n x features + 1 for the base).

        Every transformed input is standardised on the training rows, so its training
        mean is 0 and its contribution is ``coef * z``; a missing-value indicator counts
        for the feature it flags. Features the baseline does not use get 0.
        """
        imputer, _, _, logreg = self.pipeline_.named_steps.values()
        Z = self.pipeline_[:-1].transform(X[self.columns_].to_numpy(dtype=float))
        parts = Z * logreg.coef_[0]
        # columns all-missing in training are dropped by the imputer
        owner = [j for j, m in enumerate(imputer.statistics_) if not np.isnan(m)]
        if imputer.indicator_ is not None:
            owner += [int(j) for j in imputer.indicator_.features_]
        out = np.zeros((len(X), X.shape[1] + 1))
        index = {c: i for i, c in enumerate(X.columns)}
        for k, j in enumerate(owner):
            out[:, index[self.columns_[j]]] += parts[:, k]
        out[:, -1] = logreg.intercept_[0]
        return out


class RecencyCandidate:
    """Rule of thumb: the longer since the last purchase, the likelier the churn."""

    name = "recency"

    @staticmethod
    def lacks(features: list[str]) -> str:
        return "" if "recency_days" in features else "needs recency_days"

    def fit(self, X, y, Xv, yv):
        return self

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return np.log1p(X["recency_days"].fillna(X["recency_days"].max()).to_numpy(dtype=float))


class BGNBDCandidate:
    """BG/NBD ("buy till you die"): fewer expected purchases in the horizon = more risk.

    We rank by expected purchases in the horizon rather than P(alive): P(alive) is 1 for
    every one-time buyer, however long ago they bought, which ranks them as safest.
    """

    name = "bgnbd"

    def __init__(self, horizon_days: int, seed: int = 42, max_rows: int = 50_000) -> None:
        self.horizon_days, self.seed, self.max_rows = horizon_days, seed, max_rows

    @staticmethod
    def lacks(features: list[str]) -> str:
        missing = [c for c in ("frequency", "recency_days", "tenure_days") if c not in features]
        return f"needs {', '.join(missing)}" if missing else ""

    @staticmethod
    def _summary(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Ages count from the end of the cutoff day, so a first purchase on the cutoff
        # day has T = 1 (the model needs T > 0).
        freq = np.maximum(X["frequency"].to_numpy(dtype=float) - 1, 0)
        tenure = X["tenure_days"].fillna(0).to_numpy(dtype=float)
        recency = X["recency_days"].fillna(0).to_numpy(dtype=float)
        return freq, tenure - recency, tenure + 1.0

    def fit(self, X: pd.DataFrame, y, Xv, yv):
        if len(X) > self.max_rows:
            rng = np.random.default_rng(self.seed)
            X = X.iloc[np.sort(rng.choice(len(X), self.max_rows, replace=False))]
        self.model_ = BetaGeoModel().fit(*self._summary(X))
        return self

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        freq, rec, age = self._summary(X)
        expected = np.asarray(self.model_.expected_purchases(self.horizon_days, freq, rec, age))
        bad = ~np.isfinite(expected)
        if bad.any():
            # A degenerate fit (no visible dropout: a, b -> infinity) makes eq. 10 0/0; the
            # model then *is* the gamma-Poisson one, whose expectation is (r + x) / (alpha + T) * t.
            m = self.model_
            expected[bad] = (m.r_ + freq[bad]) / (m.alpha_ + age[bad]) * self.horizon_days
        return -np.log(expected + 1e-6)


def make_candidate(name: str, cfg: ModelConfig, horizon_days: int, seed: int,
                   n_rounds: int | None = None):
    """A fresh candidate; ``n_rounds`` fixes LightGBM's number of trees (no early stopping)."""
    factories = {
        "lightgbm": lambda: LightGBMCandidate(cfg, seed, n_rounds),
        "logistic_rfm": lambda: LogisticRFMCandidate(seed),
        "recency": RecencyCandidate,
        "bgnbd": lambda: BGNBDCandidate(horizon_days, seed),
    }
    if name not in factories:
        from churnmodel.errors import ConfigError, nearest

        raise ConfigError(f"unknown model candidate '{name}'.{nearest(name, factories)} "
                          f"Known: {', '.join(factories)}.")
    return factories[name]()
