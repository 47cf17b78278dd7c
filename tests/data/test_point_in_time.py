"""The point-in-time property: features at a cutoff see nothing dated after the cutoff day,
and labels see nothing dated on or before it.

Random small tables are built around a cutoff: events are placed ``day`` days from the
cutoff day at ``minute`` minutes past midnight (day <= 0: known at the cutoff, day 0 at
23:59 included; day >= 1: the future).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from churnmodel.data.io import tables_from_frames
from churnmodel.data.tables import Tables, day_end
from churnmodel.features import build_features, profile_features
from churnmodel.labels import churn_labels

BUILDERS = ("rfm", "satisfaction", "service", "profile", "engagement", "contact")
POP = pd.Index(range(1, 10))  # customer 9 never has events
NAN = float("nan")
# Each build_features call opens three DuckDB connections (~0.1 s), so the feature properties
# run fewer, larger examples (8 customers) to keep this file near 5 s (30 examples each
# would take ~10 s); labels are cheap.
FEATURE_SETTINGS = settings(max_examples=10, deadline=None, derandomize=True, database=None)
UNTIL_SETTINGS = settings(max_examples=5, deadline=None, derandomize=True, database=None)
LABEL_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)

IDS = st.integers(1, 8)
MINUTE = st.integers(0, 24 * 60 - 1)
PAST = st.integers(-200, 0)
FUTURE = st.integers(1, 120)
CUTOFFS = st.dates(dt.date(2024, 1, 1), dt.date(2025, 12, 31)).map(pd.Timestamp)


def tx_row(day):  # (customer, day, minute, amount, category)
    return st.tuples(IDS, day, MINUTE, st.sampled_from([-20.0, -5.0, 5.0, 12.5, 40.0]),
                     st.sampled_from(["a", "b", "c"]))


def fb_row(day):  # (customer, day, minute, csat, nps)
    return st.tuples(IDS, day, MINUTE, st.sampled_from([NAN, 1.0, 2.0, 3.0, 4.0, 5.0]),
                     st.sampled_from([NAN, 0.0, 3.0, 6.0, 7.0, 8.0, 9.0, 10.0]))


RESOLUTION = st.one_of(st.none(), st.integers(0, 30 * 24 * 60))  # minutes to resolve, or open


def tk_row(day):  # (customer, day, minute, minutes to resolve or None, is_complaint)
    return st.tuples(IDS, day, MINUTE, RESOLUTION, st.booleans())


def ev_row(day):  # (customer, day, minute, event type, value)
    return st.tuples(IDS, day, MINUTE, st.sampled_from(["login", "session", "page_view",
                                                        "email_open", "push"]),
                     st.sampled_from([NAN, 0.0, 3.5, 12.0]))


def cu_rows(signup_days):  # (customer, signup day, region, tier, churned day or None)
    return st.tuples(*[st.tuples(st.just(i), signup_days,
                                 st.sampled_from(["north", "south", "east"]),
                                 st.sampled_from(["gold", "silver"]),
                                 st.one_of(st.none(), st.integers(-100, 100)))
                       for i in range(1, 10)]).map(list)


@st.composite
def histories(draw):
    """Rows of the five tables: a non-empty past and some future for each event table."""
    fb = draw(st.lists(fb_row(PAST), min_size=1, max_size=12)) + draw(
        st.lists(fb_row(FUTURE), max_size=6))
    # one answer per customer and moment, so 'the last answer' is well defined
    fb = list({(r[0], r[1], r[2]): r for r in fb}.values())
    return {
        "cutoff": draw(CUTOFFS),
        "tx": draw(st.lists(tx_row(PAST), min_size=1, max_size=20))
        + draw(st.lists(tx_row(FUTURE), max_size=8)),
        "fb": fb,
        "tk": draw(st.lists(tk_row(PAST), min_size=1, max_size=10))
        + draw(st.lists(tk_row(FUTURE), max_size=6)),
        "cu": draw(cu_rows(st.integers(-400, 30))),  # some sign up after the cutoff
        "ev": draw(st.lists(ev_row(PAST), min_size=1, max_size=20))
        + draw(st.lists(ev_row(FUTURE), max_size=12)),
    }


def _at(cutoff: pd.Timestamp, day: int, minute: int) -> pd.Timestamp:
    return cutoff + pd.Timedelta(days=day, minutes=minute)


def make_tables(h: dict) -> Tables:
    """Validated tables (the loader's dtypes) from history rows."""
    c = h["cutoff"]
    tx = pd.DataFrame({"customer_id": [r[0] for r in h["tx"]],
                       "ts": [_at(c, r[1], r[2]) for r in h["tx"]],
                       "amount": [r[3] for r in h["tx"]],
                       "category": [r[4] for r in h["tx"]]})
    fb = pd.DataFrame({"customer_id": [r[0] for r in h["fb"]],
                       "ts": [_at(c, r[1], r[2]) for r in h["fb"]],
                       "csat": [r[3] for r in h["fb"]], "nps": [r[4] for r in h["fb"]]})
    opened = [_at(c, r[1], r[2]) for r in h["tk"]]
    tk = pd.DataFrame({"customer_id": [r[0] for r in h["tk"]], "opened_ts": opened,
                       "resolved_ts": [pd.NaT if r[3] is None else o + pd.Timedelta(minutes=r[3])
                                       for o, r in zip(opened, h["tk"], strict=True)],
                       "is_complaint": [r[4] for r in h["tk"]]})
    cu = pd.DataFrame({"customer_id": [r[0] for r in h["cu"]],
                       "signup_ts": [_at(c, r[1], 600) for r in h["cu"]],
                       "region": [r[2] for r in h["cu"]], "loyalty_tier": [r[3] for r in h["cu"]],
                       "churned_ts": [pd.NaT if r[4] is None else _at(c, r[4], 720)
                                      for r in h["cu"]]})
    ev = pd.DataFrame({"customer_id": [r[0] for r in h["ev"]],
                       "ts": [_at(c, r[1], r[2]) for r in h["ev"]],
                       "event_type": [r[3] for r in h["ev"]], "value": [r[4] for r in h["ev"]]})
    frames = {"transactions": tx, "feedback": fb, "tickets": tk, "customers": cu, "events": ev}
    tk["resolved_ts"] = pd.to_datetime(tk["resolved_ts"])  # all-NaT stays datetime
    return tables_from_frames(frames)


def _choose(data, rows, is_changeable, alter, new_rows, can_delete=None):
    """Keep, delete or alter each changeable row, then append new rows."""
    can_delete = can_delete or is_changeable
    out = []
    for r in rows:
        if is_changeable(r):
            actions = ["keep", "alter"] + (["delete"] if can_delete(r) else [])
            action = data.draw(st.sampled_from(actions))
            if action == "delete":
                continue
            if action == "alter":
                r = data.draw(alter(r))
        out.append(r)
    return out + data.draw(new_rows)


def _future_ticket_change(r):
    """A past ticket not resolved by the cutoff day may be resolved (or not) at any later time."""
    cust, day, minute, res, cmp_ = r
    if day >= 1:
        return tk_row(FUTURE)
    # minutes from opening to the end of the cutoff day, and beyond
    to_day_end = (1 - day) * 24 * 60 - minute
    return st.tuples(st.just(cust), st.just(day), st.just(minute),
                     st.one_of(st.none(), st.integers(to_day_end, to_day_end + 60 * 24 * 60)),
                     st.just(cmp_))


def _resolved_after_cutoff_day(r) -> bool:
    cust, day, minute, res, _ = r
    return day >= 1 or res is None or day * 24 * 60 + minute + res >= 24 * 60


def change_the_future(data, h: dict) -> dict:
    """Add, alter and delete only what is dated after the cutoff day."""
    future = lambda r: r[1] >= 1  # noqa: E731
    tx = _choose(data, h["tx"], future, lambda r: tx_row(FUTURE),
                 st.lists(tx_row(FUTURE), max_size=4))
    fb = _choose(data, h["fb"], future, lambda r: fb_row(FUTURE),
                 st.lists(fb_row(FUTURE), max_size=4))
    tk = _choose(data, h["tk"], _resolved_after_cutoff_day, _future_ticket_change,
                 st.lists(tk_row(FUTURE), max_size=4), can_delete=future)
    ev = _choose(data, h["ev"], future, lambda r: ev_row(FUTURE),
                 st.lists(ev_row(FUTURE), max_size=6))
    cu = []
    for cust, signup, region, tier, churned in h["cu"]:
        if signup >= 1:  # a signup after the cutoff may move to another later day
            signup = data.draw(FUTURE)
        if churned is None or churned >= 1:  # a later (or no) cancellation may change
            churned = data.draw(st.one_of(st.none(), FUTURE))
        cu.append((cust, signup, region, tier, churned))
    return {**h, "tx": tx, "fb": fb, "tk": tk, "cu": cu, "ev": ev}


@FEATURE_SETTINGS
@given(histories(), st.data())
def test_features_ignore_everything_after_the_cutoff_day(h, data):
    before = build_features(make_tables(h), h["cutoff"], POP, builders=BUILDERS)
    changed = change_the_future(data, h)
    after = build_features(make_tables(changed), h["cutoff"], POP, builders=BUILDERS)
    pd.testing.assert_frame_equal(before, after)


@UNTIL_SETTINGS
@given(histories())
def test_until_then_features_equals_features_on_the_full_tables(h):
    full = make_tables(h)
    cutoff = h["cutoff"]
    expected = build_features(full, cutoff, POP, builders=BUILDERS)
    got = build_features(full.until(cutoff), cutoff, POP, builders=BUILDERS)
    pd.testing.assert_frame_equal(got, expected)


@LABEL_SETTINGS
@given(CUTOFFS, st.lists(tx_row(PAST), min_size=1, max_size=12),
       st.lists(tx_row(st.integers(1, 150)), max_size=10), st.data())
def test_changing_events_on_or_before_the_cutoff_day_never_changes_labels(
        cutoff, past, future, data):
    # customer 99 buys long after the window so the data always reach its end
    sentinel = [(99, 400, 0, 1.0, "a")]
    h = {"cutoff": cutoff, "tx": past + future + sentinel, "fb": [], "tk": []}
    changed = _choose(data, past, lambda r: True, lambda r: tx_row(PAST),
                      st.lists(tx_row(PAST), max_size=6))
    pop = pd.Index([1, 2, 3, 4, 5])

    def labels(rows):
        tx = make_tx(cutoff, rows)
        return churn_labels(Tables(tx), cutoff, pop, horizon_days=90)

    pd.testing.assert_series_equal(labels(h["tx"]), labels(changed + future + sentinel))


def make_tx(cutoff, rows) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [r[0] for r in rows],
                         "ts": pd.to_datetime([_at(cutoff, r[1], r[2]) for r in rows]),
                         "amount": [r[3] for r in rows]})


# ------------------------------------------------------------------- deterministic cases

CUT = pd.Timestamp("2025-03-31")


def _small(feedback_days=(-10,), signup_3: str = "2024-06-01", region_3: str = "north"):
    tx = pd.DataFrame({"customer_id": [1, 2, 3], "amount": [10.0, 20.0, 30.0],
                       "ts": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-03"])})
    fb = pd.DataFrame({"customer_id": [1] * len(feedback_days),
                       "ts": [CUT + pd.Timedelta(days=d) for d in feedback_days],
                       "csat": [4.0] * len(feedback_days)})
    cu = pd.DataFrame({"customer_id": [1, 2, 3],
                       "signup_ts": pd.to_datetime(["2024-01-01", "2024-02-01", signup_3]),
                       "region": ["north", "south", region_3]})
    return tables_from_frames({"transactions": tx, "feedback": fb, "customers": cu})


def test_until_with_a_table_that_becomes_empty_gives_the_same_features():
    t = _small(feedback_days=(5, 9))  # every answer is after the cutoff
    until = t.until(CUT)
    assert until.feedback is not None and len(until.feedback) == 0
    pd.testing.assert_frame_equal(build_features(until, CUT, pd.Index([1, 2, 3])),
                                  build_features(t, CUT, pd.Index([1, 2, 3])))


def test_until_drops_events_after_the_end_of_the_cutoff_day():
    t = _small(feedback_days=(0, 1))
    u = t.until(CUT)
    assert u.feedback["ts"].max() < day_end(CUT)
    assert len(u.feedback) == 1 and len(u.transactions) == 3


def test_until_agrees_with_full_tables_for_a_customer_who_signs_up_after_the_cutoff():
    t = _small(signup_3="2025-05-01", region_3="north")  # 'north' is also customer 1's level
    pop = pd.Index([1, 2, 3])
    pd.testing.assert_frame_equal(profile_features(t.until(CUT), CUT, pop),
                                  profile_features(t, CUT, pop))


def test_a_customer_signing_up_after_the_cutoff_does_not_change_features_at_the_cutoff():
    pop = pd.Index([1, 2])
    before = profile_features(_small(signup_3="2024-06-01", region_3="north"), CUT, pop)
    after = profile_features(_small(signup_3="2025-05-01", region_3="west"), CUT, pop)
    pd.testing.assert_frame_equal(before, after)


def test_until_shares_tables_with_nothing_to_drop_and_copies_only_those_that_change():
    t = _small(feedback_days=(-10, 3))  # one answer after the cutoff; all else before it
    u = t.until(CUT)
    assert u.transactions is t.transactions and u.customers is t.customers
    assert u.feedback is not t.feedback and len(u.feedback) == 1
    assert len(t.feedback) == 2  # the original is untouched


def test_a_cutoff_frame_reused_by_a_later_training_equals_the_one_it_would_build():
    """The backtest's CutoffCache: a labelled frame built for a training as of one date is
    the frame a training as of another date builds at that cutoff, exactly."""
    from churnmodel.data.synthetic import generate
    from churnmodel.features.base import available_builders, fix_builders
    from churnmodel.training_set import CutoffCache, cutoff_dates, training_set

    g = generate(customers=300, seed=3)
    full = tables_from_frames({n: getattr(g, n) for n in ("transactions", "feedback",
                                                           "tickets", "customers", "events")})
    cache = CutoffCache(full)
    seen = 0
    for as_of in ("2025-12-31", "2025-09-30"):  # two folds, 3 months apart
        known = full.until(pd.Timestamp(as_of))
        builders = fix_builders(known, available_builders(known, list(BUILDERS)))
        cuts = cutoff_dates(as_of, 90, 5)
        cached = training_set(known, cuts, builders, 90, 365, cache=cache)
        pd.testing.assert_frame_equal(cached, training_set(known, cuts, builders, 90, 365),
                                      check_exact=True)
        seen += len(cuts)
    assert cache.misses == 8 and cache.hits == seen - 8 == 2  # 5 + 3 new cutoffs
    assert "engagement" in " ".join(builders) and cached["churned"].nunique() == 2
