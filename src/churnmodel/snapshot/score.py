"""Scoring a customers table with a snapshot-mode model.

The rows with a blank churn flag are the customers to score; a table whose every row has
a flag (or that has no flag column) is scored whole. Columns are typed exactly as in the
training table (the model's recorded decisions), then scored by the same
:func:`~churnmodel.scoring.score_frame` the pyfunc and the REST server use.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from churnmodel.errors import DataError
from churnmodel.scoring import score_frame
from churnmodel.snapshot.columns import TABLE, _blank, feature_frame
from churnmodel.snapshot.model import SnapshotModel


@dataclass
class SnapshotScores:
    scores: pd.DataFrame  # customer_id, churn_probability, risk_band, at_risk, drivers
    which: str  # which rows were scored, in words
    features: pd.DataFrame


def rows_to_score(df: pd.DataFrame, flag_column: str | None) -> tuple[pd.DataFrame, str]:
    """The rows to score: those with a blank flag, or every row when none is blank."""
    if flag_column and flag_column in df.columns:
        blank = _blank(df[flag_column])
        if blank.any():
            return df[blank.to_numpy()], f"the {int(blank.sum()):,} rows with a blank {flag_column}"
        return df, f"all {len(df):,} rows (every row has a {flag_column} flag)"
    return df, f"all {len(df):,} rows"


def score_snapshot(model: SnapshotModel, df: pd.DataFrame, id_column: str,
                   flag_column: str | None, explain: bool = True) -> SnapshotScores:
    """Score the customers of ``df`` (one row each), riskiest first."""
    if id_column not in df.columns:
        from churnmodel.errors import nearest

        raise DataError(TABLE, id_column, "the customer id column is missing."
                        f"{nearest(id_column, map(str, df.columns))} Columns present: "
                        f"{', '.join(map(str, df.columns[:25]))}",
                        "set [data.customers] customer_id to the id column of the file")
    part, which = rows_to_score(df, flag_column)
    if len(part) == 0:
        raise DataError(TABLE, None, "has no row to score", "give a table with customers")
    ids = part[id_column].astype("string").str.strip()
    if ids.isna().any():
        raise DataError(TABLE, id_column, "has empty customer ids", "fill or drop those rows",
                        n_rows=int(ids.isna().sum()))
    dup = ids.duplicated()
    if dup.any():
        raise DataError(TABLE, id_column, "has repeated customer ids (one row per customer is "
                        "expected)", "keep one row per customer", n_rows=int(dup.sum()),
                        example=ids[dup].iloc[0])
    X = feature_frame(part, model.typing())
    X.index = pd.Index(ids.to_numpy(), name="customer_id")
    scored = score_frame(model, X, explain=explain)
    scored = scored.sort_values("churn_probability", ascending=False, kind="stable")
    return SnapshotScores(scored.reset_index(names="customer_id"), which, X)
