"""Who is in the population at a cutoff, and who churned after it.

* A customer is **active** at cutoff T if they made a purchase (positive amount) in the
  ``activity_lookback_days`` days up to and including T, and have no explicit
  cancellation (``churned_ts``) on or before T.
* **Churned** (label 1): for a customer with an explicit ``churned_ts``, the cancellation
  falls in the horizon window; otherwise (non-contractual) no purchase in the window.
  The window is the ``horizon_days`` days after the cutoff day: ``(T, T + H]``.

Features see only what is dated on or before T; labels only what is dated after it.
"""

from __future__ import annotations

import pandas as pd

from churnmodel.data.tables import Tables, day_end
from churnmodel.errors import ConfigError, DataError


def active_customers(tables: Tables, cutoff: pd.Timestamp | str,
                     activity_lookback_days: int = 365) -> pd.Index:
    """Customers active at ``cutoff`` (sorted ``customer_id`` index).

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": [1, 2, 3], "amount": [5.0, 5.0, 5.0],
    ...     "ts": pd.to_datetime(["2024-01-01", "2024-12-01", "2025-02-01"])})
    >>> active_customers(Tables(tx), "2025-01-01").tolist()
    [2]
    """
    if activity_lookback_days < 1:
        raise ConfigError(f"[labels] activity_lookback_days must be at least 1, got "
                          f"{activity_lookback_days}.")
    end = day_end(cutoff)
    start = end - pd.Timedelta(days=activity_lookback_days)
    tx = tables.transactions
    mask = (tx["ts"] >= start) & (tx["ts"] < end) & (tx["amount"] > 0)
    ids = pd.Index(tx.loc[mask, "customer_id"].unique()).sort_values()
    cu = tables.customers
    if cu is not None and "churned_ts" in cu.columns:
        gone = cu.loc[cu["churned_ts"] < end, "customer_id"]
        ids = ids.difference(pd.Index(gone))
    ids.name = "customer_id"
    return ids


def churn_labels(tables: Tables, cutoff: pd.Timestamp | str, customers: pd.Index,
                 horizon_days: int = 90) -> pd.Series:
    """1 if the customer churned in ``(cutoff, cutoff + horizon_days]``, else 0.

    Raises :class:`DataError` if the data do not reach the end of the window (the label
    would be incomplete and every quiet customer would look churned).

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": [1, 2, 1, 2], "amount": [5.0] * 4,
    ...     "ts": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-02-01", "2025-06-01"])})
    >>> churn_labels(Tables(tx), "2025-01-01", pd.Index([1, 2]), horizon_days=90).tolist()
    [0, 1]
    """
    if horizon_days < 1:
        raise ConfigError(f"[labels] horizon_days must be at least 1, got {horizon_days}.")
    end = day_end(cutoff)
    window_end = end + pd.Timedelta(days=horizon_days)
    last = tables.max_event_ts()
    if last < window_end - pd.Timedelta(days=1):
        raise DataError(
            "transactions", "ts",
            f"the data end on {last.date()}, before the end of the {horizon_days}-day label "
            f"window of cutoff {pd.Timestamp(cutoff).date()} ({(window_end - pd.Timedelta(days=1)).date()})",
            "use an earlier cutoff / as-of date, a shorter [labels] horizon_days, or more recent data",
        )
    tx = tables.transactions
    in_window = (tx["ts"] >= end) & (tx["ts"] < window_end) & (tx["amount"] > 0)
    bought = pd.Index(tx.loc[in_window, "customer_id"].unique())
    churned = pd.Series(~customers.isin(bought), index=customers, name="churned")
    cu = tables.customers
    if cu is not None and "churned_ts" in cu.columns:
        explicit = cu.set_index("customer_id")["churned_ts"].reindex(customers)
        has = explicit.notna()
        churned[has] = ((explicit[has] >= end) & (explicit[has] < window_end)).to_numpy()
    return churned.astype("int8")
