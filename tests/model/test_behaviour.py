"""Behaviour of a trained model: determinism, direction, input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import Config, DataConfig, ModelConfig, TrainingConfig
from churnmodel.data.io import load_default_tables
from churnmodel.errors import ModelInputError
from churnmodel.modeling.train import train


def _train(data_dir, seed: int, model_cfg: ModelConfig):
    cfg = Config(data=DataConfig(dir=data_dir), model=model_cfg,
                 training=TrainingConfig(seed=seed))
    return train(load_default_tables(data_dir), cfg)


@pytest.mark.slow
def test_two_trainings_with_the_same_seed_give_identical_predictions(small_data_dir, fast_model_config,
                                                                     small_training):
    a = small_training  # seed 42, fast_model_config: the session's shared training
    b = _train(small_data_dir, 42, fast_model_config)
    tables = load_default_tables(small_data_dir)
    sa = a.model.score(tables, "2025-12-31")
    sb = b.model.score(tables, "2025-12-31")
    pd.testing.assert_frame_equal(sa, sb)
    assert a.test_metrics == b.test_metrics


def test_more_days_since_last_purchase_never_lowers_risk_on_average(small_training, small_data_dir):
    model = small_training.model
    X = model.features(load_default_tables(small_data_dir), "2025-12-31").head(2000)
    base = model.predict_proba(X)
    later = X.assign(recency_days=X["recency_days"] + 120,
                     overdue_ratio=(X["recency_days"] + 120) / X["gap_mean_days"])
    # (0.05 before the engagement log: now a customer still seen in the app or answering
    # surveys is held alive by those signs of life, so an older purchase alone moves less)
    assert model.predict_proba(later).mean() > base.mean() + 0.01
    # silent everywhere as well: no contact of any kind since then either
    silent = later.assign(days_since_contact=X["days_since_contact"] + 120)
    assert model.predict_proba(silent).mean() > model.predict_proba(later).mean()


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
    from churnmodel.config import FeatureConfig
    from churnmodel.scoring import score_customers

    cfg = Config(data=DataConfig(dir=small_data_dir), model=fast_model_config,
                 features=FeatureConfig(exclude=("recency_days", "nps_count")))
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


def test_excluding_a_feature_that_is_not_built_names_the_nearest(small_data_dir, fast_model_config):
    from churnmodel.config import FeatureConfig
    from churnmodel.errors import ConfigError

    cfg = Config(data=DataConfig(dir=small_data_dir), model=fast_model_config,
                 features=FeatureConfig(exclude=("recency_day",)))
    with pytest.raises(ConfigError, match=r"exclude names 'recency_day'.*Did you mean 'recency_days'"):
        train(load_default_tables(small_data_dir), cfg)
