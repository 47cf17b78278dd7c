"""Recency, frequency, monetary value and purchase-rhythm features.

Definitions (pinned so that every engine computes the same numbers):

* a *purchase* is a distinct calendar day with positive spend (order lines and multiple
  orders on one day count once); refunds are negative amounts and are counted apart;
* ages are whole days between the cutoff day and the purchase day (bought on the cutoff
  day: recency 0);
* a window of ``w`` days holds the purchase days in ``(cutoff - w, cutoff]``; an empty
  window has count 0 and sum 0;
* gaps are the days between consecutive purchase days; their std is the sample std
  (ddof=1), missing with fewer than two gaps.
"""

from __future__ import annotations

import pandas as pd

from churnmodel.data.tables import Tables, day_end
from churnmodel.features.base import finish, population_frame, register, run_sql

WINDOWS = (30, 90, 180, 365)


def _window_sql() -> str:
    parts = []
    for w in WINDOWS:
        parts.append(f"count(*) FILTER (WHERE age < {w}) AS n_{w}d")
        parts.append(f"coalesce(sum(spend) FILTER (WHERE age < {w}), 0) AS spend_{w}d")
    return ",\n        ".join(parts)


@register("rfm", needs=("transactions",))
def rfm_features(tables: Tables, cutoff: pd.Timestamp, customers: pd.Index) -> pd.DataFrame:
    """Recency, frequency, monetary, windows, trend, gaps, refunds and categories.

    Returns one row per customer in ``customers`` (index ``customer_id``) with columns
    ``recency_days, frequency, monetary_total, monetary_mean, tenure_days,
    purchases_per_30d, n_{30,90,180,365}d, spend_{30,90,180,365}d, trend_90d,
    gap_mean_days, gap_std_days, gap_last_days, overdue_ratio, refund_count,
    refund_total`` and ``distinct_categories`` when the table has ``category``.

    >>> import pandas as pd
    >>> from churnmodel.data.tables import Tables, day_end
    >>> tx = pd.DataFrame({"customer_id": [1, 1, 1], "amount": [10.0, 20.0, -5.0],
    ...     "ts": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-20"])})
    >>> f = rfm_features(Tables(tx), pd.Timestamp("2025-01-31"), pd.Index([1, 2]))
    >>> f.loc[1, ["recency_days", "frequency", "gap_mean_days", "refund_total"]].tolist()
    [20.0, 2.0, 10.0, 5.0]
    >>> int(f.loc[2, "n_30d"]), bool(pd.isna(f.loc[2, "recency_days"]))
    (0, True)
    """
    tx = tables.transactions
    has_cat = "category" in tx.columns
    cat_sql = (", count(DISTINCT category) FILTER (WHERE amount > 0) AS distinct_categories"
               if has_cat else "")
    sql = f"""
    WITH t AS (
        SELECT customer_id, CAST(ts AS DATE) AS day, amount{", category" if has_cat else ""}
        FROM tx SEMI JOIN pop USING (customer_id)
        WHERE ts < $end
    ),
    buys AS (
        SELECT customer_id, day, sum(amount) AS spend,
               date_diff('day', day, $cut) AS age
        FROM t WHERE amount > 0 GROUP BY customer_id, day
    ),
    g AS (
        SELECT *, CAST(date_diff('day', lag(day) OVER w, day) AS DOUBLE) AS gap
        FROM buys WINDOW w AS (PARTITION BY customer_id ORDER BY day)
    ),
    agg AS (
        SELECT customer_id,
        CAST(min(age) AS DOUBLE) AS recency_days,
        CAST(count(*) AS DOUBLE) AS frequency,
        sum(spend) AS monetary_total,
        avg(spend) AS monetary_mean,
        CAST(max(age) AS DOUBLE) AS tenure_days,
        {_window_sql()},
        count(*) FILTER (WHERE age >= 90 AND age < 180) AS n_prev_90d,
        avg(gap) AS gap_mean_days,
        stddev_samp(gap) AS gap_std_days,
        arg_max_null(gap, day) AS gap_last_days  -- the latest day's gap (one sort, not two)
        FROM g GROUP BY customer_id
    ),
    ref AS (
        SELECT customer_id, count(*) AS refund_count, -sum(amount) AS refund_total
        FROM t WHERE amount < 0 GROUP BY customer_id
    ),
    cats AS (
        SELECT customer_id{cat_sql} FROM t GROUP BY customer_id
    )
    SELECT pop.customer_id,
        a.recency_days, coalesce(a.frequency, 0) AS frequency,
        coalesce(a.monetary_total, 0) AS monetary_total, a.monetary_mean, a.tenure_days,
        coalesce(a.frequency, 0) * 30.0 / greatest(a.tenure_days, 30) AS purchases_per_30d,
        {", ".join(f"coalesce(a.n_{w}d, 0) AS n_{w}d, coalesce(a.spend_{w}d, 0) AS spend_{w}d"
                   for w in WINDOWS)},
        (coalesce(a.n_90d, 0) + 1.0) / (coalesce(a.n_prev_90d, 0) + 1.0) AS trend_90d,
        a.gap_mean_days, a.gap_std_days, a.gap_last_days,
        a.recency_days / nullif(a.gap_mean_days, 0) AS overdue_ratio,
        coalesce(r.refund_count, 0) AS refund_count,
        coalesce(r.refund_total, 0) AS refund_total
        {", coalesce(c.distinct_categories, 0) AS distinct_categories" if has_cat else ""}
    FROM pop
    LEFT JOIN agg a USING (customer_id)
    LEFT JOIN ref r USING (customer_id)
    LEFT JOIN cats c USING (customer_id)
    """
    end = day_end(cutoff)
    df = run_sql(sql, {"end": end, "cut": cutoff.date()}, tx=tx, pop=population_frame(customers))
    return finish(df.astype({c: "float64" for c in df.columns if c != "customer_id"}), customers)
