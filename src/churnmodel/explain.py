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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.data.tables import Tables
from churnmodel.errors import ChurnModelError
from churnmodel.features import catalog
from churnmodel.modeling.model import ChurnModel
from churnmodel.risk import risk_frame
from churnmodel.threads import in_one_thread


@dataclass
class Explanation:
    values: pd.DataFrame  # one column per feature, rows = customers (same index as data)
    base_value: np.ndarray  # expected raw score, per row
    data: pd.DataFrame  # the feature values explained
    # the model's own sentences (snapshot mode: any column), else the catalogue's
    sentence: Callable[[str, Any, Any], str] | None = None

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
    return Explanation(values, contrib[:, -1], X[model.feature_names],
                       getattr(model, "sentence", None))


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


PARTS = ("feature", "value", "category", "contribution", "sentence")
_STRING = pd.StringDtype()  # resolved once: pandas looks a dtype name up on every array


def driver_columns(n: int, prefix: str = "driver") -> list[str]:
    """``{prefix}_{k}_{feature,value,category,contribution,sentence}`` for k = 1..n."""
    return [f"{prefix}_{k}_{part}" for k in range(1, n + 1) for part in PARTS]


def lever_columns(n: int) -> list[str]:
    return driver_columns(n, "lever")


def empty_columns(columns: Sequence[str], index: pd.Index) -> pd.DataFrame:
    """Empty driver / lever columns with their types (for rows nobody explained)."""
    return pd.DataFrame({c: np.full(len(index), np.nan) if c.endswith(("_contribution", "_value"))
                         else pd.array([pd.NA] * len(index), dtype=_STRING) for c in columns},
                        index=index)


# What a customer's explanation says when no feature moves their risk at all.
NO_DRIVER = ("No feature moves this customer's risk: the model gives every customer about the "
             "same probability (it learnt nothing from these data).")


class _Columns(dict[str, np.ndarray]):
    """The explained data's columns as arrays, each converted when first read.

    Categorical (and text) columns become object arrays of their levels, the others float
    arrays with NaN for missing: a REST request of one row reads only the few columns its
    sentences need, a batch converts each column once.
    """

    def __init__(self, data: pd.DataFrame) -> None:
        super().__init__()
        self.data = data
        self.names = tuple(str(c) for c in data.columns)
        self.known = frozenset(self.names)
        self.cats = {str(c) for c, t in data.dtypes.items()
                     if isinstance(t, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(t)}

    def __missing__(self, key: str) -> np.ndarray:
        s = self.data[key]
        arr = (s.astype(object).to_numpy() if key in self.cats
               else s.to_numpy(dtype=float, na_value=np.nan))
        self[key] = arr
        return arr


class _Row(Mapping[str, object]):
    """One customer's feature values, read from column arrays (no dict per row)."""

    __slots__ = ("_cols", "_i", "names")

    def __init__(self, cols: _Columns, i: int) -> None:
        self._cols, self.names, self._i = cols, cols.names, i

    def __getitem__(self, key: str) -> object:
        if key not in self._cols.known:
            raise KeyError(key)
        return self._cols[key][self._i]

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        return self._cols[key][self._i] if key in self._cols.known else default

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


Pick = tuple[int, str, str]  # (feature position, fact, sentence)
Phrase = Callable[[str, object, "_Row"], "tuple[str, str] | None"]


def _pick(row: _Row, order: Iterable[int], names: Sequence[str], n: int, phrase: Phrase,
          seen: set[str] | None = None) -> list[Pick]:
    """The first ``n`` of ``order`` stating distinct facts (and distinct sentences)."""
    picks: list[Pick] = []
    keys = set(seen or ())
    texts: set[str] = set()
    for j in order:
        f = names[j]
        said = phrase(f, row.get(f), row)
        if said is None or said[0] in keys or said[1] in texts:
            continue
        keys.add(said[0])
        texts.add(said[1])
        picks.append((int(j), said[0], said[1]))
        if len(picks) == n:
            break
    return picks


def _up(f: str, v: object, row: _Row) -> tuple[str, str]:
    return catalog.fact_and_sentence(f, v, row, "up")


def _down(f: str, v: object, row: _Row) -> tuple[str, str]:
    return catalog.fact_and_sentence(f, v, row, "down")


def _reasons(expl: Explanation, n: int, prefix: str, eligible: np.ndarray, phrase: Phrase,
             say_flat: bool) -> pd.DataFrame:
    """The top ``n`` positive contributions among ``eligible`` features, one per fact."""
    vals = expl.values.to_numpy(dtype=float)
    names = [str(c) for c in expl.feature_names]
    data = expl.data
    cols = _Columns(data)
    cats = cols.cats
    rows = len(data)
    masked = np.where(eligible[None, :] & (vals > 0), vals, 0.0)
    n_pos = (masked > 0).sum(axis=1)
    order = np.argsort(-masked, axis=1, kind="stable")
    flat = ~(vals != 0).any(axis=1) if say_flat else np.zeros(rows, dtype=bool)
    feat = np.full((rows, n), None, dtype=object)
    value = np.full((rows, n), np.nan)
    cat = np.full((rows, n), None, dtype=object)
    contrib = np.full((rows, n), np.nan)
    text = np.full((rows, n), None, dtype=object)
    for i in range(rows):
        if flat[i]:  # nothing to name, but never silence for a flagged customer
            contrib[i, 0], text[i, 0] = 0.0, NO_DRIVER
            continue
        if not n_pos[i]:
            continue
        row = _Row(cols, i)
        for k, (j, _, said) in enumerate(_pick(row, order[i, :n_pos[i]], names, n, phrase)):
            f = names[j]
            v = cols[f][i]
            feat[i, k], contrib[i, k], text[i, k] = f, vals[i, j], said
            if f in cats:
                cat[i, k] = None if _missing(v) else str(v)
            else:
                value[i, k] = v
    out: dict[str, object] = {}
    for k in range(n):
        pre = f"{prefix}_{k + 1}_"
        out[pre + "feature"] = pd.array(feat[:, k], dtype=_STRING)
        out[pre + "value"] = value[:, k]
        out[pre + "category"] = pd.array(cat[:, k], dtype=_STRING)
        out[pre + "contribution"] = contrib[:, k]
        out[pre + "sentence"] = pd.array(text[:, k], dtype=_STRING)
    return pd.DataFrame(out, index=data.index)


def drivers(expl: Explanation, n: int = 3) -> pd.DataFrame:
    """The top ``n`` reasons pushing each customer's risk *up*, one per fact, in sentences.

    Returns one row per explained customer (same index) and, for k = 1..n, the columns
    ``driver_{k}_feature`` (string), ``driver_{k}_value`` (float: the feature's value, NaN
    when missing or categorical), ``driver_{k}_category`` (string: a categorical feature's
    level, else empty), ``driver_{k}_contribution`` (SHAP, log-odds) and
    ``driver_{k}_sentence``. Reasons are the largest positive contributions of any kind;
    when two state the same fact (``n_90d`` and ``n_180d`` both 1, every CSAT column of a
    customer who never answered) the stronger one is kept and the next reason added, so no
    customer reads a fact, or a sentence, twice. A customer with fewer positive
    contributions has the rest empty.
    """
    eligible = np.ones(len(expl.feature_names), dtype=bool)
    own = expl.sentence
    if own is not None:  # the model phrases its own columns (snapshot mode): one fact each
        def phrase(f: str, v: object, row: _Row) -> tuple[str, str]:
            return f, own(f, v, row)

        return _reasons(expl, n, "driver", eligible, phrase, say_flat=True)
    return _reasons(expl, n, "driver", eligible, _up, say_flat=True)


def levers(expl: Explanation, n: int = 3) -> pd.DataFrame:
    """The top ``n`` *levers* raising each customer's risk: what a business can act on.

    Levers are the largest positive contributions among features of ``kind == "lever"``
    (satisfaction, service, complaints, refunds, price and value, engagement; see
    :mod:`churnmodel.features.catalog`) whose value is something to act on (a complaint,
    a low CSAT, an open ticket; not a missing answer or a zero count), one per fact,
    phrased with what to do ("Has 1 support ticket still open after 9 days — resolve
    it"). Columns as :func:`drivers` with the prefix ``lever_``; empty when no lever pushes
    the customer's risk up.
    """
    names = [str(c) for c in expl.feature_names]
    eligible = np.array([catalog.kind(f) == "lever" for f in names], dtype=bool)
    return _reasons(expl, n, "lever", eligible, _lever, say_flat=False)


def _lever(f: str, v: object, row: _Row) -> tuple[str, str] | None:
    return catalog.lever_sentence(f, v, row)


@in_one_thread
def explain_customers(model: ChurnModel, tables: Tables, as_of: pd.Timestamp | str,
                      customer_ids: Sequence[object], n: int = 3) -> pd.DataFrame:
    """Why these customers have the risk they have at ``as_of``, in both directions.

    Unlike batch scoring, which explains only the customers at risk, this explains any
    active customer: the ``n`` facts pushing the risk up most, the ``n`` holding it down
    most (a fact said once: see :func:`drivers`) and the ``n`` strongest levers (see
    :func:`levers`). One row per customer and factor: ``customer_id, churn_probability,
    risk_band, at_risk, direction`` (``up`` / ``down`` / ``lever``), ``rank, feature,
    value`` (float; NaN when missing or categorical), ``category`` (a categorical
    feature's level), ``contribution`` (SHAP, log-odds) and ``sentence``, worded for its
    direction. Ids may be given as text (from the
    command line); a customer not active at ``as_of`` is an error naming them.
    """
    from churnmodel.features import build_features
    from churnmodel.labels import active_customers

    as_of = pd.Timestamp(as_of).normalize()
    known = tables.until(as_of)
    population = active_customers(known, as_of, model.activity_lookback_days)
    ids = active_ids(customer_ids, population, as_of, model.activity_lookback_days)
    X = build_features(known, as_of, pd.Index(ids, name="customer_id"), model.builders)
    expl = explain(model, X)
    if expl is None:
        raise ChurnModelError(f"the champion ({model.name}) is a rule without per-feature "
                              "contributions: nothing to explain per customer.")
    # probability, band and at-risk flag exactly as batch scoring and REST give them
    scored = risk_frame(model, X)
    cols = _Columns(expl.data)
    cats = cols.cats
    names = [str(c) for c in expl.feature_names]
    is_lever = np.array([catalog.kind(f) == "lever" for f in names], dtype=bool)
    allv = expl.values.to_numpy(dtype=float)
    rows = []
    for i, cid in enumerate(X.index):
        head = {"customer_id": cid, "churn_probability": float(scored["churn_probability"].iloc[i]),
                "risk_band": str(scored["risk_band"].iloc[i]),
                "at_risk": bool(scored["at_risk"].iloc[i])}
        vals = allv[i]
        if not (vals != 0).any():  # a model without splits: say so rather than print nothing
            rows.append({**head, "direction": "none", "rank": 0, "feature": None,
                         "value": np.nan, "category": None, "contribution": 0.0,
                         "sentence": NO_DRIVER})
            continue
        row = _Row(cols, i)
        order = np.argsort(-vals, kind="stable")
        ups = [j for j in order if vals[j] > 0]
        up = _pick(row, ups, names, n, _up)
        # a fact raising the risk is not also said holding it down
        down = _pick(row, [j for j in order[::-1] if vals[j] < 0], names, n, _down,
                     seen={key for _, key, _ in up})
        lever = _pick(row, [j for j in ups if is_lever[j]], names, n, _lever)
        for direction, picks in (("up", up), ("down", down), ("lever", lever)):
            for rank, (j, _, said) in enumerate(picks, start=1):
                f = names[j]
                v = cols[f][i]
                rows.append({**head, "direction": direction, "rank": rank, "feature": f,
                             "value": np.nan if f in cats or _missing(v) else float(v),
                             "category": None if f not in cats or _missing(v) else str(v),
                             "contribution": float(vals[j]), "sentence": said})
    frame = pd.DataFrame(rows, columns=EXPLAIN_COLUMNS)
    return frame.astype({"feature": "string", "value": "float64", "category": "string",
                         "sentence": "string"})


EXPLAIN_COLUMNS = ["customer_id", "churn_probability", "risk_band", "at_risk", "direction", "rank",
                   "feature", "value", "category", "contribution", "sentence"]


def _missing(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def active_ids(given: Sequence[object], population: pd.Index, as_of: pd.Timestamp,
               lookback_days: int) -> list[object]:
    """``given`` in the population's dtype; an id not active at ``as_of`` is an error naming it."""
    ids = as_ids(given, population)
    absent = [i for i in ids if i not in population]
    if absent:
        shown = ", ".join(map(str, absent[:10])) + (" ..." if len(absent) > 10 else "")
        raise ChurnModelError(
            f"{len(absent)} customer(s) not active at {as_of.date()}: {shown}. Only customers with "
            f"a purchase in the {lookback_days} days up to the date are scored; "
            "check the ids, or pick another --as-of.")
    return ids


def as_ids(given: Sequence[object], population: pd.Index) -> list[object]:
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
