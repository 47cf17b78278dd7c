"""The validated input tables, and the point-in-time view of them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from churnmodel.errors import DataError


@dataclass(frozen=True)
class Tables:
    """Validated tables in canonical column names; only ``transactions`` is mandatory.

    All timestamps are timezone-naive (UTC when the source had zones); ``customer_id``
    has one dtype across tables.
    """

    transactions: pd.DataFrame
    feedback: pd.DataFrame | None = None
    tickets: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    events: pd.DataFrame | None = None

    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def has(self, table: str, column: str | None = None) -> bool:
        df = getattr(self, table)
        return df is not None and (column is None or column in df.columns)

    def max_event_ts(self) -> pd.Timestamp:
        """The latest event time in any table: the natural default as-of date."""
        stamps = [self.transactions["ts"].max()]
        if self.feedback is not None and len(self.feedback):
            stamps.append(self.feedback["ts"].max())
        if self.tickets is not None and len(self.tickets):
            stamps.append(self.tickets["opened_ts"].max())
        if self.events is not None and len(self.events):
            stamps.append(self.events["ts"].max())
        return max(s for s in stamps if pd.notna(s))

    def until(self, as_of: pd.Timestamp) -> Tables:
        """What was known at the end of day ``as_of``: later events are dropped.

        Tickets opened by then but resolved later become open tickets; cancellations and
        signups after ``as_of`` are unknown. This is how backtesting sees the past exactly as
        it was. Raises :class:`DataError` when no transaction is dated on or before ``as_of``.
        """
        end = day_end(as_of)
        # Tables are read-only, so a table with nothing to drop is shared rather than copied
        # (scoring at the latest date would otherwise copy every table: 2 GB at 1M customers).
        tx = _before(self.transactions, "ts", end)
        if len(tx) == 0:  # nothing was known yet: every consumer (train, score, report) fails
            first = self.transactions["ts"].min()
            start = f" (the data start on {first.date()})" if pd.notna(first) else ""
            raise DataError("transactions", "ts", f"has no transaction on or before "
                            f"{pd.Timestamp(as_of).date()}{start}",
                            "use a later as-of date (--as-of) inside the history")
        fb = _before(self.feedback, "ts", end) if self.feedback is not None else None
        tk = None
        if self.tickets is not None:
            tk = _before(self.tickets, "opened_ts", end)
            if "resolved_ts" in tk.columns and (tk["resolved_ts"] >= end).any():
                tk = tk.assign(resolved_ts=tk["resolved_ts"].where(tk["resolved_ts"] < end))
        cu = None
        if self.customers is not None:
            cu = self.customers
            if "signup_ts" in cu.columns and (cu["signup_ts"] >= end).any():
                cu = cu[~(cu["signup_ts"] >= end)]
            if "churned_ts" in cu.columns and (cu["churned_ts"] >= end).any():
                cu = cu.assign(churned_ts=cu["churned_ts"].where(cu["churned_ts"] < end))
        ev = _before(self.events, "ts", end) if self.events is not None else None
        return Tables(transactions=tx, feedback=fb, tickets=tk, customers=cu, events=ev)


def _before(df: pd.DataFrame, column: str, end: pd.Timestamp) -> pd.DataFrame:
    """The rows of ``df`` dated before ``end`` (``df`` itself when that is every row)."""
    keep = df[column] < end
    return df if keep.all() else df[keep]


def day_end(cutoff: pd.Timestamp | str) -> pd.Timestamp:
    """Exclusive upper bound of cutoff day ``cutoff``: events strictly before it are 'seen'.

    A cutoff is a calendar day; everything dated on that day (at any time) is in the past.
    """
    return pd.Timestamp(cutoff).normalize() + pd.Timedelta(days=1)
