"""Confidence-based performance estimation (CBPE): metrics expected before labels arrive.

When the probabilities are calibrated, each customer's label is (in expectation) a coin
with their own probability: ``y_i ~ Bernoulli(p_i)``. Every metric then has an expected
value computable from ``p`` alone, as NannyML's CBPE does it, written here in a few lines:

* ROC AUC: the expected number of concordant (churner, stayer) pairs over the expected
  number of such pairs; a pair of customers tied in ``p`` counts one half, like
  :func:`sklearn.metrics.roc_auc_score`; a customer is never paired with themself.
* PR AUC (average precision as :func:`sklearn.metrics.average_precision_score`): at each
  distinct threshold, the expected gain in true positives times the precision reached,
  with the variance term of the customers tied at that threshold, over the expected
  number of churners.
* Brier: ``E[(p - y)^2] = p (1 - p)``; log loss: the entropy of ``p``; churn rate: mean p.
* Calibration by decile: the expected churn rate of a decile is its mean probability.

Each is a ratio of expectations, exact to ``O(1/n)``; :func:`roc_auc_sampling_sd` gives the
spread of the realised ROC AUC around it (the same ``y ~ Bernoulli(p)`` drawn many times).
The estimates are only as good as the calibration: a population that drifted away from
the one the calibrator saw shifts the realised metrics and not the estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

EPS = 1e-6  # probabilities are clipped like churnmodel.modeling.metrics.evaluate clips them


def _groups(p: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct value of ``p`` (in order): count, sum of p and sum of p (1 - p)."""
    values, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    a = np.bincount(inverse, weights=p, minlength=len(values))
    c = np.bincount(inverse, weights=p * (1 - p), minlength=len(values))
    if descending:
        return counts[::-1], a[::-1], c[::-1]
    return counts, a, c


def expected_roc_auc(p: np.ndarray) -> float:
    """ROC AUC expected when ``y ~ Bernoulli(p)`` (ties count one half, no self-pairs).

    >>> round(expected_roc_auc(np.array([0.1, 0.9])), 6)  # the only pair: 0.9 x 0.9 / 0.82
    0.987805
    >>> round(expected_roc_auc(np.full(4, 0.3)), 6)  # all tied: chance
    0.5
    """
    p = np.asarray(p, dtype=float)
    counts, a, c = _groups(p, descending=False)
    b = counts - a  # sum of (1 - p) per group
    below_b = np.cumsum(b) - b  # stayers' weight strictly below each group
    concordant = float(np.sum(a * below_b) + 0.5 * np.sum(a * b - c))
    pairs = float(a.sum() * b.sum() - c.sum())
    return concordant / pairs if pairs > 0 else float("nan")


def expected_average_precision(p: np.ndarray) -> float:
    """Average precision (PR AUC) expected when ``y ~ Bernoulli(p)``.

    >>> round(expected_average_precision(np.array([1.0, 0.0])), 6)  # a sure churner ranked first
    1.0
    """
    p = np.asarray(p, dtype=float)
    counts, a, c = _groups(p, descending=True)
    if a.sum() <= 0:
        return float("nan")
    before = np.cumsum(a) - a  # expected churners ranked above each group
    flagged = np.cumsum(counts)
    # E[dTP * TP] = E[dTP] E[TP before] + E[dTP^2], E[dTP^2] = Var + mean^2 = c + a^2
    return float(np.sum((a * before + a * a + c) / flagged) / a.sum())


def expected_brier(p: np.ndarray) -> float:
    """``E[(p - y)^2]`` when ``y ~ Bernoulli(p)``: the mean of ``p (1 - p)``.

    >>> expected_brier(np.array([0.5, 0.0]))
    0.125
    """
    p = np.asarray(p, dtype=float)
    return float(np.mean(p * (1 - p)))


def expected_log_loss(p: np.ndarray) -> float:
    """Log loss expected when ``y ~ Bernoulli(p)``: the mean entropy of ``p`` (nats)."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return float(-np.mean(p * np.log(p) + (1 - p) * np.log(1 - p)))


def roc_auc_sampling_sd(p: np.ndarray, draws: int = 200, seed: int = 0) -> float:
    """Standard deviation of the realised ROC AUC over ``draws`` samples ``y ~ Bernoulli(p)``
    (fewer above 100,000 customers, at least 20).

    How far the realised AUC may fall from :func:`expected_roc_auc` by chance alone, with a
    perfectly calibrated model (ranks with ties averaged: the same AUC as scikit-learn's).
    """
    p = np.asarray(p, dtype=float)
    n = len(p)
    if n < 2:
        return float("nan")
    draws = max(20, min(draws, 20_000_000 // n))  # 1M customers: 20 draws, about 2 s
    ranks = rankdata(p)
    rng = np.random.default_rng(seed)
    aucs = []
    chunk = max(1, min(50, 2_000_000 // n))  # about 2M draws at a time: 16 MB of floats
    for start in range(0, draws, chunk):
        y = rng.random((min(chunk, draws - start), n)) < p
        pos = y.sum(axis=1)
        ok = (pos > 0) & (pos < n)
        r = (y * ranks).sum(axis=1)
        auc = (r - pos * (pos + 1) / 2) / np.where(ok, pos * (n - pos), 1)
        aucs.append(auc[ok])
    all_aucs = np.concatenate(aucs)
    return float(all_aucs.std(ddof=1)) if len(all_aucs) > 1 else float("nan")


def estimate(p: np.ndarray, at_risk: np.ndarray | None = None) -> dict[str, float]:
    """Every expected metric of calibrated probabilities ``p`` (keys as ``metrics.evaluate``).

    With ``at_risk`` (a boolean flag per row): the expected precision and recall of the
    flagged list too (mean p among the flagged; their share of the expected churners).
    """
    p = np.asarray(p, dtype=float)
    out = {
        "roc_auc": expected_roc_auc(p),
        "pr_auc": expected_average_precision(p),
        "brier": expected_brier(p),
        "log_loss": expected_log_loss(p),
        "base_rate": float(p.mean()) if len(p) else float("nan"),
        "n": int(len(p)),
    }
    if at_risk is not None:
        flag = np.asarray(at_risk, dtype=bool)
        out["at_risk_precision"] = float(p[flag].mean()) if flag.any() else float("nan")
        out["at_risk_recall"] = float(p[flag].sum() / p.sum()) if p.sum() > 0 else float("nan")
    return out


def decile_table(p: np.ndarray, y: np.ndarray | None = None, bins: int = 10) -> pd.DataFrame:
    """Calibration by decile of risk: decile 1 holds the riskiest tenth of customers.

    Columns ``decile, customers, p_min, p_max, expected_rate`` (mean p: the rate CBPE
    expects) and, with labels ``y``, ``realised_rate``. Customers are cut by rank (stable
    for ties), so every decile has ``n / bins`` customers give or take one.

    >>> decile_table(np.array([0.9, 0.1, 0.5, 0.3]), np.array([1, 0, 1, 0]), bins=2)
       decile  customers  p_min  p_max  expected_rate  realised_rate
    0       1          2    0.5    0.9            0.7            1.0
    1       2          2    0.1    0.3            0.2            0.0
    """
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    rows = []
    for k, idx in enumerate(np.array_split(order, min(bins, max(len(p), 1))), start=1):
        row = {"decile": k, "customers": len(idx), "p_min": float(p[idx].min()),
               "p_max": float(p[idx].max()), "expected_rate": float(p[idx].mean())}
        if y is not None:
            row["realised_rate"] = float(np.asarray(y, dtype=float)[idx].mean())
        rows.append(row)
    return pd.DataFrame(rows)
