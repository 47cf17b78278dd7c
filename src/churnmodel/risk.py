"""From a calibrated churn probability to the risk band and the at-risk flag.

The band edges and the at-risk threshold are fixed at training (``model.info["scoring"]``),
so every path that scores (batch, explain, the pyfunc, REST) reads them here and flags the
same customers. Below scoring and explaining: both use it, it uses neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churnmodel.modeling.model import ChurnModel

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


def risk_frame(model: ChurnModel, X: pd.DataFrame) -> pd.DataFrame:
    """``churn_probability, risk_band, at_risk`` per row of ``X`` (same index), as trained."""
    sc = model.info.get("scoring", {})
    p = model.predict_proba(X)
    # one constructor, not a column insert each: this runs per REST request
    return pd.DataFrame({"churn_probability": p,
                         "risk_band": risk_band(p, sc.get("risk_bands", DEFAULT_BANDS)),
                         "at_risk": p >= sc.get("threshold", DEFAULT_THRESHOLD)}, index=X.index)
