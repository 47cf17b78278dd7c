"""The embedded default data: a seeded simulation of a retailer's customers.

The generator simulates every customer day by day, so the tables have the structure real
logs have and the modelling problem is not trivial:

* customers arrive over time (a base of existing customers plus growth), each with their
  own purchase rate (gamma-distributed), basket size (log-normal), slow drift in
  engagement, region, acquisition channel and loyalty tier;
* purchases follow seasonality (a summer swell and a pre-Christmas peak); some are
  refunded days later;
* a hidden *satisfaction* state moves with each customer's experiences: support tickets
  resolved slowly, complaints, and random drift, and reverts towards the customer's own
  baseline. CSAT answers (after purchases and resolved tickets) and occasional NPS
  answers are noisy readings of it; dissatisfied customers also buy less often;
* a hidden churn process: each day an alive customer leaves with a hazard that rises
  with low satisfaction, an open ticket, recent complaints and a paid-social acquisition,
  and falls with tenure, tier and purchase rate. Churned customers stop buying; nobody
  tells the business (non-contractual churn).

Because the latent state is known, the generator also writes the **oracle**: for every
customer active at each month start, the probability of *no purchase in the next
``horizon_days``* given their true state (alive or not, purchase rate, hazard) — the
ceiling any model can reach on the churn label. It holds each customer's hazard and
satisfaction at their cutoff value through the horizon (seasonality and drift, which are
deterministic, are followed exactly), so it is a near-exact, not a perfect, ceiling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import gammaincc

REGIONS = np.array(["north", "south", "east", "west"])
REGION_SLOWNESS = np.array([0.0, 0.35, -0.15, 0.15])  # log-hours offset of ticket resolution
CHANNELS = np.array(["organic", "paid_search", "social", "referral", "email"])
CHANNEL_P = np.array([0.35, 0.25, 0.15, 0.10, 0.15])
CHANNEL_HAZARD = np.array([0.0, 0.25, 0.45, -0.45, 0.05])
CHANNEL_RATE = np.array([0.0, -0.2, -0.4, 0.4, 0.2])  # log purchase-rate effect of the channel
TIERS = np.array(["bronze", "silver", "gold", "platinum"])
CATEGORIES = np.array(["grocery", "home", "fashion", "electronics", "beauty"])
SALES_CHANNELS = np.array(["web", "app", "store"])
TICKET_CATEGORIES = np.array(["delivery", "billing", "product", "account"])

# Knobs of the simulation (kept together so their effect on difficulty is easy to study).
KNOBS = {
    "rate_shape": 1.1,  # gamma shape of purchase rates: lower = more heterogeneous
    "hazard_noise": 0.3,  # sd of the unobservable part of each customer's churn propensity
    "csat_after_purchase": 0.5,  # share of purchases followed by a CSAT answer
    "nps_per_day": 1 / 45,
    "drift_sd": 0.15,  # sd of each customer's yearly log purchase-rate drift
    "s_noise": 0.08,  # weekly random walk of satisfaction
    "gap_shape": 4.0,  # gamma shape of gaps in purchase time: 1 = Poisson, higher = more regular
    "tier_noise": 0.2,  # how loosely the loyalty tier follows purchase rate x basket
    "channel_rate": 2.0,  # scale of the acquisition channel's effect on purchase rate
}


@dataclass(frozen=True)
class SyntheticData:
    """The four tables (canonical column names) plus the oracle and generation settings."""

    transactions: pd.DataFrame
    feedback: pd.DataFrame
    tickets: pd.DataFrame
    customers: pd.DataFrame
    oracle: pd.DataFrame
    meta: dict


def _season(days: np.ndarray, start: pd.Timestamp) -> np.ndarray:
    """Demand multiplier per day: a mild summer swell and a strong pre-Christmas peak."""
    dates = start + pd.to_timedelta(days, unit="D")
    doy = dates.day_of_year.to_numpy()
    xmas = ((dates.month == 11) & (dates.day >= 20)) | ((dates.month == 12) & (dates.day <= 23))
    return 1.0 + 0.15 * np.sin(2 * np.pi * (doy - 80) / 365.25) + 0.6 * np.asarray(xmas)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(
    customers: int = 20_000,
    seed: int = 42,
    end: str = "2025-12-31",
    years: int = 3,
    horizon_days: int = 90,
    activity_lookback_days: int = 365,
) -> SyntheticData:
    """Simulate ``customers`` customers over ``years`` years ending on ``end``.

    Returns the tables in the contract's canonical columns, and the oracle table
    ``(customer_id, cutoff, p_churn)`` for every month start.

    >>> d = generate(customers=300, seed=1)
    >>> sorted(d.customers.columns)
    ['channel', 'customer_id', 'loyalty_tier', 'region', 'signup_ts']
    >>> bool(d.oracle["p_churn"].between(0, 1).all())
    True
    """
    if customers < 10:
        raise ValueError("customers must be at least 10")
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end).normalize()
    start = end_ts - pd.DateOffset(years=years) + pd.Timedelta(days=1)
    n_days = int((end_ts - start).days) + 1
    n = customers
    season = _season(np.arange(n_days + horizon_days + 1), start)

    # --- who the customers are -------------------------------------------------------
    existing = rng.random(n) < 0.3
    arrive = np.where(existing, 0, (n_days * rng.random(n) ** 0.8).astype(int))
    signup_day = np.where(existing, -rng.integers(1, 3 * 365, n), arrive)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_P)
    # purchases/day: gamma-distributed, shifted by the acquisition channel
    lam0 = rng.gamma(KNOBS["rate_shape"], 0.26 / 7 / KNOBS["rate_shape"], n)
    lam0 = np.clip(lam0 * np.exp(KNOBS["channel_rate"] * CHANNEL_RATE[channel]), 0.002, 0.6)
    drift = rng.normal(-0.15, KNOBS["drift_sd"], n) / 365.0  # log purchase rate change per day
    spend = np.exp(rng.normal(np.log(40), 0.6, n))
    value_rank = np.argsort(np.argsort(np.log(lam0 * spend) + rng.normal(0, KNOBS["tier_noise"], n))) / n
    tier = np.searchsorted([0.5, 0.8, 0.95], value_rank)  # bronze 50%, silver 30%, gold 15%, plat 5%
    region = rng.integers(0, len(REGIONS), n)
    s0 = rng.normal(0.25, 0.6, n)  # each customer's baseline satisfaction
    s = s0 + rng.normal(0, 0.3, n)
    ticket_rate = rng.gamma(1.0, 0.30 / 30, n)  # tickets/day
    slowness = rng.normal(0, 0.5, n) + REGION_SLOWNESS[region]
    fav_cat = rng.integers(0, len(CATEGORIES), n)
    fav_chan = rng.integers(0, len(SALES_CHANNELS), n)
    base_hazard = (
        -7.0
        + CHANNEL_HAZARD[channel]
        - 0.15 * tier
        - 0.3 * np.log(lam0 / 0.037)
        + rng.normal(0, KNOBS["hazard_noise"], n)  # unobservable individual propensity
    )

    k_gap = KNOBS["gap_shape"]
    clock = np.zeros(n)
    threshold = rng.gamma(k_gap, 1 / k_gap, n)
    dead_day = np.full(n, -1)
    last_buy = np.full(n, -10**6)
    open_until = np.full(n, -1)
    open_hours = np.zeros(n)
    complaint_level = np.zeros(n)
    decay = np.exp(-1 / 45)

    tx_c, tx_d, tx_a = [], [], []
    fb_c, fb_d, fb_csat, fb_nps = [], [], [], []
    tk_c, tk_d, tk_h, tk_k = [], [], [], []
    oracle_parts = []
    month_starts = pd.date_range(start, end_ts, freq="MS")
    oracle_days = {int((m - start).days): m for m in month_starts}

    def hazard(idx: np.ndarray, day: int) -> np.ndarray:
        tenure = (day - signup_day[idx]) / 180.0
        logit = (
            base_hazard[idx]
            - 0.9 * s[idx]
            + 0.8 * (open_until[idx] >= 0)
            + 0.45 * complaint_level[idx]
            - 0.35 * np.log1p(np.maximum(tenure, 0))
        )
        return _sigmoid(logit)

    def rate(idx: np.ndarray, day: int) -> np.ndarray:
        age = day - arrive[idx]
        return lam0[idx] * np.exp(drift[idx] * age + 0.4 * np.minimum(s[idx], 0))

    for d in range(n_days):
        alive = (arrive <= d) & (dead_day < 0)
        idx = np.flatnonzero(alive)
        newcomers = arrive[idx] == d
        # churn happens at the start of the day, before any purchase (never on day one)
        h = hazard(idx, d)
        leaves = (rng.random(len(idx)) < h) & ~newcomers
        dead_day[idx[leaves]] = d
        idx, newcomers = idx[~leaves], newcomers[~leaves]

        # purchases (at most one purchase occasion a day); a newcomer's first day is a purchase
        # Purchases follow a renewal process in "purchase time": a customer's clock runs at
        # their current rate (times seasonality) and they buy when it passes a gamma
        # threshold of mean 1, so rhythms are regular but not clockwork.
        clock[idx] += rate(idx, d) * season[d]
        buys = (clock[idx] >= threshold[idx]) | newcomers
        b = idx[buys]
        clock[b] = 0.0
        threshold[b] = rng.gamma(k_gap, 1 / k_gap, len(b))
        tx_c.append(b)
        tx_d.append(np.full(len(b), d))
        tx_a.append(spend[b] * np.exp(rng.normal(0, 0.35, len(b))) * (1 + 0.3 * (season[d] > 1.3)))
        last_buy[b] = d
        # CSAT after some purchases: a noisy reading of satisfaction
        asked = b[rng.random(len(b)) < KNOBS["csat_after_purchase"]]
        fb_c.append(asked)
        fb_d.append(np.full(len(asked), d))
        fb_csat.append(np.clip(np.round(3.7 + 0.9 * s[asked] + rng.normal(0, 0.6, len(asked))), 1, 5))
        fb_nps.append(np.full(len(asked), np.nan))

        # tickets: opened by customers without an open ticket; unhappy customers write more
        free = idx[open_until[idx] < 0]
        p_tk = ticket_rate[free] * (1 + 0.8 * (s[free] < -0.3))
        opened = free[rng.random(len(free)) < p_tk]
        hours = np.exp(np.log(14) + slowness[opened] + rng.normal(0, 0.9, len(opened)))
        complaint = rng.random(len(opened)) < (0.15 + 0.25 * (s[opened] < 0) + 0.2 * (hours > 72))
        tk_c.append(opened)
        tk_d.append(np.full(len(opened), d))
        tk_h.append(hours)
        tk_k.append(complaint)
        open_until[opened] = d + np.ceil(hours / 24).astype(int)
        open_hours[opened] = hours
        s[opened[complaint]] -= 0.25
        complaint_level[opened[complaint]] += 1.0

        # resolutions today: a slow resolution hurts satisfaction, a fast one helps
        done = np.flatnonzero(open_until == d)
        if len(done):
            hrs = open_hours[done]
            s[done] += np.clip(0.3 - 0.25 * np.log(hrs / 12), -0.8, 0.35)
            open_until[done] = -1
            alive_done = done[dead_day[done] < 0]
            ask = alive_done[rng.random(len(alive_done)) < 0.5]
            fb_c.append(ask)
            fb_d.append(np.full(len(ask), d))
            q = 3.6 + 0.8 * s[ask] - 0.6 * np.log(open_hours[ask] / 24)
            fb_csat.append(np.clip(np.round(q + rng.normal(0, 0.6, len(ask))), 1, 5))
            fb_nps.append(np.full(len(ask), np.nan))

        # occasional NPS survey
        nps_c = idx[rng.random(len(idx)) < KNOBS["nps_per_day"]]
        fb_c.append(nps_c)
        fb_d.append(np.full(len(nps_c), d))
        fb_csat.append(np.full(len(nps_c), np.nan))
        fb_nps.append(np.clip(np.round(7.2 + 1.8 * s[nps_c] + rng.normal(0, 1.2, len(nps_c))), 0, 10))

        # satisfaction reverts to the customer's baseline; weekly random drift
        s[idx] += 0.01 * (s0[idx] - s[idx])
        if d % 7 == 6:
            s[idx] += rng.normal(0, KNOBS["s_noise"], len(idx))
        complaint_level[idx] *= decay

        if d in oracle_days:
            oracle_parts.append(_oracle_at(d, oracle_days[d], arrive, dead_day, last_buy,
                                           clock, k_gap, hazard, rate, drift, season,
                                           horizon_days, activity_lookback_days))

    ids = rng.permutation(n) + 100_001  # ids carry no information about arrival order
    tx_c_all = np.concatenate(tx_c)
    tx_d_all = np.concatenate(tx_d)
    amounts = np.round(np.concatenate(tx_a), 2)
    # refunds: a few purchases are partly or fully returned 3-30 days later
    ref = rng.random(len(tx_c_all)) < 0.04
    ref_day = tx_d_all[ref] + rng.integers(3, 31, ref.sum())
    keep = ref_day < n_days
    r_c, r_d = tx_c_all[ref][keep], ref_day[keep]
    r_a = -np.round(amounts[ref][keep] * rng.uniform(0.3, 1.0, keep.sum()), 2)
    all_c = np.concatenate([tx_c_all, r_c])
    all_d = np.concatenate([tx_d_all, r_d])
    seconds = rng.integers(8 * 3600, 22 * 3600, len(all_c))
    order = np.lexsort((seconds, all_d))
    n_tx = len(all_c)
    cat_pick = np.where(rng.random(n_tx) < 0.6, fav_cat[all_c], rng.integers(0, len(CATEGORIES), n_tx))
    chan_pick = np.where(rng.random(n_tx) < 0.7, fav_chan[all_c], rng.integers(0, len(SALES_CHANNELS), n_tx))
    transactions = pd.DataFrame({
        "customer_id": ids[all_c],
        "ts": start + pd.to_timedelta(all_d * 86400 + seconds, unit="s"),
        "amount": np.concatenate([amounts, r_a]),
        "category": pd.Categorical.from_codes(cat_pick, CATEGORIES),
        "channel": pd.Categorical.from_codes(chan_pick, SALES_CHANNELS),
    }).iloc[order].reset_index(drop=True)

    fc = np.concatenate(fb_c)
    fd = np.concatenate(fb_d)
    fsec = rng.integers(8 * 3600, 23 * 3600, len(fc))
    feedback = pd.DataFrame({
        "customer_id": ids[fc],
        "ts": start + pd.to_timedelta(fd * 86400 + fsec, unit="s"),
        "csat": np.concatenate(fb_csat),
        "nps": np.concatenate(fb_nps),
    }).sort_values("ts", kind="stable").reset_index(drop=True)

    kc = np.concatenate(tk_c)
    kd = np.concatenate(tk_d)
    kh = np.concatenate(tk_h)
    opened_ts = start + pd.to_timedelta(kd * 86400 + rng.integers(7 * 3600, 20 * 3600, len(kc)), unit="s")
    resolved_ts = opened_ts + pd.to_timedelta(np.round(kh * 3600), unit="s")
    resolved_ts = resolved_ts.where(resolved_ts < end_ts + pd.Timedelta(days=1))
    tickets = pd.DataFrame({
        "customer_id": ids[kc],
        "opened_ts": opened_ts,
        "resolved_ts": resolved_ts,
        "category": pd.Categorical.from_codes(rng.integers(0, len(TICKET_CATEGORIES), len(kc)),
                                              TICKET_CATEGORIES),
        "is_complaint": np.concatenate(tk_k),
    }).sort_values("opened_ts", kind="stable").reset_index(drop=True)

    customers_df = pd.DataFrame({
        "customer_id": ids,
        "signup_ts": start + pd.to_timedelta(signup_day, unit="D"),
        "region": pd.Categorical.from_codes(region, REGIONS),
        "channel": pd.Categorical.from_codes(channel, CHANNELS),
        "loyalty_tier": pd.Categorical.from_codes(tier, TIERS),
    })
    oracle = pd.concat(oracle_parts, ignore_index=True)
    oracle["customer_id"] = ids[oracle.pop("idx").to_numpy()]
    oracle = oracle[["customer_id", "cutoff", "p_churn"]]
    meta = {
        "customers": customers, "seed": seed, "end": str(end_ts.date()),
        "start": str(start.date()), "years": years, "horizon_days": horizon_days,
        "activity_lookback_days": activity_lookback_days,
    }
    return SyntheticData(transactions, feedback, tickets, customers_df, oracle, meta)


def _oracle_at(d, month_start, arrive, dead_day, last_buy, clock, k_gap, hazard, rate, drift,
               season, horizon, lookback) -> pd.DataFrame:
    """P(no purchase in days d+1..d+horizon) for customers active at the end of day ``d``.

    Dead customers: 1. Alive ones: each day they may leave (hazard h, held at today's
    value) before buying; while alive, no purchase through day j means their gamma
    threshold exceeds clock + purchase time elapsed, given it exceeds the clock today:
    R_j = S(c + L_j) / S(c).
    """
    active = (arrive <= d) & (last_buy > d - lookback)
    idx = np.flatnonzero(active)
    alive = dead_day[idx] < 0
    p = np.ones(len(idx))
    a = idx[alive]
    h = hazard(a, d)
    lam = rate(a, d)
    c = clock[a]
    s_c = np.maximum(gammaincc(k_gap, c * k_gap), 1e-300)
    elapsed = np.zeros(len(a))
    stay = np.ones(len(a))  # (1 - h) ** (j - 1)
    p_none = np.zeros(len(a))
    r_prev = np.ones(len(a))
    for j in range(1, horizon + 1):
        p_none += stay * r_prev * h  # alive with no purchase through day j-1, leaves on day j
        stay = stay * (1 - h)
        elapsed += lam * np.exp(drift[a] * j) * season[d + j]
        r_prev = gammaincc(k_gap, (c + elapsed) * k_gap) / s_c
    p[alive] = p_none + stay * r_prev
    return pd.DataFrame({"idx": idx, "cutoff": month_start, "p_churn": p})


def write_synthetic(directory: str | Path, data: SyntheticData) -> list[Path]:
    """Write each table as Parquet (plus ``oracle.parquet`` and ``meta.json``) atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("transactions", "feedback", "tickets", "customers", "oracle"):
        path = directory / f"{name}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        getattr(data, name).to_parquet(tmp, index=False)
        tmp.replace(path)
        written.append(path)
    meta = directory / "meta.json"
    meta.write_text(json.dumps(data.meta, indent=2))
    written.append(meta)
    return written
