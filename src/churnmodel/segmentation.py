"""Who the customers are: RFM segments, behavioural clusters, NPS groups, risk x value.

Every function takes a feature frame at one cutoff (one row per customer, index
``customer_id``, the columns of the feature builders; a ``(cutoff, customer_id)`` frame
from :func:`churnmodel.training_set.cutoff_frame` with a single cutoff is accepted too)
and returns per-customer columns or a summary. Nothing is read, written or printed.
:func:`segment_overview` sums a segment table per segment; :func:`segment_metrics` measures
the model's ranking within each segment at a labelled cutoff (where it is weak). Running
all of it on the customers active at a date, with the model's scores, is
:func:`churnmodel.scoring.customer_segments`.

RFM segments
------------
Recency, frequency and monetary value are scored 1-5 by quintile (:func:`rfm_scores`);
``fm_score`` is the mean of the F and M scores rounded half up, and the segment follows
from R x FM by :data:`RFM_SEGMENTS`, the usual RFM segmentation map. Its rules do not
overlap (first match wins all the same), so the 5 x 5 grid reads::

    R \\ FM   1               2                   3                   4            5
    5        New             Potential Loyalist  Potential Loyalist  Champions    Champions
    4        Promising       Potential Loyalist  Potential Loyalist  Champions    Champions
    3        About to Sleep  About to Sleep      Need Attention      Loyal        Loyal
    2        Hibernating     Hibernating         At Risk             At Risk      Can't Lose Them
    1        Lost            Lost                At Risk             At Risk      Can't Lose Them

Risk x value actions
--------------------
:func:`risk_value_matrix` crosses the model's risk band with a value band. With a model,
the action of each customer is the one :mod:`churnmodel.decisions` gave it when scoring
(from risk, value and state together: *retain now*, *nurture*, *monitor*, *win back*,
*let go*), so the matrix, the score file and the report count the same customers. Without
decisions (probabilities only) the action is read from :data:`ACTION_TABLE`::

    risk \\ value   low        medium       high
    high           let go     retain now   retain now
    medium         monitor    nurture      retain now
    low            monitor    nurture      nurture

*retain now*: a retention offer worth its cost; *nurture*: engagement and loyalty care for
customers worth growing; *monitor*: no action, watch the score; *let go*: no paid offer
(at most a low-cost automated message), the expected saving does not cover one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from churnmodel.config import SegmentConfig
from churnmodel.decisions import ACTIONS as DECISION_ACTIONS
from churnmodel.errors import ConfigError, DataError, nearest
from churnmodel.features.satisfaction import NPS_GROUPS, nps_group
from churnmodel.threads import one_thread

if TYPE_CHECKING:
    from churnmodel.data.tables import Tables
    from churnmodel.modeling.model import ChurnModel

TABLE = "features"
MIN_SEGMENT_CUSTOMERS = 20  # fewer test customers than this: no per-segment AUC (too noisy to read)


class RfmRule(NamedTuple):
    """Customers whose ``r_score`` and ``fm_score`` lie in the inclusive ranges ``r``, ``fm``."""

    segment: str
    r: tuple[int, int]
    fm: tuple[int, int]


#: The score-to-segment table, evaluated in order (first match); see the module docstring.
RFM_SEGMENTS: tuple[RfmRule, ...] = (
    RfmRule("Champions", (4, 5), (4, 5)),
    RfmRule("Loyal", (3, 3), (4, 5)),
    RfmRule("Potential Loyalist", (4, 5), (2, 3)),
    RfmRule("New", (5, 5), (1, 1)),
    RfmRule("Promising", (4, 4), (1, 1)),
    RfmRule("Need Attention", (3, 3), (3, 3)),
    RfmRule("About to Sleep", (3, 3), (1, 2)),
    RfmRule("At Risk", (1, 2), (3, 4)),
    RfmRule("Can't Lose Them", (1, 2), (5, 5)),
    RfmRule("Hibernating", (2, 2), (1, 2)),
    RfmRule("Lost", (1, 1), (1, 2)),
)
SEGMENT_NAMES: tuple[str, ...] = tuple(rule.segment for rule in RFM_SEGMENTS)
RFM_COLUMNS = ("recency_days", "frequency", "monetary_total")

#: Behaviour and satisfaction columns clustered by default (those present in the frame).
CLUSTER_COLUMNS = (
    "recency_days", "frequency", "monetary_total", "monetary_mean", "purchases_per_30d",
    "trend_90d", "gap_mean_days", "tenure_days", "csat_mean", "nps_mean", "tickets_365d",
    "complaints_365d", "resolution_hours_mean",
)

#: Features every cluster profile shows (their median) even when they were not clustered on.
PROFILE_EXTRA_COLUMNS = ("csat_mean", "nps_mean")

# Words for a cluster whose median lies below / above the overall median on a column.
_WORDS: dict[str, tuple[str, str]] = {
    "recency_days": ("recent", "lapsed"),
    "frequency": ("infrequent", "frequent"),
    "monetary_total": ("low spend", "high spend"),
    "monetary_mean": ("small baskets", "big baskets"),
    "purchases_per_30d": ("slow pace", "fast pace"),
    "trend_90d": ("slowing down", "speeding up"),
    "gap_mean_days": ("short gaps", "long gaps"),
    "tenure_days": ("new", "long-standing"),
    "refund_count": ("few refunds", "many refunds"),
    "csat_mean": ("low CSAT", "high CSAT"),
    "nps_mean": ("low NPS", "high NPS"),
    "tickets_365d": ("few tickets", "many tickets"),
    "complaints_365d": ("few complaints", "complaining"),
    "resolution_hours_mean": ("fast support", "slow support"),
}
_MIN_DISTINCT = 0.25  # a cluster differs on a column from 0.25 standard deviations

NO_ANSWER = "no answer"
NPS_GROUP_LEVELS: tuple[str, ...] = (*NPS_GROUPS, NO_ANSWER)

BANDS: tuple[str, ...] = ("low", "medium", "high")
ACTIONS: tuple[str, ...] = DECISION_ACTIONS
#: (risk band, value band) -> action without decisions; see the module docstring.
ACTION_TABLE: dict[tuple[str, str], str] = {
    ("high", "high"): "retain now", ("high", "medium"): "retain now", ("high", "low"): "let go",
    ("medium", "high"): "retain now", ("medium", "medium"): "nurture", ("medium", "low"): "monitor",
    ("low", "high"): "nurture", ("low", "medium"): "nurture", ("low", "low"): "monitor",
}


# ----------------------------------------------------------------------------------- RFM

def segment_of(r_score: int, fm_score: int) -> str:
    """The RFM segment of one (R, FM) cell: the first rule of :data:`RFM_SEGMENTS` that holds.

    >>> segment_of(5, 1), segment_of(2, 5)
    ('New', "Can't Lose Them")
    """
    for rule in RFM_SEGMENTS:
        if rule.r[0] <= r_score <= rule.r[1] and rule.fm[0] <= fm_score <= rule.fm[1]:
            return rule.segment
    raise ValueError(f"RFM scores must be whole numbers 1-5, got R={r_score}, FM={fm_score}.")


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """R, F and M quintile scores, the FM score, the ``"545"`` code and the named segment.

    Input: one row per customer with ``recency_days, frequency, monetary_total`` (the rfm
    builder). Output, same index and order: ``r_score, f_score, m_score, fm_score`` (ints
    1-5), ``rfm_score`` (string R, F, M digits) and ``rfm_segment`` (categorical in the
    order of :data:`RFM_SEGMENTS`).

    Scores are quintiles *among the rows given*: the row of rank ``i`` (1 = worst) among
    ``n`` scores ``1 + floor(5 (i - 1/2) / n)``, i.e. the quintile its rank midpoint falls
    in. Fewer days since the last purchase is better. Ties are ranked by ``customer_id``
    (``rank(method="first")`` on the frame sorted by id): the smaller id gets the lower
    score, so equal values may straddle a quintile edge but the result never depends on
    row order. With ``n`` a multiple of 5 the five scores are equally frequent; with fewer
    than 5 rows scores still range over 1-5 with gaps (one row scores 3; two score 2 and
    4). A missing value (no purchase: no recency) scores 1 and the others are ranked
    among themselves. ``fm_score = ceil((f_score + m_score) / 2)``.

    >>> f = pd.DataFrame({"recency_days": [3.0, 40.0, 200.0], "frequency": [9.0, 4.0, 1.0],
    ...                   "monetary_total": [500.0, 80.0, 20.0]}, index=[11, 12, 13])
    >>> rfm_scores(f)[["rfm_score", "rfm_segment"]].values.tolist()
    [['555', 'Champions'], ['333', 'Need Attention'], ['111', 'Lost']]
    """
    feats = _per_customer(features)
    _require(feats, RFM_COLUMNS, "build the features with the 'rfm' builder")
    r = _quintile(feats["recency_days"], higher_is_better=False)
    f = _quintile(feats["frequency"])
    m = _quintile(feats["monetary_total"])
    fm = (f + m + 1) // 2
    out = pd.DataFrame({"r_score": r, "f_score": f, "m_score": m, "fm_score": fm}, index=feats.index)
    out["rfm_score"] = r.astype(str) + f.astype(str) + m.astype(str)
    out["rfm_segment"] = pd.Categorical(_segments(r.to_numpy(), fm.to_numpy()),
                                        categories=list(SEGMENT_NAMES))
    return out


def _quintile(x: pd.Series, higher_is_better: bool = True) -> pd.Series:
    v = x.astype("float64").sort_index(kind="stable")
    rank = (v if higher_is_better else -v).rank(method="first", na_option="keep")
    n = int(rank.notna().sum())
    score = (1 + np.floor(5 * (rank - 0.5) / max(n, 1))).fillna(1).astype("int64")
    return score.reindex(x.index).rename(None)


def _segments(r: np.ndarray, fm: np.ndarray) -> np.ndarray:
    grid = np.array([[segment_of(i, j) for j in range(1, 6)] for i in range(1, 6)], dtype=object)
    return grid[r - 1, fm - 1]


# ---------------------------------------------------------------------------- clustering

@dataclass(frozen=True)
class ClusterResult:
    """Behavioural clusters of :func:`behaviour_clusters`.

    ``labels``: cluster id per customer (0 = the largest cluster); ``k``: the number of
    clusters chosen; ``silhouette``: silhouette score of every k tried; ``profiles``: one
    row per cluster (``name, size, share``; the median of each of ``columns`` and of
    ``csat_mean``, ``nps_mean`` when present, under the feature's own name; ``churn_rate``
    and ``mean_probability``, the means of ``churned`` and ``churn_probability`` when the
    input has them); ``names``: cluster -> short name; ``columns``: the columns clustered.
    """

    labels: pd.Series
    k: int
    silhouette: dict[int, float]
    profiles: pd.DataFrame
    names: dict[int, str]
    columns: list[str]


def behaviour_clusters(features: pd.DataFrame, cfg: SegmentConfig | None = None,
                       columns: Sequence[str] | None = None) -> ClusterResult:
    """k-means clusters of customers on their purchase, satisfaction and service behaviour.

    ``columns`` defaults to those of :data:`CLUSTER_COLUMNS` present in the frame; columns
    that are all missing or constant are left out. Preparation: a missing value is replaced
    by its column's median (e.g. the gap of a one-purchase customer, the CSAT of a customer
    who never answered: they sit at the centre of that axis and do not pull clusters);
    every column except the bounded scores (``csat_*``, ``nps_*`` but their counts,
    ``detractor_share``) is log-transformed by ``sign(x) log(1 + |x|)`` (``log1p`` for
    non-negative columns), then standardised.

    k is the value in ``[k_min, min(k_max, distinct rows - 1)]`` with the highest silhouette
    score (ties: the smaller k), measured on one seeded random sample of at most
    ``cfg.silhouette_sample`` customers; each k is fitted by ``KMeans(n_init=10,
    random_state=cfg.seed)`` on all customers, sorted by ``customer_id`` so that row order
    does not matter. Clusters are renumbered by descending size (ties: the cluster holding
    the smaller customer id first).

    Names come from the (at most) two columns on which the cluster's median differs most
    from the overall median, in standard deviations of the prepared column (when the
    medians coincide, as for mostly-zero counts, the mean difference), each read through a
    small per-column vocabulary (``recency_days`` low -> "recent", ``frequency`` high ->
    "frequent", other columns "low x" / "high x"). Differences under 0.25 sd do not
    count: a cluster without any is "typical". Clashing names take a third word, then the
    cluster id.

    Raises :class:`DataError` with fewer than ``k_min + 1`` customers (or distinct
    customers) or no usable column.
    """
    cfg = cfg or SegmentConfig()
    given = _per_customer(features)
    feats = given.sort_index(kind="stable")
    cols = _cluster_columns(feats, columns)
    n = len(feats)
    if n < cfg.k_min + 1:
        raise DataError(TABLE, None, f"has {n} customers, too few for {cfg.k_min} clusters (at "
                        f"least {cfg.k_min + 1} are needed)",
                        "segment a larger population, or lower [segments] k_min (2 at the least)",
                        n_rows=n)
    raw = feats[cols].astype("float64")
    X = _prepare(raw)
    n_distinct = len(np.unique(X.round(12), axis=0))
    k_hi = min(cfg.k_max, n_distinct - 1)
    if k_hi < cfg.k_min:
        raise DataError(TABLE, None, f"has only {n_distinct} distinct customers on the columns "
                        f"{', '.join(cols)}, too few for {cfg.k_min} clusters",
                        "segment a larger population, add columns, or lower [segments] k_min")
    rng = np.random.default_rng(cfg.seed)
    sample = np.sort(rng.choice(n, size=min(n, max(cfg.silhouette_sample, 1)), replace=False))
    fits: dict[int, np.ndarray] = {}
    silhouette: dict[int, float] = {}
    # One thread: measured 8-15x faster than OpenMP threads on a loaded 2-core machine
    # (14,000 customers x k = 3..8 in ~2 s), and the result does not depend on the core count.
    with one_thread():
        for k in range(cfg.k_min, k_hi + 1):
            fits[k] = KMeans(n_clusters=k, n_init=10, random_state=cfg.seed).fit(X).labels_
            lab = fits[k][sample]
            ok = 2 <= len(np.unique(lab)) <= len(sample) - 1
            silhouette[k] = float(silhouette_score(X[sample], lab)) if ok else float("nan")
    scored = [k for k, s in silhouette.items() if not np.isnan(s)]
    best = max(scored, key=lambda k: (silhouette[k], -k)) if scored else cfg.k_min
    labels = _by_size(fits[best], best)
    names = _cluster_names(X, labels, best, cols)
    series = pd.Series(labels, index=feats.index, name="cluster")
    profiles = _profiles(feats, raw, series, best, names)
    return ClusterResult(labels=series.reindex(given.index), k=best,
                         silhouette=silhouette, profiles=profiles, names=names, columns=cols)


def _cluster_columns(feats: pd.DataFrame, columns: Sequence[str] | None) -> list[str]:
    present = [str(c) for c in feats.columns]
    if columns is None:
        wanted = [c for c in CLUSTER_COLUMNS if c in feats.columns]
    else:
        wanted = list(columns)
        for c in wanted:
            if c not in feats.columns:
                raise DataError(TABLE, c, f"is not a column of the feature frame.{nearest(c, present)}",
                                "cluster on columns the feature builders produced")
            if not (pd.api.types.is_numeric_dtype(feats[c]) and not pd.api.types.is_bool_dtype(feats[c])):
                raise DataError(TABLE, c, f"is not numeric ({feats[c].dtype})",
                                "cluster on numeric columns only")
    usable = [c for c in wanted if pd.api.types.is_numeric_dtype(feats[c])
              and feats[c].nunique(dropna=True) > 1]
    if not usable:
        raise DataError(TABLE, None, "has no usable column to cluster on (none of "
                        f"{', '.join(wanted or CLUSTER_COLUMNS)} is present with two distinct values)",
                        "build the rfm (and satisfaction / service) features first, or pass "
                        "columns=[...] naming numeric feature columns")
    return usable


def _is_score(col: str) -> bool:
    return col == "detractor_share" or (col.startswith(("csat_", "nps_")) and not col.endswith("_count"))


def _prepare(raw: pd.DataFrame) -> np.ndarray:
    filled = raw.fillna(raw.median())
    for c in filled.columns:
        if not _is_score(str(c)):
            filled[c] = np.sign(filled[c]) * np.log1p(filled[c].abs())
    return StandardScaler().fit_transform(filled.to_numpy())


def _by_size(labels: np.ndarray, k: int) -> np.ndarray:
    sizes = np.bincount(labels, minlength=k)
    first = np.full(k, len(labels))
    uniq, pos = np.unique(labels, return_index=True)
    first[uniq] = pos
    order = sorted(range(k), key=lambda c: (-sizes[c], first[c]))
    new_id = np.empty(k, dtype="int64")
    new_id[order] = np.arange(k)
    return new_id[labels]


def _cluster_names(X: np.ndarray, labels: np.ndarray, k: int, cols: list[str]) -> dict[int, str]:
    med_all, mean_all = np.median(X, axis=0), X.mean(axis=0)
    names: dict[int, str] = {}
    for c in range(k):
        Xc = X[labels == c]
        if not len(Xc):
            names[c] = f"cluster {c}"
            continue
        d_med, d_mean = np.median(Xc, axis=0) - med_all, Xc.mean(axis=0) - mean_all
        diff = np.where(np.abs(d_med) > 1e-9, d_med, d_mean)
        order = np.argsort(-np.abs(diff), kind="stable")
        words = [_word(cols[j], diff[j]) for j in order if abs(diff[j]) >= _MIN_DISTINCT]
        name = ", ".join(words[:2]) or "typical"
        if name in names.values() and len(words) > 2:
            name = ", ".join(words[:3])
        if name in names.values():
            name = f"{name} ({c})"
        names[c] = name
    return names


def _word(col: str, diff: float) -> str:
    low, high = _WORDS.get(col, (f"low {col.replace('_', ' ')}", f"high {col.replace('_', ' ')}"))
    return high if diff > 0 else low


def _profiles(feats: pd.DataFrame, raw: pd.DataFrame, labels: pd.Series, k: int,
              names: dict[int, str]) -> pd.DataFrame:
    idx = pd.RangeIndex(k, name="cluster")
    size = labels.value_counts().reindex(idx, fill_value=0)
    prof = pd.DataFrame({"name": [names[c] for c in idx], "size": size.to_numpy(),
                         "share": (size / len(labels)).to_numpy()}, index=idx)
    # satisfaction is shown even when it was not clustered on (e.g. constant): same median
    shown = list(raw.columns) + [c for c in PROFILE_EXTRA_COLUMNS if c in feats.columns and c not in raw]
    medians = feats[shown].astype("float64").groupby(labels).median().reindex(idx)
    prof = prof.join(medians)
    for out, col in {"churn_rate": "churned", "mean_probability": "churn_probability"}.items():
        if col in feats.columns:
            prof[out] = feats[col].astype("float64").groupby(labels).mean().reindex(idx)
    return prof


# ----------------------------------------------------------------------------------- NPS

def nps_groups(features: pd.DataFrame) -> pd.Series:
    """Detractor (0-6) / passive (7-8) / promoter (9-10) by the customer's last NPS answer.

    Reads ``nps_last`` (satisfaction builder); a frame holding only ``nps_mean`` is grouped
    by the mean answer instead, cut at 6.5 and 8.5 (a mean of 6.5 is a detractor). A
    customer who never answered is ``"no answer"``. Categorical in the order
    ``detractor, passive, promoter, no answer``.

    >>> nps_groups(pd.DataFrame({"nps_last": [6.0, 7.0, 9.0, None]})).tolist()
    ['detractor', 'passive', 'promoter', 'no answer']
    """
    feats = _per_customer(features)
    col = next((c for c in ("nps_last", "nps_mean") if c in feats.columns), None)
    if col is None:
        raise DataError(TABLE, "nps_last", "is missing (no NPS feature)",
                        "build the satisfaction features from a feedback table with an 'nps' column")
    score = feats[col].astype("float64")
    bad = score.notna() & ~score.between(0, 10)
    if bad.any():
        raise DataError(TABLE, col, "has NPS values outside 0-10", "check the feedback table's nps",
                        n_rows=int(bad.sum()), example=score[bad].iloc[0])
    grp = nps_group(score).cat.add_categories(NO_ANSWER).fillna(NO_ANSWER)
    return grp.rename("nps_group")


# ------------------------------------------------------------------------------ risk x value

def risk_value_matrix(churn_probability: pd.Series, value: pd.Series,
                      risk_edges: tuple[float, float] = (0.2, 0.5),
                      value_quantiles: tuple[float, float] = (0.5, 0.8),
                      decided: pd.DataFrame | None = None,
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Risk band x value band per customer, the action, and a summary.

    Value: low up to the 50 % quantile of ``value`` among these customers, medium up to the
    80 % quantile, high above (``value_quantiles``; customers tied on an edge take the lower
    band). ``value`` may cover more customers; only those in ``churn_probability`` count.

    With ``decided`` (the ``risk_band, state, at_risk, action`` columns that scoring gave
    these customers, :func:`churnmodel.risk.risk_frame`), the risk band and action are those,
    so the matrix counts what the score file says. Without it, risk is ``p < 0.2`` low,
    ``0.2 <= p < 0.5`` medium, ``p >= 0.5`` high (``risk_edges``) and the action comes from
    :data:`ACTION_TABLE`.

    Returns the per-customer frame (index of ``churn_probability``; ``risk_band,
    value_band, action`` and, with ``decided``, ``state, at_risk``) and the summary, one
    row per risk band, value band and action that holds customers, riskiest and most
    valuable first: ``risk_band, value_band, action, customers, total_value,
    expected_value_at_risk`` (the sum of ``p * value``).

    >>> p = pd.Series([0.1, 0.3, 0.9, 0.6], index=[1, 2, 3, 4])
    >>> v = pd.Series([10.0, 50.0, 5.0, 400.0], index=[1, 2, 3, 4])
    >>> risk_value_matrix(p, v)[0]["action"].tolist()
    ['monitor', 'nurture', 'let go', 'retain now']
    """
    _check_edges(value_quantiles, "value_quantiles")
    p, v = _aligned(churn_probability, value)
    qs = np.quantile(v.to_numpy(), value_quantiles) if len(v) else np.zeros(2)
    value_code = np.searchsorted(qs, v.to_numpy(), side="left")
    value_band = pd.Categorical.from_codes(value_code, categories=list(BANDS))
    if decided is None:
        _check_edges(risk_edges, "risk_edges")
        risk_code = np.searchsorted(np.asarray(risk_edges), p.to_numpy(), side="right")
        actions = np.array([[ACTION_TABLE[r, w] for w in BANDS] for r in BANDS], dtype=object)
        per = pd.DataFrame({
            "risk_band": pd.Categorical.from_codes(risk_code, categories=list(BANDS)),
            "value_band": value_band,
            "action": pd.Categorical(actions[risk_code, value_code], categories=list(ACTIONS)),
        }, index=p.index)
    else:
        d = decided.reindex(p.index)
        if d["action"].isna().any():
            raise DataError(TABLE, "action", "is missing for customers that have a churn "
                            "probability", "pass the decisions scoring gave every customer",
                            n_rows=int(d["action"].isna().sum()))
        per = pd.DataFrame({"risk_band": d["risk_band"], "value_band": value_band,
                            "action": d["action"], "state": d["state"],
                            "at_risk": d["at_risk"].astype(bool)}, index=p.index)
    cells = per.assign(customers=1, total_value=v, expected_value_at_risk=p * v)
    summary = (cells.groupby(["risk_band", "value_band", "action"], observed=True, sort=True)
               [["customers", "total_value", "expected_value_at_risk"]].sum().reset_index())
    summary = summary.sort_values(["risk_band", "value_band", "action"],
                                  ascending=[False, False, True], kind="stable")
    summary["customers"] = summary["customers"].astype("int64")
    return per, summary.reset_index(drop=True)


def _check_edges(edges: Sequence[float], name: str) -> None:
    if len(edges) != 2 or not 0 < edges[0] < edges[1] < 1:
        raise ConfigError(f"{name} must be two increasing numbers in (0, 1) (three bands), "
                          f"got {tuple(edges)}.")


def _aligned(churn_probability: pd.Series, value: pd.Series) -> tuple[pd.Series, pd.Series]:
    p = churn_probability.astype("float64")
    if not p.index.is_unique:
        raise DataError("scores", "churn_probability", "has several rows for one customer",
                        "pass one probability per customer", n_rows=int(p.index.duplicated().sum()))
    bad = p.isna() | ~p.between(0, 1)
    if bad.any():
        raise DataError("scores", "churn_probability", "has values that are missing or outside [0, 1]",
                        "pass probabilities from the model", n_rows=int(bad.sum()), example=p[bad].iloc[0])
    if not value.index.is_unique:
        raise DataError("scores", "customer_value", "has several rows for one customer",
                        "pass one value per customer", n_rows=int(value.index.duplicated().sum()))
    v = value.astype("float64").reindex(p.index)
    if v.isna().any():
        raise DataError("scores", "customer_value", "is missing for customers that have a churn probability",
                        "pass a value for every scored customer (0 when they spent nothing)",
                        n_rows=int(v.isna().sum()), example=v.index[v.isna()][0])
    return p, v


# ---------------------------------------------------------------------------- one table

def segment_table(features: pd.DataFrame, churn_probability: pd.Series | None = None,
                  customer_value: pd.Series | None = None, cfg: SegmentConfig | None = None,
                  clusters: ClusterResult | None = None,
                  decided: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every segmentation of every customer, side by side (index ``customer_id``).

    Columns: those of :func:`rfm_scores`; ``cluster, cluster_name`` (:func:`behaviour_clusters`,
    or ``clusters`` when given, e.g. to keep its profiles); ``nps_group`` when the frame has
    NPS features; and with ``churn_probability``: ``churn_probability, customer_value,
    risk_band, value_band, action`` (:func:`risk_value_matrix`; with ``decided``, the
    scoring's ``risk_band, state, at_risk, action``). ``customer_value`` (what
    keeping each customer is worth, :func:`churnmodel.scoring.customer_value`) defaults to the spend of the
    last 365 days (``spend_365d``, else ``monetary_total``).
    """
    feats = _per_customer(features)
    out = rfm_scores(feats)
    clusters = clusters or behaviour_clusters(feats, cfg)
    cl = clusters.labels.reindex(feats.index)
    if cl.isna().any():
        raise DataError(TABLE, None, "has customers that the given clusters do not label",
                        "pass clusters=behaviour_clusters(features) of this same frame",
                        n_rows=int(cl.isna().sum()))
    out["cluster"] = cl.astype("int64")
    names = [clusters.names[c] for c in range(clusters.k)]
    out["cluster_name"] = pd.Categorical(out["cluster"].map(clusters.names), categories=names)
    if "nps_last" in feats.columns or "nps_mean" in feats.columns:
        out["nps_group"] = nps_groups(feats)
    if churn_probability is not None:
        p = _one_per_customer(churn_probability, feats.index, "churn_probability")
        v = (_default_value(feats) if customer_value is None
             else _one_per_customer(customer_value, feats.index, "customer_value"))
        per, _ = risk_value_matrix(p, v, decided=decided)
        out["churn_probability"] = p.astype("float64")
        out["customer_value"] = v.astype("float64")
        out = out.join(per)
    return out


def segment_summary(table: pd.DataFrame, by: str = "rfm_segment", churned: pd.Series | None = None,
                    probability: pd.Series | None = None) -> pd.DataFrame:
    """Customers, share, mean churn probability, observed churn rate and value per segment.

    ``table`` is a :func:`segment_table`; ``by`` one of its columns (every category of a
    categorical column gets a row, empty ones with 0 customers). ``probability`` defaults
    to the table's ``churn_probability``; ``churned`` (0/1 labels) adds ``churn_rate``;
    ``total_value`` sums the table's ``customer_value``. Grouping by ``cluster`` adds the
    cluster names.
    """
    if by not in table.columns:
        hint = nearest(by, [str(c) for c in table.columns])
        raise DataError("segment table", by, f"is not a column.{hint}",
                        "group by rfm_segment, cluster, nps_group, risk_band, value_band or action")
    df = pd.DataFrame({by: table[by], "_one": 1}, index=table.index)
    aggs: dict[str, tuple[str, str]] = {"customers": ("_one", "sum")}
    if probability is None and "churn_probability" in table.columns:
        probability = table["churn_probability"]
    if probability is not None:
        df["_p"] = _one_per_customer(probability, table.index, "churn_probability").astype("float64")
        aggs["mean_probability"] = ("_p", "mean")
    if churned is not None:
        df["_y"] = _one_per_customer(churned, table.index, "churned").astype("float64")
        aggs["churn_rate"] = ("_y", "mean")
    if "customer_value" in table.columns:
        df["_v"] = table["customer_value"].astype("float64")
        aggs["total_value"] = ("_v", "sum")
    out = df.groupby(by, observed=False, dropna=False, sort=True).agg(**aggs)
    out.insert(1, "share", out["customers"] / max(len(table), 1))
    if by == "cluster" and "cluster_name" in table.columns:
        names = table.groupby("cluster")["cluster_name"].first().astype(str)
        out.insert(0, "name", names.reindex(out.index))
    return out


def _default_value(feats: pd.DataFrame) -> pd.Series:
    for col in ("spend_365d", "monetary_total"):
        if col in feats.columns:
            return feats[col].fillna(0.0)
    raise DataError(TABLE, "spend_365d", "is missing, so there is no customer value for the risk x "
                    "value matrix", "pass customer_value=... (one number per customer) or build the rfm "
                    "features")


def _one_per_customer(s: pd.Series, index: pd.Index, what: str) -> pd.Series:
    s = _per_customer(s.to_frame(what))[what]
    out = s.reindex(index)
    if out.isna().any():
        raise DataError("scores", what, "is missing for customers of the segment table",
                        f"pass {what} for every customer", n_rows=int(out.isna().sum()),
                        example=index[out.isna()][0])
    return out


# ---------------------------------------------------------------------------- helpers

def _per_customer(features: pd.DataFrame) -> pd.DataFrame:
    """The frame indexed by customer only: a single ``cutoff`` level is dropped."""
    if isinstance(features.index, pd.MultiIndex):
        names = list(features.index.names)
        if "cutoff" not in names or features.index.get_level_values("cutoff").nunique() > 1:
            raise DataError(TABLE, None, f"is indexed by {names}, not by customer",
                            "segment one cutoff at a time: frame.xs(cutoff, level='cutoff')")
        features = features.droplevel("cutoff")
    if not features.index.is_unique:
        dup = features.index.duplicated()
        raise DataError(TABLE, "customer_id", "has several rows for one customer",
                        "pass one row per customer (one cutoff)", n_rows=int(dup.sum()),
                        example=features.index[dup][0])
    return features


def _require(feats: pd.DataFrame, columns: Sequence[str], fix: str) -> None:
    for c in columns:
        if c not in feats.columns:
            raise DataError(TABLE, c, "is missing", fix)


# ------------------------------------------------------------------ summaries and quality

def segment_overview(table: pd.DataFrame, by: str = "rfm_segment") -> pd.DataFrame:
    """:func:`segment_summary` plus expected value at risk per segment.

    ``expected_value_at_risk`` is the sum of probability x value (with a churn probability).
    """
    out = segment_summary(table, by)
    if "churn_probability" in table.columns and "customer_value" in table.columns:
        evr = (table["churn_probability"] * table["customer_value"]).groupby(table[by],
                                                                              observed=False).sum()
        out["expected_value_at_risk"] = evr.reindex(out.index).fillna(0.0)
    return out


def segment_metrics(model: ChurnModel, tables: Tables, cutoff: pd.Timestamp | str,
                    min_customers: int = MIN_SEGMENT_CUSTOMERS) -> pd.DataFrame:
    """How well the model ranks churners within each RFM segment and NPS group at ``cutoff``.

    The population, features and labels are those of training (active at ``cutoff``,
    labels from the ``horizon_days`` after it: :func:`~churnmodel.labels.churn_labels`), so
    with the test cutoff of ``metrics.json`` the "all customers" row repeats the test ROC
    AUC. ``tables`` must reach the end of the label window.

    Returns one row per group: ``grouping, segment, customers, churn_rate,
    mean_probability, roc_auc, note``. A segment whose customers all churned (or none did)
    has no AUC (the note says so), nor has one with fewer than ``min_customers``.
    """
    from sklearn.metrics import roc_auc_score

    from churnmodel.labels import churn_labels

    cutoff = pd.Timestamp(cutoff).normalize()
    X = model.features(tables, cutoff)
    y = churn_labels(tables, cutoff, X.index, model.horizon_days).astype("float64")
    p = pd.Series(model.predict_proba(X), index=X.index)
    groups: list[tuple[str, pd.Series]] = [("all customers", pd.Series("all", index=X.index))]
    groups.append(("RFM segment", rfm_scores(X)["rfm_segment"]))
    if "nps_last" in X.columns or "nps_mean" in X.columns:
        groups.append(("NPS group", nps_groups(X)))
    rows = []
    for grouping, seg in groups:
        levels = seg.cat.categories if isinstance(seg.dtype, pd.CategoricalDtype) else seg.unique()
        for level in levels:
            mask = (seg == level).to_numpy()
            n = int(mask.sum())
            if n == 0:
                continue
            yy, pp = y.to_numpy()[mask], p.to_numpy()[mask]
            auc, note = np.nan, ""
            if yy.min() == yy.max():
                note = f"one class only ({'all churned' if yy[0] else 'nobody churned'}): no AUC"
            elif n < min_customers:
                note = f"fewer than {min_customers} customers: no AUC"
            else:
                auc = float(roc_auc_score(yy, pp))
            rows.append({"grouping": grouping, "segment": str(level), "customers": n,
                         "churn_rate": float(yy.mean()), "mean_probability": float(pp.mean()),
                         "roc_auc": auc, "note": note})
    return pd.DataFrame(rows)
