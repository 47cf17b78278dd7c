"""Backtesting on the small synthetic set: folds, champions, refits, point in time, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.backtest import SHIPPED, backtest, backtest_text, fold_dates, summarise
from churnmodel.config import Config, DataConfig, TrainingConfig, with_overrides
from churnmodel.data.io import load_default_tables
from churnmodel.errors import ConfigError, DataError
from churnmodel.modeling.metrics import evaluate
from churnmodel.modeling.train import train
from churnmodel.training_set import cutoff_frame

pytestmark = pytest.mark.slow  # every fold is a full training


@pytest.fixture(scope="module")
def setup(small_data_dir):
    from churnmodel.config import ModelConfig

    # 8 cutoffs a fold (the plumbing tests' size): what is tested is the folds' bookkeeping
    cfg = Config(data=DataConfig(dir=small_data_dir),
                 model=ModelConfig(n_estimators=200, early_stopping_rounds=30, n_jobs=1),
                 training=TrainingConfig(n_cutoffs=8))
    tables = load_default_tables(small_data_dir)
    return tables, cfg, backtest(tables, cfg, folds=2, step_months=3)


def test_each_fold_reports_every_candidate_as_chosen_and_refitted(setup):
    tables, cfg, frame = setup
    assert frame["as_of"].drop_duplicates().tolist() == fold_dates(tables.max_event_ts(), 90, 2, 3)
    for _, fold in frame.groupby("fold"):
        chosen = fold[~fold["refit"] & (fold["model"] != "oracle")]
        assert set(chosen["model"]) == set(cfg.model.candidates)
        assert set(fold.loc[fold["refit"], "model"]) == set(cfg.model.candidates)
        assert chosen["champion"].sum() == 1
        shipped = fold[fold["shipped"]]
        assert len(shipped) == 1 and shipped["refit"].item()  # refit is the default
    assert frame["roc_auc"].between(0.5, 1).all()


def test_the_latest_fold_scores_its_as_of_date_against_what_happened_next(setup):
    tables, cfg, frame = setup
    date = frame.loc[frame["fold"] == 1, "as_of"].iloc[0]
    # as the backtest trains a fold (no time-to-churn model: it does not touch the churn model)
    result = train(tables, with_overrides(cfg, training={"as_of": str(date.date())},
                                          survival={"enabled": False}))
    rows = cutoff_frame(tables, date, result.model.builders, 90, 365)
    p = result.model.predict_proba(rows)  # the shipped model: the refitted champion
    expected = evaluate(rows["churned"].to_numpy(), p)["roc_auc"]
    assert frame.loc[frame["fold"].eq(1) & frame["shipped"], "roc_auc"].item() == pytest.approx(
        expected, abs=1e-12)


def test_an_earlier_fold_sees_nothing_after_its_label_window(setup):
    tables, cfg, frame = setup
    date = frame.loc[frame["fold"] == 2, "as_of"].iloc[0]
    end = date + pd.Timedelta(days=90)
    alone = backtest(tables.until(end), cfg, folds=1)
    earlier = frame[frame["fold"] == 2].reset_index(drop=True)
    cols = ["as_of", "step", "model", "refit", "champion", "roc_auc", "brier", "n"]
    pd.testing.assert_frame_equal(alone[cols], earlier[cols])


def test_summary_puts_the_shipped_champion_first_and_counts_its_wins(setup):
    _, _, frame = setup
    s = summarise(frame)
    assert s.index[0] == SHIPPED and s["folds"].eq(2).all()
    assert {"lightgbm", "lightgbm refit", "recency"} <= set(s.index)
    assert s.loc["recency", "shipped_ahead"].endswith("of 2")
    ship = frame[frame["shipped"]]["roc_auc"]
    assert s.loc[SHIPPED, "roc_auc_mean"] == pytest.approx(ship.mean(), abs=1e-6)
    assert s.loc[SHIPPED, "roc_auc_std"] == pytest.approx(np.std(ship, ddof=1), abs=1e-6)
    text = backtest_text(frame, 2, 3, 1.0)
    assert "fold 2: as of" in text and "shipped champion" in text


def test_too_many_folds_name_the_fold_and_bad_settings_are_refused(setup):
    from churnmodel.config import with_overrides

    tables, cfg, _ = setup
    # the folds before the failing one train: the recency rule alone keeps them quick
    quick = with_overrides(cfg, model={"candidates": ("recency",)})
    with pytest.raises(DataError, match=r"backtest fold \d+ of 20 \(as of "):
        backtest(tables, quick, folds=20, step_months=3)
    with pytest.raises(ConfigError, match="folds must be at least 1"):
        backtest(tables, cfg, folds=0)
    with pytest.raises(ConfigError, match="step must be at least 1 month"):
        fold_dates("2025-12-31", 90, 2, 0)
