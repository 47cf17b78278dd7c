"""Model quality on the synthetic default, where the true churn probability is known."""

from __future__ import annotations

import numpy as np
import pytest

BASELINES = ("logistic_rfm", "recency", "bgnbd")


def test_champion_is_lightgbm_chosen_on_validation(default_training):
    r = default_training
    best = max(r.valid_metrics, key=lambda k: r.valid_metrics[k]["roc_auc"])
    assert r.champion == best == "lightgbm"


@pytest.mark.xfail(reason="target of issue 2, not met yet: the gap is 0.031-0.035 on the default "
                   "data, mostly one- and two-purchase customers whose true purchase rate only "
                   "the oracle knows", strict=False)
def test_test_auc_is_within_three_points_of_the_oracle(default_training):
    r = default_training
    assert r.oracle_metrics is not None, "the oracle must be reported on synthetic data"
    model_auc = r.test_metrics["lightgbm"]["roc_auc"]
    assert r.oracle_metrics["roc_auc"] - model_auc <= 0.03, (model_auc, r.oracle_metrics)


def test_test_auc_stays_within_four_points_of_the_oracle(default_training):
    """Regression guard while the 0.03 target above is open."""
    r = default_training
    assert r.oracle_metrics["roc_auc"] - r.test_metrics["lightgbm"]["roc_auc"] <= 0.04


@pytest.mark.parametrize("baseline", BASELINES)
def test_lightgbm_beats_every_baseline_on_the_test_cutoff(default_training, baseline):
    r = default_training
    assert r.test_metrics["lightgbm"]["roc_auc"] > r.test_metrics[baseline]["roc_auc"] + 0.01
    assert r.test_metrics["lightgbm"]["log_loss"] < r.test_metrics[baseline]["log_loss"]


def test_probabilities_are_calibrated_on_the_test_cutoff(default_training):
    """Mean predicted probability matches the observed churn rate within 3 points, and per
    decile the observed rate stays within 0.08 of the predicted one."""
    pred = default_training.test_predictions
    p, y = pred["lightgbm"].to_numpy(), pred["churned"].to_numpy()
    assert abs(p.mean() - y.mean()) < 0.03
    order = np.argsort(p)
    for chunk in np.array_split(order, 10):
        assert abs(p[chunk].mean() - y[chunk].mean()) < 0.08


def test_training_never_sees_the_test_cutoff_labels(default_training):
    """Embargo: every training label window ends before validation, validation before test."""
    s = default_training.split
    h = np.timedelta64(90, "D")
    assert all(c + h <= s.valid for c in s.train)
    assert s.valid + h <= s.test


def test_metrics_json_has_model_baselines_and_oracle(default_training):
    m = default_training.metrics_json()
    assert m["model"]["name"] == "lightgbm"
    assert set(BASELINES) <= set(m["baselines"])
    assert {"roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile"} <= set(m["oracle"])
