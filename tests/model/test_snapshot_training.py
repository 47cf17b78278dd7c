"""Snapshot mode training: cross-validation, out-of-fold calibration, determinism, rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import Config, ModelConfig
from churnmodel.errors import DataError
from churnmodel.explain import explain
from churnmodel.snapshot.synthetic import snapshot_table
from churnmodel.snapshot.train import train_snapshot

pytestmark = pytest.mark.slow  # five-fold CV of three candidates, several times: ~40 s loaded

CFG = dataclasses.replace(Config(), model=ModelConfig(n_estimators=200, early_stopping_rounds=30,
                                                      min_child_samples=20))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    df, _ = snapshot_table(900, seed=5)
    return df


@pytest.fixture(scope="module")
def result(table):
    return train_snapshot(table, CFG, "customerID", "Churn")


def test_every_candidate_is_cross_validated_and_the_best_one_ships(result):
    assert set(result.cv_metrics) == {"lightgbm", "logistic", "best_column"}
    assert result.champion == max(result.cv_metrics, key=lambda k: result.cv_metrics[k]["roc_auc"])
    assert result.model.name == result.champion
    assert all(len(v) == 5 for v in result.fold_auc.values())
    assert result.cv_metrics[result.champion]["n"] == 900
    # every labelled row has exactly one out-of-fold probability per candidate
    assert result.oof[["p_lightgbm", "p_logistic", "p_best_column"]].notna().all().all()
    assert result.cv_metrics[result.champion]["roc_auc"] > result.cv_metrics["best_column"]["roc_auc"]


def test_calibrated_out_of_fold_probabilities_match_the_churn_rate(result):
    p = result.oof[f"p_{result.champion}"]
    assert abs(p.mean() - result.oof["churned"].mean()) < 0.02


def test_the_same_table_and_seed_give_the_same_model(table, result):
    again = train_snapshot(table, CFG, "customerID", "Churn")
    X = result.features.head(50)
    np.testing.assert_array_equal(result.model.predict_proba(X), again.model.predict_proba(X))


def test_shap_values_plus_the_base_equal_the_raw_score(result):
    X = result.features.head(30)
    e = explain(result.model, X)
    assert e is not None
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_value, result.model.raw_score(X),
                               atol=1e-6)


def test_without_a_customer_value_the_churn_rate_share_is_flagged(result):
    sc = result.model.info["scoring"]
    assert "the churn rate" in sc["rule"]
    assert sc["share"] == pytest.approx(result.oof["churned"].mean(), abs=0.01)


def test_a_customer_value_gives_the_campaign_profit_rule(table):
    r = train_snapshot(table.assign(Value=table["MonthlyCharges"] * 12), CFG, "customerID",
                       "Churn", value_column="Value")
    assert r.model.info["scoring"]["rule"].startswith("maximum campaign profit")


def test_a_misnamed_id_column_is_one_error_with_a_suggestion(table):
    with pytest.raises(DataError, match="Did you mean 'customerID'"):
        train_snapshot(table, CFG, "customerId", "Churn")
    with pytest.raises(DataError, match="repeated customer ids"):
        train_snapshot(pd.concat([table, table.head(3)]), CFG, "customerID", "Churn")


def test_a_snapshot_drops_customers_without_an_id_only_when_asked(tmp_path, capsys):
    from churnmodel.config import config_from_dict
    from churnmodel.snapshot.commands import read_table

    (tmp_path / "c.csv").write_text("customerID,tenure,Churn\nA-1,3,Yes\n,5,No\nA-2,8,No\n")
    src = {"path": "c.csv", "customer_id": "customerID", "churned": "Churn"}
    drop = config_from_dict({"data": {"customers": {**src, "missing_ids": "drop"}}}, base=tmp_path)
    assert read_table(drop)["customerID"].tolist() == ["A-1", "A-2"]
    assert "note: dropped 1 of 3 customers rows (33%) without a customer id" in capsys.readouterr().out
    keep = config_from_dict({"data": {"customers": src}}, base=tmp_path)
    assert len(read_table(keep)) == 3  # kept: train_snapshot refuses the empty id, one error
