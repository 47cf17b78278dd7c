"""Why a customer is at risk: SHAP contributions, global importance, per-customer drivers.

Contributions are on the model's raw (log-odds) scale, before calibration. The sigmoid
calibration is monotone, so a feature that pushes the raw score up pushes the churn
probability up too. For LightGBM they are TreeSHAP values from LightGBM's own
``pred_contrib`` (identical to ``shap.TreeExplainer``, much faster); for the logistic
baseline they are exact linear SHAP values. The recency and BG/NBD rules have nothing
to explain per feature: :func:`explain` returns ``None`` for them.

Explaining costs far more than predicting, so callers explain only the customers who
need it (those flagged at risk, or a requested list). Scoring calls this module, never
the other way round: the probability, band and flag shown beside an explanation come from
:mod:`churnmodel.risk`, the layer both share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnmodel.data.tables import Tables
from churnmodel.errors import ChurnModelError
from churnmodel.features import catalog
from churnmodel.modeling.model import ChurnModel
from churnmodel.risk import risk_frame


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
    contrib = np.asarray(fn(model.design(X)), dtype=float)
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


# What a customer's explanation says when no feature moves their risk at all.
NO_DRIVER = ("No feature moves this customer's risk: the model gives every customer about the "
             "same probability (it learnt nothing from these data).")


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
        flat = not (vals[i] != 0).any()
        for k in range(n):
            pre = f"driver_{k + 1}_"
            if flat and k == 0:  # nothing to name, but never silence for a flagged customer
                for part in ("feature", "value"):
                    out[pre + part].append(None)
                out[pre + "contribution"].append(0.0)
                out[pre + "sentence"].append(NO_DRIVER)
            elif k < n_eff and top[i, k] > 0:
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


def explain_customers(model: ChurnModel, tables: Tables, as_of: pd.Timestamp | str,
                      customer_ids: Sequence[object], n: int = 3) -> pd.DataFrame:
    """Why these customers have the risk they have at ``as_of``, in both directions.

    Unlike batch scoring, which explains only the customers at risk, this explains any
    active customer: the ``n`` features pushing the risk up most and the ``n`` holding it
    down most. One row per customer and factor: ``customer_id, churn_probability,
    risk_band, at_risk, direction`` (``up`` / ``down``), ``rank, feature, value,
    contribution`` (SHAP, log-odds) and ``sentence``. Ids may be given as text (from the
    command line); a customer not active at ``as_of`` is an error naming them.
    """
    from churnmodel.features import build_features
    from churnmodel.labels import active_customers

    as_of = pd.Timestamp(as_of).normalize()
    known = tables.until(as_of)
    population = active_customers(known, as_of, model.activity_lookback_days)
    ids = _as_ids(customer_ids, population)
    absent = [i for i in ids if i not in population]
    if absent:
        shown = ", ".join(map(str, absent[:10])) + (" ..." if len(absent) > 10 else "")
        raise ChurnModelError(
            f"{len(absent)} customer(s) not active at {as_of.date()}: {shown}. Only customers with "
            f"a purchase in the {model.activity_lookback_days} days up to the date are scored; "
            "check the ids, or pick another --as-of.")
    X = build_features(known, as_of, pd.Index(ids, name="customer_id"), model.builders)
    expl = explain(model, X)
    if expl is None:
        raise ChurnModelError(f"the champion ({model.name}) is a rule without per-feature "
                              "contributions: nothing to explain per customer.")
    # probability, band and at-risk flag exactly as batch scoring and REST give them
    scored = risk_frame(model, X)
    records = expl.data.to_dict("records")
    names = np.asarray(expl.feature_names, dtype=object)
    rows = []
    for i, cid in enumerate(X.index):
        vals = expl.values.iloc[i].to_numpy()
        if not (vals != 0).any():  # a model without splits: say so rather than print nothing
            rows.append({"customer_id": cid,
                         "churn_probability": float(scored["churn_probability"].iloc[i]),
                         "risk_band": str(scored["risk_band"].iloc[i]),
                         "at_risk": bool(scored["at_risk"].iloc[i]),
                         "direction": "none", "rank": 0, "feature": None, "value": None,
                         "contribution": 0.0, "sentence": NO_DRIVER})
            continue
        order = np.argsort(-vals, kind="stable")
        for direction, picks in (("up", [j for j in order if vals[j] > 0][:n]),
                                 ("down", [j for j in order[::-1] if vals[j] < 0][:n])):
            for rank, j in enumerate(picks, start=1):
                f, v = names[j], records[i][names[j]]
                rows.append({"customer_id": cid,
                             "churn_probability": float(scored["churn_probability"].iloc[i]),
                             "risk_band": str(scored["risk_band"].iloc[i]),
                             "at_risk": bool(scored["at_risk"].iloc[i]),
                             "direction": direction, "rank": rank, "feature": f,
                             "value": None if _missing(v) else _text(v),
                             "contribution": float(vals[j]),
                             "sentence": _for_direction(catalog.sentence(f, v, records[i]),
                                                        direction)})
    return pd.DataFrame(rows, columns=["customer_id", "churn_probability", "risk_band", "at_risk",
                                       "direction", "rank", "feature", "value", "contribution",
                                       "sentence"])


def _for_direction(sentence: str, direction: str) -> str:
    """Sentences describe values ("Only 2 purchases ..."); holding risk down, 'only' misleads."""
    if direction == "down" and sentence.startswith("Only "):
        return sentence[5].upper() + sentence[6:]
    return sentence


def _as_ids(given: Sequence[object], population: pd.Index) -> list[object]:
    """Ids in the population's dtype (integers when the data's ids are integers)."""
    if not pd.api.types.is_integer_dtype(population.dtype):
        return [str(i) for i in given]
    out: list[object] = []
    for i in given:
        try:
            out.append(int(str(i).strip()))
        except ValueError:
            raise ChurnModelError(f"customer id {str(i)!r} is not a whole number; the customer "
                                  "ids in this data are integers.") from None
    return out
