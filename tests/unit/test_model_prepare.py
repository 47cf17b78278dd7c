"""ChurnModel.prepare: the whole-frame cast gives exactly what the column-by-column cast gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.errors import ModelInputError
from churnmodel.modeling.calibration import Calibrator
from churnmodel.modeling.model import ChurnModel

NUMERIC = ["recency_days", "frequency", "monetary_total", "csat_last", "has_ticket"]
CATEGORIES = {"region": ["east", "north", "south", "west"], "nps_group": ["detractor", "passive",
                                                                        "promoter"]}
# training order interleaves numeric and categorical columns
FEATURES = ["recency_days", "region", "frequency", "monetary_total", "nps_group", "csat_last",
            "has_ticket"]


def _model() -> ChurnModel:
    return ChurnModel(name="lightgbm", candidate=None, calibrator=Calibrator(), feature_names=FEATURES,
                      categories=CATEGORIES, builders=["rfm"], horizon_days=90,
                      activity_lookback_days=365)


def _prepare_column_by_column(model: ChurnModel, X: pd.DataFrame) -> pd.DataFrame:
    """The previous implementation, kept verbatim as the reference."""
    out = X[model.feature_names].copy()
    for col in model.feature_names:
        if col in model.categories:
            vals = out[col].astype("string")
            vals = vals.where(vals.isin(model.categories[col]))
            out[col] = pd.Categorical(vals.to_numpy(dtype=object, na_value=None),
                                      categories=model.categories[col])
        elif not pd.api.types.is_numeric_dtype(out[col]):
            conv = pd.to_numeric(out[col], errors="coerce")
            out[col] = conv.astype("float64")
        else:
            out[col] = out[col].astype("float64")
    return out


def _frame(n: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "recency_days": rng.integers(0, 400, n),                           # int64
        "frequency": pd.array(rng.integers(1, 9, n), dtype="Int64"),        # nullable int
        "monetary_total": rng.normal(100, 30, n),                           # float64
        "csat_last": pd.array(rng.normal(3, 1, n), dtype="Float64"),        # nullable float
        "has_ticket": rng.integers(0, 2, n).astype(bool),                   # bool
        "region": rng.choice(["east", "north", "south", "west"], n),        # plain text
        "nps_group": pd.Categorical(rng.choice(["detractor", "passive", "promoter"], n),
                                    categories=CATEGORIES["nps_group"]),    # already categorical
        "extra": 1.0,                                                       # ignored
    }, index=pd.Index(range(100, 100 + n), name="row"))


def _spoilt() -> pd.DataFrame:
    X = _frame()
    X["frequency"] = X["frequency"].astype("Int64")
    X.loc[101, "frequency"] = pd.NA
    X.loc[102, "csat_last"] = pd.NA
    X["region"] = pd.array(["east", None, "atlantis", "west", "north", "south"], dtype="string")
    X["nps_group"] = pd.Categorical(["promoter", None, "passive", "promoter", "x", "detractor"])
    X["monetary_total"] = X["monetary_total"].astype(str).astype(object)  # numbers as text (JSON)
    return X


@pytest.mark.parametrize("make", [_frame, _spoilt, lambda: _frame(1), lambda: _frame(300, seed=3),
                                  lambda: _frame(12_000, seed=4)],
                         ids=["typed", "missing-unseen-and-text", "one-row", "300-rows", "12k-rows"])
def test_prepare_equals_the_column_by_column_cast(make):
    model, X = _model(), make()
    got = model.prepare(X)
    pd.testing.assert_frame_equal(got, _prepare_column_by_column(model, X), check_exact=True)
    assert list(got.columns) == FEATURES and got.index.equals(X.index)


def test_prepare_of_a_prepared_frame_changes_nothing():
    model = _model()
    once = model.prepare(_spoilt())
    pd.testing.assert_frame_equal(model.prepare(once), once, check_exact=True)


def test_prepare_never_changes_its_input():
    model, X = _model(), _spoilt()
    before = X.copy()
    model.prepare(X)
    pd.testing.assert_frame_equal(X, before)


def test_a_text_value_in_a_numeric_feature_is_refused_with_its_column_and_an_example():
    X = _frame().astype({"csat_last": object})
    X.loc[103, "csat_last"] = "n/a"
    with pytest.raises(ModelInputError, match=r"'csat_last' must be numeric; 1 value\(s\) .*'n/a'"):
        _model().prepare(X)


def test_lightgbm_scores_the_prepared_matrix_exactly_as_from_the_frame():
    from churnmodel.config import ModelConfig
    from churnmodel.modeling.candidates import LightGBMCandidate

    model = _model()
    X, Xv = model.prepare(_frame(400, seed=5)), model.prepare(_frame(200, seed=6))
    y = (X["recency_days"] > 200).to_numpy(dtype=int) ^ (X["region"] == "west").to_numpy(dtype=int)
    yv = (Xv["recency_days"] > 200).to_numpy(dtype=int)
    cand = LightGBMCandidate(ModelConfig(n_estimators=20, early_stopping_rounds=5, min_child_samples=5,
                                         n_jobs=1)).fit(X, y, Xv, yv)
    assert isinstance(cand._matrix(Xv), np.ndarray)  # the fast path is taken
    spoilt = model.prepare(_spoilt())  # missing values and unseen levels
    for frame in (Xv, spoilt, Xv.head(1)):
        it = cand.best_iteration_
        expect = cand.booster_.predict(frame, raw_score=True, num_iteration=it)
        np.testing.assert_array_equal(cand.raw_score(frame), expect)
        np.testing.assert_array_equal(cand.contributions(frame),
                                      cand.booster_.predict(frame, pred_contrib=True, num_iteration=it))
    # levels in another order than training: LightGBM maps the frame itself
    other = Xv.assign(region=Xv["region"].cat.reorder_categories(["west", "south", "north", "east"]))
    assert cand._matrix(other) is other
    np.testing.assert_array_equal(cand.raw_score(other), cand.raw_score(Xv))
