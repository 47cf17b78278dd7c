"""SHAP explanations: the fast path equals `shap`, contributions add up, drivers read well."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from churnmodel.data.io import load_default_tables
from churnmodel.explain import driver_columns, drivers, explain, global_importance
from churnmodel.features import catalog
from churnmodel.modeling.candidates import LogisticRFMCandidate


@pytest.fixture(scope="module")
def scored(default_training, default_data_dir):
    model = default_training.model
    X = model.features(load_default_tables(default_data_dir), "2025-12-31").head(400)
    return model, X


def test_lightgbm_pred_contrib_equals_shap_tree_explainer(scored):
    shap = pytest.importorskip("shap")
    model, X = scored
    assert model.name == "lightgbm"
    expl = explain(model, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        te = shap.TreeExplainer(model.candidate.booster_)
        sv = np.asarray(te.shap_values(model.prepare(X)))
    np.testing.assert_allclose(expl.values.to_numpy(), sv, rtol=0, atol=1e-9)
    np.testing.assert_allclose(expl.base_value, te.expected_value, atol=1e-9)


def test_contributions_add_up_to_the_raw_score(scored):
    model, X = scored
    expl = explain(model, X)
    np.testing.assert_allclose(expl.values.sum(axis=1).to_numpy() + expl.base_value,
                               model.raw_score(X), atol=1e-9)


def test_linear_shap_of_the_logistic_baseline_adds_up():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"recency_days": rng.exponential(50, 300), "frequency": rng.poisson(5, 300) + 1.0,
                      "gap_mean_days": np.where(rng.random(300) < 0.2, np.nan, rng.exponential(30, 300)),
                      "unused": rng.normal(size=300)})
    y = (X["recency_days"] > 40).to_numpy().astype(int)
    cand = LogisticRFMCandidate().fit(X, y, X, y)
    c = cand.contributions(X)
    assert c.shape == (300, 5)
    np.testing.assert_allclose(c.sum(axis=1), cand.raw_score(X), atol=1e-9)
    assert np.all(c[:, 3] == 0)  # a feature the baseline does not use explains nothing
    # recency pushes risk up for long-absent customers
    assert c[X["recency_days"].to_numpy() > 150, 0].min() > 0


def test_global_importance_ranks_and_sums_to_one(scored):
    model, X = scored
    imp = global_importance(explain(model, X))
    assert list(imp["mean_abs_shap"]) == sorted(imp["mean_abs_shap"], reverse=True)
    assert imp["share"].sum() == pytest.approx(1.0)
    assert set(imp["feature"]) == set(model.feature_names)


def test_drivers_are_the_largest_positive_contributions_with_sentences(scored):
    model, X = scored
    expl = explain(model, X)
    d = drivers(expl, 3)
    assert list(d.columns) == driver_columns(3)
    assert d.index.equals(X.index)
    vals = expl.values
    for cid in X.index[:50]:
        row = vals.loc[cid]
        expected = row[row > 0].sort_values(ascending=False, kind="stable").head(3)
        got = d.loc[cid, ["driver_1_feature", "driver_2_feature", "driver_3_feature"]].dropna()
        assert list(got) == list(expected.index)
        c = d.loc[cid, ["driver_1_contribution", "driver_2_contribution", "driver_3_contribution"]]
        assert np.all(np.diff(c.dropna().to_numpy()) <= 0)
        for k in range(1, len(got) + 1):
            s = d.loc[cid, f"driver_{k}_sentence"]
            assert isinstance(s, str) and len(s) > 5 and "_" not in s


def test_a_customer_with_no_positive_contribution_gets_empty_drivers():
    from churnmodel.explain import Explanation

    values = pd.DataFrame({"recency_days": [-0.5, 0.2], "frequency": [-0.1, 0.4]}, index=[7, 8])
    data = pd.DataFrame({"recency_days": [3.0, 200.0], "frequency": [9.0, 1.0]}, index=[7, 8])
    d = drivers(Explanation(values, np.zeros(2), data), 3)
    assert d.loc[7].drop([c for c in d.columns if "contribution" in c]).isna().all()
    assert list(d.loc[8, ["driver_1_feature", "driver_2_feature"]]) == ["frequency", "recency_days"]
    assert d.loc[8, "driver_1_sentence"] == "Only 1 purchase day ever"
    assert d.loc[8, "driver_2_sentence"] == "No purchase for 200 days"
    assert pd.isna(d.loc[8, "driver_3_feature"])


@pytest.mark.parametrize("feature, value, row, expected", [
    ("recency_days", 94, {"gap_mean_days": 30.0},
     "No purchase for 94 days — 3.1× this customer's usual gap of 30 days"),
    ("recency_days", 12, {}, "No purchase for 12 days"),
    ("csat_last", 2, {"csat_mean": 4.2}, "Last CSAT 2/5, down from an average of 4.2"),
    ("csat_last", 4, {"csat_mean": 4.0}, "Last CSAT 4/5"),
    ("csat_trend_90d", -1.25, {}, "CSAT in the last 90 days down 1.2 points vs before"),
    ("nps_last", 3, {}, "Last NPS answer 3/10 (a detractor)"),
    ("nps_last", np.nan, {}, "No NPS answer on record"),
    ("overdue_ratio", 2.5, {"gap_mean_days": 20.0},
     "Next purchase overdue: 2.5× the usual gap of 20 days has passed"),
    ("gap_mean_days", None, {}, "Only one purchase so far: no purchase rhythm yet"),
    ("trend_90d", 0.25, {}, "Buying less: 75% fewer purchases in the last 90 days than before"),
    ("n_90d", 1, {}, "Only 1 purchase in the last 90 days"),
    ("n_365d", 0, {}, "No purchases in the last 365 days"),
    ("complaints_90d", 3, {}, "3 complaints in the last 90 days"),
    ("resolution_hours_max_365d", 130.4, {}, "A ticket took 130 hours to resolve in the last year"),
    ("slow_tickets_365d", 1, {}, "1 ticket took over 72 hours to resolve in the last year"),
    ("open_tickets", 1, {"open_ticket_age_days": 9.0}, "1 ticket still open, the oldest for 9 days"),
    ("days_since_ticket", np.nan, {}, "No support ticket on record"),
    ("tenure_days", 40, {}, "Customer for 40 days (a new customer)"),
    ("loyalty_tier", "bronze", {}, "Loyalty tier: bronze"),
    ("some_new_feature", 2.5, {}, "Some new feature: 2.5"),
])
def test_sentences_for_known_inputs(feature, value, row, expected):
    assert catalog.sentence(feature, value, row) == expected


def test_every_feature_of_the_default_builders_has_a_definition(scored):
    model, _ = scored
    described = catalog.describe(model.feature_names)
    missing = [d["feature"] for d in described if d["family"] == "other"]
    assert not missing, f"add these features to features/catalog.py: {missing}"


# --------------------------------------------------------- explaining chosen customers

def test_explaining_chosen_customers_agrees_with_batch_scoring(default_training, default_data_dir):
    from churnmodel.explain import explain_customers
    from churnmodel.scoring import score_customers

    model = default_training.model
    tables = load_default_tables(default_data_dir)
    scores = score_customers(model, tables, "2025-12-31").set_index("customer_id")
    risky = scores.index[scores["at_risk"]][:3].tolist()
    calm = scores.index[~scores["at_risk"]][-2:].tolist()
    frame = explain_customers(model, tables, "2025-12-31", [str(i) for i in risky + calm], n=3)
    assert frame["customer_id"].drop_duplicates().tolist() == risky + calm
    for cid, rows in frame.groupby("customer_id"):
        assert rows["churn_probability"].iloc[0] == pytest.approx(
            scores.loc[cid, "churn_probability"], abs=1e-12)
        assert bool(rows["at_risk"].iloc[0]) == bool(scores.loc[cid, "at_risk"])
        up, down = rows[rows["direction"] == "up"], rows[rows["direction"] == "down"]
        assert (up["contribution"] > 0).all() and up["contribution"].is_monotonic_decreasing
        assert (down["contribution"] < 0).all() and down["contribution"].is_monotonic_increasing
        assert rows["sentence"].str.len().gt(0).all()
        if cid in risky:  # the same drivers, in the same order, as the scored file
            for k, r in enumerate(up.itertuples(), start=1):
                assert r.feature == scores.loc[cid, f"driver_{k}_feature"]
                assert r.contribution == pytest.approx(scores.loc[cid, f"driver_{k}_contribution"],
                                                       abs=1e-9)


def test_explaining_a_customer_who_is_not_active_or_not_an_id_says_which(default_training,
                                                                          default_data_dir):
    from churnmodel.errors import ChurnModelError
    from churnmodel.explain import explain_customers

    model, tables = default_training.model, load_default_tables(default_data_dir)
    with pytest.raises(ChurnModelError, match=r"1 customer\(s\) not active at 2025-12-31: 999999999"):
        explain_customers(model, tables, "2025-12-31", ["999999999"])
    with pytest.raises(ChurnModelError, match=r"customer id 'abc' is not a whole number"):
        explain_customers(model, tables, "2025-12-31", ["abc"])


def test_a_factor_holding_risk_down_is_not_worded_as_a_shortfall():
    from churnmodel.explain import _for_direction

    assert _for_direction("Only 2 purchases in the last 90 days", "down") == \
        "2 purchases in the last 90 days"
    assert _for_direction("Only 2 purchases in the last 90 days", "up") == \
        "Only 2 purchases in the last 90 days"
