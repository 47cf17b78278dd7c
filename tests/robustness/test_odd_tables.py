"""Valid but odd tables thrown at the feature builders and the training-set frame.

Each customer follows one odd pattern — a single purchase, all purchases on one day,
refunds larger than purchases, only feedback and no purchase, nothing at all — and the
optional tables come in odd shapes: feedback with only CSAT or only NPS, tickets never
resolved or without a resolution column, no customers table. Whatever the draw:

* nothing crashes, and there is exactly one row per requested (or active) customer;
* every number is finite or missing, never infinite;
* changing and adding events dated after the cutoff day changes no feature
  (the point-in-time property), including tickets resolved only after it;
* the population and the labels match their definitions recomputed from the rows.

Events sit ``day`` days from the cutoff day at ``minute`` minutes past midnight (day <= 0
is known at the cutoff). ``tests/data/test_point_in_time.py`` checks the property on
ordinary random tables; this file is about the odd shapes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from churnmodel.data.io import tables_from_frames
from churnmodel.data.tables import Tables
from churnmodel.features import build_features
from churnmodel.training_set import cutoff_frame

BUILDERS = ("rfm", "satisfaction", "service", "profile")
POP = pd.Index(range(1, 7), name="customer_id")
BYSTANDER = 99  # keeps every event table non-empty; never in the requested population
DAY = 24 * 60
# Each build_features call opens a few DuckDB connections (~0.1 s): few, rich examples.
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)

CUTOFFS = st.dates(dt.date(2024, 1, 1), dt.date(2025, 12, 31)).map(pd.Timestamp)
MINUTE = st.integers(0, DAY - 1)
PAST = st.integers(-500, 0)
FUTURE = st.integers(1, 120)
PATTERNS = ("single_purchase", "one_day", "refunds_exceed_purchases", "feedback_only", "nothing",
            "ordinary")


def purchases(pattern: str, day=PAST) -> st.SearchStrategy[list[tuple[int, int, float]]]:
    """(day, minute, amount) rows of one customer following ``pattern``."""
    if pattern == "single_purchase":
        return st.tuples(day, MINUTE, st.floats(0.01, 500)).map(lambda r: [r])
    if pattern == "one_day":
        return st.tuples(day, st.lists(st.tuples(MINUTE, st.floats(0.01, 200)), min_size=2,
                                       max_size=5)).map(lambda r: [(r[0], m, a) for m, a in r[1]])
    if pattern == "refunds_exceed_purchases":
        buys = st.lists(st.tuples(day, MINUTE, st.floats(1, 20)), min_size=1, max_size=2)
        refunds = st.lists(st.tuples(day, MINUTE, st.floats(-400, -50)), min_size=1, max_size=3)
        return st.tuples(buys, refunds).map(lambda r: r[0] + r[1])
    if pattern in ("feedback_only", "nothing"):
        return st.just([])
    return st.lists(st.tuples(day, MINUTE, st.sampled_from([-15.0, 8.0, 25.0, 60.0])), max_size=6)


SCORE = {"csat": st.one_of(st.just(np.nan), st.integers(1, 5).map(float)),
         "nps": st.one_of(st.just(np.nan), st.integers(0, 10).map(float))}


def answers(scores: tuple[str, ...], day, min_size: int = 0):
    """(day, minute, {score: value}) feedback rows using only the ``scores`` columns."""
    row = st.tuples(day, MINUTE, st.fixed_dictionaries({s: SCORE[s] for s in scores}))
    return st.lists(row, min_size=min_size, max_size=3)


def tickets(day, resolution):
    """(day, minute, minutes to resolve or None, is_complaint) rows."""
    return st.lists(st.tuples(day, MINUTE, resolution, st.booleans()), max_size=3)


NEVER = st.none()
SOMETIMES = st.one_of(st.none(), st.integers(0, 60 * DAY))


@st.composite
def odd_histories(draw) -> dict:
    cutoff = draw(CUTOFFS)
    scores = draw(st.sampled_from([("csat",), ("nps",), ("csat", "nps")]))
    ticket_shape = draw(st.sampled_from(["none", "never_resolved", "no_resolved_column", "mixed"]))
    resolution = NEVER if ticket_shape in ("never_resolved", "no_resolved_column") else SOMETIMES
    h: dict = {"cutoff": cutoff, "scores": scores, "ticket_shape": ticket_shape, "patterns": {},
               "tx": [], "fb": [], "tk": [], "future_tx": [], "future_fb": [], "future_tk": []}
    for c in POP:
        pattern = draw(st.sampled_from(PATTERNS))
        h["patterns"][c] = pattern
        h["tx"] += [(c, *r) for r in draw(purchases(pattern))]
        quiet = pattern == "nothing"
        h["fb"] += [(c, *r) for r in draw(answers(scores, PAST, 1 if pattern == "feedback_only" else 0))
                    if not quiet]
        h["tk"] += [(c, *r) for r in draw(tickets(PAST, resolution)) if not quiet]
    h["tx"].append((BYSTANDER, -800, 0, 10.0))
    h["fb"].append((BYSTANDER, -800, 0, {s: 3.0 for s in scores}))
    h["tk"].append((BYSTANDER, -800, 0, None, False))
    h["customers"] = draw(st.one_of(st.none(), st.just([
        (c, draw(st.integers(-900, 30)), draw(st.sampled_from(["gold", "silver", "bronze"])))
        for c in POP])))
    return h


def future_events(data, h: dict) -> dict:
    """New events after the cutoff day for anyone (the feedback-only and silent customers too)."""
    ids = st.sampled_from([*POP, BYSTANDER])
    resolution = NEVER if h["ticket_shape"] in ("never_resolved", "no_resolved_column") else SOMETIMES
    return {
        "future_tx": [(c, *r[0]) for c in data.draw(st.lists(ids, max_size=6))
                      for r in [data.draw(purchases("single_purchase", FUTURE))]],
        "future_fb": [(data.draw(ids), *r) for r in data.draw(answers(h["scores"], FUTURE))],
        "future_tk": [(data.draw(ids), *r) for r in data.draw(tickets(FUTURE, resolution))],
    }


def resolve_later(data, h: dict) -> list:
    """Past tickets still open at the end of the cutoff day may be resolved (or not) any time later."""
    out = []
    for c, day, minute, res, complaint in h["tk"]:
        open_at_cutoff = res is None or day * DAY + minute + res >= DAY
        if open_at_cutoff and h["ticket_shape"] == "mixed":
            to_day_end = (1 - day) * DAY - minute
            res = data.draw(st.one_of(st.none(), st.integers(to_day_end, to_day_end + 90 * DAY)))
        out.append((c, day, minute, res, complaint))
    return out


def _at(cutoff: pd.Timestamp, day: int, minute: int) -> pd.Timestamp:
    return cutoff + pd.Timedelta(days=day, minutes=minute)


def make_tables(h: dict) -> Tables:
    """Validated tables (through the loader, as user files would be) from history rows."""
    c = h["cutoff"]
    tx = h["tx"] + h["future_tx"]
    fb = list({(r[0], r[1], r[2]): r for r in h["fb"] + h["future_fb"]}.values())  # one per moment
    tk = h["tk"] + h["future_tk"]
    frames = {
        "transactions": pd.DataFrame({"customer_id": [r[0] for r in tx],
                                      "ts": [_at(c, r[1], r[2]) for r in tx],
                                      "amount": [r[3] for r in tx]}),
        "feedback": pd.DataFrame({"customer_id": [r[0] for r in fb],
                                  "ts": [_at(c, r[1], r[2]) for r in fb],
                                  **{s: [r[3][s] for r in fb] for s in h["scores"]}}),
    }
    if h["ticket_shape"] != "none":
        opened = [_at(c, r[1], r[2]) for r in tk]
        tickets = pd.DataFrame({"customer_id": [r[0] for r in tk], "opened_ts": opened,
                                "is_complaint": [r[4] for r in tk]})
        if h["ticket_shape"] != "no_resolved_column":
            # as text, the way a CSV export writes them; empty = still open
            tickets["resolved_ts"] = [None if r[3] is None else str(o + pd.Timedelta(minutes=r[3]))
                                      for o, r in zip(opened, tk, strict=True)]
        frames["tickets"] = tickets
    if h["customers"] is not None:
        frames["customers"] = pd.DataFrame({
            "customer_id": [r[0] for r in h["customers"]],
            "signup_ts": [_at(c, r[1], 600) for r in h["customers"]],
            "loyalty_tier": [r[2] for r in h["customers"]]})
    return tables_from_frames(frames)


def assert_sane(frame: pd.DataFrame, ids: pd.Index) -> None:
    """One row per customer in ``ids`` (in order) and no infinite number anywhere."""
    assert frame.index.tolist() == ids.tolist()
    numbers = frame.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numbers).any(), frame.columns[np.isinf(numbers).any(axis=0)].tolist()


@SETTINGS
@given(odd_histories(), st.data())
def test_odd_tables_give_one_finite_row_per_customer_and_ignore_the_future(h, data):
    h = {**h, **future_events(data, h)}
    tables = make_tables(h)
    before = build_features(tables, h["cutoff"], POP, BUILDERS)
    assert_sane(before, POP)
    for c, pattern in h["patterns"].items():
        freq = before.loc[c, "frequency"]
        if pattern in ("single_purchase", "one_day"):  # one purchase day either way
            assert freq == 1 and pd.isna(before.loc[c, "gap_mean_days"])
        elif pattern in ("feedback_only", "nothing"):
            assert freq == 0 and pd.isna(before.loc[c, "recency_days"])
        elif pattern == "refunds_exceed_purchases":
            assert before.loc[c, "refund_total"] > before.loc[c, "monetary_total"] > 0
    if h["scores"] == ("csat",):
        assert not any(col.startswith("nps") for col in before.columns)
    if h["scores"] == ("nps",):
        assert not any(col.startswith("csat") for col in before.columns)

    changed = {**h, **future_events(data, h), "tk": resolve_later(data, h)}
    after = build_features(make_tables(changed), h["cutoff"], POP, BUILDERS)
    pd.testing.assert_frame_equal(before, after)


@SETTINGS
@given(odd_histories(), st.data())
def test_cutoff_frame_population_and_labels_follow_their_definitions(h, data):
    h = {**h, **future_events(data, h)}
    h["future_tx"].append((BYSTANDER, 200, 0, 10.0))  # the data reach the end of the label window
    frame = cutoff_frame(make_tables(h), h["cutoff"], BUILDERS, horizon_days=90,
                         activity_lookback_days=365)
    # active: a purchase (positive amount) in the 365 days up to and including the cutoff day
    active = sorted({c for c, day, _, amount in h["tx"] if -364 <= day <= 0 and amount > 0})
    ids = frame.index.get_level_values("customer_id")
    assert_sane(frame.droplevel("cutoff"), pd.Index(active))
    assert (frame.index.get_level_values("cutoff") == h["cutoff"]).all()
    # churned: no purchase in the 90 days after the cutoff day
    bought = {c for c, day, _, amount in h["future_tx"] if 1 <= day <= 90 and amount > 0}
    assert frame["churned"].tolist() == [int(c not in bought) for c in ids]
