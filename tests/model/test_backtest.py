"""Backtesting on the small synthetic set: folds, champions, point in time, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from churnmodel.backtest import backtest, fold_dates, summarise
from churnmodel.config import Config, DataConfig
from churnmodel.data.io import load_default_tables
from churnmodel.errors import ConfigError, DataError

pytestmark = pytest.mark.slow  # every fold is a full training


@pytest.fixture(scope="module")
def setup(small_data_dir):
    from churnmodel.config import ModelConfig

    cfg = Config(data=DataConfig(dir=small_data_dir),
                 model=ModelConfig(n_estimators=200, early_stopping_rounds=30))
    tables = load_default_tables(small_data_dir)
    return tables, cfg, backtest(tables, cfg, folds=2, step_months=3)


def test_each_fold_trains_every_candidate_and_picks_one_champion(setup):
    tables, cfg, frame = setup
    latest = tables.max_event_ts().normalize()
    assert frame["as_of"].drop_duplicates().tolist() == fold_dates(latest, 2, 3)
    tests = frame.groupby("fold")["test_cutoff"].first()
    assert tests[1] - tests[2] >= pd.Timedelta(days=89)  # test windows one step apart
    for _, fold in frame.groupby("fold"):
        assert set(fold["model"]) == set(cfg.model.candidates)
        assert fold["champion"].sum() == 1
    assert frame["roc_auc"].between(0.5, 1).all()


def test_the_latest_fold_is_exactly_a_plain_training(setup, small_training):
    tables, cfg, frame = setup
    plain = small_training  # train(tables, cfg): the same data and settings, trained once per session
    fold = frame[frame["fold"] == 1].set_index("model")
    for name, m in plain.test_metrics.items():
        assert fold.loc[name, "roc_auc"] == pytest.approx(m["roc_auc"], abs=1e-12)
        assert bool(fold.loc[name, "champion"]) == (name == plain.champion)


def test_an_earlier_fold_sees_nothing_after_its_date(setup):
    tables, cfg, frame = setup
    date = frame.loc[frame["fold"] == 2, "as_of"].iloc[0]
    # the same fold run on tables that end at its date gives the same numbers
    alone = backtest(tables.until(date), cfg, folds=1)
    earlier = frame[frame["fold"] == 2].reset_index(drop=True)
    cols = ["as_of", "test_cutoff", "model", "champion", "roc_auc", "pr_auc", "brier", "n"]
    pd.testing.assert_frame_equal(alone[cols], earlier[cols])


def test_summary_counts_folds_champions_and_lightgbm_wins(setup):
    _, _, frame = setup
    s = summarise(frame)
    assert s["folds"].eq(2).all() and s["champion_folds"].sum() == 2
    assert s.loc["recency", "lightgbm_ahead"].endswith("of 2")
    lgb = frame[frame["model"] == "lightgbm"]["roc_auc"]
    assert s.loc["lightgbm", "roc_auc_mean"] == pytest.approx(lgb.mean(), abs=1e-6)


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
        fold_dates("2025-12-31", 2, 0)
