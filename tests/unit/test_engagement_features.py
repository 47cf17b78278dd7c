"""Engagement and sign-of-life features on hand-made event logs, values computed by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from churnmodel.data.io import tables_from_frames
from churnmodel.data.tables import Tables
from churnmodel.features import build_features, fix_builders
from churnmodel.features.catalog import family, sentence
from churnmodel.features.engagement import (
    contact_features,
    engagement_features,
    learn_event_types,
    type_slug,
)

CUT = pd.Timestamp("2025-03-31")


def at(age: int, hour: int = 12) -> pd.Timestamp:
    """A moment ``age`` whole days before the cutoff day (age 0: on the cutoff day)."""
    return CUT - pd.Timedelta(days=age) + pd.Timedelta(hours=hour)


def tables(events: list[tuple], tx: list[tuple] | None = None, **other) -> Tables:
    """``events``: (customer, age, type[, value]); ``tx``: (customer, age, amount)."""
    tx = tx or [(1, 40, 10.0), (2, 40, 10.0), (3, 40, 10.0)]
    ev = pd.DataFrame({"customer_id": [e[0] for e in events], "ts": [at(e[1]) for e in events],
                       "event_type": [e[2] for e in events],
                       "value": [e[3] if len(e) > 3 else float("nan") for e in events]})
    t = pd.DataFrame({"customer_id": [r[0] for r in tx], "ts": [at(r[1]) for r in tx],
                      "amount": [r[2] for r in tx]})
    return tables_from_frames({"transactions": t, "events": ev, **other})


POP = pd.Index([1, 2, 3], name="customer_id")


def test_windows_count_events_with_age_below_the_window():
    # ages 0 and 6 are in 7 days; 7 is not; 29 in 30 days, 30 not; 89 in 90, 90 not
    ev = [(1, a, "login") for a in (0, 6, 7, 29, 30, 89, 90, 200)]
    f = engagement_features(tables(ev), CUT, POP, "login")
    assert f.loc[1, ["events_7d", "events_30d", "events_90d"]].tolist() == [2.0, 4.0, 6.0]
    assert f.loc[1, ["events_login_7d", "events_login_30d", "events_login_90d"]].tolist() == \
        [2.0, 4.0, 6.0]
    assert f.loc[1, "days_since_event"] == 0.0


def test_active_days_count_distinct_days_and_the_usual_gap_spans_the_last_year():
    # three events on day 2, one on day 12, one on day 32; one 400 days ago (outside 365)
    ev = [(1, 2, "login"), (1, 2, "session"), (1, 2, "login"), (1, 12, "session"),
          (1, 32, "login"), (1, 400, "login")]
    f = engagement_features(tables(ev), CUT, POP, "login,session")
    assert f.loc[1, "event_days_30d"] == 2.0  # days 2 and 12
    assert f.loc[1, "event_days_90d"] == 3.0
    assert f.loc[1, "event_gap_days"] == 15.0  # (32 - 2) / (3 - 1)
    assert f.loc[1, "event_gap_days_login"] == 30.0  # logins on days 2 (twice) and 32
    assert f.loc[1, "event_gap_days_session"] == 10.0  # sessions on days 2 and 12
    assert f.loc[1, "days_since_event_session"] == 2.0


def test_trend_compares_the_last_30_days_with_the_monthly_average_of_the_60_before():
    ev = [(1, 3, "login")] + [(1, a, "login") for a in (31, 40, 50, 60, 70, 89)]
    f = engagement_features(tables(ev), CUT, POP, "login")
    assert f.loc[1, "event_trend_30d"] == pytest.approx((1 + 1) / (6 / 2 + 1))  # 0.5


def test_engagement_after_the_last_purchase_counts_active_days_after_its_day():
    # purchases 20 and 10 days ago; events on the purchase day, and 5 and 2 days ago (twice)
    ev = [(1, 10, "login"), (1, 5, "login"), (1, 2, "session"), (1, 2, "login"), (1, 15, "login")]
    tx = [(1, 20, 10.0), (1, 10, 5.0), (1, 3, -5.0)]  # a refund is not a purchase
    f = engagement_features(tables(ev, tx), CUT, POP, "login")
    assert f.loc[1, "event_days_after_purchase"] == 2.0


def test_customers_without_events_get_zero_counts_and_missing_recency():
    f = engagement_features(tables([(1, 1, "login", 4.0)]), CUT, POP, "login,session")
    row = f.loc[2]
    for c in ("events_7d", "events_30d", "events_90d", "event_days_30d", "event_days_90d",
              "event_days_after_purchase", "event_value_30d", "events_session_90d"):
        assert row[c] == 0.0, c
    assert row["event_trend_30d"] == 1.0
    for c in ("days_since_event", "event_gap_days", "days_since_event_login",
              "event_gap_days_login"):
        assert math.isnan(row[c]), c


def test_value_is_summed_over_30_days():
    ev = [(1, 1, "session", 4.5), (1, 20, "session", 10.0), (1, 40, "session", 100.0),
          (1, 2, "login")]
    f = engagement_features(tables(ev), CUT, POP, "session")
    assert f.loc[1, "event_value_30d"] == 14.5


def test_types_are_learned_as_slugs_by_frequency_and_fixed_in_the_builder_name():
    ev = [(1, 1, "Page View"), (1, 2, "page view"), (2, 3, "Login"), (3, 4, "login"),
          (1, 5, "Login"), (2, 6, "email-open")]
    t = tables(ev)
    assert type_slug("Page View") == "page_view"
    assert learn_event_types(t.events) == ["login", "page_view", "email_open"]
    assert fix_builders(t, ["rfm", "engagement", "contact"]) == \
        ["rfm", "engagement:login,page_view,email_open", "contact"]
    assert fix_builders(t, ["engagement:session"]) == ["engagement:session"]  # given: kept


def test_a_type_unseen_at_training_counts_overall_and_a_missing_type_gives_zeros():
    fixed = "engagement:login,session"
    ev = [(1, 1, "push_open"), (1, 2, "push_open"), (1, 3, "login")]  # no session at all
    f = build_features(tables(ev), CUT, POP, builders=[fixed])
    assert "events_push_open_30d" not in f.columns
    assert f.loc[1, ["events_30d", "events_login_30d", "events_session_30d"]].tolist() == \
        [3.0, 1.0, 0.0]
    assert math.isnan(f.loc[1, "days_since_event_session"])
    # the same columns, in the same order, whatever the log holds
    other = build_features(tables([(2, 5, "session")]), CUT, POP, builders=[fixed])
    assert list(other.columns) == list(f.columns)


def test_plain_engagement_learns_types_only_from_events_up_to_the_cutoff():
    ev = [(1, 2, "login")] + [(1, -5, "session")] * 3  # sessions only after the cutoff
    f = build_features(tables(ev), CUT, POP, builders=["engagement"])
    assert "events_login_30d" in f.columns and "events_session_30d" not in f.columns


def test_contact_features_take_the_latest_contact_of_any_table():
    tx = [(1, 60, 10.0), (2, 30, 10.0), (3, 5, 10.0)]
    fb = pd.DataFrame({"customer_id": [1, 1, 2], "ts": [at(50), at(45), at(20)],
                       "nps": [9.0, float("nan"), 3.0], "csat": [float("nan"), 4.0, float("nan")]})
    tk = pd.DataFrame({"customer_id": [2], "opened_ts": [at(25)]})
    t = tables([(1, 12, "email_open"), (3, 8, "login")], tx, feedback=fb, tickets=tk)
    f = contact_features(t, CUT, POP)
    assert f["days_since_contact"].tolist() == [12.0, 20.0, 5.0]
    assert f["contact_after_purchase_days"].tolist() == [48.0, 10.0, 0.0]
    assert f.loc[1, "days_since_nps"] == 50.0 and f.loc[2, "days_since_nps"] == 20.0
    assert math.isnan(f.loc[3, "days_since_nps"])


def test_contact_features_need_only_transactions():
    tx = pd.DataFrame({"customer_id": [1, 1], "ts": [at(30), at(10)], "amount": [5.0, -5.0]})
    f = contact_features(tables_from_frames({"transactions": tx}), CUT, pd.Index([1]))
    assert list(f.columns) == ["days_since_contact", "contact_after_purchase_days"]
    assert f.loc[1].tolist() == [10.0, 20.0]  # the refund is a contact, not a purchase


@pytest.mark.parametrize(("feature", "value", "row", "expected"), [
    ("days_since_event_session", 41, {"event_gap_days_session": 3.2},
     "No app session for 41 days — usually every 3 days"),
    ("days_since_event", 12, {"event_gap_days": 1.0}, "No logged activity for 12 days — usually every day"),
    ("events_email_open_30d", 1, {}, "Only 1 email opened in the last 30 days"),
    ("events_login_90d", 0, {}, "No logins in the last 90 days"),
    ("events_email_open_90d", 6, {}, "6 emails opened in the last 90 days"),
    ("days_since_event", 0, {}, "Active today"),
    ("days_since_event_push_open", 9, {}, "No push open event for 9 days"),
    ("event_days_30d", 0, {}, "No active days in the last 30 days"),
    ("event_trend_30d", 0.4, {}, "Less active: 60% fewer events in the last 30 days than in the 60 before"),
    ("event_days_after_purchase", 0, {}, "No activity since the last purchase"),
    ("contact_after_purchase_days", 0, {}, "Not heard from since the last purchase"),
    ("days_since_contact", 120, {}, "No contact of any kind (purchase, survey, ticket, app) for 120 days"),
    ("days_since_nps", None, {}, "No NPS answer on record"),
    ("days_since_event_session", None, {}, "No app session on record"),
    ("days_since_feedback", 30, {}, "Has not answered a survey for 30 days"),  # the direction-aware state
])
def test_engagement_sentences(feature, value, row, expected):
    assert sentence(feature, value, row) == expected
    assert family(feature) == "engagement"


NAN = math.nan


def test_windows_without_events_inside_a_longer_silence_are_the_silence():
    """77 days without an event: the 7- and 30-day windows say nothing more (one fact)."""
    from churnmodel.features.catalog import fact, lever_sentence

    row = {"days_since_event": 77.0, "event_gap_days": 1.0, "events_7d": 0.0, "events_30d": 0.0,
           "events_90d": 3.0, "event_days_30d": 0.0, "days_since_event_session": 80.0,
           "events_session_30d": 0.0, "events_session_90d": 0.0}
    silence = "No logged activity for 77 days — usually every day"
    for f in ("events_7d", "events_30d", "event_days_30d", "days_since_event"):
        assert fact(f, row[f], row) == "event:silence:", f
        assert sentence(f, row[f], row) == silence, f
    assert fact("events_session_30d", 0, row) == fact("days_since_event_session", 80, row) \
        == "event:silence:session"
    assert sentence("events_session_30d", 0, row) == "No app session for 80 days"
    # a window longer than the silence is its own fact, as are counts above zero
    assert fact("events_session_90d", 0, row) == "events_session_90d"
    assert sentence("events_session_90d", 0, row) == "No app sessions in the last 90 days"
    assert fact("events_90d", 3, row) == "events_90d"
    assert {lever_sentence(f, row[f], row) for f in ("events_7d", "events_30d")} \
        == {("event:silence:", f"{silence} — re-engage them")}
    # without the days since the last event, a window keeps its own sentence
    assert sentence("events_30d", 0, {}) == "No logged events in the last 30 days"
    # no event ever: every empty window is the one absence
    never = {"days_since_event": NAN, "events_7d": 0.0, "events_30d": 0.0,
             "days_since_event_session": NAN, "events_session_30d": 0.0}
    assert {fact(f, 0, never) for f in ("events_7d", "events_30d")} \
        == {fact("days_since_event", None, never)} == {"event:silence:"}
    assert sentence("events_30d", 0, never) == sentence("events_7d", 0, never) \
        == "No logged activity on record"
    assert sentence("events_session_30d", 0, never) == "No app session on record"
