"""The trained churn model: features in, calibrated churn probability out.

:class:`ChurnModel` bundles everything scoring needs so that scoring equals training: the
feature builders and label settings, the expected feature columns and category levels,
the champion candidate and its calibrator.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd

from churnmodel.data.tables import Tables
from churnmodel.errors import ModelInputError
from churnmodel.files import atomic_write
from churnmodel.modeling.calibration import Calibrator
from churnmodel.training_set import cutoff_frame

if TYPE_CHECKING:
    from churnmodel.decisions import Policy

MODEL_FILE = "model.joblib"


def _to_number(values: pd.Series, col: str) -> pd.Series:
    """A non-numeric feature column as float64, refusing any value that is not a number."""
    conv = pd.to_numeric(values, errors="coerce")
    bad = conv.isna() & values.notna()
    if bad.any():
        raise ModelInputError(
            f"feature column '{col}' must be numeric; {int(bad.sum())} value(s) are "
            f"not, e.g. {values[bad].iloc[0]!r}.")
    return conv.astype("float64")


@functools.lru_cache(maxsize=256)
def _levels(levels: tuple[str, ...]) -> tuple[pd.CategoricalDtype, dict[str, int]]:
    """The dtype of a categorical feature and its level -> code map, built once per model."""
    return pd.CategoricalDtype(list(levels)), {v: i for i, v in enumerate(levels)}


def _to_categorical(values: pd.Series, levels: list[str]) -> pd.Categorical:
    """The training levels of a categorical feature; unseen levels become missing (the
    trees route them as NaN)."""
    dtype, code = _levels(tuple(levels))
    if values.dtype == dtype:  # already cast (a prepared or freshly built feature frame)
        return pd.Categorical(values)
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("string")  # numbers or mixed objects: compare as text
    text = values.to_numpy(dtype=object, na_value=None)
    if len(text) <= 10_000:  # a dict look-up beats building a hash index for a request
        codes = np.fromiter((code.get(v, -1) for v in text), dtype=np.int64, count=len(text))
    else:
        codes = dtype.categories.get_indexer(text)
    return pd.Categorical.from_codes(codes, dtype=dtype)


@dataclass
class ChurnModel:
    name: str
    candidate: Any
    calibrator: Calibrator
    feature_names: list[str]
    categories: dict[str, list[str]]
    builders: list[str]
    horizon_days: int
    activity_lookback_days: int
    info: dict[str, Any] = field(default_factory=dict)
    # lifetime value (modeling.clv.ValueModel) and time to churn (modeling.hazard.HazardModel),
    # None when not fitted (scoring then falls back to trailing spend / leaves survival empty)
    value_model: Any = None
    hazard: Any = None

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Check ``X`` against the training columns and cast it to the training dtypes.

        Missing columns are refused (listing them); extra columns are ignored; category
        levels never seen in training become missing values, which the trees handle.
        """
        numeric, block = self._numeric_block(X)
        columns: dict[str, Any] = dict(zip(numeric, block.T, strict=True))
        for col, levels in self.categories.items():
            columns[col] = _to_categorical(X[col], levels)
        return pd.DataFrame({c: columns[c] for c in self.feature_names}, index=X.index, copy=False)

    def _numeric_block(self, X: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """The checked numeric features of ``X`` as one float64 block (rows x columns)."""
        if len(X) == 0:
            raise ModelInputError("the feature frame has no rows: there is no customer to score.")
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            extra = [c for c in X.columns if c not in self.feature_names and c != "churned"]
            raise ModelInputError(
                f"the feature frame lacks {len(missing)} column(s) the model was trained on: "
                f"{', '.join(missing)}" + (f"; it has unknown column(s): {', '.join(map(str, extra))}"
                                          if extra else "")
                + ". Build features with the same builders as training "
                  f"({', '.join(self.builders)}) and the same tables.")
        # Whole-frame casts, not column by column: on a REST request of 1-100 rows the
        # per-column pandas calls were most of the cost (see README, Performance).
        numeric = [c for c in self.feature_names if c not in self.categories]
        sub = X[numeric]
        if not all(pd.api.types.is_numeric_dtype(t) for t in sub.dtypes):
            sub = sub.assign(**{c: _to_number(sub[c], c) for c in numeric
                                if not pd.api.types.is_numeric_dtype(sub[c].dtype)})
        return numeric, sub.to_numpy(dtype="float64", na_value=np.nan)

    def design(self, X: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """What the champion predicts from: :meth:`prepare`'s frame, or for LightGBM the
        float64 matrix LightGBM itself makes of that frame (category codes, NaN for missing
        or unseen levels), built straight from ``X``. Same checks and errors as
        :meth:`prepare`; building the prepared frame and reading it back column by column
        was most of a small request's time (see README, Serving)."""
        levels = getattr(getattr(self.candidate, "booster_", None), "pandas_categorical", None)
        cats = [c for c in self.feature_names if c in self.categories]
        if not hasattr(self.candidate, "booster_") or len(levels or []) != len(cats) or any(
                list(lv) != list(self.categories[c]) for c, lv in zip(cats, levels or [], strict=True)):
            return self.prepare(X)
        numeric, block = self._numeric_block(X)
        m = np.empty((len(X), len(self.feature_names)), dtype=np.float64)
        position = {c: j for j, c in enumerate(self.feature_names)}
        m[:, [position[c] for c in numeric]] = block
        for c in cats:
            codes = _to_categorical(X[c], self.categories[c]).codes
            m[:, position[c]] = np.where(codes < 0, np.nan, codes)
        return m

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.candidate.raw_score(self.design(X)), dtype=float)

    def policy(self) -> Policy:
        """The decision rules fixed at training (threshold, offer economics, states)."""
        from churnmodel.decisions import Policy

        return Policy.from_info(self.info, self.horizon_days)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churn in the horizon for each row of ``X``."""
        return self.calibrator.predict(self.raw_score(X))

    def survival(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """``p_active_{30,60,90,180}d``, ``median_days_to_churn`` and ``time_to_churn`` per
        row of ``X`` (same index), or None without a time-to-churn model."""
        hazard = getattr(self, "hazard", None)  # models saved before the field existed
        if hazard is None:
            return None
        from churnmodel.modeling.hazard import survival_columns

        cols = survival_columns(hazard.survival(self.prepare(X)))
        cols.index = X.index
        return cols

    def features(self, tables: Tables, as_of: pd.Timestamp | str) -> pd.DataFrame:
        """The feature frame of every customer active at ``as_of`` (index ``customer_id``)."""
        as_of = pd.Timestamp(as_of).normalize()
        frame = cutoff_frame(tables.until(as_of), as_of, self.builders, self.horizon_days,
                             self.activity_lookback_days, with_labels=False)
        return frame.droplevel("cutoff")

    def score(self, tables: Tables, as_of: pd.Timestamp | str) -> pd.DataFrame:
        """One row per customer active at ``as_of``: ``customer_id, churn_probability``."""
        X = self.features(tables, as_of)
        return pd.DataFrame({"customer_id": X.index.to_numpy(),
                             "churn_probability": self.predict_proba(X)})

    # --- persistence -----------------------------------------------------------------
    def save(self, directory: str | Path, metrics: dict | None = None) -> list[Path]:
        """Write the model, its metadata and metrics into ``directory`` (each file atomically)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        written = [atomic_write(d / MODEL_FILE, lambda p: joblib.dump(self, p))]
        meta = {k: v for k, v in self.info.items()}
        meta.update(name=self.name, feature_names=self.feature_names, categories=self.categories,
                    builders=self.builders, horizon_days=self.horizon_days,
                    activity_lookback_days=self.activity_lookback_days)
        written.append(atomic_write(d / "metadata.json",
                               lambda p: p.write_text(json.dumps(meta, indent=2, default=str))))
        if metrics is not None:
            written.append(atomic_write(d / "metrics.json",
                                   lambda p: p.write_text(json.dumps(metrics, indent=2))))
        booster = getattr(self.candidate, "booster_", None)
        if booster is not None:
            written.append(atomic_write(d / "lightgbm.txt", lambda p: booster.save_model(str(p))))
        return written

    @staticmethod
    def load(directory: str | Path) -> ChurnModel:
        from churnmodel.errors import ChurnModelError

        path = Path(directory) / MODEL_FILE
        if not path.exists():
            raise ChurnModelError(f"no trained model at {str(path)!r}. Run `churnmodel train` "
                                  "(or `make train`) first, or pass --model DIR.")
        try:
            model = joblib.load(path)
        except Exception as exc:  # unpickling raises anything: a damaged or foreign file
            raise ChurnModelError(f"cannot read the model file {str(path)!r} ({type(exc).__name__}: "
                                  f"{exc}); it looks truncated or corrupt, or was written by an "
                                  "incompatible version. Retrain with `churnmodel train`.") from None
        if not isinstance(model, ChurnModel):
            raise ChurnModelError(f"{str(path)!r} does not hold a churnmodel ChurnModel.")
        return model
