"""Backtesting: the whole training repeated as of earlier dates, each judged on its own test cutoff.

One training reports one test cutoff: a single draw. A model can win it by luck, and when
customers age or the mix changes, last quarter's winner can be this quarter's loser. A
backtest repeats everything ``churnmodel train`` does (cutoffs, every candidate, the
champion chosen on validation, the at-risk threshold) as of ``folds`` dates
``step_months`` apart, each fold seeing only the data known at its date, and collects
every candidate's metrics on that fold's test cutoff. With a step at least as long as the
label horizon the test windows do not overlap. :func:`summarise` says how stable the
champion's lead over each baseline is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from churnmodel.config import Config, with_overrides
from churnmodel.data.tables import Tables
from churnmodel.errors import ConfigError, DataError

METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")


def check_settings(folds: int, step_months: int) -> None:
    """Refuse fewer than one fold or a step under one month (:class:`ConfigError`)."""
    if folds < 1:
        raise ConfigError(f"backtest folds must be at least 1, got {folds}.")
    if step_months < 1:
        raise ConfigError(f"backtest step must be at least 1 month, got {step_months}.")


def fold_dates(as_of: pd.Timestamp | str, folds: int, step_months: int) -> list[pd.Timestamp]:
    """The as-of date of each fold, latest first.

    >>> [str(d.date()) for d in fold_dates("2025-12-31", 3, 3)]
    ['2025-12-31', '2025-09-30', '2025-06-30']
    """
    check_settings(folds, step_months)
    end = pd.Timestamp(as_of).normalize()
    return [(end - pd.DateOffset(months=k * step_months)).normalize() for k in range(folds)]


def backtest(tables: Tables, cfg: Config, folds: int = 3, step_months: int = 3,
             oracle: pd.DataFrame | None = None,
             on_fold: Callable[[int, Any], Any] | None = None) -> pd.DataFrame:
    """Train as of each fold date and collect every candidate's test metrics.

    Returns one row per fold and model: ``fold, as_of, test_cutoff, model, champion`` (the
    candidate chosen on that fold's validation cutoff), the metrics of :data:`METRICS`,
    ``n`` and ``base_rate``; the oracle, when given, is a model named ``oracle``.
    ``on_fold(k, result)`` is called after each fold with its :class:`TrainResult`.
    """
    from churnmodel.modeling.train import train

    latest = pd.Timestamp(cfg.training.as_of) if cfg.training.as_of else tables.max_event_ts()
    rows: list[dict[str, Any]] = []
    for k, date in enumerate(fold_dates(latest, folds, step_months), start=1):
        fold_cfg = with_overrides(cfg, training={"as_of": str(date.date())})
        try:
            result = train(tables, fold_cfg, oracle=oracle)
        except DataError as exc:
            raise DataError(exc.table, exc.column, f"backtest fold {k} of {folds} (as of "
                            f"{date.date()}): {exc.problem}",
                            f"use fewer folds or a shorter step ({exc.fix})",
                            n_rows=exc.n_rows, example=exc.example) from None
        models = dict(result.test_metrics)
        if result.oracle_metrics is not None:
            models["oracle"] = result.oracle_metrics
        for name, m in models.items():
            rows.append({"fold": k, "as_of": date, "test_cutoff": result.split.test, "model": name,
                         "champion": name == result.champion,
                         **{c: m[c] for c in METRICS}, "n": m["n"], "base_rate": m["base_rate"]})
        if on_fold is not None:
            on_fold(k, result)
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: ROC AUC over the folds (mean, std, min, max), mean PR AUC and Brier, how
    often it was the champion, and in how many folds LightGBM's ROC AUC beat it.

    >>> f = pd.DataFrame({"fold": [1, 1, 2, 2], "model": ["lightgbm", "recency"] * 2,
    ...     "champion": [True, False, True, False], "roc_auc": [0.9, 0.8, 0.85, 0.86],
    ...     "pr_auc": [0.7, 0.6, 0.7, 0.6], "brier": [0.1, 0.2, 0.1, 0.2]})
    >>> s = summarise(f)
    >>> float(s.loc["recency", "roc_auc_mean"]), s.loc["recency", "lightgbm_ahead"]
    (0.83, '1 of 2')
    """
    g = frame.groupby("model", sort=False)
    out = pd.DataFrame({
        "folds": g["fold"].nunique(),
        "roc_auc_mean": g["roc_auc"].mean(), "roc_auc_std": g["roc_auc"].std(ddof=1),
        "roc_auc_min": g["roc_auc"].min(), "roc_auc_max": g["roc_auc"].max(),
        "pr_auc_mean": g["pr_auc"].mean(), "brier_mean": g["brier"].mean(),
        "champion_folds": g["champion"].sum().astype(int),
    })
    if "lightgbm" in out.index:
        lgb = frame[frame["model"] == "lightgbm"].set_index("fold")["roc_auc"]
        ahead = {}
        for name, part in frame.groupby("model", sort=False):
            if name == "lightgbm":
                ahead[name] = ""
                continue
            other = part.set_index("fold")["roc_auc"]
            both = lgb.index.intersection(other.index)
            ahead[name] = f"{int((lgb[both] > other[both]).sum())} of {len(both)}"
        out["lightgbm_ahead"] = pd.Series(ahead)
    return out.round(6)
