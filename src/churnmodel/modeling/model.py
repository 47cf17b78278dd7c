"""The trained churn model: features in, calibrated churn probability out.

:class:`ChurnModel` bundles everything scoring needs so that scoring equals training: the
feature builders and label settings, the expected feature columns and category levels,
the champion candidate and its calibrator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from churnmodel.data.tables import Tables
from churnmodel.errors import ModelInputError
from churnmodel.files import atomic_write
from churnmodel.modeling.calibration import Calibrator
from churnmodel.training_set import cutoff_frame

MODEL_FILE = "model.joblib"


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

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Check ``X`` against the training columns and cast it to the training dtypes.

        Missing columns are refused (listing them); extra columns are ignored; category
        levels never seen in training become missing values, which the trees handle.
        """
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
        out = X[self.feature_names].copy()
        for col in self.feature_names:
            if col in self.categories:
                # levels never seen in training become missing (the trees route them as NaN)
                vals = out[col].astype("string")
                vals = vals.where(vals.isin(self.categories[col]))
                out[col] = pd.Categorical(vals.to_numpy(dtype=object, na_value=None),
                                          categories=self.categories[col])
            elif not pd.api.types.is_numeric_dtype(out[col]):
                conv = pd.to_numeric(out[col], errors="coerce")
                bad = conv.isna() & out[col].notna()
                if bad.any():
                    raise ModelInputError(
                        f"feature column '{col}' must be numeric; {int(bad.sum())} value(s) are "
                        f"not, e.g. {out[col][bad].iloc[0]!r}.")
                out[col] = conv.astype("float64")
            else:
                out[col] = out[col].astype("float64")
        return out

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.candidate.raw_score(self.prepare(X)), dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churn in the horizon for each row of ``X``."""
        return self.calibrator.predict(self.raw_score(X))

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
