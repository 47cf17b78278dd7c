"""Why a customer is at risk: SHAP contributions, global importance, per-customer drivers.

Contributions are on the model's raw (log-odds) scale, before calibration. The sigmoid
calibration is monotone, so a feature that pushes the raw score up pushes the churn
probability up too. For LightGBM they are TreeSHAP values from LightGBM's own
``pred_contrib`` (identical to ``shap.TreeExplainer``, much faster); for the logistic
baseline they are exact linear SHAP values. The recency and BG/NBD rules have nothing
to explain per feature: :func:`explain` returns ``None`` for them.

Explaining costs far more than predicting, so callers explain only the customers who
need it (those flagged at risk, or a requested list).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnmodel.features import catalog
from churnmodel.modeling.model import ChurnModel


@dataclass
class Explanation:
    values: pd.DataFrame  # one column per feature, rows = customers (same index as data)
    base_value: np.ndarray  # expected raw score, per row
    data: pd.DataFrame  # the feature values explained

    @property
    def feature_names(self) -> list[str]:
        return list(self.values.columns)


def explain(model: ChurnModel, X: pd.DataFrame) -> Explanation | None:
    """SHAP values of ``model`` for the rows of ``X`` (``None`` if the champion has none)."""
    fn = getattr(model.candidate, "contributions", None)
    if fn is None:
        return None
    Xp = model.prepare(X)
    contrib = np.asarray(fn(Xp), dtype=float)
    values = pd.DataFrame(contrib[:, :-1], index=X.index, columns=model.feature_names)
    return Explanation(values, contrib[:, -1], X[model.feature_names])


def global_importance(expl: Explanation) -> pd.DataFrame:
    """Features ranked by mean |SHAP|, with their share of the total and their label."""
    imp = expl.values.abs().mean().sort_values(ascending=False)
    total = imp.sum()
    return pd.DataFrame({
        "feature": imp.index,
        "mean_abs_shap": imp.to_numpy(),
        "share": (imp / total).to_numpy() if total > 0 else np.zeros(len(imp)),
        "label": [catalog.label(f) for f in imp.index],
    }).reset_index(drop=True)


def driver_columns(n: int) -> list[str]:
    return [f"driver_{k}_{part}" for k in range(1, n + 1)
            for part in ("feature", "value", "contribution", "sentence")]


def drivers(expl: Explanation, n: int = 3) -> pd.DataFrame:
    """The top ``n`` features pushing each customer's risk *up*, with a plain sentence.

    Returns one row per explained customer (same index) and the columns
    ``driver_{k}_feature, driver_{k}_value, driver_{k}_contribution, driver_{k}_sentence``
    for k = 1..n. A customer with fewer than n positive contributions has the rest empty.
    Values are rendered as text so numbers and categories share one column.
    """
    vals = expl.values.to_numpy()
    names = np.asarray(expl.feature_names, dtype=object)
    n_eff = min(n, vals.shape[1])
    order = np.argsort(-vals, axis=1, kind="stable")[:, :n_eff]
    top = np.take_along_axis(vals, order, axis=1)
    data = expl.data
    records = data.to_dict("records")
    out: dict[str, list] = {c: [] for c in driver_columns(n)}
    for i, rec in enumerate(records):
        for k in range(n):
            pre = f"driver_{k + 1}_"
            if k < n_eff and top[i, k] > 0:
                f = names[order[i, k]]
                v = rec[f]
                out[pre + "feature"].append(f)
                out[pre + "value"].append(None if _missing(v) else _text(v))
                out[pre + "contribution"].append(float(top[i, k]))
                out[pre + "sentence"].append(catalog.sentence(f, v, rec))
            else:
                for part in ("feature", "value", "sentence"):
                    out[pre + part].append(None)
                out[pre + "contribution"].append(np.nan)
    frame = pd.DataFrame(out, index=data.index)
    for c in frame.columns:
        if not c.endswith("contribution"):
            frame[c] = frame[c].astype("string")
    return frame


def _missing(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _text(v: object) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):g}"
    return str(v)
