"""Driver and lever sentences: exact wording per family, both directions, one fact said once."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from churnmodel.explain import Explanation, driver_columns, drivers, lever_columns, levers
from churnmodel.features import catalog
from churnmodel.features.catalog import fact, lever_sentence, sentence

NAN = float("nan")
WINDOWS = {"n_30d": 0.0, "n_90d": 1.0, "n_180d": 1.0, "n_365d": 3.0, "frequency": 5.0}

SENTENCES = [
    # --- states: recency and rhythm --------------------------------------------------------
    ("recency_days", 94, {"gap_mean_days": 30.0}, "up",
     "Has not bought for 94 days, 3.1× the usual gap of 30 days"),
    ("recency_days", 249, {"gap_mean_days": 31.0}, "up",
     "Has not bought for 249 days, 8× the usual gap of 31 days"),
    ("recency_days", 3, {"gap_mean_days": 30.0}, "down",
     "Bought 3 days ago, within the usual gap of 30 days"),
    ("recency_days", 1, {}, "down", "Bought yesterday"),
    ("recency_days", 12, {}, "up", "Has not bought for 12 days"),
    ("recency_days", 1, {}, "up", "Has not bought for 1 day"),
    ("recency_days", NAN, {}, "up", "Has no purchase on record"),
    ("overdue_ratio", 2.5, {"recency_days": 50.0, "gap_mean_days": 20.0}, "up",
     "Has not bought for 50 days, 2.5× the usual gap of 20 days"),
    ("overdue_ratio", 0.4, {"recency_days": 8.0, "gap_mean_days": 20.0}, "down",
     "Bought 8 days ago, within the usual gap of 20 days"),
    ("overdue_ratio", 2.5, {}, "up", "Next purchase overdue: 2.5× the usual gap has passed"),
    ("gap_mean_days", 40.2, {}, "up", "Goes about 40 days between purchases on average"),
    ("gap_mean_days", 40.2, {}, "down", "Buys regularly, about every 40 days"),
    ("gap_mean_days", NAN, {"frequency": 1.0}, "up",
     "Has made only 1 purchase so far: no buying rhythm yet"),
    ("gap_std_days", NAN, {"frequency": 2.0}, "up",
     "Has made only 2 purchases so far: too few to judge the buying rhythm"),
    ("gap_mean_days", NAN, {"frequency": 1.0}, "down", "1 purchase so far: no buying rhythm yet"),
    ("gap_mean_days", NAN, {"frequency": 0.0}, "up", "Has not bought yet: no buying rhythm"),
    ("gap_mean_days", NAN, {"frequency": 0.0}, "down", "No purchase yet: no buying rhythm"),
    ("gap_std_days", NAN, {"frequency": 2.0}, "down",
     "2 purchases so far: too few to judge the buying rhythm"),
    ("gap_std_days", 12, {}, "up",
     "Buys irregularly: the gap between purchases varies by about 12 days"),
    ("gap_std_days", 12, {}, "down",
     "Buys steadily: the gap between purchases varies by only about 12 days"),
    ("gap_last_days", 60, {"gap_mean_days": 30.0}, "up",
     "Took 60 days to come back last time, against about 30 days usually"),
    ("gap_last_days", 20, {"gap_mean_days": 30.0}, "down",
     "Came back after 20 days last time, against about 30 days usually"),
    ("trend_90d", 0.4, {"n_90d": 1.0}, "up",
     "Buying less: made 1 purchase in the last 90 days against 4 in the 90 days before"),
    ("trend_90d", 2.5, {"n_90d": 4.0}, "down",
     "Buying more: made 4 purchases in the last 90 days against 1 in the 90 days before"),
    ("trend_90d", 0.25, {}, "up", "Buying less: 75% fewer purchases in the last 90 days than before"),
    # --- states: purchase counts (the widest window with the same count raising risk) -------
    ("n_90d", 1, WINDOWS, "up", "Has made only 1 purchase in the last 180 days"),
    ("n_180d", 1, WINDOWS, "up", "Has made only 1 purchase in the last 180 days"),
    ("n_90d", 1, WINDOWS, "down", "Has made 1 purchase in the last 90 days"),
    ("n_365d", 3, WINDOWS, "up", "Has made 3 purchases in the last 365 days"),
    ("n_180d", 1, {"n_90d": 1.0, "n_180d": 1.0, "n_365d": 1.0, "frequency": 1.0}, "up",
     "Has made only 1 purchase so far"),
    ("n_90d", 0, {"recency_days": 120.0, "n_90d": 0.0, "n_180d": 2.0}, "up",
     "Has not bought for 120 days"),
    ("n_90d", 0, {"n_90d": 0.0, "n_180d": 0.0, "n_365d": 2.0}, "up",
     "Has not bought in the last 180 days"),
    ("frequency", 1, {}, "up", "Has made only 1 purchase so far"),
    ("frequency", 12, {}, "down", "Has made 12 purchases so far"),
    ("purchases_per_30d", 0.3, {}, "up", "Buys only 0.3 times a month on average"),
    ("purchases_per_30d", 1, {}, "down", "Buys once a month on average"),
    ("distinct_categories", 1, {}, "up", "Has bought from only 1 product category"),
    ("distinct_categories", 3, {}, "down", "Has bought from 3 product categories"),
    ("spend_90d", 0, {"n_90d": 0.0, "recency_days": 100.0}, "up", "Has not bought for 100 days"),
    ("spend_90d", 120.5, {"spend_90d": 120.5, "spend_180d": 120.5}, "up",
     "Has spent 120 in the last 180 days"),
    ("spend_90d", 120.5, {"spend_90d": 120.5, "spend_180d": 120.5}, "down",
     "Has spent 120 in the last 90 days"),
    ("spend_90d", 0, {"n_90d": 1.0}, "up", "Has spent nothing in the last 90 days"),
    ("monetary_total", 1520.25, {}, "down", "Has spent 1,520 in total so far"),
    ("monetary_mean", 42.5, {}, "up", "Spends about 42.5 per purchase on average"),
    ("tenure_days", 40, {}, "up", "Is a new customer: first bought 40 days ago"),
    ("tenure_days", 40, {}, "down", "Has been a customer for 40 days"),
    ("tenure_days", 1000, {}, "down", "Has been a customer for 2.7 years"),
    ("days_since_signup", 30, {}, "up", "Is a new customer: signed up 30 days ago"),
    ("days_since_signup", 400, {}, "down", "Signed up 400 days ago"),
    # --- satisfaction ---------------------------------------------------------------------
    ("csat_last", 2, {"csat_gap": -2.2}, "up", "Last CSAT 2/5, down from an average of 4.2"),
    ("csat_last", 5, {}, "down", "Last CSAT 5/5: satisfied"),
    ("csat_last", 5, {"csat_gap": 1.5}, "down", "Last CSAT 5/5, up from an average of 3.5"),
    ("csat_last", 3, {}, "up", "Last CSAT 3/5: neutral"),
    ("csat_gap", -2.2, {"csat_last": 2.0}, "up", "Last CSAT 2/5, down from an average of 4.2"),
    ("csat_gap", -1.0, {}, "up", "The last CSAT was 1 point below the customer's earlier average"),
    ("csat_mean", 2.4, {"csat_count": 5.0}, "up",
     "Has given an average CSAT of 2.4/5 over 5 answers: dissatisfied"),
    ("csat_mean", 4.0, {"csat_count": 1.0, "csat_last": 4.0}, "down", "Last CSAT 4/5: satisfied"),
    ("csat_trend_90d", -1.5, {"csat_mean_90d": 2.5}, "up",
     "CSAT fell by 1.5 points in the last 90 days, to 2.5/5"),
    ("csat_trend_90d", 0.5, {}, "down", "CSAT rose by 0.5 points in the last 90 days"),
    ("csat_mean_90d", 2.5, {"csat_trend_90d": -1.5}, "up",
     "CSAT fell by 1.5 points in the last 90 days, to 2.5/5"),
    ("csat_mean_90d", 4.5, {}, "down",
     "Has given an average CSAT of 4.5/5 in the last 90 days: satisfied"),
    ("csat_min_365d", 1, {}, "up", "Gave a CSAT as low as 1/5 in the last year"),
    ("csat_min_365d", 4, {}, "down", "Gave no CSAT below 4/5 in the last year"),
    ("csat_count", 3, {}, "down", "Has answered 3 CSAT surveys"),
    ("csat_count", 1, {}, "up", "Has answered 1 CSAT survey"),
    ("csat_count", 0, {"days_since_feedback": 10.0}, "up", "Has never answered a CSAT survey"),
    ("csat_last", NAN, {"days_since_feedback": NAN}, "up", "Has never answered a survey"),
    ("csat_last", NAN, {"days_since_feedback": 20.0, "csat_count": 0.0}, "down",
     "Has never answered a CSAT survey"),
    ("csat_gap", NAN, {"csat_last": 4.0, "csat_count": 1.0, "days_since_feedback": 20.0}, "up",
     "Has answered only 1 CSAT survey: nothing to compare the last one with"),
    ("csat_mean_90d", NAN, {"csat_last": 4.0, "days_since_feedback": 20.0, "csat_min_365d": 3.0},
     "up", "Has not answered a CSAT survey in the last 90 days"),
    ("csat_mean_90d", NAN, {"csat_last": 4.0, "days_since_feedback": 120.0, "csat_min_365d": NAN},
     "up", "Has not answered a CSAT survey in the last 365 days"),
    ("csat_mean_90d", NAN, {"csat_last": 4.0, "days_since_feedback": 200.0, "csat_min_365d": 3.0},
     "up", "Has not answered a survey for 200 days"),
    ("csat_trend_90d", NAN, {"csat_last": 4.0, "days_since_feedback": 20.0, "csat_mean_90d": 4.0},
     "up", "Has answered CSAT surveys only in the last 90 days: no trend yet"),
    ("days_since_feedback", 285, {}, "up", "Has not answered a survey for 285 days"),
    ("days_since_feedback", 7, {}, "down", "Answered a survey 7 days ago"),
    ("days_since_feedback", NAN, {}, "up", "Has never answered a survey"),
    ("nps_last", 3, {}, "up", "Last NPS 3/10: a detractor"),
    ("nps_last", 3, {"nps_count": 3.0, "nps_mean": 6.0}, "up",
     "Last NPS 3/10 (a detractor), down from an average of 7.5"),
    ("nps_last", 10, {}, "down", "Last NPS 10/10: a promoter"),
    ("nps_last", 7, {}, "up", "Last NPS 7/10: a passive"),
    ("nps_mean", 5.5, {"nps_count": 4.0}, "up", "Has given an average NPS of 5.5/10 over 4 answers"),
    ("detractor_share", 0.5, {"nps_count": 4.0}, "up", "2 of 4 NPS answers were detractor scores (0-6)"),
    ("detractor_share", 0.25, {"nps_count": 4.0}, "up", "1 of 4 NPS answers was a detractor score (0-6)"),
    ("detractor_share", 0, {}, "down", "Has never given a detractor NPS score (0-6)"),
    ("nps_group", "detractor", {"nps_last": 4.0}, "up", "Last NPS 4/10: a detractor"),
    ("nps_group", "passive", {}, "up", "Last NPS answer was a passive score"),
    ("nps_group", NAN, {"days_since_feedback": 5.0}, "up", "Has never answered an NPS survey"),
    ("nps_last", NAN, {"days_since_feedback": 5.0}, "down", "Has never answered an NPS survey"),
    ("nps_count", 2, {}, "up", "Has answered 2 NPS surveys"),
    # --- service ---------------------------------------------------------------------------
    ("tickets_90d", 2, {"tickets_90d": 2.0, "tickets_365d": 2.0}, "up",
     "Opened 2 support tickets in the last 90 days"),
    ("tickets_365d", 2, {"tickets_90d": 2.0, "tickets_365d": 2.0}, "up",
     "Opened 2 support tickets in the last 90 days"),
    ("tickets_365d", 0, {"days_since_ticket": 400.0, "tickets_90d": 0.0, "tickets_365d": 0.0}, "down",
     "Has opened no support ticket in the last 365 days"),
    ("tickets_90d", 0, {"days_since_ticket": NAN}, "up", "Has never opened a support ticket"),
    ("complaints_90d", 1, {"complaints_90d": 1.0, "complaints_365d": 3.0}, "up",
     "Made 1 complaint in the last 90 days"),
    ("complaints_365d", 0, {"complaints_90d": 0.0, "complaints_365d": 0.0, "days_since_ticket": 10.0},
     "down", "Has made no complaint in the last 365 days"),
    ("days_since_ticket", 12, {}, "up", "Last contacted support 12 days ago"),
    ("days_since_ticket", NAN, {}, "down", "Has never opened a support ticket"),
    ("resolution_hours_mean", 30.4, {}, "up", "Support took 30 hours on average to resolve their tickets"),
    ("resolution_hours_mean", 130, {}, "up", "Support took 5.4 days on average to resolve their tickets"),
    ("resolution_hours_mean", 5, {}, "down", "Support resolved their tickets in 5 hours on average"),
    ("resolution_hours_max_365d", 130.4, {}, "up", "A ticket took 5.4 days to resolve in the last year"),
    ("resolution_hours_max_365d", 1, {}, "down", "Every ticket of the last year was resolved within 1 hour"),
    ("resolution_hours_max_365d", NAN, {"days_since_ticket": 20.0}, "up",
     "Has had no resolved support ticket in the last year"),
    ("resolution_hours_mean", NAN, {"days_since_ticket": 20.0}, "up",
     "Has no resolved support ticket on record"),
    ("slow_tickets_365d", 1, {}, "up", "1 ticket took over 72 hours to resolve in the last year"),
    ("slow_tickets_365d", 2, {}, "up", "2 tickets took over 72 hours to resolve in the last year"),
    ("slow_tickets_365d", 0, {}, "down", "No ticket took over 72 hours to resolve in the last year"),
    ("open_tickets", 1, {"open_ticket_age_days": 9.0}, "up", "Has 1 support ticket still open after 9 days"),
    ("open_tickets", 2, {"open_ticket_age_days": 9.0}, "up",
     "Has 2 support tickets still open, the oldest for 9 days"),
    ("open_tickets", 0, {}, "down", "Has no open support ticket"),
    ("open_ticket_age_days", 9, {"open_tickets": 2.0}, "up",
     "Has 2 support tickets still open, the oldest for 9 days"),
    ("open_ticket_age_days", NAN, {"days_since_ticket": 3.0}, "down", "Has no open support ticket"),
    # --- refunds, profile, unknown -----------------------------------------------------------
    ("refund_count", 2, {"refund_total": 130.0}, "up", "Has had 2 refunds worth 130 in total"),
    ("refund_total", 130, {"refund_count": 2.0}, "up", "Has had 2 refunds worth 130 in total"),
    ("refund_count", 1, {}, "up", "Has had 1 refund"),
    ("refund_total", 0, {"refund_count": 0.0}, "down", "Has never asked for a refund"),
    ("refund_count", 0, {"refund_total": 0.0}, "up", "Has had no refunds"),
    ("loyalty_tier", "bronze", {}, "up", "Is in the bronze loyalty tier"),
    ("region", "north_east", {}, "down", "Is in the north east region"),
    ("channel", "web", {}, "up", "Came through the web channel"),
    ("loyalty_tier", None, {}, "up", "Has no loyalty tier on record"),
    ("some_new_feature", 2.5, {}, "up", "Some new feature is 2.5, which raises risk"),
    ("some_new_feature", 2.5, {}, "down", "Some new feature is 2.5, which holds risk down"),
    ("some_new_feature", NAN, {}, "up", "Some new feature is not on record"),
]


@pytest.mark.parametrize("feature, value, row, direction, expected", SENTENCES)
def test_every_family_reads_as_a_sentence_in_both_directions(feature, value, row, direction,
                                                             expected):
    assert sentence(feature, value, row, direction) == expected


def test_no_sentence_is_a_bare_label_and_value():
    for feature, value, row, direction, _ in SENTENCES:
        s = sentence(feature, value, row, direction)
        assert ": " not in s or not s.split(": ")[0].lower() == catalog.label(feature).lower()
        assert "_" not in s and (s[0].isupper() or s[0].isdigit())


def test_a_low_count_holding_risk_down_never_reads_as_a_shortfall():
    for f in ("n_90d", "frequency", "purchases_per_30d", "distinct_categories"):
        assert not sentence(f, 1, {}, "down").startswith(("Only", "Has made only", "Buys only"))
        assert "only" not in sentence(f, 1, {}, "down")
    assert sentence("days_since_feedback", 7, {}, "down") == "Answered a survey 7 days ago"


def test_an_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="direction must be 'up' or 'down'"):
        sentence("recency_days", 3, {}, "sideways")


def test_a_template_written_without_a_direction_still_works(monkeypatch):
    monkeypatch.setitem(catalog.TEMPLATES, "engagement", lambda f, v, row: f"Logged in {v:g} times")
    assert sentence("some_engagement", 3, {}) == "Some engagement is 3, which raises risk"
    monkeypatch.setattr(catalog, "family", lambda f: "engagement")
    assert sentence("logins_30d", 3, {}, "down") == "Logged in 3 times"


# --- facts ------------------------------------------------------------------------------------

def test_overlapping_windows_of_the_same_count_are_one_fact():
    assert fact("n_90d", 1, WINDOWS) == fact("n_180d", 1, WINDOWS) == "purchases:1:180"
    assert fact("n_365d", 3, WINDOWS) != fact("n_90d", 1, WINDOWS)
    all_one = {"n_90d": 1.0, "n_180d": 1.0, "n_365d": 1.0, "frequency": 1.0}
    assert fact("n_90d", 1, all_one) == fact("frequency", 1, all_one) \
        == fact("gap_mean_days", None, all_one) == "purchases:1:ever"


def test_an_absence_of_purchases_is_the_recency_fact():
    row = {"recency_days": 200.0, "gap_mean_days": 50.0, "n_90d": 0.0, "n_180d": 0.0,
           "spend_90d": 0.0, "overdue_ratio": 4.0}
    keys = {fact(f, row[f], row) for f in row if f != "gap_mean_days"}
    assert keys == {"recency"}
    assert {sentence(f, row[f], row) for f in ("n_90d", "n_180d", "spend_90d", "overdue_ratio")} \
        == {"Has not bought for 200 days, 4× the usual gap of 50 days"}


def test_every_missing_csat_column_of_a_silent_customer_is_one_fact():
    never = {"days_since_feedback": NAN, "csat_count": 0.0, "nps_count": 0.0}
    cols = ["csat_last", "csat_mean", "csat_gap", "csat_mean_90d", "csat_trend_90d",
            "csat_min_365d", "nps_last", "nps_mean", "detractor_share", "days_since_feedback"]
    assert {fact(c, NAN, never) for c in cols} | {fact("csat_count", 0, never)} == {"survey:none"}
    no_csat = {"days_since_feedback": 30.0, "csat_count": 0.0}
    assert {fact(c, NAN, no_csat) for c in cols[:6]} == {"csat:none"}
    assert fact("nps_group", None, no_csat) == fact("nps_last", NAN, no_csat) == "nps:none"


def test_a_long_survey_silence_covers_the_missing_windows_it_implies():
    row = {"days_since_feedback": 400.0, "csat_last": 4.0, "csat_count": 2.0,
           "csat_mean_90d": NAN, "csat_min_365d": NAN}
    assert fact("csat_mean_90d", NAN, row) == fact("csat_min_365d", NAN, row) == "survey:recency"
    assert sentence("csat_mean_90d", NAN, row) == "Has not answered a survey for 400 days"
    assert fact("days_since_feedback", 400, row) == "survey:recency"


# --- levers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("feature, value, row, expected", [
    ("csat_last", 2, {"csat_gap": -2.2},
     "Last CSAT 2/5, down from an average of 4.2 — follow up on the last experience"),
    ("csat_mean", 2.4, {"csat_count": 5.0},
     "Has given an average CSAT of 2.4/5 over 5 answers: dissatisfied — find out what disappoints them"),
    ("complaints_90d", 2, {"complaints_90d": 2.0, "complaints_365d": 2.0},
     "Made 2 complaints in the last 90 days — make sure they were resolved"),
    ("complaints_90d", 1, {}, "Made 1 complaint in the last 90 days — make sure it was resolved"),
    ("open_tickets", 1, {"open_ticket_age_days": 9.0},
     "Has 1 support ticket still open after 9 days — resolve it"),
    ("open_ticket_age_days", 9, {"open_tickets": 2.0},
     "Has 2 support tickets still open, the oldest for 9 days — resolve them"),
    ("nps_last", 3, {}, "Last NPS 3/10: a detractor — ask what would make them recommend you"),
    ("nps_group", "detractor", {"nps_last": 4.0},
     "Last NPS 4/10: a detractor — ask what would make them recommend you"),
    ("refund_count", 2, {"refund_total": 130.0},
     "Has had 2 refunds worth 130 in total — find out what went wrong"),
    ("resolution_hours_max_365d", 130.4, {},
     "A ticket took 5.4 days to resolve in the last year — review how their tickets were handled"),
    ("monetary_mean", 42.5, {},
     "Spends about 42.5 per purchase on average — check that price and value still fit"),
])
def test_levers_say_what_to_act_on(feature, value, row, expected):
    said = lever_sentence(feature, value, row)
    assert said is not None and said[1] == expected


@pytest.mark.parametrize("feature, value", [
    ("recency_days", 200), ("n_90d", 0), ("days_since_feedback", 285), ("csat_count", 0),
    ("tenure_days", 40), ("loyalty_tier", "bronze"),  # states and profile are never levers
    ("csat_last", NAN), ("nps_group", None),  # an absence is not something to act on
    ("complaints_90d", 0), ("open_tickets", 0), ("refund_count", 0), ("slow_tickets_365d", 0),
    ("csat_last", 5), ("csat_gap", 0.5), ("nps_last", 10), ("nps_group", "promoter"),
    ("days_since_ticket", 400), ("resolution_hours_mean", 4),
])
def test_states_absences_and_good_values_are_not_levers(feature, value):
    assert lever_sentence(feature, value, {}) is None


def test_each_feature_has_a_kind_and_the_families_the_brief_names_are_levers():
    kinds = {e.pattern: catalog.kind(e.pattern.replace(r"(?P<w>\d+)", "90")) for e in catalog.CATALOG}
    assert set(kinds.values()) == {"lever", "state", "profile"}
    for f in ("csat_last", "nps_last", "tickets_90d", "complaints_90d", "resolution_hours_mean",
              "open_tickets", "refund_count", "monetary_mean", "nps_group"):
        assert catalog.kind(f) == "lever", f
    for f in ("recency_days", "n_90d", "frequency", "gap_mean_days", "trend_90d", "tenure_days",
              "days_since_feedback", "csat_count", "spend_90d", "overdue_ratio"):
        assert catalog.kind(f) == "state", f
    assert catalog.kind("loyalty_tier") == "profile"
    assert {d["kind"] for d in catalog.describe(["csat_last", "n_90d"])} == {"lever", "state"}


# --- drivers and levers of hand-made explanations ------------------------------------------

def _expl(values: dict, data: dict, index=(1,)) -> Explanation:
    v = pd.DataFrame(values, index=list(index))
    d = pd.DataFrame(data, index=list(index))
    return Explanation(v, np.zeros(len(v)), d[list(v.columns)])


def test_drivers_say_each_fact_once_and_take_the_next_reason_instead():
    expl = _expl(
        {"n_90d": [0.9], "n_180d": [0.8], "csat_last": [0.5], "csat_mean": [0.4],
         "days_since_feedback": [0.3], "recency_days": [0.2], "overdue_ratio": [0.1]},
        {"n_90d": [1.0], "n_180d": [1.0], "csat_last": [NAN], "csat_mean": [NAN],
         "days_since_feedback": [NAN], "recency_days": [40.0], "overdue_ratio": [2.0]})
    d = drivers(expl, 3)
    assert d.loc[1, "driver_1_feature"] == "n_90d"
    assert d.loc[1, "driver_1_sentence"] == "Has made only 1 purchase in the last 180 days"
    # csat_last / csat_mean / days_since_feedback missing: one fact ("never answered")
    assert d.loc[1, "driver_2_feature"] == "csat_last"
    assert d.loc[1, "driver_2_sentence"] == "Has never answered a survey"
    assert d.loc[1, "driver_3_feature"] == "recency_days"
    assert d.loc[1, "driver_3_sentence"] == "Has not bought for 40 days"
    assert d.loc[1, "driver_3_contribution"] == pytest.approx(0.2)


def test_the_same_csat_absence_is_never_said_twice():
    expl = _expl({"csat_last": [0.5], "csat_mean_90d": [0.005], "csat_mean": [0.0001],
                  "tenure_days": [0.001]},
                 {"csat_last": [NAN], "csat_mean_90d": [NAN], "csat_mean": [NAN],
                  "tenure_days": [400.0], "days_since_feedback": [30.0]})
    expl.data["days_since_feedback"] = 30.0
    d = drivers(expl, 3)
    said = d.loc[1, [f"driver_{k}_sentence" for k in (1, 2, 3)]].dropna().tolist()
    assert said == ["Has never answered a CSAT survey", "Has been a customer for 400 days"]


def test_drivers_keep_the_value_types_and_round_trip_through_parquet():
    expl = _expl({"recency_days": [0.4, 0.1], "nps_group": [0.3, 0.5], "csat_last": [0.2, 0.3]},
                 {"recency_days": [30.0, 3.0],
                  "nps_group": pd.Categorical(["detractor", None],
                                              categories=["detractor", "passive", "promoter"]),
                  "csat_last": [NAN, 4.0]}, index=(7, 8))
    d = drivers(expl, 3)
    assert list(d.columns) == driver_columns(3)
    assert d["driver_1_value"].dtype == np.float64 and d["driver_1_category"].dtype == "string"
    assert d.loc[7, "driver_1_value"] == 30.0 and pd.isna(d.loc[7, "driver_1_category"])
    assert d.loc[7, "driver_2_feature"] == "nps_group"
    assert pd.isna(d.loc[7, "driver_2_value"]) and d.loc[7, "driver_2_category"] == "detractor"
    assert pd.isna(d.loc[7, "driver_3_value"])  # a missing CSAT: NaN, not the text "nan"
    assert d.loc[8, "driver_1_feature"] == "nps_group" and pd.isna(d.loc[8, "driver_1_category"])
    assert d.loc[8, "driver_2_value"] == 4.0
    buf = io.BytesIO()
    d.to_parquet(buf)
    back = pd.read_parquet(buf)
    pd.testing.assert_frame_equal(back, d, check_index_type=False)


def test_levers_come_only_from_lever_families_and_only_when_there_is_something_to_do():
    expl = _expl(
        {"recency_days": [0.9, 0.9], "days_since_feedback": [0.8, 0.8], "complaints_90d": [0.3, 0.3],
         "csat_last": [0.2, 0.2], "open_tickets": [0.1, -0.1], "loyalty_tier": [0.05, 0.05]},
        {"recency_days": [100.0, 100.0], "days_since_feedback": [200.0, 200.0],
         "complaints_90d": [2.0, 0.0], "csat_last": [2.0, NAN], "open_tickets": [1.0, 1.0],
         "open_ticket_age_days": [9.0, 9.0], "csat_gap": [-2.2, NAN],
         "loyalty_tier": pd.Categorical(["bronze", "bronze"])}, index=(1, 2))
    expl.data["open_ticket_age_days"] = [9.0, 9.0]
    expl.data["csat_gap"] = [-2.2, NAN]
    lv = levers(expl, 3)
    assert list(lv.columns) == lever_columns(3)
    assert lv.loc[1, [f"lever_{k}_feature" for k in (1, 2, 3)]].tolist() == \
        ["complaints_90d", "csat_last", "open_tickets"]
    assert lv.loc[1, "lever_1_sentence"] == \
        "Made 2 complaints in the last 90 days — make sure they were resolved"
    assert lv.loc[1, "lever_2_sentence"] == \
        "Last CSAT 2/5, down from an average of 4.2 — follow up on the last experience"
    assert lv.loc[1, "lever_3_sentence"] == "Has 1 support ticket still open after 9 days — resolve it"
    assert lv.loc[1, "lever_1_value"] == 2.0 and lv.loc[1, "lever_1_contribution"] == 0.3
    # customer 2: no complaint, no CSAT answer, the open ticket holds risk down: no lever
    assert lv.loc[2].drop([c for c in lv.columns if c.endswith(("contribution", "value"))]).isna().all()
    assert lv.loc[2, [c for c in lv.columns if c.endswith(("contribution", "value"))]].isna().all()


def test_a_customer_whose_risk_nothing_moves_is_told_so_and_has_no_lever():
    expl = _expl({"recency_days": [0.0], "csat_last": [0.0]}, {"recency_days": [3.0], "csat_last": [2.0]})
    d = drivers(expl, 2)
    assert d.loc[1, "driver_1_sentence"].startswith("No feature moves this customer's risk")
    assert d.loc[1, "driver_1_contribution"] == 0.0 and pd.isna(d.loc[1, "driver_2_sentence"])
    assert levers(expl, 2).loc[1, "lever_1_feature"] is pd.NA


def test_drivers_of_many_customers_equal_drivers_of_each_alone():
    rng = np.random.default_rng(3)
    names = ["recency_days", "n_90d", "n_180d", "csat_last", "csat_mean", "complaints_90d",
             "days_since_feedback", "tenure_days"]
    vals = pd.DataFrame(rng.normal(size=(40, len(names))), columns=names)
    data = pd.DataFrame({"recency_days": rng.integers(0, 300, 40).astype(float),
                         "n_90d": rng.integers(0, 2, 40).astype(float),
                         "n_180d": rng.integers(1, 3, 40).astype(float),
                         "csat_last": np.where(rng.random(40) < 0.3, NAN, rng.integers(1, 6, 40)),
                         "csat_mean": np.where(rng.random(40) < 0.3, NAN, 3.0),
                         "complaints_90d": rng.integers(0, 3, 40).astype(float),
                         "days_since_feedback": np.where(rng.random(40) < 0.3, NAN, 50.0),
                         "tenure_days": 500.0})
    expl = Explanation(vals, np.zeros(40), data)
    d, lv = drivers(expl, 3), levers(expl, 3)
    for i in (0, 7, 19, 33):
        one = Explanation(vals.iloc[[i]], np.zeros(1), data.iloc[[i]])
        pd.testing.assert_frame_equal(drivers(one, 3), d.iloc[[i]])
        pd.testing.assert_frame_equal(levers(one, 3), lv.iloc[[i]])
    for i in range(40):  # distinct facts, strongest first
        feats = d.iloc[i][[f"driver_{k}_feature" for k in (1, 2, 3)]].dropna().tolist()
        keys = [fact(f, data.iloc[i][f], data.iloc[i].to_dict()) for f in feats]
        assert len(set(keys)) == len(keys)
        c = d.iloc[i][[f"driver_{k}_contribution" for k in (1, 2, 3)]].dropna().to_numpy()
        assert np.all(np.diff(c) <= 0) and np.all(c > 0)


def test_a_survey_silence_is_one_fact_whichever_column_says_it_and_reads_for_its_direction():
    row = {"days_since_feedback": 178.0, "csat_last": 3.0, "csat_mean_90d": NAN, "csat_min_365d": 2.0}
    assert fact("days_since_feedback", 178, row) == fact("csat_mean_90d", NAN, row) == "survey:recency"
    assert sentence("csat_mean_90d", NAN, row, "down") == "Answered a survey 178 days ago"
