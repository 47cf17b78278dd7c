"""rfm_features on hand-made transactions, every number worked out by hand.

Cutoff 2025-03-31. Ages are whole days back from the cutoff day:
2024-12-01 = 120, 2024-12-11 = 110, 2024-12-31 = 90, 2025-01-01 = 89, 2025-01-30 = 60,
2025-03-01 = 30, 2025-03-02 = 29, 2025-03-10 = 21, 2025-03-11 = 20, 2025-03-21 = 10.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from churnmodel.data.tables import Tables
from churnmodel.features import rfm_features

CUTOFF = pd.Timestamp("2025-03-31")

ROWS = [
    # customer a: boundaries, same-day orders, a refund, events after the cutoff day
    ("a", "2025-01-01 08:00", 10.0, "shoes"),
    ("a", "2025-01-01 18:30", 5.0, "socks"),  # same day as above: one purchase of 15
    ("a", "2025-03-01 12:00", 20.0, "shoes"),  # age 30: outside the 30-day window
    ("a", "2025-03-02 09:00", 40.0, "hats"),  # age 29: inside the 30-day window
    ("a", "2025-03-10 14:00", -8.0, "gifts"),  # refund
    ("a", "2025-03-31 23:59", 25.0, "shoes"),  # late on the cutoff day: included, age 0
    ("a", "2025-04-01 00:00", 100.0, "toys"),  # the next day: ignored
    ("a", "2025-04-02 10:00", -50.0, "shoes"),  # refund after the cutoff: ignored
    # customer b: a purchase rhythm with gaps 10, 20, 30 days
    ("b", "2024-12-01", 10.0, "books"),  # age 120
    ("b", "2024-12-11", 20.0, "books"),  # age 110
    ("b", "2024-12-31", 30.0, "books"),  # age 90: previous 90-day window
    ("b", "2025-01-30", 40.0, "books"),  # age 60
    # customer d: refunds only
    ("d", "2025-02-01", -12.0, "books"),
    # customer e: a single purchase
    ("e", "2025-03-21", 9.0, "books"),  # age 10
    # customer f: two purchases
    ("f", "2025-03-11", 5.0, "books"),  # age 20
    ("f", "2025-03-21", 5.0, "books"),  # age 10
]


def _tables(with_category: bool = True) -> Tables:
    tx = pd.DataFrame(ROWS, columns=["customer_id", "ts", "amount", "category"])
    tx["ts"] = pd.to_datetime(tx["ts"], format="ISO8601")
    if not with_category:
        tx = tx.drop(columns="category")
    return Tables(tx)


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return rfm_features(_tables(), CUTOFF, pd.Index(["a", "b", "c", "d", "e", "f"]))


def test_recency_frequency_and_monetary_count_purchase_days_not_order_lines(feats):
    a = feats.loc["a"]
    # purchase days: Jan 1 (10 + 5 = 15), Mar 1 (20), Mar 2 (40), Mar 31 (25)
    assert a["recency_days"] == 0.0
    assert a["frequency"] == 4.0
    assert a["monetary_total"] == 100.0  # 15 + 20 + 40 + 25
    assert a["monetary_mean"] == 25.0  # 100 / 4 purchase days
    assert a["tenure_days"] == 89.0  # first purchase Jan 1


def test_tenure_and_purchase_rate_of_a_regular_customer(feats):
    b = feats.loc["b"]
    assert b["recency_days"] == 60.0
    assert b["tenure_days"] == 120.0
    assert b["monetary_total"] == 100.0 and b["monetary_mean"] == 25.0
    assert b["purchases_per_30d"] == 1.0  # 4 * 30 / max(120, 30)


def test_thirty_day_window_excludes_day_thirty_and_includes_day_twenty_nine(feats):
    a = feats.loc["a"]
    # (cutoff - 30, cutoff] holds ages 0..29: Mar 2 (40) and Mar 31 (25), not Mar 1 (age 30)
    assert a["n_30d"] == 2.0
    assert a["spend_30d"] == 65.0
    # ages 0..89 fall in the 90-day window: all four purchase days
    assert a["n_90d"] == 4.0 and a["spend_90d"] == 100.0
    assert a["n_180d"] == 4.0 and a["n_365d"] == 4.0 and a["spend_365d"] == 100.0


def test_ninety_day_boundary_moves_a_purchase_into_the_previous_window(feats):
    b = feats.loc["b"]
    # age 60 is in the 90-day window; ages 90, 110, 120 are in the previous 90 days
    assert b["n_30d"] == 0.0 and b["spend_30d"] == 0.0
    assert b["n_90d"] == 1.0 and b["spend_90d"] == 40.0
    assert b["n_180d"] == 4.0 and b["spend_180d"] == 100.0
    assert b["trend_90d"] == 0.5  # (1 + 1) / (3 + 1)


def test_trend_with_an_empty_previous_window(feats):
    assert feats.loc["a", "trend_90d"] == 5.0  # (4 + 1) / (0 + 1)


def test_gap_mean_sample_std_and_last_gap(feats):
    b = feats.loc["b"]
    # gaps 10, 20, 30: mean 20, sample std sqrt((100 + 0 + 100) / 2) = 10, last 30
    assert b["gap_mean_days"] == 20.0
    assert b["gap_std_days"] == pytest.approx(10.0)
    assert b["gap_last_days"] == 30.0
    assert b["overdue_ratio"] == 3.0  # recency 60 / mean gap 20


def test_gaps_of_a_customer_with_same_day_orders_use_purchase_days(feats):
    a = feats.loc["a"]
    # purchase days Jan 1, Mar 1, Mar 2, Mar 31: gaps 59, 1, 29
    assert a["gap_mean_days"] == pytest.approx(89 / 3)
    assert a["gap_last_days"] == 29.0
    assert a["overdue_ratio"] == 0.0  # bought on the cutoff day


def test_gap_std_needs_two_gaps_and_gap_mean_needs_one(feats):
    e, f = feats.loc["e"], feats.loc["f"]
    assert math.isnan(e["gap_mean_days"]) and math.isnan(e["gap_std_days"])
    assert math.isnan(e["gap_last_days"]) and math.isnan(e["overdue_ratio"])
    assert e["tenure_days"] == 10.0 and e["recency_days"] == 10.0  # first = last purchase
    assert e["purchases_per_30d"] == 1.0  # 1 * 30 / max(10, 30)
    # f: one gap of 10 days, std needs two
    assert f["gap_mean_days"] == 10.0 and f["gap_last_days"] == 10.0
    assert math.isnan(f["gap_std_days"])
    assert f["overdue_ratio"] == 1.0  # recency 10 / 10


def test_refunds_are_counted_apart_and_not_as_purchases(feats):
    a, d = feats.loc["a"], feats.loc["d"]
    assert a["refund_count"] == 1.0 and a["refund_total"] == 8.0  # the Apr 2 refund is later
    # d only has a refund: no purchase, so no recency, but the refund is counted
    assert d["frequency"] == 0.0 and d["monetary_total"] == 0.0
    assert math.isnan(d["recency_days"])
    assert d["refund_count"] == 1.0 and d["refund_total"] == 12.0
    assert feats.loc["b", "refund_count"] == 0.0 and feats.loc["b", "refund_total"] == 0.0


def test_distinct_categories_count_only_purchase_lines_up_to_the_cutoff(feats):
    # a bought shoes, socks, hats; 'gifts' was a refund and 'toys' came after the cutoff
    assert feats.loc["a", "distinct_categories"] == 3.0
    assert feats.loc["b", "distinct_categories"] == 1.0
    assert feats.loc["c", "distinct_categories"] == 0.0


def test_customer_without_history_gets_zero_counts_zero_sums_and_nan_recency(feats):
    c = feats.loc["c"]
    zero = ["frequency", "monetary_total", "purchases_per_30d", "refund_count", "refund_total"]
    zero += [f"{p}_{w}d" for p in ("n", "spend") for w in (30, 90, 180, 365)]
    assert (c[zero] == 0.0).all()
    assert c["trend_90d"] == 1.0  # (0 + 1) / (0 + 1)
    nan = ["recency_days", "monetary_mean", "tenure_days", "gap_mean_days", "gap_std_days",
           "gap_last_days", "overdue_ratio"]
    assert c[nan].isna().all()


def test_events_after_the_cutoff_day_are_ignored_and_late_events_on_it_count(feats):
    # a's 23:59 purchase on the cutoff day is in (recency 0, 25 in the 30-day spend);
    # the 100.0 at 00:00 the next day is not
    assert feats.loc["a", "recency_days"] == 0.0
    assert feats.loc["a", "spend_30d"] == 65.0
    earlier = rfm_features(_tables(), pd.Timestamp("2025-03-30"), pd.Index(["a"]))
    # one day earlier the 23:59 purchase is in the future: last purchase Mar 2, age 28
    assert earlier.loc["a", "recency_days"] == 28.0
    assert earlier.loc["a", "frequency"] == 3.0


def test_rows_follow_the_population_order_and_are_all_float():
    f = rfm_features(_tables(), CUTOFF, pd.Index(["f", "zz", "a"]))
    assert f.index.tolist() == ["f", "zz", "a"]
    assert (f.dtypes == "float64").all()
    assert f.loc["zz", "frequency"] == 0.0


def test_table_without_category_has_no_distinct_categories_column():
    f = rfm_features(_tables(with_category=False), CUTOFF, pd.Index(["a"]))
    assert "distinct_categories" not in f.columns
    assert f.loc["a", "frequency"] == 4.0


def test_a_query_over_the_memory_limit_runs_again_without_it_and_gives_the_same_numbers(
        monkeypatch, caplog, feats):
    import churnmodel.features.base as base

    monkeypatch.setattr(base, "MEMORY_LIMIT", "1MB")  # too little for DuckDB even to spill
    with caplog.at_level("WARNING", logger="churnmodel.features.base"):
        got = rfm_features(_tables(), CUTOFF, pd.Index(["a", "b", "c", "d", "e", "f"]))
    assert "needed more than 1MB" in caplog.text
    pd.testing.assert_frame_equal(got, feats)


def test_label_columns_read_as_categoricals_give_the_same_features(feats):
    t = _tables()
    tx = t.transactions.assign(category=t.transactions["category"].astype("category"))
    pd.testing.assert_frame_equal(rfm_features(Tables(tx), CUTOFF, feats.index), feats)
