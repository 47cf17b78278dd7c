"""Customer lifetime value: BG/NBD expected purchases x Gamma-Gamma expected spend.

For a customer with history ``(x, t_x, T, m_x)`` seen at a cutoff, the value over the
next ``months`` months with a monthly discount rate ``d`` is

``CLV = sum_{k=1..months} [E(Y(k m)) - E(Y((k-1) m))] * E(M | x, m_x) / (1 + d) ** k``

where ``E(Y(t))`` is the BG/NBD expected number of purchases in ``(T, T + t]`` (Fader,
Hardie & Lee 2005, eq. 10), ``m`` is a month in days (365.25 / 12) and ``E(M | x, m_x)``
the Gamma-Gamma expected spend per purchase (Fader & Hardie 2013). This is the
discounted-cash-flow form the ``lifetimes`` package uses; purchases and spend are assumed
independent (the Gamma-Gamma assumption, reported as ``spend_frequency_corr``).

Conventions (those of the BG/NBD baseline candidate): a purchase is a calendar day with
positive spend; ``x`` counts repeat purchase days, ages are in days from the first
purchase day, ``T`` counts the cutoff day itself (so a first purchase on the cutoff day
has ``T = 1``) and ``m_x`` is the mean spend of the repeat purchase days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.data.tables import Tables, day_end
from churnmodel.modeling.bgnbd import BetaGeoModel
from churnmodel.modeling.gammagamma import GammaGammaModel

__all__ = ["DAYS_PER_MONTH", "ValueModel", "fit_value_model", "purchase_summary",
           "value_calibration"]

DAYS_PER_MONTH = 365.25 / 12


def purchase_summary(tables: Tables, cutoff: pd.Timestamp,
                     customers: pd.Index | None = None) -> pd.DataFrame:
    """Per customer who bought by ``cutoff``: ``frequency, recency, T, monetary_value``.

    ``frequency`` is the number of repeat purchase days, ``recency`` the days from the
    first to the last purchase day, ``T`` the days from the first purchase day to the end
    of the cutoff day, ``monetary_value`` the mean spend of the repeat purchase days (0
    without one). Only events dated on or before the cutoff day are seen. With
    ``customers``, rows are those customers (missing ones dropped).

    >>> tx = pd.DataFrame({"customer_id": [1, 1, 1, 1, 2], "amount": [10.0, 5.0, 30.0, -4.0, 7.0],
    ...     "ts": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-11", "2025-01-12",
    ...                           "2025-01-20"])})
    >>> purchase_summary(Tables(tx), pd.Timestamp("2025-01-31")).to_dict("index")[1]
    {'frequency': 1.0, 'recency': 10.0, 'T': 31.0, 'monetary_value': 30.0}
    """
    tx = tables.transactions
    end = day_end(cutoff)
    buys = tx.loc[(tx["ts"] < end) & (tx["amount"] > 0), ["customer_id", "ts", "amount"]]
    if customers is not None:
        buys = buys[buys["customer_id"].isin(customers)]
    daily = (buys.assign(day=buys["ts"].dt.normalize())
             .groupby(["customer_id", "day"], sort=True)["amount"].sum().reset_index())
    g = daily.groupby("customer_id", sort=True)
    first_day, last_day = g["day"].min(), g["day"].max()
    n_days = g["day"].size().astype("float64")
    total, first_spend = g["amount"].sum(), g["amount"].first()
    cut = pd.Timestamp(cutoff).normalize()
    freq = n_days - 1.0
    out = pd.DataFrame({
        "frequency": freq,
        "recency": (last_day - first_day).dt.days.astype("float64"),
        "T": (cut - first_day).dt.days.astype("float64") + 1.0,
        "monetary_value": np.where(freq > 0, (total - first_spend) / freq.where(freq > 0, 1.0), 0.0),
    })
    out.index.name = "customer_id"
    return out if customers is None else out.reindex(customers.intersection(out.index))


@dataclass
class ValueModel:
    """A fitted BG/NBD and Gamma-Gamma pair and the CLV settings (:func:`fit_value_model`)."""

    purchases: BetaGeoModel
    spend: GammaGammaModel
    months: int = 12
    discount_monthly: float = 0.01
    cutoff: pd.Timestamp | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def expected_purchases(self, days: float, summary: pd.DataFrame,
                           given_alive: bool = False) -> np.ndarray:
        """BG/NBD expected purchases in the next ``days`` days (eq. 10).

        ``given_alive``: for a customer known to be still alive (eq. 10 divided by
        P(alive), eq. 11), i.e. one a retention offer keeps.
        """
        x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
        e = np.asarray(self.purchases.expected_purchases(days, x, tx, T), dtype=float)
        if given_alive:
            alive = np.asarray(self.purchases.prob_alive(x, tx, T), dtype=float)
            e = np.divide(e, alive, out=np.zeros_like(e), where=alive > 0)
        bad = ~np.isfinite(e)
        if bad.any():  # degenerate fit (no visible dropout): the gamma-Poisson limit
            m = self.purchases
            e[bad] = (m.r_ + x[bad]) / (m.alpha_ + T[bad]) * days
        return e

    def expected_spend(self, summary: pd.DataFrame) -> np.ndarray:
        """Gamma-Gamma expected spend per purchase (population mean without a repeat)."""
        x = summary["frequency"].to_numpy(dtype=float)
        m = summary["monetary_value"].to_numpy(dtype=float)
        ok = (x > 0) & (m > 0)
        return self.spend.conditional_expected_spend(np.where(ok, x, 0.0), np.where(ok, m, 1.0))

    def clv(self, summary: pd.DataFrame, given_alive: bool = False) -> np.ndarray:
        """Discounted expected spend over ``months`` months (module docstring).

        ``given_alive`` values the customer as still alive: what keeping a customer who
        would otherwise leave is worth (the expected CLV already counts the chance that they
        have left, so using it as the value a retention offer saves would count that twice).
        """
        spend = self.expected_spend(summary)
        total = np.zeros(len(summary))
        previous = np.zeros(len(summary))
        for k in range(1, self.months + 1):
            cumulative = self.expected_purchases(k * DAYS_PER_MONTH, summary, given_alive)
            total += (cumulative - previous) * spend / (1.0 + self.discount_monthly) ** k
            previous = cumulative
        return total

    def params(self) -> dict[str, float]:
        b, s = self.purchases, self.spend
        return {"bgnbd_r": b.r_, "bgnbd_alpha": b.alpha_, "bgnbd_a": b.a_, "bgnbd_b": b.b_,
                "gg_p": s.p_, "gg_q": s.q_, "gg_gamma": s.gamma_}


def fit_value_model(tables: Tables, cutoff: pd.Timestamp, months: int = 12,
                    discount_monthly: float = 0.01, max_customers: int = 50_000,
                    penalizer: float = 0.0, seed: int = 0) -> ValueModel:
    """Fit BG/NBD on every customer who bought by ``cutoff`` and Gamma-Gamma on repeat buyers.

    Up to ``max_customers`` customers (a seeded sample) are used. Raises ``ValueError``
    saying why when either model cannot be fitted (too few repeat buyers, an optimiser
    that fails, ``q <= 1``); callers fall back to trailing spend.
    """
    summary = purchase_summary(tables, cutoff)
    if len(summary) > max_customers:
        rng = np.random.default_rng(seed)
        summary = summary.iloc[np.sort(rng.choice(len(summary), max_customers, replace=False))]
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(repeat) < 20:
        raise ValueError(f"only {len(repeat)} customers bought more than once by "
                         f"{pd.Timestamp(cutoff).date()}: too few to fit the Gamma-Gamma spend model")
    purchases = BetaGeoModel(penalizer=penalizer).fit(
        summary["frequency"], summary["recency"], summary["T"])
    spend = GammaGammaModel(penalizer=penalizer).fit(repeat["frequency"], repeat["monetary_value"])
    if spend.q_ <= 1.0:
        raise ValueError(f"the Gamma-Gamma fit has q = {spend.q_:.3g} <= 1 (infinite mean spend); "
                         "set [value] penalizer to a small positive number such as 0.001")
    corr = float(np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1]) \
        if len(repeat) > 2 else float("nan")
    info = {"customers": len(summary), "repeat_customers": len(repeat),
            "spend_frequency_corr": corr, "cutoff": str(pd.Timestamp(cutoff).date())}
    return ValueModel(purchases, spend, months, discount_monthly, pd.Timestamp(cutoff), info)


def value_calibration(model: ValueModel, tables: Tables, cutoff: pd.Timestamp,
                      end: pd.Timestamp, customers: pd.Index, bins: int = 10) -> pd.DataFrame:
    """Predicted (undiscounted) against realised spend in ``(cutoff, end]``, by decile.

    ``model`` must have been fitted at ``cutoff`` on data up to it. Realised spend is the
    positive spend dated after the cutoff day and on or before ``end``. Rows: one per
    decile of predicted spend (1 = lowest) and a final ``all`` row; columns ``customers,
    predicted_mean, realised_mean, ratio`` (realised / predicted).
    """
    summary = purchase_summary(tables, cutoff, customers)
    days = float((pd.Timestamp(end).normalize() - pd.Timestamp(cutoff).normalize()).days)
    pred = pd.Series(model.expected_purchases(days, summary) * model.expected_spend(summary),
                     index=summary.index)
    tx = tables.transactions
    after = tx[(tx["ts"] >= day_end(cutoff)) & (tx["ts"] < day_end(end)) & (tx["amount"] > 0)
               & tx["customer_id"].isin(summary.index)]
    real = after.groupby("customer_id")["amount"].sum().reindex(summary.index).fillna(0.0)
    ranks = pred.rank(method="first")
    decile = np.ceil(ranks * bins / max(len(pred), 1)).astype(int).clip(1, bins)
    frame = pd.DataFrame({"decile": decile, "predicted": pred, "realised": real})
    by = frame.groupby("decile").agg(customers=("predicted", "size"),
                                     predicted_mean=("predicted", "mean"),
                                     realised_mean=("realised", "mean")).reset_index()
    by["decile"] = by["decile"].astype(str)
    total = pd.DataFrame({"decile": ["all"], "customers": [len(frame)],
                          "predicted_mean": [frame["predicted"].mean()],
                          "realised_mean": [frame["realised"].mean()]})
    out = pd.concat([by, total], ignore_index=True)
    out["ratio"] = out["realised_mean"] / out["predicted_mean"].where(out["predicted_mean"] > 0)
    return out
