"""Backtesting: the whole training repeated as of earlier dates, judged on what happened next.

One training reports one test cutoff: a single draw, and one measured on the model before
its refit. A backtest repeats everything ``churnmodel train`` does (the ladder step, every
candidate, the champion chosen on validation, the threshold, the refit) as of ``folds``
dates ``step_months`` apart, each fold seeing only the data known at its date, and then
scores the customers active *at that date* and compares with the next ``horizon_days``:
exactly what a model deployed that day would have been judged on. Every candidate is
reported as chosen (fitted on the ladder's training rows) and refitted on the latest
labelled cutoffs, so the refit default rests on evidence. :func:`summarise` says how stable
each model's results are and how often the champion led.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from churnmodel.config import Config, with_overrides
from churnmodel.data.tables import Tables
from churnmodel.errors import ConfigError, DataError
from churnmodel.threads import in_one_thread

METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")


def check_settings(folds: int, step_months: int) -> None:
    """Refuse fewer than one fold or a step under one month (:class:`ConfigError`)."""
    if folds < 1:
        raise ConfigError(f"backtest folds must be at least 1, got {folds}.")
    if step_months < 1:
        raise ConfigError(f"backtest step must be at least 1 month, got {step_months}.")


def fold_dates(data_end: pd.Timestamp | str, horizon_days: int, folds: int,
               step_months: int) -> list[pd.Timestamp]:
    """The as-of date of each fold, latest first: month starts whose label window ends by
    ``data_end``.

    >>> [str(d.date()) for d in fold_dates("2025-12-31", 90, 3, 3)]
    ['2025-10-01', '2025-07-01', '2025-04-01']
    """
    check_settings(folds, step_months)
    latest = (pd.Timestamp(data_end).normalize() - pd.Timedelta(days=horizon_days)).to_period("M")
    first = latest.to_timestamp()
    return [first - pd.DateOffset(months=k * step_months) for k in range(folds)]


@in_one_thread
def backtest(tables: Tables, cfg: Config, folds: int = 3, step_months: int = 3,
             oracle: pd.DataFrame | None = None,
             on_fold: Callable[[int, Any], Any] | None = None) -> pd.DataFrame:
    """Train as of each fold date; score that date's customers; compare with what happened.

    Returns one row per fold, model and ``refit`` (False: as chosen; True: refitted on the
    latest labelled cutoffs): ``fold, as_of, step`` (the ladder step of that training),
    ``model, refit, champion, shipped`` (the model ``train`` would have exported), the
    metrics of :data:`METRICS`, ``n`` and ``base_rate``. The oracle, when given, is a model
    named ``oracle``. ``on_fold(k, result)`` is called after each fold with its
    :class:`TrainResult`. ``cfg.training.as_of`` (default: the data end) bounds the labels.
    """
    from churnmodel.modeling.ladder import plan
    from churnmodel.modeling.metrics import evaluate
    from churnmodel.modeling.train import train
    from churnmodel.training_set import CutoffCache

    end = pd.Timestamp(cfg.training.as_of) if cfg.training.as_of else tables.max_event_ts()
    tables = tables.until(end.normalize())
    # the folds' monthly cutoffs overlap: each labelled frame is built once (CutoffCache)
    cache = CutoffCache(tables)
    H, L = cfg.labels.horizon_days, cfg.labels.activity_lookback_days
    dates = fold_dates(end, H, folds, step_months)
    first = tables.transactions["ts"].min()
    for k, date in enumerate(dates, start=1):  # every fold must be trainable, before any work
        try:
            plan(first, date, H, cfg.training.n_cutoffs, cfg.training.cutoff_step_months)
        except DataError as exc:
            raise _in_fold(exc, k, folds, date) from None
    rows: list[dict[str, Any]] = []
    for k, date in enumerate(dates, start=1):
        # the backtest compares churn candidates: the time-to-churn model and the drift at the
        # fold's date would only cost time
        fold_cfg = with_overrides(cfg, training={"as_of": str(date.date())},
                                  survival={"enabled": False})
        try:
            result = train(tables, fold_cfg, refit_all=cfg.training.refit, cache=cache,
                           drift_at_as_of=False)
            frame = cache.cutoff_frame(tables, date, result.model.builders, H, L)
        except DataError as exc:
            raise _in_fold(exc, k, folds, date) from None
        X, y = result.model.prepare(frame), frame["churned"].to_numpy()
        preds = {(n, False): f.predict(X) for n, f in result.fitted.items()}
        preds.update({(n, True): f.predict(X) for n, f in result.refitted.items()})
        if oracle is not None:
            o = oracle[oracle["cutoff"] == date].set_index("customer_id")["p_churn"]
            ids = frame.index.get_level_values("customer_id")
            if len(o) and ids.isin(o.index).all():
                preds[("oracle", False)] = o.reindex(ids).to_numpy()
        for (name, refit), p in preds.items():
            m = evaluate(y, p)
            rows.append({"fold": k, "as_of": date, "step": result.split.step, "model": name,
                         "refit": refit, "champion": name == result.champion,
                         "shipped": name == result.champion and refit == cfg.training.refit,
                         **{c: m[c] for c in METRICS}, "n": m["n"], "base_rate": m["base_rate"]})
        if on_fold is not None:
            on_fold(k, result)
    return pd.DataFrame(rows)


def _in_fold(exc: DataError, k: int, folds: int, date: pd.Timestamp) -> DataError:
    """The same data error, saying which fold met it and how to avoid it."""
    return DataError(exc.table, exc.column, f"backtest fold {k} of {folds} (as of "
                     f"{date.date()}): {exc.problem}", f"use fewer folds or a shorter step ({exc.fix})",
                     n_rows=exc.n_rows, example=exc.example)


SHIPPED = "shipped champion"


def label(model: str, refit: bool) -> str:
    """Row name of a model in the summary: ``lightgbm`` or ``lightgbm refit``."""
    return f"{model} refit" if refit else model


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model (as chosen, and refitted): ROC AUC and Brier over the folds, how often it
    was the champion, and in how many folds the shipped champion's ROC AUC beat it.

    The first row, :data:`SHIPPED`, is the model ``train`` exported in each fold.

    >>> f = pd.DataFrame({"fold": [1, 1, 2, 2], "model": ["lightgbm", "recency"] * 2,
    ...     "refit": False, "champion": [True, False, True, False],
    ...     "shipped": [True, False, True, False], "roc_auc": [0.9, 0.8, 0.85, 0.86],
    ...     "pr_auc": [0.7, 0.6, 0.7, 0.6], "brier": [0.1, 0.2, 0.1, 0.2]})
    >>> s = summarise(f)
    >>> float(s.loc["recency", "roc_auc_mean"]), s.loc["recency", "shipped_ahead"]
    (0.83, '1 of 2')
    """
    named = frame.assign(name=[label(m, r) for m, r in zip(frame["model"], frame["refit"],
                                                            strict=True)])
    shipped = frame[frame["shipped"]].assign(name=SHIPPED, champion=False)
    both = pd.concat([shipped, named], ignore_index=True)
    g = both.groupby("name", sort=False)
    out = pd.DataFrame({
        "folds": g["fold"].nunique(),
        "roc_auc_mean": g["roc_auc"].mean(), "roc_auc_std": g["roc_auc"].std(ddof=1),
        "roc_auc_min": g["roc_auc"].min(), "roc_auc_max": g["roc_auc"].max(),
        "pr_auc_mean": g["pr_auc"].mean(), "brier_mean": g["brier"].mean(),
        "brier_std": g["brier"].std(ddof=1),
        "champion_folds": g["champion"].sum().astype(int),
    })
    best = shipped.set_index("fold")["roc_auc"]
    ahead = {}
    for name, part in both.groupby("name", sort=False):
        other = part.set_index("fold")["roc_auc"]
        common = best.index.intersection(other.index)
        wins = int((best[common] > other[common]).sum())
        ahead[name] = "" if name == SHIPPED else f"{wins} of {len(common)}"
    out["shipped_ahead"] = pd.Series(ahead)
    out.index.name = "model"
    return out.round(6)


def backtest_text(frame: pd.DataFrame, folds: int, step_months: int, seconds: float) -> str:
    """The printed backtest: one line per fold, then the summary table."""
    lines = []
    for (k, as_of), fold in frame.groupby(["fold", "as_of"], sort=True):
        ship = fold[fold["shipped"]].iloc[0]
        others = ", ".join(f"{label(r.model, r.refit)} {r.roc_auc:.4f}"
                           for r in fold.itertuples() if not r.shipped)
        lines.append(f"fold {k}: as of {as_of.date()} ({ship['step']} step; scored n="
                     f"{int(ship['n']):,}, churn {ship['base_rate']:.3f}): shipped "
                     f"{label(ship['model'], ship['refit'])} ROC AUC {ship['roc_auc']:.4f}; {others}")
    s = summarise(frame)
    lines.append(f"\nscored at each fold's as-of date against the next horizon, {folds} folds "
                 f"{step_months} months apart ({seconds:.0f}s):")
    lines.append(f"{'':20}{'ROC AUC':>8}{'± sd':>8}{'min':>8}{'max':>8}{'PR AUC':>8}{'Brier':>8}"
                 f"{'± sd':>8}{'champion':>10}{'shipped ahead':>15}")
    for name, r in s.iterrows():
        def sd(x: float) -> str:
            return "" if pd.isna(x) else f"{x:.4f}"
        lines.append(f"{name:20}{r['roc_auc_mean']:8.4f}{sd(r['roc_auc_std']):>8}"
                     f"{r['roc_auc_min']:8.4f}{r['roc_auc_max']:8.4f}{r['pr_auc_mean']:8.4f}"
                     f"{r['brier_mean']:8.4f}{sd(r['brier_std']):>8}{int(r['champion_folds']):>10}"
                     f"{r['shipped_ahead']:>15}")
    return "\n".join(lines)
