"""Did the champion learn anything? A model no better than a coin must say so.

On a small or uninformative data set the champion can end with every probability equal
(LightGBM without a single split) or a validation ROC AUC within noise of 0.5. Such a
model still "works" — it scores, flags and serves — so the run must say in plain words
that its ranking means nothing.
"""

from __future__ import annotations

import numpy as np

# Probabilities spread less than this (standard deviation) are "nearly constant".
FLAT_STD = 1e-3


def auc_noise(n_pos: int, n_neg: int) -> float:
    """Two standard errors of the ROC AUC of a random ranking (Hanley & McNeil, AUC = 0.5).

    >>> round(auc_noise(50, 450), 3)
    0.086
    """
    if n_pos < 1 or n_neg < 1:
        return 0.5
    return 2.0 * float(np.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg)))


def learnt_nothing(y: np.ndarray, p: np.ndarray, roc_auc: float) -> str:
    """A plain sentence when the champion learnt nothing on validation, else ``""``.

    ``y``, ``p``: validation labels and the champion's calibrated probabilities;
    ``roc_auc``: its validation ROC AUC.

    >>> learnt_nothing(np.array([0, 1, 0, 1]), np.array([0.48, 0.48, 0.48, 0.48]), 0.5)[:41]
    'the model learnt nothing: every customer '
    >>> learnt_nothing(np.array([0, 1] * 500), np.linspace(0, 1, 1000), 0.9)
    ''
    """
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    if len(p) and float(np.std(p)) < FLAT_STD:
        return (f"the model learnt nothing: every customer gets about the same churn "
                f"probability ({float(np.mean(p)):.4f}), so its ranking and at-risk flags mean "
                "nothing; use more history or customers, or more tables (feedback, tickets)")
    noise = auc_noise(int((y == 1).sum()), int((y == 0).sum()))
    if not roc_auc > 0.5 + noise:
        return (f"the model learnt next to nothing: validation ROC AUC {roc_auc:.3f} is within "
                f"noise of a coin toss (0.5 + {noise:.3f} on {len(y):,} customers); treat its "
                "ranking as unreliable and use more history, customers or tables")
    return ""
