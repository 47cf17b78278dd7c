"""Behaviour of a trained model: determinism, direction, input checks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import Config, DataConfig
from churnmodel.data.io import load_default_tables
from churnmodel.errors import ModelInputError
from churnmodel.modeling.train import train


@pytest.mark.slow
def test_two_trainings_with_the_same_seed_give_identical_predictions(small_config, small_training):
    a = small_training  # the session's shared training (seed 42)
    tables = load_default_tables(small_config.data.dir)
    b = train(tables, small_config)  # the same, again
    sa = a.model.score(tables, "2025-12-31")
    sb = b.model.score(tables, "2025-12-31")
    pd.testing.assert_frame_equal(sa, sb)
    assert a.test_metrics == b.test_metrics


def silent_for(X, days: int):
    """``X`` as it would read had each customer been silent everywhere ``days`` days longer:
    every 'days since' grows, every window shorter than ``days`` empties."""
    out = X.copy()
    for c in out.columns:
        if c.startswith("days_since") or c == "recency_days":
            out[c] = out[c] + days
        elif re.fullmatch(r"(n|spend|events|event_days|event_value)_.*?(\d+)d", c) and \
                int(re.fullmatch(r".*?(\d+)d", c).group(1)) <= days:
            out[c] = 0.0
    out["overdue_ratio"] = out["recency_days"] / out["gap_mean_days"]
    out["contact_after_purchase_days"] = X["contact_after_purchase_days"]
    return out


def test_more_days_since_last_purchase_never_lowers_risk_on_average(small_training, small_data_dir):
    """(Shifting recency alone was the test before the engagement log; with it, a customer
    whose purchase is older but who is still active in the app is an input the data never
    show, so the whole history goes silent for 120 more days instead.)"""
    model = small_training.model
    X = model.features(load_default_tables(small_data_dir), "2025-12-31").head(2000)
    base = model.predict_proba(X)
    assert model.predict_proba(silent_for(X, 120)).mean() > base.mean() + 0.05


def test_a_feature_frame_without_a_trained_column_is_refused_with_its_name(small_training,
                                                                           small_data_dir):
    model = small_training.model
    X = model.features(load_default_tables(small_data_dir), "2025-12-31").head(5)
    with pytest.raises(ModelInputError, match="recency_days"):
        model.predict_proba(X.drop(columns=["recency_days"]))


def test_unseen_category_levels_are_scored_not_crashed(small_training, small_data_dir):
    model = small_training.model
    X = model.features(load_default_tables(small_data_dir), "2025-12-31").head(5)
    X = X.assign(region=pd.Categorical(["atlantis"] * 5))
    p = model.predict_proba(X)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()


@pytest.mark.slow
def test_excluded_features_are_not_used_and_baselines_needing_them_are_skipped(
        small_data_dir, fast_model_config):
    from churnmodel.config import FeatureConfig, SurvivalConfig, TrainingConfig
    from churnmodel.scoring import score_customers

    cfg = Config(data=DataConfig(dir=small_data_dir), model=fast_model_config,
                 features=FeatureConfig(exclude=("recency_days", "nps_count")),
                 training=TrainingConfig(n_cutoffs=8), survival=SurvivalConfig(enabled=False))
    tables = load_default_tables(small_data_dir)
    result = train(tables, cfg)
    m = result.model
    assert "recency_days" not in m.feature_names and "nps_count" not in m.feature_names
    assert "tenure_days" in m.feature_names
    # the recency rule and BG/NBD need recency_days: skipped, not crashed
    assert set(result.test_metrics) == {"lightgbm", "logistic_rfm"}
    assert m.info["skipped_candidates"] == ["recency", "bgnbd"]
    assert "recency_days" not in m.info["reference"]["profile"]["features"]
    scores = score_customers(m, tables, "2025-12-31", explain=True)
    drivers = scores.filter(like="_feature").stack()
    assert len(drivers) and not drivers.isin(["recency_days", "nps_count"]).any()


def test_excluding_a_feature_that_is_not_built_names_the_nearest(small_data_dir, fast_model_config,
                                                                 monkeypatch):
    from churnmodel import engine
    from churnmodel.config import FeatureConfig
    from churnmodel.errors import ConfigError

    def too_late(*args, **kwargs):
        raise AssertionError("the training set was built before the exclude list was checked")

    monkeypatch.setattr(engine, "training_set", too_late)  # the misspelling fails before it

    cfg = Config(data=DataConfig(dir=small_data_dir), model=fast_model_config,
                 features=FeatureConfig(exclude=("recency_day",)))
    with pytest.raises(ConfigError, match=r"exclude names 'recency_day'.*Did you mean 'recency_days'"):
        train(load_default_tables(small_data_dir), cfg)
