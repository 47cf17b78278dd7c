"""From a calibrated churn probability to the risk band, the state, the at-risk flag and
the action.

The band edges, the at-risk threshold and the decision rules are fixed at training
(``model.info["scoring"]``, ``model.info["decisions"]``), so every path that scores (batch,
explain, the pyfunc, REST) reads them here and flags the same customers with the same
action. Below scoring and explaining: both use it, it uses neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churnmodel.modeling.model import ChurnModel

from churnmodel.decisions import ACTIONS, STATES, Policy, customer_state, decide

DEFAULT_BANDS = (0.2, 0.5, 0.8)
DEFAULT_THRESHOLD = 0.5


def risk_band(p: np.ndarray | pd.Series, edges: Sequence[float]) -> pd.Categorical:
    """Bands of churn probability: ``low | medium | high | very high`` for three edges.

    >>> list(risk_band(np.array([0.1, 0.2, 0.6, 0.95]), (0.2, 0.5, 0.8)))
    ['low', 'medium', 'high', 'very high']
    """
    return pd.Categorical.from_codes(band_codes(p, edges), categories=band_names(edges),
                                     ordered=True)


def band_names(edges: Sequence[float]) -> list[str]:
    """The names of the bands ``edges`` cut: ``low ... very high`` for up to three edges."""
    return {1: ["low", "high"], 2: ["low", "medium", "high"],
            3: ["low", "medium", "high", "very high"]}.get(
        len(edges), [f"band {i + 1}" for i in range(len(edges) + 1)])


def band_codes(p: np.ndarray | pd.Series, edges: Sequence[float]) -> np.ndarray:
    """The band of each probability, as a position in :func:`band_names`."""
    return np.searchsorted(np.asarray(edges, dtype=float), np.asarray(p, dtype=float), side="right")


def risk_frame(model: ChurnModel, X: pd.DataFrame,
               value: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
    """``churn_probability, risk_band, state, at_risk, action`` per row of ``X`` (same
    index), as trained (:mod:`churnmodel.decisions`). ``value``: what each customer is
    worth (aligned with ``X``; ``None`` when unknown)."""
    sc = model.info.get("scoring", {})
    pol = Policy.from_info(model.info, model.horizon_days)
    p = model.predict_proba(X)
    state = customer_state(X, pol.horizon_days, pol.typical_gap_days, pol.lapsing_factor)
    v = None if value is None else np.asarray(value, dtype=float)
    at_risk, action = decide(p, state, v, pol)
    return pd.DataFrame({
        "churn_probability": p,
        "risk_band": risk_band(p, sc.get("risk_bands", DEFAULT_BANDS)),
        "state": pd.Categorical(state, categories=list(STATES)),
        "at_risk": at_risk,
        "action": pd.Categorical(action, categories=list(ACTIONS)),
    }, index=X.index)
