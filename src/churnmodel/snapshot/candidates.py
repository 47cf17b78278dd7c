"""The baselines of snapshot mode, beside LightGBM (:mod:`churnmodel.modeling.candidates`).

* ``logistic``: logistic regression on the numeric columns (median-imputed with a
  missing indicator, standardised) and the one-hot categorical columns;
* ``best_column``: the single column that ranks the training rows best, on its own (a
  numeric column in its better direction, a categorical one by its level's churn rate).

Both follow the candidate protocol: ``fit(X, y, Xv, yv)`` and ``raw_score(X)`` (higher =
more likely to churn) on frames prepared by :meth:`ChurnModel.prepare` (float64 numeric
columns, categoricals with the training levels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MISSING_LEVEL = "(missing)"


def _categorical(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]


def _as_text(X: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    """Categoricals as plain object text, missing as its own level (what one-hot needs)."""
    return X.assign(**{c: X[c].astype(object).where(X[c].notna(), MISSING_LEVEL) for c in cats})


class LogisticOneHotCandidate:
    """Logistic regression on standardised numeric and one-hot categorical columns."""

    name = "logistic"

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: np.ndarray, Xv=None, yv=None):
        self.columns_ = list(X.columns)
        self.cats_ = _categorical(X)
        self.nums_ = [c for c in self.columns_ if c not in self.cats_]
        parts = []
        if self.nums_:
            parts.append(("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                                             keep_empty_features=True),
                                               StandardScaler()), self.nums_))
        if self.cats_:
            parts.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                          self.cats_))
        self.transform_ = ColumnTransformer(parts, sparse_threshold=0.0)
        Z = self.transform_.fit_transform(_as_text(X, self.cats_))
        self.mean_ = Z.mean(axis=0)
        self.logreg_ = LogisticRegression(max_iter=2000, C=1.0, random_state=self.seed).fit(Z, y)
        self.owner_ = self._owners()
        self._compile(X)
        return self

    def _compile(self, X: pd.DataFrame) -> None:
        """The fitted transform as plain arrays: scikit-learn's ColumnTransformer costs about
        a quarter of a second per call on a loaded machine, even for one row (a REST request),
        while the same arithmetic in numpy takes microseconds. :meth:`_z` uses these."""
        fast: dict = {"num": None, "cat": []}
        for name, trans, cols in self.transform_.transformers_:
            if name == "num":
                imputer, scaler = trans.named_steps["simpleimputer"], trans.named_steps["standardscaler"]
                ind = imputer.indicator_.features_ if imputer.indicator_ is not None else []
                fast["num"] = (np.nan_to_num(imputer.statistics_.astype(float)),
                               np.asarray(ind, dtype=int), scaler.mean_, scaler.scale_)
            elif name == "cat":
                for c, cats in zip(cols, trans.categories_, strict=True):
                    index = {str(v): i for i, v in enumerate(cats)}
                    levels = list(X[c].cat.categories)
                    # training level code -> one-hot position; code -1 (missing) is last
                    codes = np.asarray([index.get(str(v), -1) for v in levels]
                                       + [index.get(MISSING_LEVEL, -1)], dtype=int)
                    fast["cat"].append((c, pd.Index(levels), codes, len(cats)))
        self.fast_ = fast

    def _z(self, X: pd.DataFrame) -> np.ndarray:
        fast = getattr(self, "fast_", None)
        dtypes = X.dtypes
        if fast is None or not all(isinstance(dtypes[c], pd.CategoricalDtype)
                                   and dtypes[c].categories.equals(lv) for c, lv, _, _ in fast["cat"]):
            return self.transform_.transform(_as_text(X[self.columns_], self.cats_))
        blocks = []
        if fast["num"] is not None:
            stats, ind, mean, scale = fast["num"]
            x = X[self.nums_].to_numpy(dtype=float, na_value=np.nan)
            miss = np.isnan(x)
            blocks.append((np.hstack([np.where(miss, stats, x), miss[:, ind].astype(float)])
                           - mean) / scale)
        for c, _, codes, width in fast["cat"]:
            pos = codes[X[c].cat.codes.to_numpy()]  # code -1 picks the last entry: missing
            block = np.zeros((len(X), width))
            hit = pos >= 0
            block[np.flatnonzero(hit), pos[hit]] = 1.0
            blocks.append(block)
        return np.hstack(blocks) if blocks else np.zeros((len(X), 0))

    def _owners(self) -> np.ndarray:
        """The input column each transformed column comes from (index into ``columns_``)."""
        owners: list[int] = []
        index = {c: i for i, c in enumerate(self.columns_)}
        for name, trans, cols in self.transform_.transformers_:
            if name == "num":
                imputer = trans.named_steps["simpleimputer"]
                owners += [index[c] for c in cols]
                if imputer.indicator_ is not None:
                    owners += [index[cols[j]] for j in imputer.indicator_.features_]
            elif name == "cat":
                for c, cats in zip(cols, trans.categories_, strict=True):
                    owners += [index[c]] * len(cats)
        return np.asarray(owners, dtype=int)

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return self.logreg_.decision_function(self._z(X))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Exact linear SHAP values on the logit scale: ``coef * (z - mean z)`` summed per
        input column; the last column is the base value (the logit at the mean input)."""
        coef = self.logreg_.coef_[0]
        parts = (self._z(X) - self.mean_) * coef
        out = np.zeros((len(X), len(self.columns_) + 1))
        np.add.at(out.T, self.owner_, parts.T)
        out[:, -1] = self.logreg_.intercept_[0] + float(self.mean_ @ coef)
        return out


class BestColumnCandidate:
    """The one column that ranks the training rows best on its own (the floor to beat).

    A numeric column scores by its value (missing = the training median), turned round
    when lower values churn more; a categorical one by the smoothed churn rate of its level.
    """

    name = "best_column"

    def fit(self, X: pd.DataFrame, y: np.ndarray, Xv=None, yv=None):
        y = np.asarray(y, dtype=float)
        prior = float(y.mean())
        best: tuple[float, str] = (-1.0, "")
        self.maps_: dict[str, dict] = {}
        for c in X.columns:
            s = self._score(X[c], c, y, prior)
            if len(np.unique(s)) < 2:
                continue
            auc = float(roc_auc_score(y, s))
            if max(auc, 1 - auc) > best[0]:
                best = (max(auc, 1 - auc), c)
                self.sign_ = 1.0 if auc >= 0.5 else -1.0
        self.column_, self.train_auc_ = best[1] or str(X.columns[0]), best[0]
        if not best[1]:
            self.sign_ = 1.0
        return self

    def _score(self, s: pd.Series, c: str, y: np.ndarray, prior: float) -> np.ndarray:
        if isinstance(s.dtype, pd.CategoricalDtype):
            key = s.astype(object).where(s.notna(), MISSING_LEVEL)
            stats = pd.DataFrame({"k": key.to_numpy(), "y": y}).groupby("k")["y"].agg(["sum", "count"])
            rate = (stats["sum"] + 10 * prior) / (stats["count"] + 10)  # smoothed towards the mean
            self.maps_[c] = {"rates": rate.to_dict(), "prior": prior}
            return key.map(rate).to_numpy(dtype=float)
        x = s.to_numpy(dtype=float)
        med = float(np.nanmedian(x)) if np.isfinite(x).any() else 0.0
        self.maps_[c] = {"median": med}
        return np.where(np.isnan(x), med, x)

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        c, m = self.column_, self.maps_.get(self.column_, {})
        s = X[c]
        if "rates" in m:
            key = s.astype(object).where(s.notna(), MISSING_LEVEL)
            p = key.map(m["rates"]).astype(float).fillna(m["prior"]).to_numpy()
            p = np.clip(p, 1e-6, 1 - 1e-6)
            return np.log(p / (1 - p))
        x = s.to_numpy(dtype=float)
        return self.sign_ * np.where(np.isnan(x), m.get("median", 0.0), x)
