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
  tells the business (non-contractual churn);
* an *engagement log* (logins, app sessions, page views, email opens) driven by the same
  hidden state: see :data:`EVENT_KNOBS`. It is drawn from its own random stream, so turning
  it off (``events="none"``) leaves the other tables byte-identical.

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

# The engagement log. Chosen to look like a retail app's event export, not to give the
# hidden state away:
# * while alive, a customer "visits" (a session, a page view or a login) at a rate that
#   follows their current purchase rate (daily users and monthly ones), falls when they are
#   dissatisfied and rises as their next purchase draws near (browsing before buying):
#   about one visit per 2-3 days on average, a median app session of 6 minutes (``value``);
# * some customers go quiet for weeks while alive (holidays, a competitor's trial): 15 %
#   have silent spells, starting about twice a year and lasting three weeks on average;
# * marketing emails go out twice a week to everyone who ever bought; alive customers open
#   a personal share of them (median 15 %); after leaving, opens fall to a fifth and fade
#   out over about two months (mail clients that pre-fetch images, curiosity), so a dead
#   customer is not simply one with no events;
# * event types: "session" (app), "page_view" (web), "login", "email_open".
# The log is about 17 rows per transaction (6.7M events for 20,000 customers over three
# years). Measured on the default data (seed 42): with these knobs the champion is 0.008 ROC
# AUC below the oracle; with 0.2 visits a day, no intent and a looser link to the purchase
# rate it stayed 0.020-0.023 below; 0.4 visits without intent, 0.016.
EVENT_TYPES = np.array(["session", "page_view", "login", "email_open"])
EVENT_KNOBS = {
    "visits_per_day": 0.4,  # mean visits per alive, engaged day (times the scenario's scale)
    "rate_link": 1.0,  # elasticity of the visit rate to the current purchase rate
    "visit_sd": 0.2,  # sd of each customer's log visit propensity beyond the purchase rate
    "unhappy": 1.0,  # log visit-rate slope in (negative) satisfaction
    "quiet_share": 0.15,  # share of customers who have silent spells while alive
    "quiet_per_day": 1 / 180,  # chance a prone customer starts a silent spell on a day
    "quiet_days": 21,  # mean length of a silent spell
    "email_open_median": 0.15,  # median share of marketing emails an alive customer opens
    "dead_open_share": 0.2,  # ... after leaving, at first, as a share of their alive rate
    "dead_open_fade": 60.0,  # ... fading with this time constant (days)
    "session_minutes": 6.0,  # median app session length
    "intent": 2.0,  # up to 1 + intent times the visits as the next purchase draws near
}


@dataclass(frozen=True)
class Scenario:
    """The shape of one simulated business: who arrives when, how often they buy, for how
    much, how fast they leave and which tables the business keeps.

    ``default`` is the rich three-year retailer the project started with. The others
    imitate the real logs people bring: a short single-cohort extract of small orders where
    most customers buy once, a seasonal business with long gaps, and a subscription whose
    cancellations are recorded (contractual churn).
    """

    name: str
    description: str
    months: int = 36  # length of the history
    cohort_days: int | None = None  # every customer's first purchase within this many days
    rate_mean: float = 0.26 / 7  # mean purchases per day (gamma across customers)
    rate_shape: float = KNOBS["rate_shape"]
    gap_shape: float = KNOBS["gap_shape"]
    spend_median: float = 40.0  # median basket of a customer (log-normal across customers)
    spend_sd: float = 0.6
    order_sd: float = 0.35  # log-normal noise of each order around the customer's basket
    order_range: tuple[float, float] | None = None  # clip order values to this range
    hazard_base: float = -7.0  # daily churn log-odds of an average customer
    early_hazard: float = 0.0  # extra log-odds just after the first purchase (try-once buyers)
    early_days: float = 30.0  # ... decaying with this time constant in days
    season_amp: float = 0.15  # yearly swell of demand (peak in late June)
    xmas: float = 0.6  # pre-Christmas demand boost
    tables: tuple[str, ...] = ("transactions", "feedback", "tickets", "customers", "events")
    explicit_churn: bool = False  # cancellations are recorded as customers.churned_ts
    event_scale: float = 1.0  # visits per day relative to EVENT_KNOBS["visits_per_day"]


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("default", "a retailer over three years: customers arriving throughout, CSAT/NPS "
             "feedback, support tickets, a customer table and an engagement log"),
    # Like the public CD-retailer logs (plus an event log): one acquisition quarter, 18 months,
    # small orders, most customers never come back (the early hazard), repeaters buying
    # every two months or so with very uneven rates.
    Scenario("single-cohort", "one acquisition quarter, 18 months of transactions and an "
             "event log, small orders (10-40), 55-60% one-time buyers",
             months=18, cohort_days=91, rate_mean=1 / 80, rate_shape=0.7, gap_shape=1.5,
             spend_median=20.0, spend_sd=0.3, order_sd=0.25, order_range=(10.0, 40.0),
             hazard_base=-7.0, early_hazard=5.35, early_days=14.0, season_amp=0.1, xmas=0.3,
             tables=("transactions", "events")),
    # A seasonal business (garden, outdoor, school supplies): purchases every 2-4 months with
    # strong seasons, transactions and a customer table.
    Scenario("sparse", "purchases every 2-4 months with strong seasons, transactions, a "
             "customer table and an event log", months=30, rate_mean=1 / 100, rate_shape=3.0, gap_shape=6.0,
             spend_median=60.0, hazard_base=-7.6, season_amp=0.45, xmas=0.2,
             tables=("transactions", "customers", "events"), event_scale=0.6),
    # A subscription box: monthly renewals, cancellations recorded with their date.
    Scenario("subscription", "monthly renewals over two years with recorded cancellations "
             "(customers.churned_ts), feedback and tickets", months=24, rate_mean=1 / 30,
             rate_shape=20.0, gap_shape=30.0, spend_median=35.0, spend_sd=0.3, order_sd=0.05,
             hazard_base=-6.4, season_amp=0.0, xmas=0.0, explicit_churn=True),
)}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name`` (a :class:`ConfigError` naming the known ones otherwise)."""
    if name not in SCENARIOS:
        from churnmodel.errors import ConfigError, nearest

        raise ConfigError(f"unknown scenario '{name}'.{nearest(name, SCENARIOS)} "
                          f"Known: {', '.join(SCENARIOS)}.")
    return SCENARIOS[name]


@dataclass(frozen=True)
class SyntheticData:
    """The tables the scenario keeps (canonical column names; ``None`` for the others) plus
    the oracle and the generation settings."""

    transactions: pd.DataFrame
    feedback: pd.DataFrame | None
    tickets: pd.DataFrame | None
    customers: pd.DataFrame | None
    oracle: pd.DataFrame
    meta: dict
    events: pd.DataFrame | None = None


def _season(days: np.ndarray, start: pd.Timestamp, amp: float = 0.15, xmas_boost: float = 0.6
            ) -> np.ndarray:
    """Demand multiplier per day: a summer swell and a pre-Christmas peak."""
    dates = start + pd.to_timedelta(days, unit="D")
    doy = dates.day_of_year.to_numpy()
    xmas = ((dates.month == 11) & (dates.day >= 20)) | ((dates.month == 12) & (dates.day <= 23))
    return 1.0 + amp * np.sin(2 * np.pi * (doy - 80) / 365.25) + xmas_boost * np.asarray(xmas)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(
    customers: int = 20_000,
    seed: int = 42,
    end: str = "2025-12-31",
    years: int | None = None,
    horizon_days: int = 90,
    activity_lookback_days: int = 365,
    scenario: str = "default",
    events: str = "default",
) -> SyntheticData:
    """Simulate ``customers`` customers of a :data:`SCENARIOS` business up to ``end``.

    The history lasts the scenario's ``months`` unless ``years`` is given. Returns the
    tables the scenario keeps, in the contract's canonical columns, and the oracle table
    ``(customer_id, cutoff, p_churn)`` for every month start. ``events="none"`` leaves out
    the engagement log, ``events="thin"`` makes it sparse (:data:`THIN_VISITS`); the other
    tables and the oracle are the same either way.

    >>> d = generate(customers=300, seed=1)
    >>> sorted(d.customers.columns)
    ['channel', 'customer_id', 'loyalty_tier', 'region', 'signup_ts']
    >>> bool(d.oracle["p_churn"].between(0, 1).all())
    True
    """
    if customers < 10:
        raise ValueError("customers must be at least 10")
    if events not in EVENT_MODES:
        raise ValueError(f"events must be one of {', '.join(EVENT_MODES)}, not {events!r}")
    sc = get_scenario(scenario)
    months = 12 * years if years is not None else sc.months
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end).normalize()
    start = end_ts - pd.DateOffset(months=months) + pd.Timedelta(days=1)
    n_days = int((end_ts - start).days) + 1
    n = customers
    season = _season(np.arange(n_days + horizon_days + 1), start, sc.season_amp, sc.xmas)

    # --- who the customers are -------------------------------------------------------
    existing = rng.random(n) < 0.3
    arrive = np.where(existing, 0, (n_days * rng.random(n) ** 0.8).astype(int))
    signup_day = np.where(existing, -rng.integers(1, 3 * 365, n), arrive)
    if sc.cohort_days is not None:  # one acquisition wave: first purchases in the first days
        arrive = np.sort(rng.integers(0, min(sc.cohort_days, n_days), n))
        signup_day = arrive
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_P)
    # purchases/day: gamma-distributed, shifted by the acquisition channel
    lam0 = rng.gamma(sc.rate_shape, sc.rate_mean / sc.rate_shape, n)
    lam0 = np.clip(lam0 * np.exp(KNOBS["channel_rate"] * CHANNEL_RATE[channel]), 0.002, 0.6)
    drift = rng.normal(-0.15, KNOBS["drift_sd"], n) / 365.0  # log purchase rate change per day
    spend = np.exp(rng.normal(np.log(sc.spend_median), sc.spend_sd, n))
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
        sc.hazard_base
        + CHANNEL_HAZARD[channel]
        - 0.15 * tier
        - 0.3 * np.log(lam0 / 0.037)
        + rng.normal(0, KNOBS["hazard_noise"], n)  # unobservable individual propensity
    )

    k_gap = sc.gap_shape
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
        if sc.early_hazard:  # many try once and never come back
            logit = logit + sc.early_hazard * np.exp(-(day - arrive[idx]) / sc.early_days)
        return _sigmoid(logit)

    def rate(idx: np.ndarray, day: int) -> np.ndarray:
        age = day - arrive[idx]
        return lam0[idx] * np.exp(drift[idx] * age + 0.4 * np.minimum(s[idx], 0))

    log = (_EventLog(n, seed, sc.event_scale * (THIN_VISITS if events == "thin" else 1.0),
                     fav_chan, thin=events == "thin")
           if events != "none" and "events" in sc.tables else None)

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
        tx_a.append(spend[b] * np.exp(rng.normal(0, sc.order_sd, len(b))) * (1 + 0.3 * (season[d] > 1.3)))
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

        if log is not None:  # the engagement log of the day, from its own random stream
            log.day(d, idx, rate(idx, d) * season[d], s[idx], arrive, dead_day,
                    clock[idx] / threshold[idx])

        # satisfaction reverts to the customer's baseline; weekly random drift
        s[idx] += 0.01 * (s0[idx] - s[idx])
        if d % 7 == 6:
            s[idx] += rng.normal(0, KNOBS["s_noise"], len(idx))
        complaint_level[idx] *= decay

        if d in oracle_days:
            oracle_parts.append(_oracle_at(d, oracle_days[d], arrive, dead_day, last_buy,
                                           clock, k_gap, hazard, rate, drift, season,
                                           horizon_days, activity_lookback_days,
                                           sc.explicit_churn))

    ids = rng.permutation(n) + 100_001  # ids carry no information about arrival order
    tx_c_all = np.concatenate(tx_c)
    tx_d_all = np.concatenate(tx_d)
    amounts = np.concatenate(tx_a)
    if sc.order_range is not None:
        amounts = np.clip(amounts, *sc.order_range)
    amounts = np.round(amounts, 2)
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
    if sc.explicit_churn:  # the cancellation date is recorded (contractual churn)
        gone = dead_day >= 0
        customers_df["churned_ts"] = pd.Series(
            start + pd.to_timedelta(np.where(gone, dead_day, 0), unit="D")).where(gone)
    events_df = log.frame(ids, start) if log is not None else None
    oracle = pd.concat(oracle_parts, ignore_index=True)
    oracle["customer_id"] = ids[oracle.pop("idx").to_numpy()]
    oracle = oracle[["customer_id", "cutoff", "p_churn"]]
    meta = {
        "customers": customers, "seed": seed, "end": str(end_ts.date()),
        "start": str(start.date()), "months": months, "scenario": sc.name,
        "horizon_days": horizon_days, "activity_lookback_days": activity_lookback_days,
        "events": "none" if events_df is None else events,
    }
    kept = {"feedback": feedback, "tickets": tickets, "customers": customers_df,
            "events": events_df}
    kept = {k: (v if k in sc.tables else None) for k, v in kept.items()}
    return SyntheticData(transactions, oracle=oracle, meta=meta, **kept)


EVENT_MODES = ("default", "thin", "none")
# ``events="thin"``: a product whose log is sparse (a web shop without an app, a newsletter
# every other week): visits at THIN_VISITS of the default rate and one marketing email per
# fortnight instead of two a week. About 20 events per customer, so 1M customers are about
# 20M events (the scale the benchmark measures); the purchases and the oracle are the same.
THIN_VISITS = 0.05


class _EventLog:
    """The engagement log, simulated day by day beside the purchases (see :data:`EVENT_KNOBS`).

    It reads the hidden state (alive or not, current purchase rate, satisfaction) and
    never changes it, and draws from its own child seed: the other tables do not depend on
    whether it runs.
    """

    def __init__(self, n: int, seed: int, scale: float, fav_chan: np.ndarray,
                 thin: bool = False) -> None:
        k = EVENT_KNOBS
        # marketing emails: on these days of each customer's list-segment cycle
        self.email_cycle: int = 14 if thin else 7
        self.email_days: tuple[int, ...] = (1,) if thin else (1, 4)
        self.rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        rng = self.rng
        # visits per day per unit of purchase rate**rate_link, with a personal factor whose
        # mean is 1, so the average alive customer visits about visits_per_day times a day
        self.propensity = (k["visits_per_day"] * scale / 0.037 ** k["rate_link"]
                           * np.exp(rng.normal(-k["visit_sd"] ** 2 / 2, k["visit_sd"], n)))
        self.quiet_prone = rng.random(n) < k["quiet_share"]
        self.quiet_until = np.full(n, -1)
        self.segment = rng.integers(0, 7, n)
        self.open_share = np.clip(np.exp(rng.normal(np.log(k["email_open_median"]), 0.7, n)),
                                  0, 0.9)
        # app users mostly hold sessions, web users view pages; everyone logs in sometimes
        app = fav_chan == int(np.flatnonzero(SALES_CHANNELS == "app")[0])
        p_session = np.clip(np.where(app, 0.75, 0.3) + rng.normal(0, 0.1, n), 0.05, 0.95)
        self.p_type = np.stack([p_session, 0.75 * (1 - p_session), 0.25 * (1 - p_session)], 1)
        self.c: list[np.ndarray] = []
        self.d: list[np.ndarray] = []
        self.t: list[np.ndarray] = []

    def day(self, d: int, idx: np.ndarray, purchase_rate: np.ndarray, sat: np.ndarray,
            arrive: np.ndarray, dead_day: np.ndarray, progress: np.ndarray) -> None:
        """Draw day ``d``'s events: ``idx`` are the customers alive today, ``progress`` how
        far each is on the way to their next purchase (0 just after one, 1 at it)."""
        k, rng = EVENT_KNOBS, self.rng
        # silent spells of the prone
        start = self.quiet_prone[idx] & (self.quiet_until[idx] < d)
        start &= rng.random(len(idx)) < k["quiet_per_day"]
        begin = idx[start]
        self.quiet_until[begin] = d + rng.geometric(1 / k["quiet_days"], len(begin))
        up = self.quiet_until[idx] < d
        awake = idx[up]
        mu = (self.propensity[awake] * purchase_rate[up] ** k["rate_link"]
              * np.exp(k["unhappy"] * np.minimum(sat[up], 0))
              * (1 + k["intent"] * np.clip(progress[up], 0, 1) ** 2))
        visits = rng.poisson(mu)
        who = np.repeat(awake, visits)
        u = rng.random(len(who))
        cum = np.cumsum(self.p_type[who], axis=1)
        kind = (u[:, None] > cum).sum(axis=1)  # 0 session, 1 page view, 2 login
        self.c.append(who)
        self.d.append(np.full(len(who), d))
        self.t.append(kind.astype(np.int8))
        # marketing emails twice a week to everyone who ever bought, each list segment on
        # its own weekdays (so a cutoff's weekday does not decide who opened one lately)
        sent = np.flatnonzero((arrive <= d)
                              & np.isin((d + self.segment) % self.email_cycle, self.email_days))
        if len(sent):
            p = self.open_share[sent].copy()
            gone = dead_day[sent] >= 0
            since = d - dead_day[sent][gone]
            p[gone] *= k["dead_open_share"] * np.exp(-since / k["dead_open_fade"])
            opened = sent[rng.random(len(sent)) < p]
            self.c.append(opened)
            self.d.append(np.full(len(opened), d))
            self.t.append(np.full(len(opened), 3, dtype=np.int8))

    def frame(self, ids: np.ndarray, start: pd.Timestamp) -> pd.DataFrame:
        """The log as a table in the contract's columns, in time order."""
        rng = self.rng
        c, d, t = np.concatenate(self.c), np.concatenate(self.d), np.concatenate(self.t)
        seconds = rng.integers(6 * 3600, 24 * 3600, len(c))
        order = np.lexsort((seconds, d))
        minutes = np.round(np.exp(rng.normal(np.log(EVENT_KNOBS["session_minutes"]), 0.8,
                                             len(c))), 1)
        value = np.where(t == 0, minutes, np.nan)
        return pd.DataFrame({
            "customer_id": ids[c],
            "ts": start + pd.to_timedelta(d * 86400 + seconds, unit="s"),
            "event_type": pd.Categorical.from_codes(t, EVENT_TYPES),
            "value": value,
        }).iloc[order].reset_index(drop=True)


def _oracle_at(d, month_start, arrive, dead_day, last_buy, clock, k_gap, hazard, rate, drift,
               season, horizon, lookback, explicit=False) -> pd.DataFrame:
    """P(no purchase in days d+1..d+horizon) for customers active at the end of day ``d``.

    Dead customers: 1. Alive ones: each day they may leave (hazard h, held at today's
    value) before buying; while alive, no purchase through day j means their gamma
    threshold exceeds clock + purchase time elapsed, given it exceeds the clock today:
    R_j = S(c + L_j) / S(c). With recorded cancellations (``explicit``) the cancelled are
    not in the population, and the label is a cancellation in the window, or no purchase
    in it: 1 - (1 - h)^H (1 - R_H).
    """
    active = (arrive <= d) & (last_buy > d - lookback)
    if explicit:
        active &= ~((dead_day >= 0) & (dead_day <= d))
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
    p[alive] = (1 - stay) + stay * r_prev if explicit else p_none + stay * r_prev
    return pd.DataFrame({"idx": idx, "cutoff": month_start, "p_churn": p})


def write_synthetic(directory: str | Path, data: SyntheticData) -> list[Path]:
    """Write each table as Parquet (plus ``oracle.parquet`` and ``meta.json``) atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("transactions", "feedback", "tickets", "customers", "events", "oracle"):
        path = directory / f"{name}.parquet"
        if getattr(data, name) is None:  # a table this scenario's business does not keep
            path.unlink(missing_ok=True)
            continue
        tmp = path.with_suffix(".parquet.tmp")
        getattr(data, name).to_parquet(tmp, index=False)
        tmp.replace(path)
        written.append(path)
    meta = directory / "meta.json"
    meta.write_text(json.dumps(data.meta, indent=2))
    written.append(meta)
    return written
