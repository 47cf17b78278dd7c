"""SHAP explanations: the fast path equals `shap`, contributions add up, drivers read well."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from churnmodel.data.io import load_default_tables
from churnmodel.explain import driver_columns, drivers, explain, global_importance, lever_columns, levers
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


def test_drivers_are_the_largest_positive_contributions_one_per_fact(scored):
    model, X = scored
    expl = explain(model, X)
    d = drivers(expl, 3)
    assert list(d.columns) == driver_columns(3)
    assert d.index.equals(X.index)
    vals = expl.values
    records = X.to_dict("index")
    for cid in X.index[:80]:
        row = vals.loc[cid]
        ranked = row[row > 0].sort_values(ascending=False, kind="stable")
        got = d.loc[cid, ["driver_1_feature", "driver_2_feature", "driver_3_feature"]].dropna().tolist()
        facts = [catalog.fact(f, records[cid][f], records[cid]) for f in got]
        assert len(set(facts)) == len(facts)
        # every stronger feature left out states a fact already said
        said: set[str] = set()
        for f in ranked.index:
            if len(said) == len(got):
                break
            key = catalog.fact(f, records[cid][f], records[cid])
            if f in got:
                said.add(key)
            else:
                assert key in said or catalog.sentence(f, records[cid][f], records[cid]) in \
                    set(d.loc[cid, ["driver_1_sentence", "driver_2_sentence", "driver_3_sentence"]])
        c = d.loc[cid, ["driver_1_contribution", "driver_2_contribution", "driver_3_contribution"]]
        assert np.all(np.diff(c.dropna().to_numpy()) <= 0) and np.all(c.dropna() > 0)
        for k in range(1, len(got) + 1):
            s = d.loc[cid, f"driver_{k}_sentence"]
            assert isinstance(s, str) and len(s) > 5 and "_" not in s
            f = got[k - 1]
            if f in model.categories:
                assert pd.isna(d.loc[cid, f"driver_{k}_value"])
            else:
                v = records[cid][f]
                assert (pd.isna(v) and pd.isna(d.loc[cid, f"driver_{k}_value"])) or \
                    d.loc[cid, f"driver_{k}_value"] == v
    assert d["driver_1_value"].dtype == np.float64


def test_levers_are_actionable_features_raising_risk(scored):
    model, X = scored
    expl = explain(model, X)
    lv = levers(expl, 3)
    assert list(lv.columns) == lever_columns(3)
    feats = pd.concat([lv[f"lever_{k}_feature"] for k in (1, 2, 3)]).dropna()
    assert len(feats) > 0 and {catalog.kind(f) for f in feats} == {"lever"}
    contrib = pd.concat([lv[f"lever_{k}_contribution"] for k in (1, 2, 3)]).dropna()
    assert (contrib > 0).all()
    assert lv["lever_1_sentence"].dropna().str.contains(" — ").all()
    # the symptom that led 1,216 of 1,460 lists is a state, never a lever
    assert "days_since_feedback" not in set(feats)


def test_a_customer_with_no_positive_contribution_gets_empty_drivers():
    from churnmodel.explain import Explanation

    values = pd.DataFrame({"recency_days": [-0.5, 0.2], "frequency": [-0.1, 0.4]}, index=[7, 8])
    data = pd.DataFrame({"recency_days": [3.0, 200.0], "frequency": [9.0, 1.0]}, index=[7, 8])
    d = drivers(Explanation(values, np.zeros(2), data), 3)
    assert d.loc[7].drop([c for c in d.columns if "contribution" in c]).isna().all()
    assert list(d.loc[8, ["driver_1_feature", "driver_2_feature"]]) == ["frequency", "recency_days"]
    assert d.loc[8, "driver_1_sentence"] == "Has made only 1 purchase so far"
    assert d.loc[8, "driver_2_sentence"] == "Has not bought for 200 days"
    assert d.loc[8, "driver_1_value"] == 1.0
    assert pd.isna(d.loc[8, "driver_3_feature"])


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
        lever = rows[rows["direction"] == "lever"]
        assert (lever["contribution"] > 0).all() and lever["contribution"].is_monotonic_decreasing
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


def test_factors_holding_risk_down_are_worded_for_their_direction(default_training,
                                                                   default_data_dir):
    from churnmodel.explain import explain_customers
    from churnmodel.scoring import score_customers

    model = default_training.model
    tables = load_default_tables(default_data_dir)
    scores = score_customers(model, tables, "2025-12-31", explain=False)
    ids = scores["customer_id"].iloc[::400].astype(str).tolist()
    frame = explain_customers(model, tables, "2025-12-31", ids, n=3)
    down = frame[frame["direction"] == "down"]
    assert len(down) > 0
    shortfall = r"(?:made|Buys|from) only|Has not answered a survey|Has not bought"
    assert not down["sentence"].str.contains(shortfall, regex=True).any()
    for _, rows in frame.groupby("customer_id"):
        said = rows[rows["direction"].isin(["up", "down"])]["sentence"]
        assert not said.duplicated().any()
    lev = frame[frame["direction"] == "lever"]
    assert {catalog.kind(f) for f in lev["feature"]} <= {"lever"}
    assert frame["value"].dtype == np.float64
