"""The facts a data scientist checks before modelling a purchase log (``churnmodel profile``).

How long the history is, how customers arrive, how many buy once, how long customers
usually wait between purchases, what churn base rate each candidate horizon would give,
which step of the training ladder each as-of date allows, and what an order is worth
against the cost of a retention offer. From these follow a suggested ``horizon_days`` and
the warnings ``train`` prints when the chosen horizon does not fit the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.config import Config
from churnmodel.data.tables import Tables
from churnmodel.labels import active_customers, churn_labels
from churnmodel.modeling import ladder

HORIZONS = (30, 60, 90, 120, 180, 365)
GAP_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.8, 0.9)
SUGGEST_QUANTILE = 0.85  # the horizon that 85% of repeat-purchase gaps fall within
BASE_RATE_RANGE = (0.02, 0.60)


@dataclass
class HistoryProfile:
    """What :func:`profile_history` finds; :meth:`text` is what ``churnmodel profile`` prints."""

    first: pd.Timestamp
    last: pd.Timestamp
    as_of: pd.Timestamp
    customers: int
    transactions: int
    arrivals: pd.Series  # first-purchase month -> customers
    one_time_share: float
    gap_quantiles: dict[float, float]
    base_rates: dict[int, dict[str, Any]]  # horizon -> cutoff, customers, base rate
    suggested_horizon: int | None
    horizon_days: int
    ladder_steps: list[tuple[str, str, int]]  # (first as-of date, step, labelled cutoffs)
    order_quantiles: dict[float, float]
    value_quantiles: dict[float, float]
    offer_cost: float
    acceptance_rate: float
    share_above_break_even: float = 0.0  # customers whose yearly spend exceeds cost / acceptance
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (metrics.json, MLflow, the report)."""
        return {
            "first": str(self.first.date()), "last": str(self.last.date()),
            "as_of": str(self.as_of.date()), "days": int((self.last - self.first).days) + 1,
            "customers": self.customers, "transactions": self.transactions,
            "arrivals": {str(k): int(v) for k, v in self.arrivals.items()},
            "one_time_share": self.one_time_share,
            "gap_quantiles": {str(k): v for k, v in self.gap_quantiles.items()},
            "base_rates": {str(k): v for k, v in self.base_rates.items()},
            "suggested_horizon_days": self.suggested_horizon, "horizon_days": self.horizon_days,
            "ladder_steps": [{"from": d, "step": s, "labelled_cutoffs": n}
                             for d, s, n in self.ladder_steps],
            "order_quantiles": {str(k): v for k, v in self.order_quantiles.items()},
            "value_quantiles": {str(k): v for k, v in self.value_quantiles.items()},
            "offer_cost": self.offer_cost, "acceptance_rate": self.acceptance_rate,
            "share_above_break_even": self.share_above_break_even,
            "warnings": list(self.warnings),
        }

    def text(self) -> str:
        days = int((self.last - self.first).days) + 1
        arr = self.arrivals
        top = arr.sort_values(ascending=False).head(3)
        lines = [
            f"history: {self.first.date()} to {self.last.date()} ({days} days, "
            f"{days / 30.44:.1f} months); {self.customers:,} customers, "
            f"{self.transactions:,} transactions",
            f"arrivals (first purchase per month): {len(arr)} months, busiest "
            + ", ".join(f"{k} {v:,}" for k, v in top.items())
            + f"; {top.iloc[0] / max(arr.sum(), 1):.0%} in the busiest month" if len(arr) else
            "arrivals: none",
            f"one-time buyers (one purchase day up to {self.as_of.date()}): {self.one_time_share:.1%}",
        ]
        if self.gap_quantiles:
            lines.append("days between repeat purchases: " + ", ".join(
                f"{int(q * 100)}% within {v:.0f}" for q, v in self.gap_quantiles.items()))
        else:
            lines.append("days between repeat purchases: nobody bought twice")
        lines.append("churn base rate by horizon (latest labelled cutoff, active customers):")
        for h, r in self.base_rates.items():
            mark = "  <- configured" if h == self.horizon_days else ""
            if r.get("base_rate") is None:
                lines.append(f"  {h:>4} days: not labelled ({r['why']}){mark}")
            else:
                lines.append(f"  {h:>4} days: {r['base_rate']:.1%} of {r['customers']:,} at "
                             f"{r['cutoff']}{mark}")
        if self.suggested_horizon is not None:
            lines.append(f"suggested horizon_days: {self.suggested_horizon} (85% of repeat "
                         "purchases come within it, rounded up to a month)")
        lines.append(f"training ladder for horizon_days = {self.horizon_days}, by as-of date:")
        for d, step, n in self.ladder_steps:
            lines.append(f"  from {d}: {step} ({n} labelled cutoff{'s' if n != 1 else ''})")
        if not self.ladder_steps:
            lines.append("  no as-of date in the history can label a cutoff")
        if self.order_quantiles:
            oq = self.order_quantiles
            vq = self.value_quantiles
            lines.append(f"order value: median {oq[0.5]:,.2f} (10% {oq[0.1]:,.2f}, 90% "
                         f"{oq[0.9]:,.2f}); yearly spend per customer: median {vq[0.5]:,.2f}, "
                         f"90% {vq[0.9]:,.2f}")
            pays = break_even(self.offer_cost, self.acceptance_rate)
            lines.append(f"offer_cost {self.offer_cost:g} with acceptance_rate "
                         f"{self.acceptance_rate:g}: contacting a certain churner pays only if "
                         f"they are worth more than {pays:,.2f} "
                         f"({self.share_above_break_even:.0%} of customers spent more in the "
                         "last year)")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)



def break_even(offer_cost: float, acceptance_rate: float) -> float:
    """The value a certain churner must have for an offer to pay: cost / acceptance.

    >>> break_even(30.0, 0.25)
    120.0
    """
    return offer_cost / max(acceptance_rate, 1e-9)


def _purchase_days(tables: Tables, as_of: pd.Timestamp) -> pd.DataFrame:
    tx = tables.transactions
    tx = tx[(tx["amount"] > 0) & (tx["ts"] < as_of + pd.Timedelta(days=1))]
    days = pd.DataFrame({"customer_id": tx["customer_id"].to_numpy(),
                         "day": tx["ts"].dt.normalize().to_numpy()})
    return days.drop_duplicates().sort_values(["customer_id", "day"], kind="stable")


def repeat_gaps(tables: Tables, as_of: pd.Timestamp) -> np.ndarray:
    """Days between consecutive purchase days of the same customer, up to ``as_of``.

    >>> from churnmodel.data.tables import Tables
    >>> tx = pd.DataFrame({"customer_id": [1, 1, 1, 2], "amount": [5.0, 5.0, 5.0, 5.0],
    ...     "ts": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-02-10", "2025-01-05"])})
    >>> repeat_gaps(Tables(tx), pd.Timestamp("2025-12-31")).tolist()
    [10.0, 30.0]
    """
    days = _purchase_days(tables, as_of)
    same = days["customer_id"].to_numpy()[1:] == days["customer_id"].to_numpy()[:-1]
    gaps = np.diff(days["day"].to_numpy()).astype("timedelta64[D]").astype(float)
    return gaps[same]


def suggest_horizon(gaps: np.ndarray) -> int | None:
    """The gap 85% of repeat purchases fall within, rounded up to whole 30-day months.

    >>> suggest_horizon(np.array([10.0] * 85 + [100.0] * 15))
    30
    >>> suggest_horizon(np.array([])) is None
    True
    """
    if len(gaps) == 0:
        return None
    q = float(np.quantile(gaps, SUGGEST_QUANTILE))
    return int(max(1, np.ceil(q / 30)) * 30)


def base_rate(tables: Tables, as_of: pd.Timestamp, horizon_days: int,
              lookback_days: int) -> dict[str, Any]:
    """Churn base rate at the latest month-start cutoff whose window ends by ``as_of``."""
    first = tables.transactions["ts"].min()
    cuts = ladder.labelled_cutoffs(first, as_of, horizon_days, 1)
    if not cuts:
        return {"base_rate": None, "why": "history too short"}
    pop = active_customers(tables, cuts[-1], lookback_days)
    if len(pop) == 0:
        return {"base_rate": None, "why": "no active customer"}
    y = churn_labels(tables, cuts[-1], pop, horizon_days)
    return {"cutoff": str(cuts[-1].date()), "customers": int(len(pop)),
            "base_rate": round(float(y.mean()), 4)}


def ladder_steps(first: pd.Timestamp, last: pd.Timestamp, horizon_days: int, n_cutoffs: int,
                 step_months: int = 1, embargo: bool = True) -> list[tuple[str, str, int]]:
    """From which month-end as-of date each ladder step is reached.

    >>> ladder_steps(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-12-31"), 90, 15)[0]
    ('2025-05-31', 'short', 2)
    """
    out: list[tuple[str, str, int]] = []
    for d in pd.date_range(first, last, freq="ME"):
        n = len(ladder.labelled_cutoffs(first, d, horizon_days, n_cutoffs, step_months))
        if n == 0:
            continue
        step = ladder.plan(first, d, horizon_days, n_cutoffs, step_months, embargo).step
        if not out or out[-1][1] != step:
            out.append((str(d.date()), step, n))
    return out


def profile_history(tables: Tables, cfg: Config, as_of: pd.Timestamp | None = None) -> HistoryProfile:
    """Profile the purchase log up to ``as_of`` (default: its latest event)."""
    as_of = (pd.Timestamp(as_of) if as_of is not None else tables.max_event_ts()).normalize()
    tables = tables.until(as_of)
    tx = tables.transactions
    days = _purchase_days(tables, as_of)
    first, last = tx["ts"].min().normalize(), tx["ts"].max().normalize()
    per_customer = days.groupby("customer_id").size()
    arrivals = (days.groupby("customer_id")["day"].min().dt.to_period("M").value_counts()
                .sort_index())
    gaps = repeat_gaps(tables, as_of)
    H, L = cfg.labels.horizon_days, cfg.labels.activity_lookback_days
    horizons = sorted(set(HORIZONS) | {H})
    rates = {h: base_rate(tables, as_of, h, L) for h in horizons}
    pos = tx.loc[tx["amount"] > 0, "amount"].to_numpy(dtype=float)
    year = tx[(tx["ts"] > as_of - pd.Timedelta(days=365))]
    spend = year.groupby("customer_id")["amount"].sum().clip(lower=0).to_numpy(dtype=float)
    qs = (0.1, 0.5, 0.9)
    prof = HistoryProfile(
        first=first, last=last, as_of=as_of, customers=int(tx["customer_id"].nunique()),
        transactions=len(tx), arrivals=arrivals.rename(lambda p: str(p)),
        one_time_share=round(float((per_customer == 1).mean()), 4) if len(per_customer) else 0.0,
        gap_quantiles={q: float(np.quantile(gaps, q)) for q in GAP_QUANTILES} if len(gaps) else {},
        base_rates=rates, suggested_horizon=suggest_horizon(gaps), horizon_days=H,
        ladder_steps=ladder_steps(first, last, H, cfg.training.n_cutoffs,
                                  cfg.training.cutoff_step_months, cfg.training.embargo),
        order_quantiles={q: float(np.quantile(pos, q)) for q in qs} if len(pos) else {},
        value_quantiles={q: float(np.quantile(spend, q)) for q in qs} if len(spend) else {},
        offer_cost=cfg.scoring.offer_cost, acceptance_rate=cfg.scoring.acceptance_rate,
    )
    pays = break_even(cfg.scoring.offer_cost, cfg.scoring.acceptance_rate)
    prof.share_above_break_even = float((spend > pays).mean()) if len(spend) else 0.0
    prof.warnings = horizon_warnings(H, prof.gap_quantiles.get(0.5), rates[H].get("base_rate"),
                                     prof.suggested_horizon)
    return prof


def training_warnings(tables: Tables, as_of: pd.Timestamp, horizon_days: int,
                      base_rate: float) -> list[str]:
    """:func:`horizon_warnings` for a training run: the repeat gaps up to ``as_of`` and the
    base rate the run's test rows had."""
    gaps = repeat_gaps(tables, as_of)
    median = float(np.median(gaps)) if len(gaps) else None
    return horizon_warnings(horizon_days, median, base_rate, suggest_horizon(gaps))


def horizon_warnings(horizon_days: int, median_gap: float | None, rate: float | None,
                     suggested: int | None) -> list[str]:
    """What is wrong with the chosen horizon, in words, with the suggestion.

    >>> horizon_warnings(60, 75.0, 0.57, 120)[0][:60]
    'horizon_days = 60 is shorter than the median gap between rep'
    >>> horizon_warnings(90, 30.0, 0.3, 90)
    []
    """
    hint = (f" Suggested: horizon_days = {suggested} (`churnmodel profile`)."
            if suggested and suggested != horizon_days else "")
    out = []
    if median_gap is not None and horizon_days < median_gap:
        out.append(f"horizon_days = {horizon_days} is shorter than the median gap between repeat "
                   f"purchases ({median_gap:.0f} days): most customers who will buy again look "
                   f"churned.{hint}")
    lo, hi = BASE_RATE_RANGE
    if rate is not None and rate > hi:
        out.append(f"with horizon_days = {horizon_days} the churn base rate is {rate:.0%} (above "
                   f"{hi:.0%}): the label calls most active customers churned; a longer horizon "
                   f"or a shorter [labels] activity_lookback_days separates them better.{hint}")
    if rate is not None and rate < lo:
        out.append(f"with horizon_days = {horizon_days} the churn base rate is {rate:.1%} (below "
                   f"{lo:.0%}): too few churners to learn from; a shorter horizon gives more.{hint}")
    return out
