"""A plain pandas reference implementation of the RFM features.

:func:`rfm_features_pandas` computes exactly what the fast DuckDB builder
:func:`churnmodel.features.rfm.rfm_features` computes, one definition at a time, with
ordinary ``groupby`` calls. It is meant to be *read*: the tests check the fast path against
it, and the benchmark uses it as the "pandas" comparison. It is deliberately not registered
as a builder.

The definitions (the same as in :mod:`churnmodel.features.rfm`):

* only transactions dated on or before the cutoff day are seen (``ts < day_end(cutoff)``);
* a *purchase* is a distinct calendar day with positive spend: the positive order lines of
  one day are summed into one purchase; zero and missing amounts are ignored;
* refunds are the negative lines, counted one by one (not collapsed by day);
* ages are whole days between the purchase day and the cutoff day;
* a window of ``w`` days holds the purchase days with age ``< w``; an empty window has
  count 0 and sum 0;
* gaps are float days between consecutive purchase days; their std is the sample std
  (ddof=1), missing with fewer than two gaps;
* customers without any (seen) history are left-joined in: counts and sums are 0, the
  rest missing, except ``purchases_per_30d`` (0) and ``trend_90d`` (1).

Every column is returned as ``float64`` (counts hold whole numbers), in the same order and
on the same index (``customers``, with its name and dtype) as the fast builder.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnmodel.data.tables import Tables, day_end

WINDOWS = (30, 90, 180, 365)


def _purchase_days(seen: pd.DataFrame, cutoff_day: pd.Timestamp) -> pd.DataFrame:
    """One row per (customer, purchase day): the day's positive spend, its age and gap."""
    positive = seen[seen["amount"] > 0]
    buys = (
        positive.assign(day=positive["ts"].dt.floor("D"))
        .groupby(["customer_id", "day"], as_index=False, sort=True)["amount"]
        .sum()
        .rename(columns={"amount": "spend"})
    )
    buys["age"] = ((cutoff_day - buys["day"]) / pd.Timedelta(days=1)).astype("float64")
    # sorted by customer, then day: the gap is the distance to the previous purchase day
    buys["gap"] = (buys.groupby("customer_id")["day"].diff() / pd.Timedelta(days=1)).astype("float64")
    return buys


def rfm_features_pandas(tables: Tables, cutoff: pd.Timestamp, customers: pd.Index) -> pd.DataFrame:
    """The reference (pandas) version of :func:`~churnmodel.features.rfm.rfm_features`.

    Same columns, order, index and values (up to floating-point summation order):
    ``recency_days, frequency, monetary_total, monetary_mean, tenure_days,
    purchases_per_30d, n_{30,90,180,365}d, spend_{30,90,180,365}d, trend_90d,
    gap_mean_days, gap_std_days, gap_last_days, overdue_ratio, refund_count,
    refund_total`` and ``distinct_categories`` when the table has ``category``.

    >>> import pandas as pd
    >>> from churnmodel.data.tables import Tables
    >>> tx = pd.DataFrame({"customer_id": [1, 1, 1], "amount": [10.0, 20.0, -5.0],
    ...     "ts": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-20"])})
    >>> f = rfm_features_pandas(Tables(tx), pd.Timestamp("2025-01-31"), pd.Index([1, 2]))
    >>> f.loc[1, ["recency_days", "frequency", "gap_mean_days", "refund_total"]].tolist()
    [20.0, 2.0, 10.0, 5.0]
    >>> int(f.loc[2, "n_30d"]), bool(pd.isna(f.loc[2, "recency_days"]))
    (0, True)
    """
    cutoff_day = pd.Timestamp(cutoff).normalize()
    tx = tables.transactions
    has_cat = "category" in tx.columns

    # what is known at the end of the cutoff day, for the population only
    seen = tx[(tx["ts"] < day_end(cutoff)) & tx["customer_id"].isin(customers)]
    buys = _purchase_days(seen, cutoff_day)
    per_customer = buys.groupby("customer_id")

    def col(values: pd.Series, fill: float | None = None) -> np.ndarray:
        """A per-customer series aligned on the population (absent customers: ``fill`` or NaN)."""
        aligned = values.reindex(customers)
        if fill is not None:
            aligned = aligned.fillna(fill)
        return aligned.to_numpy(dtype="float64")

    def count_where(mask: pd.Series) -> np.ndarray:
        return col(buys[mask].groupby("customer_id").size(), fill=0.0)

    def spend_where(mask: pd.Series) -> np.ndarray:
        return col(buys[mask].groupby("customer_id")["spend"].sum(), fill=0.0)

    out = pd.DataFrame(index=customers)
    out["recency_days"] = col(per_customer["age"].min())
    out["frequency"] = col(per_customer.size(), fill=0.0)
    out["monetary_total"] = col(per_customer["spend"].sum(), fill=0.0)
    out["monetary_mean"] = col(per_customer["spend"].mean())
    out["tenure_days"] = col(per_customer["age"].max())
    # tenure shorter than 30 days (or no history) counts as 30 days
    out["purchases_per_30d"] = out["frequency"] * 30.0 / out["tenure_days"].fillna(30.0).clip(lower=30.0)
    for w in WINDOWS:
        in_window = buys["age"] < w
        out[f"n_{w}d"] = count_where(in_window)
        out[f"spend_{w}d"] = spend_where(in_window)
    n_prev_90d = count_where((buys["age"] >= 90) & (buys["age"] < 180))
    out["trend_90d"] = (out["n_90d"] + 1.0) / (n_prev_90d + 1.0)
    out["gap_mean_days"] = col(per_customer["gap"].mean())
    out["gap_std_days"] = col(per_customer["gap"].std(ddof=1))
    # the gap before the latest purchase day (missing with a single purchase day)
    out["gap_last_days"] = col(per_customer.tail(1).set_index("customer_id")["gap"])
    out["overdue_ratio"] = out["recency_days"] / out["gap_mean_days"].replace(0.0, np.nan)

    refunds = seen[seen["amount"] < 0].groupby("customer_id")["amount"]
    out["refund_count"] = col(refunds.size(), fill=0.0)
    out["refund_total"] = col(-refunds.sum(), fill=0.0)
    if has_cat:
        bought = seen[seen["amount"] > 0]
        out["distinct_categories"] = col(bought.groupby("customer_id")["category"].nunique(), fill=0.0)
    return out
