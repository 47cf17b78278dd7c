"""Evaluation metrics for churn probabilities: ranking, calibration and campaign lift."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

METRIC_NAMES = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile",
                "capture_top_decile", "base_rate", "n")


def top_share_lift(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> tuple[float, float]:
    """Lift and capture rate of the top ``share`` of customers ranked by ``p``.

    Lift: churn rate in the top share over the overall rate. Capture: share of all
    churners found there. Ties are broken by a stable sort, so the result is exact.

    >>> top_share_lift(np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1]), np.arange(10) / 10, 0.1)
    (5.0, 0.5)
    """
    y = np.asarray(y, dtype=float)
    k = max(1, int(round(share * len(y))))
    top = np.argsort(-np.asarray(p), kind="stable")[:k]
    rate = y.mean()
    hit = y[top].sum()
    lift = float((hit / k) / rate) if rate > 0 else float("nan")
    capture = float(hit / y.sum()) if y.sum() > 0 else float("nan")
    return lift, capture


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """All headline metrics of probabilities ``p`` against labels ``y`` (0/1)."""
    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    lift, capture = top_share_lift(y, p, 0.1)
    two = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "lift_top_decile": lift,
        "capture_top_decile": capture,
        "base_rate": float(y.mean()),
        "n": int(len(y)),
    }
