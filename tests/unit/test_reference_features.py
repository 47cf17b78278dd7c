"""The fast DuckDB RFM builder agrees with the plain pandas reference implementation.

Three levels: a hand-made table whose numbers are worked out by hand, the synthetic data at
several cutoffs, and random small tables (hypothesis).

Hand-made table, cutoff 2025-06-30. Ages are whole days back from the cutoff day:
2024-06-30 = 365, 2025-01-01 = 180, 2025-03-02 = 120, 2025-04-01 = 90, 2025-05-31 = 30,
2025-06-20 = 10, 2025-06-30 = 0.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnmodel.data.synthetic import generate
from churnmodel.data.tables import Tables
from churnmodel.features import rfm_features
from churnmodel.features.reference import rfm_features_pandas
from churnmodel.labels import active_customers

COUNT_COLUMNS = ["frequency", "n_30d", "n_90d", "n_180d", "n_365d", "refund_count",
                 "distinct_categories"]


def assert_agree(fast: pd.DataFrame, ref: pd.DataFrame) -> None:
    """Same columns, index and values: floats to 1e-9, counts exactly."""
    assert list(ref.columns) == list(fast.columns)
    ref = ref[fast.columns].astype("float64")
    fast = fast.astype("float64")
    # "equiv": pandas 3 may hand the fast path a RangeIndex with the same values
    pd.testing.assert_index_equal(fast.index, ref.index, exact="equiv")
    pd.testing.assert_frame_equal(fast, ref, check_exact=False, rtol=1e-9, atol=1e-9,
                                  check_index_type="equiv")
    counts = [c for c in COUNT_COLUMNS if c in fast.columns]
    np.testing.assert_array_equal(fast[counts].to_numpy(), ref[counts].to_numpy())


# --- a hand-made table -------------------------------------------------------------------

CUTOFF = pd.Timestamp("2025-06-30")
ROWS = [
    # 1: two orders on one day, a purchase late on the cutoff day, one the next day (ignored)
    (1, "2025-04-01 09:00", 30.0, "a"),  # age 90
    (1, "2025-06-20 10:00", 10.0, "a"),  # age 10 ...
    (1, "2025-06-20 17:00", 15.0, "b"),  # ... same day: one purchase of 25
    (1, "2025-06-30 23:59", 20.0, "c"),  # age 0
    (1, "2025-07-01 00:00", 500.0, "d"),  # after the cutoff day: ignored
    # 2: refunds (counted line by line, their categories not counted)
    (2, "2025-01-01 12:00", 40.0, "a"),  # age 180
    (2, "2025-03-02 08:00", 60.0, "a"),  # age 120
    (2, "2025-03-05 08:00", -25.0, "a"),
    (2, "2025-05-31 08:00", -10.0, "b"),
    (2, "2025-07-02 08:00", -60.0, "a"),  # after the cutoff day: ignored
    # 3: a single old purchase (age 365: outside every window) and a zero-amount line
    (3, "2024-06-30 10:00", 12.5, "c"),
    (3, "2025-02-01 10:00", 0.0, "d"),
    # 4: only future events: no history at the cutoff
    (4, "2025-07-15 10:00", 99.0, "a"),
    # 9: not in the population
    (9, "2025-06-01 10:00", 7.0, "a"),
]
POP = pd.Index([1, 2, 3, 4, 5], name="customer_id")  # 5 never appears at all


def _hand_tables(with_category: bool = True) -> Tables:
    tx = pd.DataFrame(ROWS, columns=["customer_id", "ts", "amount", "category"])
    tx["ts"] = pd.to_datetime(tx["ts"])
    return Tables(tx if with_category else tx.drop(columns="category"))


NAN = math.nan
EXPECTED = {  # column: values for customers 1..5
    "recency_days": [0, 120, 365, NAN, NAN],
    "frequency": [3, 2, 1, 0, 0],
    "monetary_total": [75, 100, 12.5, 0, 0],
    "monetary_mean": [25, 50, 12.5, NAN, NAN],
    "tenure_days": [90, 180, 365, NAN, NAN],
    "purchases_per_30d": [1.0, 1 / 3, 30 / 365, 0, 0],
    "n_30d": [2, 0, 0, 0, 0],
    "spend_30d": [45, 0, 0, 0, 0],
    "n_90d": [2, 0, 0, 0, 0],
    "spend_90d": [45, 0, 0, 0, 0],
    "n_180d": [3, 1, 0, 0, 0],
    "spend_180d": [75, 60, 0, 0, 0],
    "n_365d": [3, 2, 0, 0, 0],
    "spend_365d": [75, 100, 0, 0, 0],
    "trend_90d": [3 / 2, 1 / 2, 1, 1, 1],  # (n_90d + 1) / (n in [90, 180) + 1)
    "gap_mean_days": [45, 60, NAN, NAN, NAN],  # gaps 80 and 10; 60
    "gap_std_days": [35 * math.sqrt(2), NAN, NAN, NAN, NAN],
    "gap_last_days": [10, 60, NAN, NAN, NAN],
    "overdue_ratio": [0, 2, NAN, NAN, NAN],
    "refund_count": [0, 2, 0, 0, 0],
    "refund_total": [0, 35, 0, 0, 0],
    "distinct_categories": [3, 1, 1, 0, 0],
}


@pytest.mark.parametrize("impl", [rfm_features, rfm_features_pandas], ids=["duckdb", "pandas"])
def test_hand_made_numbers(impl):
    got = impl(_hand_tables(), CUTOFF, POP)
    expected = pd.DataFrame(EXPECTED, index=POP, dtype="float64")
    # the builders round floats to FEATURE_DECIMALS (9) decimals: exact to 5e-10
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=6e-10)


@pytest.mark.parametrize("with_category", [True, False])
def test_hand_made_table_both_implementations_agree(with_category):
    tables = _hand_tables(with_category)
    pop = pd.Index([5, 3, 1, 4, 2])  # any order, no name
    fast = rfm_features(tables, CUTOFF, pop)
    ref = rfm_features_pandas(tables, CUTOFF, pop)
    assert ("distinct_categories" in ref.columns) is with_category
    assert_agree(fast, ref)
    assert ref.index.equals(pop) and ref.index.name is None


def test_cutoff_with_a_time_of_day_means_the_whole_day():
    tables = _hand_tables()
    at_noon = rfm_features_pandas(tables, CUTOFF + pd.Timedelta(hours=12), POP)
    pd.testing.assert_frame_equal(at_noon, rfm_features_pandas(tables, CUTOFF, POP))
    assert_agree(rfm_features(tables, CUTOFF + pd.Timedelta(hours=12), POP), at_noon)


# --- the synthetic data ------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic() -> Tables:
    d = generate(customers=3_000, seed=3)
    return Tables(d.transactions, customers=d.customers)


@pytest.mark.parametrize("cutoff", ["2024-03-31", "2025-01-15", "2025-09-30"])
def test_synthetic_active_customers(synthetic, cutoff):
    cutoff = pd.Timestamp(cutoff)
    pop = active_customers(synthetic, cutoff)
    assert len(pop) > 1000
    assert_agree(rfm_features(synthetic, cutoff, pop), rfm_features_pandas(synthetic, cutoff, pop))


@pytest.mark.parametrize("cutoff", ["2024-03-31", "2025-01-15", "2025-09-30"])
def test_synthetic_everyone_including_customers_without_history(synthetic, cutoff):
    cutoff = pd.Timestamp(cutoff)
    # every known customer (some sign up later, some lapsed long ago) plus unknown ids
    pop = pd.Index(np.concatenate([synthetic.customers["customer_id"].to_numpy(), [-1, -2]]),
                   name="customer_id")
    fast = rfm_features(synthetic, cutoff, pop)
    ref = rfm_features_pandas(synthetic, cutoff, pop)
    assert (ref["frequency"] == 0).sum() >= 2
    assert ref["recency_days"].notna().sum() > 1000
    assert_agree(fast, ref)


# --- random small tables -----------------------------------------------------------------

IDS = st.integers(1, 5)
# days relative to the cutoff day: the past, the window boundaries (often, so days repeat)
# and a little of the future
DAY = st.one_of(st.integers(-400, 3), st.sampled_from([0, -1, -29, -30, -89, -90, -179, -180, -365]))
MINUTE = st.integers(0, 24 * 60 - 1)
AMOUNT = st.one_of(st.sampled_from([-20.0, -5.0, 0.0, 5.0, 12.5, 40.0]),
                   st.floats(-300, 300, allow_nan=False).map(lambda x: round(x, 2)))
CATEGORY = st.sampled_from(["a", "b", "c", None])
ROW = st.tuples(IDS, DAY, MINUTE, AMOUNT, CATEGORY)
CUTOFFS = st.dates(dt.date(2023, 1, 1), dt.date(2026, 12, 31)).map(pd.Timestamp)
RANDOM_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def _random_tables(cutoff: pd.Timestamp, rows: list, with_category: bool) -> Tables:
    tx = pd.DataFrame({
        "customer_id": pd.Series([r[0] for r in rows], dtype="int64"),
        "ts": pd.Series([cutoff + pd.Timedelta(days=r[1], minutes=r[2]) for r in rows],
                        dtype="datetime64[us]"),
        "amount": pd.Series([r[3] for r in rows], dtype="float64"),
    })
    if with_category:
        tx["category"] = pd.Series([r[4] for r in rows], dtype="str")
    return Tables(tx)


@RANDOM_SETTINGS
@given(CUTOFFS, st.lists(ROW, max_size=30), st.booleans(), st.permutations(range(1, 8)))
def test_random_tables_both_implementations_agree(cutoff, rows, with_category, order):
    tables = _random_tables(cutoff, rows, with_category)
    pop = pd.Index(order, name="customer_id")  # 6 and 7 never have events
    assert_agree(rfm_features(tables, cutoff, pop), rfm_features_pandas(tables, cutoff, pop))
