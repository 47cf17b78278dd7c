"""active_customers, churn_labels, cutoff_dates and time_split on hand-made tables."""

from __future__ import annotations

import pandas as pd
import pytest

from churnmodel.data.tables import Tables
from churnmodel.errors import DataError
from churnmodel.labels import active_customers, churn_labels
from churnmodel.training_set import cutoff_dates, time_split


def _tx(rows) -> pd.DataFrame:
    tx = pd.DataFrame(rows, columns=["customer_id", "ts", "amount"])
    tx["ts"] = pd.to_datetime(tx["ts"], format="ISO8601")
    return tx


def _cu(rows) -> pd.DataFrame:
    cu = pd.DataFrame(rows, columns=["customer_id", "churned_ts"])
    cu["churned_ts"] = pd.to_datetime(cu["churned_ts"], format="ISO8601")
    return cu


def _days(cs) -> list[str]:
    return [str(c.date()) for c in cs]


# ------------------------------------------------------------------------ active_customers

@pytest.fixture(scope="module")
def activity_tables() -> Tables:
    # cutoff 2025-03-31, lookback 365: the window is the days 2024-04-01 .. 2025-03-31
    # (2024 is a leap year: 2024-04-01 -> 2025-04-01 is 365 days)
    tx = _tx([
        (1, "2024-03-31 23:59", 10.0),  # 365 days before the cutoff: out
        (2, "2024-04-01 00:00", 10.0),  # 364 days before: in
        (3, "2025-03-01", -10.0),  # refunds only: not active
        (4, "2025-03-31 23:59", 10.0),  # late on the cutoff day: in
        (5, "2025-04-01 00:00", 10.0),  # the day after: not yet
        (6, "2025-03-01", 10.0),  # cancelled late on the cutoff day
        (7, "2025-03-01", 10.0),  # cancels the day after the cutoff: still active
        (8, "2025-03-01", 10.0),  # cancelled in January, bought after
        (9, "2025-03-01", 0.0),  # zero amount is not a purchase
    ])
    cu = _cu([(1, None), (6, "2025-03-31 23:00"), (7, "2025-04-01 00:00"),
              (8, "2025-01-01")])
    return Tables(tx, customers=cu)


def test_lookback_keeps_day_364_and_drops_day_365(activity_tables):
    ids = active_customers(activity_tables, "2025-03-31", activity_lookback_days=365)
    assert 2 in ids and 1 not in ids


def test_active_customers_are_purchasers_in_the_lookback_without_a_cancellation(activity_tables):
    ids = active_customers(activity_tables, pd.Timestamp("2025-03-31"))
    assert ids.tolist() == [2, 4, 7]
    assert ids.name == "customer_id"


def test_refunds_only_and_zero_amount_customers_are_not_active(activity_tables):
    ids = active_customers(activity_tables, "2025-03-31")
    assert 3 not in ids and 9 not in ids


def test_cancellation_on_or_before_the_cutoff_day_excludes(activity_tables):
    ids = active_customers(activity_tables, "2025-03-31")
    assert 6 not in ids and 8 not in ids  # cancelled 23:00 on the cutoff day / in January
    assert 7 in ids  # cancels at 00:00 the next day


def test_short_lookback_window_boundary():
    tx = _tx([(1, "2025-03-01", 5.0), (2, "2025-03-02", 5.0)])
    # lookback 30 at 2025-03-31: days 2025-03-02 .. 2025-03-31; Mar 1 is 30 days back
    assert active_customers(Tables(tx), "2025-03-31", 30).tolist() == [2]


# ---------------------------------------------------------------------------- churn_labels

@pytest.fixture(scope="module")
def label_tables() -> Tables:
    # cutoff 2025-01-31, horizon 90: the window is the days 2025-02-01 .. 2025-05-01
    # (Feb 1 + 89 days = May 1: 28 days of February, 31 of March, 30 of April)
    tx = _tx([
        (1, "2025-02-01 00:00", 5.0),  # first minute of the window: stays
        (2, "2025-01-31 23:59", 5.0),  # on the cutoff day only: churns
        (3, "2025-05-01 23:59", 5.0),  # last minute of the window: stays
        (4, "2025-05-02 00:00", 5.0),  # just after the window: churns
        (5, "2025-03-01", -5.0),  # only a refund in the window: churns
        (6, "2025-04-01", 5.0),  # bought, but cancelled in the window
        (8, "2025-01-10", 5.0),
        (9, "2025-01-10", 5.0),
    ])
    cu = _cu([
        (1, None),  # no cancellation: the inactivity rule
        (6, "2025-03-01"),
        (7, "2025-06-01"),  # cancels after the window, never buys: not churned
        (8, "2025-05-01 23:00"),  # last day of the window
        (9, "2025-05-02 00:00"),  # just after the window
    ])
    return Tables(tx, customers=cu)


def test_inactivity_rule_at_the_window_boundaries(label_tables):
    y = churn_labels(label_tables, "2025-01-31", pd.Index([1, 2, 3, 4, 5]), horizon_days=90)
    assert y.tolist() == [0, 1, 0, 1, 1]
    assert y.index.tolist() == [1, 2, 3, 4, 5] and y.dtype == "int8"


def test_explicit_cancellation_in_the_window_is_churn_even_after_a_purchase(label_tables):
    y = churn_labels(label_tables, "2025-01-31", pd.Index([6, 8]), horizon_days=90)
    assert y.tolist() == [1, 1]


def test_explicit_cancellation_after_the_window_is_not_churn_even_without_purchases(
        label_tables):
    y = churn_labels(label_tables, "2025-01-31", pd.Index([7, 9]), horizon_days=90)
    assert y.tolist() == [0, 0]


def test_labels_need_data_up_to_the_last_day_of_the_window():
    tx = _tx([(1, "2025-01-10", 5.0), (1, "2025-04-30 23:59", 5.0)])
    with pytest.raises(DataError, match=r"table 'transactions', column 'ts': the data end on "
                                        r"2025-04-30, before the end of the 90-day label window "
                                        r"of cutoff 2025-01-31 \(2025-05-01\).*Fix: use an "
                                        r"earlier cutoff"):
        churn_labels(Tables(tx), "2025-01-31", pd.Index([1]), horizon_days=90)


def test_data_reaching_the_last_day_of_the_window_are_enough():
    tx = _tx([(1, "2025-01-10", 5.0), (2, "2025-05-01 00:00", 5.0)])
    assert churn_labels(Tables(tx), "2025-01-31", pd.Index([1, 2]), 90).tolist() == [1, 0]


# ----------------------------------------------------------------- cutoff_dates, time_split

def test_cutoffs_are_month_starts_whose_windows_end_by_the_as_of_date():
    # 2025-12-31 - 90 days = 2025-10-02 -> last month start 2025-10-01
    assert _days(cutoff_dates("2025-12-31", 90, 3)) == ["2025-08-01", "2025-09-01", "2025-10-01"]
    # 2025-12-30 - 90 = 2025-10-01 exactly: still allowed
    assert _days(cutoff_dates("2025-12-30", 90, 1)) == ["2025-10-01"]
    # 2025-12-29 - 90 = 2025-09-30: October's window would end after the as-of date
    assert _days(cutoff_dates("2025-12-29", 90, 1)) == ["2025-09-01"]


def test_cutoff_step_in_months():
    assert _days(cutoff_dates("2025-12-31", 90, 3, step_months=3)) == [
        "2025-04-01", "2025-07-01", "2025-10-01"]


MONTHS = [pd.Timestamp(f"2025-{m:02d}-01") for m in range(1, 11)]


def test_time_split_with_embargo_keeps_label_windows_before_the_next_split():
    s = time_split(MONTHS[::-1], 90)  # order of the input does not matter
    assert str(s.test.date()) == "2025-10-01"
    # Jul 1 + 90 days = Sep 29 <= Oct 1; Aug 1 + 90 = Oct 30 is too late
    assert str(s.valid.date()) == "2025-07-01"
    # Apr 1 + 90 = Jun 30 <= Jul 1; May 1 + 90 = Jul 30 is too late
    assert _days(s.train) == ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"]


def test_time_split_without_embargo_uses_adjacent_cutoffs():
    s = time_split(MONTHS, 90, embargo=False)
    assert str(s.valid.date()) == "2025-09-01"
    assert _days(s.train) == _days(MONTHS[:8])


def test_time_split_raises_when_no_validation_cutoff_fits():
    with pytest.raises(DataError, match=r"2 cutoffs are too few for a train / validation / "
                                        r"test split.*Fix: add history or raise \[training\] "
                                        r"n_cutoffs"):
        time_split([pd.Timestamp("2025-09-01"), pd.Timestamp("2025-10-01")], 90)


def test_time_split_raises_when_no_training_cutoff_fits():
    cs = [pd.Timestamp(d) for d in ("2025-06-01", "2025-07-01", "2025-10-01")]
    # valid = Jul 1 (Jul 1 + 90 = Sep 29); Jun 1 + 90 = Aug 30 is after Jul 1
    with pytest.raises(DataError, match=r"no training cutoff lies 90 days before the validation "
                                        r"cutoff 2025-07-01"):
        time_split(cs, 90)
    with pytest.raises(DataError, match="no training cutoff"):
        time_split(cs[1:], 90, embargo=False)
