"""Service features from support tickets: volume, complaints, resolution speed, backlog.

Point-in-time rule: a ticket opened before the cutoff but resolved after it is *open* at
the cutoff, and its resolution time is not yet known.
"""

from __future__ import annotations

import pandas as pd

from churnmodel.data.tables import Tables, day_end
from churnmodel.features.base import finish, population_frame, register, run_sql


@register("service", needs=("tickets",))
def service_features(tables: Tables, cutoff: pd.Timestamp, customers: pd.Index) -> pd.DataFrame:
    """Tickets and complaints in 90/365-day windows, resolution hours, open tickets.

    Columns: ``tickets_90d, tickets_365d, days_since_ticket`` always;
    ``complaints_90d, complaints_365d`` with ``is_complaint``; ``resolution_hours_mean,
    resolution_hours_max_365d, slow_tickets_365d`` (resolved in over 72 h),
    ``open_tickets, open_ticket_age_days`` with ``resolved_ts``.

    >>> import pandas as pd
    >>> from churnmodel.data.tables import Tables, day_end
    >>> tx = pd.DataFrame({"customer_id": [1], "ts": pd.to_datetime(["2025-01-01"]), "amount": [1.0]})
    >>> tk = pd.DataFrame({"customer_id": [1, 1],
    ...     "opened_ts": pd.to_datetime(["2025-01-10", "2025-01-25"]),
    ...     "resolved_ts": pd.to_datetime(["2025-01-12", "2025-02-03"])})
    >>> f = service_features(Tables(tx, tickets=tk), pd.Timestamp("2025-01-31"), pd.Index([1]))
    >>> f.loc[1, ["tickets_90d", "resolution_hours_mean", "open_tickets", "open_ticket_age_days"]].tolist()
    [2.0, 48.0, 1.0, 6.0]
    """
    tk = tables.tickets
    assert tk is not None
    has_res, has_cmp = "resolved_ts" in tk.columns, "is_complaint" in tk.columns
    end = day_end(cutoff)
    sel = ["count(*) FILTER (WHERE age < 90) AS tickets_90d",
           "count(*) FILTER (WHERE age < 365) AS tickets_365d",
           "CAST(min(age) AS DOUBLE) AS days_since_ticket"]
    if has_cmp:
        sel += ["count(*) FILTER (WHERE is_complaint AND age < 90) AS complaints_90d",
                "count(*) FILTER (WHERE is_complaint AND age < 365) AS complaints_365d"]
    if has_res:
        sel += ["avg(hours) AS resolution_hours_mean",
                "max(hours) FILTER (WHERE age < 365) AS resolution_hours_max_365d",
                "count(*) FILTER (WHERE hours > 72 AND age < 365) AS slow_tickets_365d",
                "count(*) FILTER (WHERE is_open) AS open_tickets",
                "CAST(max(age) FILTER (WHERE is_open) AS DOUBLE) AS open_ticket_age_days"]
    resolved = "resolved_ts IS NOT NULL AND resolved_ts < $end" if has_res else "FALSE"
    hours_sql = (f"CASE WHEN {resolved} THEN date_diff('second', opened_ts, resolved_ts) / 3600.0 END"
                 if has_res else "CAST(NULL AS DOUBLE)")
    sql = f"""
    WITH t AS (
        SELECT customer_id, {"is_complaint," if has_cmp else ""}
               date_diff('day', CAST(opened_ts AS DATE), $cut) AS age,
               {hours_sql} AS hours,
               NOT ({resolved}) AS is_open
        FROM tk SEMI JOIN pop USING (customer_id) WHERE opened_ts < $end
    ),
    agg AS (SELECT customer_id, {", ".join(sel)} FROM t GROUP BY customer_id)
    SELECT pop.customer_id, agg.* EXCLUDE (customer_id) FROM pop LEFT JOIN agg USING (customer_id)
    """
    df = run_sql(sql, {"end": end, "cut": cutoff.date()}, tk=tk, pop=population_frame(customers))
    df = df.astype({c: "float64" for c in df.columns if c != "customer_id"})
    zero = [c for c in df.columns if c.startswith(("tickets_", "complaints_", "slow_", "open_tickets"))]
    df[zero] = df[zero].fillna(0.0)
    return finish(df, customers)
