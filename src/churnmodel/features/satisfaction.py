"""Satisfaction features from CSAT and NPS answers.

Satisfaction is relative: it is the outcome against the customer's own expectation, so
besides levels we measure each customer's *change* against their own history
(``csat_gap``: latest answer minus the mean of their earlier answers; ``csat_trend_90d``:
last 90 days minus before). NPS groups follow the standard cut: promoter 9-10,
passive 7-8, detractor 0-6.
"""

from __future__ import annotations

import pandas as pd

from churnmodel.data.tables import Tables, day_end
from churnmodel.features.base import finish, population_frame, register, run_sql

NPS_GROUPS = ("detractor", "passive", "promoter")


def nps_group(score: pd.Series) -> pd.Series:
    """Map NPS answers (0-10) to detractor / passive / promoter (missing stays missing)."""
    grp = pd.cut(score, bins=[-0.5, 6.5, 8.5, 10.5], labels=list(NPS_GROUPS))
    return grp.astype(pd.CategoricalDtype(list(NPS_GROUPS)))


@register("satisfaction", needs=("feedback",))
def satisfaction_features(tables: Tables, cutoff: pd.Timestamp, customers: pd.Index) -> pd.DataFrame:
    """CSAT level, trend and gap; NPS last, mean, group and detractor share; feedback recency.

    Columns (those of a score absent from the table are omitted): ``csat_count,
    csat_mean, csat_last, csat_gap, csat_mean_90d, csat_trend_90d, csat_min_365d,
    nps_count, nps_last, nps_mean, detractor_share, nps_group, days_since_feedback``.

    >>> import pandas as pd
    >>> from churnmodel.data.tables import Tables, day_end
    >>> tx = pd.DataFrame({"customer_id": [1], "ts": pd.to_datetime(["2025-01-01"]), "amount": [1.0]})
    >>> fb = pd.DataFrame({"customer_id": [1, 1, 1], "csat": [5.0, 4.0, 2.0],
    ...     "ts": pd.to_datetime(["2024-06-01", "2024-07-01", "2025-01-20"])})
    >>> f = satisfaction_features(Tables(tx, feedback=fb), pd.Timestamp("2025-01-31"), pd.Index([1]))
    >>> f.loc[1, ["csat_last", "csat_gap", "csat_trend_90d", "days_since_feedback"]].tolist()
    [2.0, -2.5, -2.5, 11.0]
    """
    fb = tables.feedback
    assert fb is not None
    has_csat, has_nps = "csat" in fb.columns, "nps" in fb.columns
    sel = []
    if has_csat:
        sel.append("""
        count(csat) AS csat_count,
        avg(csat) AS csat_mean,
        arg_max(csat, ts) FILTER (WHERE csat IS NOT NULL) AS csat_last,
        (sum(csat) - arg_max(csat, ts) FILTER (WHERE csat IS NOT NULL))
            / nullif(count(csat) - 1, 0) AS csat_prev_mean,
        avg(csat) FILTER (WHERE age < 90) AS csat_mean_90d,
        avg(csat) FILTER (WHERE age >= 90) AS csat_before_90d,
        min(csat) FILTER (WHERE age < 365) AS csat_min_365d""")
    if has_nps:
        sel.append("""
        count(nps) AS nps_count,
        arg_max(nps, ts) FILTER (WHERE nps IS NOT NULL) AS nps_last,
        avg(nps) AS nps_mean,
        avg(CASE WHEN nps <= 6 THEN 1.0 ELSE 0.0 END) FILTER (WHERE nps IS NOT NULL)
            AS detractor_share""")
    cols = ["csat", "nps"]
    sql = f"""
    WITH f AS (
        SELECT customer_id, ts, {", ".join(c if c in fb.columns else f"NULL AS {c}" for c in cols)},
               date_diff('day', CAST(ts AS DATE), $cut) AS age
        FROM fb SEMI JOIN pop USING (customer_id) WHERE ts < $end
    ),
    agg AS (
        SELECT customer_id, CAST(min(age) AS DOUBLE) AS days_since_feedback, {",".join(sel)}
        FROM f GROUP BY customer_id
    )
    SELECT pop.customer_id, agg.* EXCLUDE (customer_id) FROM pop LEFT JOIN agg USING (customer_id)
    """
    end = day_end(cutoff)
    df = run_sql(sql, {"end": end, "cut": cutoff.date()}, fb=fb, pop=population_frame(customers))
    df = df.astype({c: "float64" for c in df.columns if c != "customer_id"})
    out = pd.DataFrame({"customer_id": df["customer_id"]})
    if has_csat:
        out["csat_count"] = df["csat_count"].fillna(0.0)
        out["csat_mean"] = df["csat_mean"]
        out["csat_last"] = df["csat_last"]
        out["csat_gap"] = df["csat_last"] - df["csat_prev_mean"]
        out["csat_mean_90d"] = df["csat_mean_90d"]
        out["csat_trend_90d"] = df["csat_mean_90d"] - df["csat_before_90d"]
        out["csat_min_365d"] = df["csat_min_365d"]
    if has_nps:
        out["nps_count"] = df["nps_count"].fillna(0.0)
        out["nps_last"] = df["nps_last"]
        out["nps_mean"] = df["nps_mean"]
        out["detractor_share"] = df["detractor_share"]
        out["nps_group"] = nps_group(df["nps_last"])
    out["days_since_feedback"] = df["days_since_feedback"]
    return finish(out, customers)
