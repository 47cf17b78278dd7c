"""Lifetime value and time to churn on the synthetic default (the shared default training)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnmodel.data.io import load_default_tables
from churnmodel.scoring import score_customers

SURVIVAL_COLUMNS = ["p_active_30d", "p_active_60d", "p_active_90d", "p_active_180d",
                    "median_days_to_churn"]


def test_hazard_concordance_beats_the_fixed_horizon_probability(default_training):
    s = default_training.survival
    assert s.model is not None, s.note
    m = s.metrics
    assert m["uno_c"] > m["uno_c_fixed_horizon"], m
    assert m["integrated_brier"] < m["integrated_brier_fixed_horizon"], m
    assert m["integrated_brier"] < m["integrated_brier_kaplan_meier"], m
    assert default_training.metrics_json()["survival"]["uno_c"] == m["uno_c"]


def test_value_model_is_fitted_and_its_calibration_is_within_a_quarter(default_training):
    v = default_training.value
    assert v.shipped is not None, v.note
    assert v.shipped.spend.q_ > 1
    assert abs(v.metrics["spend_frequency_corr"]) < 0.2  # the Gamma-Gamma independence assumption
    ratio = v.metrics["calibration_ratio"]  # realised / predicted spend after the test cutoff
    assert 0.75 < ratio < 1.25, ratio
    cal = v.calibration
    assert cal["realised_mean"].iloc[9] > 5 * cal["realised_mean"].iloc[0]


def test_score_file_has_clv_as_the_customer_value_and_the_survival_columns(default_training,
                                                                           default_data_dir):
    r = default_training
    tables = load_default_tables(default_data_dir).until(r.as_of)
    scores = score_customers(r.model, tables, r.as_of, explain=False)
    for col in ["clv", "customer_value", *SURVIVAL_COLUMNS, "time_to_churn"]:
        assert col in scores.columns, col
    assert scores.attrs["value_source"] == "clv"
    # the value a retention offer saves is the CLV if the customer stays: never below the CLV
    assert (scores["customer_value"] >= scores["clv"] - 1e-9).all()
    assert scores["customer_value"].median() < 2 * scores["clv"].median()
    p = scores[SURVIVAL_COLUMNS[:4]].to_numpy()
    assert ((p >= 0) & (p <= 1)).all() and (np.diff(p, axis=1) <= 1e-12).all()
    # a higher churn probability goes with a shorter expected time still buying
    rho = pd.Series(scores["churn_probability"]).corr(scores["p_active_90d"], method="spearman")
    assert rho < -0.5, rho
    beyond = scores["median_days_to_churn"].isna()
    assert (scores.loc[beyond, "time_to_churn"] == "beyond 180 days").all()
