"""Has the population moved since training? Feature drift by the population stability index.

A model trained on last year's customers scores this month's. When cohorts age, a
campaign changes the mix or a source table changes meaning, the features the model sees
move away from those it was validated on, and its probabilities and drivers can no
longer be taken at face value. At training, :func:`profile` records each feature's
distribution on the latest cutoff the model was fitted on (decile bins of numbers, shares of categories,
the share missing) in the model; at scoring, :func:`compare` measures how far the scored
population has moved, feature by feature, with the population stability index

    PSI = sum over bins of (now - then) * ln(now / then)

(shares per bin, missing values a bin of their own). The usual reading: below 0.1 stable,
0.1-0.25 a moderate shift worth a look, above 0.25 a major shift: retrain, or check the
data feeding that feature.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

PROFILE_VERSION = 1
MODERATE, MAJOR = 0.1, 0.25
_FLOOR = 1e-4  # share given to an empty bin so that ln() stays finite
_OTHER = "(other)"  # categories never seen in the reference


def profile(X: pd.DataFrame, bins: int = 10) -> dict[str, Any]:
    """Each column's reference distribution: bin edges and shares, JSON-serialisable.

    Numeric columns are cut at their deciles, values of the data (fewer edges when values
    repeat, e.g. counts); categorical and text columns keep the share of each level.
    Missing values are a bin of their own.

    >>> p = profile(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, None]}), bins=2)
    >>> p["features"]["x"]["edges"], p["features"]["x"]["shares"], p["features"]["x"]["missing"]
    ([2.0], [0.4, 0.4], 0.2)
    """
    features: dict[str, Any] = {}
    for col in X.columns:
        s = X[col]
        n = max(len(s), 1)
        missing = float(s.isna().sum() / n)
        if _is_numeric(s):
            v = s.dropna().to_numpy(dtype=float)
            edges = _edges(v, bins)
            shares = _numeric_shares(v, edges) * (len(v) / n)
            features[col] = {"kind": "numeric", "edges": edges, "shares": _rounded(shares),
                             "missing": round(missing, 6)}
        else:
            counts = s.dropna().astype(str).value_counts()
            features[col] = {"kind": "category",
                             "shares": {k: round(float(c / n), 6) for k, c in counts.items()},
                             "missing": round(missing, 6)}
    return {"version": PROFILE_VERSION, "rows": len(X), "features": features}


def compare(reference: dict[str, Any], X: pd.DataFrame) -> pd.DataFrame:
    """PSI of every profiled feature of ``X`` against ``reference``, largest first.

    Columns: ``feature, psi, level`` (stable / moderate / major), ``missing_then,
    missing_now`` and ``biggest_move``: the bin whose share moved most, in words.
    Features of the reference absent from ``X`` are left out.
    """
    rows = []
    for col, ref in reference["features"].items():
        if col not in X.columns:
            continue
        s = X[col]
        n = max(len(s), 1)
        missing_now = float(s.isna().sum() / n)
        if ref["kind"] == "numeric":
            v = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=float)
            now = _numeric_shares(v, ref["edges"]) * (len(v) / n)
            then = np.asarray(ref["shares"], dtype=float)
            names = _bin_names(ref["edges"])
        else:
            levels = list(ref["shares"])
            counts = s.dropna().astype(str).value_counts()
            now = np.array([counts.get(k, 0) / n for k in levels]
                           + [counts[~counts.index.isin(levels)].sum() / n])
            then = np.array([ref["shares"][k] for k in levels] + [0.0])
            names = [*levels, _OTHER]
        now = np.append(now, missing_now)
        then = np.append(then, ref["missing"])
        names = [*names, "missing"]
        value = psi(then, now)
        move = int(np.argmax(np.abs(now - then)))
        rows.append({"feature": col, "psi": value, "level": level(value),
                     "missing_then": ref["missing"], "missing_now": round(missing_now, 6),
                     "biggest_move": f"{names[move]}: {then[move]:.1%} -> {now[move]:.1%}"})
    out = pd.DataFrame(rows, columns=["feature", "psi", "level", "missing_then", "missing_now",
                                      "biggest_move"])
    return out.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def against_model(info: dict[str, Any], X: pd.DataFrame) -> tuple[pd.DataFrame, str] | None:
    """Drift of the feature frame ``X`` against the reference stored in a model's ``info``.

    Returns the :func:`compare` table and the reference cutoff, or ``None`` for a model
    saved before references were recorded.
    """
    ref = info.get("reference")
    if not ref or "profile" not in ref:
        return None
    return compare(ref["profile"], X), str(ref.get("cutoff", "training"))


def psi(then: np.ndarray, now: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins.

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.8, 0.2])), 4)
    0.4159
    """
    a = np.maximum(np.asarray(then, dtype=float), _FLOOR)
    b = np.maximum(np.asarray(now, dtype=float), _FLOOR)
    return float(np.sum((b - a) * np.log(b / a)))


def level(value: float) -> str:
    """``stable`` below 0.1, ``moderate`` up to 0.25, ``major`` above."""
    return "major" if value > MAJOR else "moderate" if value > MODERATE else "stable"


def summary_line(drift: pd.DataFrame, then: str, top: int = 3) -> str:
    """One line for the console: how many features moved, and the largest moves."""
    if drift.empty:
        return "drift: no feature to compare"
    major = drift[drift["level"] == "major"]
    moderate = drift[drift["level"] == "moderate"]
    if major.empty and moderate.empty:
        return (f"drift vs {then}: stable (all {len(drift)} features PSI <= {MODERATE}; largest "
                f"{drift['feature'].iloc[0]} {drift['psi'].iloc[0]:.3f})")
    moved = pd.concat([major, moderate]).head(top)
    names = ", ".join(f"{r.feature} {r.psi:.2f} ({r.biggest_move})" for r in moved.itertuples())
    return (f"drift vs {then}: {len(major)} major (PSI > {MAJOR}), {len(moderate)} moderate of "
            f"{len(drift)} features; largest: {names}")


# --- helpers -----------------------------------------------------------------------------

def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _edges(v: np.ndarray, bins: int) -> list[float]:
    """Interior cut points: the distinct inner quantiles (none for a constant column).

    Quantiles are values of the data (no interpolation), so counts cut at whole numbers.
    """
    if len(v) == 0:
        return []
    qs = np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1], method="lower")
    edges = np.unique(qs)
    # a cut at the maximum would leave its bin empty forever: drop it
    edges = edges[edges < v.max()]
    return [float(e) for e in edges]


def _numeric_shares(v: np.ndarray, edges: list[float]) -> np.ndarray:
    """Shares of ``v`` in the bins (-inf, e1], (e1, e2], ..., (ek, inf) (sum 1, or 0s if empty)."""
    counts = np.bincount(np.searchsorted(np.asarray(edges, dtype=float), v, side="left"),
                         minlength=len(edges) + 1).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def _bin_names(edges: list[float]) -> list[str]:
    if not edges:
        return ["all values"]
    f = [_short(e) for e in edges]
    return [f"<= {f[0]}", *[f"{a}..{b}" for a, b in zip(f, f[1:], strict=False)], f"> {f[-1]}"]


def _short(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}"


def _rounded(a: np.ndarray) -> list[float]:
    return [round(float(x), 6) for x in a if not math.isnan(x)]
