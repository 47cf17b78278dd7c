"""Snapshot mode: the column typing decisions, the flag, the sentences and the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import config_from_dict
from churnmodel.errors import ConfigError, DataError
from churnmodel.snapshot.candidates import BestColumnCandidate, LogisticOneHotCandidate, _as_text
from churnmodel.snapshot.columns import OTHER, feature_frame, humanise, parse_flag, type_columns
from churnmodel.snapshot.train import check_labels

N = 24


def frame() -> pd.DataFrame:
    """24 customers in the shapes a spreadsheet export has."""
    i = np.arange(N)
    return pd.DataFrame({
        "customerID": [f"{k:04d}-AB" for k in i],
        "Churn": ["Yes", "no", "TRUE", "0", " ", ""] * 4,
        "Contract": ["Month-to-month", "One year", "Two year"] * 8,
        "Senior": [0, 1] * 12,  # 0/1 integers
        "tenure": (i % 12) * 6,  # integers, some repeated
        "Total": [" " if k % 6 == 0 else f"{k * 10.5:.2f}" for k in i],  # numbers as text
        "Country": ["US"] * N,  # constant
        "RowNumber": i + 1000,  # a second id: distinct whole numbers
        "Email": [f"c{k}@x.org" for k in i],  # unique text
        "Online": ["Yes", "No", "No internet service"] * 8,
        "Empty": [" "] * N,
        "Secret": [1.5] * 12 + [2.5] * 12,
    })


def test_every_column_gets_the_decision_a_data_scientist_would_make():
    t = type_columns(frame(), "customerID", "Churn", exclude=["Secret"])
    got = [(d.column, d.kind, d.reason) for d in t.decisions]
    assert got == [
        ("Contract", "categorical", "text, 3 levels"),
        ("Senior", "numeric", "numbers, 0/1"),
        ("tenure", "numeric", "numbers"),
        ("Total", "numeric", "numbers stored as text, 4 blank -> missing"),
        ("Country", "dropped", "constant: 'US' on every row"),
        ("RowNumber", "dropped", "id-like: a different whole number on every row"),
        ("Email", "dropped", "id-like: unique per row"),
        ("Online", "categorical", "text, 3 levels"),
        ("Empty", "dropped", "empty on every row"),
        ("Secret", "dropped", "listed in [features] exclude"),
    ]
    assert t.features == ["Contract", "Senior", "tenure", "Total", "Online"]
    assert t.categories == {"Contract": ["Month-to-month", "One year", "Two year"],
                            "Online": ["No", "No internet service", "Yes"]}  # by count, then name
    assert t.decision("Senior").binary and not t.decision("tenure").binary
    assert t.decision("tenure").unit == "months"  # a bare tenure past 20: months


def test_dates_and_mapped_leaking_columns_are_left_out_with_their_reason():
    df = frame().assign(Signed=["2024-01-31", "2023-12-01 10:00", " ", "05/03/2022"] * 6,
                        Left=["2025-02-01", ""] * 12)
    t = type_columns(df, "customerID", "Churn", leave_out={"Left": "the churn date: leaks"})
    assert t.decision("Signed").reason.startswith("dates: ") and t.decision("Signed").kind == "dropped"
    assert (t.decision("Left").kind, t.decision("Left").reason) == ("dropped", "the churn date: leaks")


def test_feature_frame_turns_blank_text_into_missing_numbers_and_keeps_levels():
    df = frame()
    t = type_columns(df, "customerID", "Churn")
    X = feature_frame(df, t)
    assert list(X.columns) == t.features
    assert X["Total"].dtype == "float64"
    assert X["Total"].isna().sum() == 4 and X["Total"].iloc[1] == 10.5
    assert X["Contract"].iloc[:3].tolist() == ["Month-to-month", "One year", "Two year"]


def test_a_number_column_holding_text_when_scored_is_one_error_with_the_count():
    df = frame()
    t = type_columns(df, "customerID", "Churn")
    bad = df.assign(Total=["n/a", "x"] + df["Total"].tolist()[2:])
    with pytest.raises(DataError, match=r"column 'Total'.*\(2 rows\); e.g. 'n/a'"):
        feature_frame(bad, t)
    with pytest.raises(DataError, match="lacks|missing"):
        feature_frame(df.drop(columns=["Contract"]), t)


def test_rare_levels_beyond_the_limit_are_pooled(monkeypatch):
    import churnmodel.snapshot.columns as columns

    monkeypatch.setattr(columns, "MAX_LEVELS", 2)
    df = pd.DataFrame({"id": range(30), "f": ["y", "n"] * 15,
                       "plan": ["a"] * 14 + ["b"] * 10 + ["c"] * 4 + ["d"] * 2})
    t = type_columns(df, "id", "f")
    assert t.categories == {"plan": ["a", "b", OTHER]}
    assert "the 2 rarest pooled" in t.decision("plan").reason
    assert feature_frame(df, t)["plan"].iloc[-6:].tolist() == ["c"] * 0 + [OTHER] * 6


def test_the_flag_reads_any_case_and_blank_means_to_score():
    y = parse_flag(pd.Series(["Yes", "NO", "true", "False", "1", "0", " ", None, "y", "N"]), "Churn")
    assert y.tolist()[:6] == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert y.iloc[6:8].isna().all() and y.tolist()[8:] == [1.0, 0.0]
    assert parse_flag(pd.Series([1, 0, np.nan]), "c").tolist()[:2] == [1.0, 0.0]


def test_a_flag_with_other_values_is_one_error_with_count_and_examples():
    with pytest.raises(DataError, match=r"3 row\(s\) hold other values: 'maybe', 'churned'"):
        parse_flag(pd.Series(["Yes", "maybe", "churned", "maybe", "No"]), "Churn")


def test_labels_without_two_classes_or_with_few_of_one_are_refused_or_warned():
    with pytest.raises(DataError, match="no labelled row"):
        check_labels(pd.Series([np.nan, np.nan]), "Churn", 5)
    with pytest.raises(DataError, match="one class only: all 3 labelled customers stayed"):
        check_labels(pd.Series([0.0, 0.0, 0.0]), "Churn", 5)
    with pytest.raises(DataError, match="only 4 customer"):
        check_labels(pd.Series([1.0] * 4 + [0.0] * 100), "Churn", 5)
    warn = check_labels(pd.Series([1.0] * 20 + [0.0] * 100), "Churn", 5)
    assert len(warn) == 1 and "only 20 labelled customers of the rarer class" in warn[0]
    assert check_labels(pd.Series([1.0] * 60 + [0.0] * 100), "Churn", 5) == []


def test_customers_alone_is_snapshot_mode_and_a_typo_still_gets_a_suggestion():
    cfg = config_from_dict({"data": {"customers": {"path": "c.csv", "customer_id": "id",
                                                   "churned": "Churn"}}})
    assert cfg.data.snapshot and cfg.data.tables["customers"].columns["churned"] == "Churn"
    with pytest.raises(ConfigError, match="Did you mean 'churned'"):
        config_from_dict({"data": {"customers": {"path": "c.csv", "churn": "Churn"}}})
    with pytest.raises(ConfigError, match="snapshot mode"):
        config_from_dict({"data": {"feedback": {"path": "f.csv"}}})
    tx = {"transactions": {"path": "t.csv"}, "customers": {"path": "c.csv"}}
    assert not config_from_dict({"data": tx}).data.snapshot


def test_column_names_read_as_words():
    assert [humanise(c) for c in ("MonthlyCharges", "tenure", "PaymentMethod", "num_of_products",
                                  "SeniorCitizen")] == [
        "Monthly charges", "Tenure", "Payment method", "Num of products", "Senior citizen"]


def _prepared(n: int = 400, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["a", "b", "c"], n)
    x = rng.normal(size=n)
    noise = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x + (plan == "a"))))).astype(int)
    X = pd.DataFrame({"x": np.where(rng.random(n) < 0.1, np.nan, x), "noise": noise,
                      "plan": pd.Categorical(plan, categories=["a", "b", "c"])})
    return X, y


def test_logistic_contributions_add_up_to_its_raw_score():
    X, y = _prepared()
    m = LogisticOneHotCandidate(seed=1).fit(X, y)
    c = m.contributions(X)
    assert c.shape == (len(X), 4)
    np.testing.assert_allclose(c.sum(axis=1), m.raw_score(X), atol=1e-9)
    # the informative column carries more than the noise
    assert np.abs(c[:, 0]).mean() > 3 * np.abs(c[:, 1]).mean()


def test_the_logistic_fast_transform_equals_scikit_learns():
    X, y = _prepared()
    X = X.assign(plan=X["plan"].where(np.arange(len(X)) % 7 != 0))  # missing levels too
    m = LogisticOneHotCandidate(seed=1).fit(X, y)
    slow = m.transform_.transform(_as_text(X, m.cats_))
    np.testing.assert_allclose(m._z(X), slow, atol=1e-12)
    np.testing.assert_allclose(m._z(X.head(1)), slow[:1], atol=1e-12)


def test_the_best_single_column_is_the_one_that_ranks_best_in_its_direction():
    X, y = _prepared()
    m = BestColumnCandidate().fit(X.assign(x=-X["x"]), y)  # lower is riskier now
    assert m.column_ == "x" and m.sign_ == -1.0
    s = m.raw_score(X.assign(x=-X["x"]))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, s) == pytest.approx(m.train_auc_)
