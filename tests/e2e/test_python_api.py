"""The README's Python quickstart on a project of its own: every call runs, and each agrees
with the command line's functions on the same model (one path, two ways in)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmodel.data.synthetic import generate, write_synthetic


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import churnmodel as cm

    root = tmp_path_factory.mktemp("api")
    write_synthetic(root / "shop_data", generate(customers=1200, seed=8))
    (root / "conf").mkdir()
    (root / "conf" / "shop.toml").write_text(
        '[data]\ndir = "../shop_data"\n[model]\nn_estimators = 80\n'
        "[training]\nn_cutoffs = 8\n[survival]\nenabled = false\n[tracking]\nenabled = false\n")
    return cm.Project(root / "conf" / "shop.toml", root=root).fit()


def test_fit_saves_the_model_in_the_projects_own_folder(project):
    assert project.name == "shop"
    assert (project.root / "models" / "shop" / "model.joblib").exists()
    assert project.result_ is not None and project.model_ is project.result_.model
    assert "fitted=True" in repr(project)


def test_score_features_predict_and_decide_agree(project):
    scores = project.score()
    assert len(scores) > 0 and scores["customer_id"].is_unique
    ids = scores["customer_id"].iloc[::25].tolist()
    X = project.features(customers=ids)
    assert X.index.tolist() == ids and "customer_value" in X.columns
    by_id = scores.set_index("customer_id").loc[ids]
    proba = project.predict_proba(X)
    assert proba.shape == (len(ids), 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(proba[:, 1], by_id["churn_probability"].to_numpy())
    assert np.array_equal(project.predict(X), by_id["at_risk"].to_numpy())
    decided = project.decide(X)
    for col in ("risk_band", "state", "action"):
        assert decided[col].astype(str).tolist() == by_id[col].astype(str).tolist(), col


def test_the_call_list_is_the_scores_contacts_by_expected_gain(project):
    from churnmodel.scoring import call_list

    calls = project.call_list(10)
    assert len(calls) <= 10 and set(calls["action"]) <= {"retain now", "win back"}
    assert calls["expected_gain"].is_monotonic_decreasing
    assert calls.equals(call_list(project.score(), 10, project.model.policy()))


def test_explain_segment_and_report(project):
    scores = project.score()
    ids = scores.loc[scores["at_risk"], "customer_id"].head(2).tolist() or \
        scores["customer_id"].head(2).tolist()
    why = project.explain(ids)
    assert set(why["customer_id"]) == set(ids) and why["sentence"].notna().all()
    seg = project.segment().table
    assert len(seg) == len(scores) and {"rfm_segment", "action"} <= set(seg.columns)
    path = project.report()
    assert path == project.root / "reports" / "shop" / "churn_report.html"
    assert "Call list" in path.read_text()


def test_a_second_project_object_loads_the_saved_model(project):
    import churnmodel as cm

    again = cm.Project(project.root / "conf" / "shop.toml", root=project.root)
    assert again.model_ is None
    s1, s2 = project.score(explain=False), again.score(explain=False)
    pd.testing.assert_frame_equal(s1, s2)
    assert Path(again.config.output.model_dir) == project.root / "models" / "shop"
