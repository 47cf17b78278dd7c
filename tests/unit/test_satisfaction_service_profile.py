"""satisfaction_features, service_features, profile_features and build_features.

Cutoff 2025-03-31 throughout. Ages in whole days back from the cutoff day:
2024-01-01 = 455, 2024-03-31 = 365, 2024-10-01 = 181, 2024-12-01 = 120, 2025-02-01 = 58,
2025-03-01 = 30, 2025-03-11 = 20, 2025-03-21 = 10, 2025-03-25 = 6.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from churnmodel.data.io import tables_from_frames
from churnmodel.data.tables import Tables
from churnmodel.errors import ConfigError, DataError
from churnmodel.features import (
    build_features,
    contact_features,
    nps_group,
    profile_features,
    rfm_features,
    satisfaction_features,
    service_features,
)

CUTOFF = pd.Timestamp("2025-03-31")
NAN = float("nan")


def _ts(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values), format="ISO8601")


def _tx(ids=(1, 2, 3, 4, 5, 6)) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": list(ids), "ts": _ts(["2025-01-15"] * len(ids)),
                         "amount": [10.0] * len(ids)})


# ---------------------------------------------------------------------------- satisfaction

def _feedback() -> pd.DataFrame:
    rows = [
        (1, "2024-10-01", 5.0, NAN),  # age 181
        (1, "2024-12-01", 4.0, 3.0),  # age 120
        (1, "2025-02-01", 3.0, 6.0),  # age 58
        (1, "2025-03-21", 1.0, NAN),  # age 10: the last csat
        (1, "2025-03-25", NAN, 10.0),  # age 6: the last nps, the last feedback
        (1, "2025-04-02", 5.0, 0.0),  # after the cutoff: ignored
        (2, "2025-03-01", NAN, 6.0),
        (3, "2025-03-01", NAN, 7.0),
        (4, "2025-03-01", NAN, 8.0),
        (5, "2025-03-01", NAN, 9.0),
    ]
    fb = pd.DataFrame(rows, columns=["customer_id", "ts", "csat", "nps"])
    fb["ts"] = _ts(fb["ts"])
    return fb


@pytest.fixture(scope="module")
def sat() -> pd.DataFrame:
    t = Tables(_tx(), feedback=_feedback())
    return satisfaction_features(t, CUTOFF, pd.Index([1, 2, 3, 4, 5, 6]))


def test_csat_last_mean_and_gap_against_the_customers_own_history(sat):
    one = sat.loc[1]
    assert one["csat_count"] == 4.0  # 5, 4, 3, 1 (the Apr 2 answer is after the cutoff)
    assert one["csat_mean"] == 3.25  # 13 / 4
    assert one["csat_last"] == 1.0
    assert one["csat_gap"] == -3.0  # 1 - mean(5, 4, 3)
    assert one["csat_min_365d"] == 1.0


def test_csat_trend_is_last_90_days_minus_before(sat):
    one = sat.loc[1]
    assert one["csat_mean_90d"] == 2.0  # ages 58 and 10: (3 + 1) / 2
    assert one["csat_trend_90d"] == -2.5  # 2 - (5 + 4) / 2


def test_nps_last_mean_detractor_share_and_days_since_feedback(sat):
    one = sat.loc[1]
    assert one["nps_count"] == 3.0  # 3, 6, 10
    assert one["nps_last"] == 10.0
    assert one["nps_mean"] == pytest.approx(19 / 3)
    assert one["detractor_share"] == pytest.approx(2 / 3)  # 3 and 6 are <= 6
    assert sat.loc[1, "nps_group"] == "promoter"
    assert one["days_since_feedback"] == 6.0


def test_nps_group_boundaries_six_seven_eight_nine(sat):
    # customers 2..5 answered 6, 7, 8, 9 once
    assert sat.loc[[2, 3, 4, 5], "nps_group"].tolist() == [
        "detractor", "passive", "passive", "promoter"]
    assert sat.loc[[2, 3, 4, 5], "detractor_share"].tolist() == [1.0, 0.0, 0.0, 0.0]
    # a single answer has no earlier answers: no csat at all here
    assert math.isnan(sat.loc[2, "csat_last"]) and sat.loc[2, "csat_count"] == 0.0


def test_nps_group_maps_the_whole_scale_and_keeps_missing_missing():
    g = nps_group(pd.Series([0.0, 6.0, 7.0, 8.0, 9.0, 10.0, NAN]))
    assert g.astype(object).where(g.notna(), None).tolist() == [
        "detractor", "detractor", "passive", "passive", "promoter", "promoter", None]
    assert list(g.cat.categories) == ["detractor", "passive", "promoter"]


def test_customer_without_feedback_has_zero_counts_and_missing_levels(sat):
    six = sat.loc[6]
    assert six["csat_count"] == 0.0 and six["nps_count"] == 0.0
    assert math.isnan(six["csat_last"]) and math.isnan(six["nps_last"])
    assert math.isnan(six["days_since_feedback"])
    assert pd.isna(sat.loc[6, "nps_group"])


def test_single_csat_answer_has_no_gap():
    fb = pd.DataFrame({"customer_id": [1], "ts": _ts(["2025-03-01"]), "csat": [4.0]})
    f = satisfaction_features(Tables(_tx(), feedback=fb), CUTOFF, pd.Index([1]))
    assert f.loc[1, "csat_last"] == 4.0
    assert math.isnan(f.loc[1, "csat_gap"])
    assert math.isnan(f.loc[1, "csat_trend_90d"])  # nothing before the last 90 days


def test_feedback_table_with_only_an_nps_column_works():
    fb = _feedback().drop(columns="csat").dropna(subset=["nps"])
    f = satisfaction_features(Tables(_tx(), feedback=fb), CUTOFF, pd.Index([1, 2]))
    assert not [c for c in f.columns if c.startswith("csat")]
    assert f.loc[1, "nps_last"] == 10.0 and f.loc[2, "nps_group"] == "detractor"
    assert f.loc[1, "days_since_feedback"] == 6.0


# --------------------------------------------------------------------------------- service

def _tickets() -> pd.DataFrame:
    rows = [
        (1, "2025-03-01 10:00", "2025-03-02 10:00", True),  # T1 age 30, 24 h
        (1, "2024-12-01 00:00", "2024-12-05 00:00", True),  # T2 age 120, 96 h: slow
        (1, "2025-03-25 09:00", "2025-04-03 09:00", True),  # T3 age 6, resolved later: open
        (1, "2024-01-01 00:00", "2024-01-11 00:00", True),  # T4 age 455, 240 h
        (1, "2025-02-01 00:00", "2025-02-04 00:00", False),  # T5 age 58, exactly 72 h
        (1, "2025-04-01 08:00", "2025-04-01 09:00", True),  # opened after the cutoff
        (2, "2025-03-11 12:00", None, False),  # never resolved: open, age 20
        (4, "2025-03-31 08:00", "2025-03-31 23:00", False),  # resolved on the cutoff day
    ]
    tk = pd.DataFrame(rows, columns=["customer_id", "opened_ts", "resolved_ts", "is_complaint"])
    tk["opened_ts"] = _ts(tk["opened_ts"])
    tk["resolved_ts"] = _ts(tk["resolved_ts"])
    return tk


@pytest.fixture(scope="module")
def svc() -> pd.DataFrame:
    return service_features(Tables(_tx(), tickets=_tickets()), CUTOFF, pd.Index([1, 2, 3, 4]))


def test_ticket_and_complaint_windows(svc):
    one = svc.loc[1]
    assert one["tickets_90d"] == 3.0  # T1 (30), T3 (6), T5 (58)
    assert one["tickets_365d"] == 4.0  # + T2 (120); T4 is 455 days old
    assert one["complaints_90d"] == 2.0  # T1, T3
    assert one["complaints_365d"] == 3.0  # T1, T3, T2
    assert one["days_since_ticket"] == 6.0


def test_resolution_hours_only_over_tickets_resolved_by_the_cutoff(svc):
    one = svc.loc[1]
    assert one["resolution_hours_mean"] == 108.0  # (24 + 96 + 240 + 72) / 4; T3 unknown yet
    assert one["resolution_hours_max_365d"] == 96.0  # T4's 240 h is older than 365 days
    assert one["slow_tickets_365d"] == 1.0  # T2 (96 h); T5 is exactly 72 h, not over


def test_ticket_resolved_after_the_cutoff_counts_as_open_with_its_age(svc):
    assert svc.loc[1, "open_tickets"] == 1.0 and svc.loc[1, "open_ticket_age_days"] == 6.0
    assert svc.loc[2, "open_tickets"] == 1.0 and svc.loc[2, "open_ticket_age_days"] == 20.0
    assert math.isnan(svc.loc[2, "resolution_hours_mean"])


def test_ticket_resolved_late_on_the_cutoff_day_is_resolved(svc):
    four = svc.loc[4]
    assert four["open_tickets"] == 0.0 and math.isnan(four["open_ticket_age_days"])
    assert four["resolution_hours_mean"] == 15.0  # 08:00 -> 23:00
    assert four["days_since_ticket"] == 0.0


def test_customer_without_tickets_has_zero_counts(svc):
    three = svc.loc[3]
    zero = ["tickets_90d", "tickets_365d", "complaints_90d", "complaints_365d",
            "slow_tickets_365d", "open_tickets"]
    assert (three[zero] == 0.0).all()
    assert three[["days_since_ticket", "resolution_hours_mean", "open_ticket_age_days"]].isna().all()


def test_tickets_without_is_complaint_omit_the_complaint_columns():
    tk = _tickets().drop(columns="is_complaint")
    f = service_features(Tables(_tx(), tickets=tk), CUTOFF, pd.Index([1, 3]))
    assert not [c for c in f.columns if c.startswith("complaints")]
    assert f.loc[1, "tickets_90d"] == 3.0 and f.loc[1, "open_tickets"] == 1.0


def test_tickets_without_resolved_ts_or_is_complaint_omit_those_columns():
    tk = _tickets().drop(columns=["resolved_ts", "is_complaint"])
    f = service_features(Tables(_tx(), tickets=tk), CUTOFF, pd.Index([1, 3]))
    assert f.columns.tolist() == ["tickets_90d", "tickets_365d", "days_since_ticket"]
    assert f.loc[1].tolist() == [3.0, 4.0, 6.0]  # ages 30, 6, 58 | + 120 | min age 6
    assert f.loc[3, "tickets_90d"] == 0.0


# --------------------------------------------------------------------------------- profile

def _customers() -> pd.DataFrame:
    cu = pd.DataFrame({
        "customer_id": [1, 2, 3, 4, 5],
        "signup_ts": _ts(["2024-03-31", "2025-03-31 22:00", "2025-04-01", "2024-12-01", None]),
        "region": ["north", "south", "north", "east", None],
        "loyalty_tier": ["gold", "silver", "gold", "bronze", "gold"],
    })
    return cu


@pytest.fixture(scope="module")
def prof() -> pd.DataFrame:
    return profile_features(Tables(_tx(), customers=_customers()), CUTOFF,
                            pd.Index([1, 2, 3, 5, 9]))


def test_days_since_signup_in_whole_days(prof):
    assert prof.loc[1, "days_since_signup"] == 365.0  # 2024-03-31 -> 2025-03-31
    assert prof.loc[2, "days_since_signup"] == 0.0  # signed up late on the cutoff day


def test_signup_after_the_cutoff_or_unknown_gives_nan(prof):
    assert math.isnan(prof.loc[5, "days_since_signup"])  # no signup date
    assert math.isnan(prof.loc[9, "days_since_signup"])  # not in the customers table


def test_customer_signing_up_after_the_cutoff_is_unknown_at_the_cutoff(prof):
    # customer 3 signs up 2025-04-01: every profile column is missing at 2025-03-31
    assert prof.loc[3].isna().all()


def test_categoricals_keep_all_levels_of_customers_known_at_the_cutoff(prof):
    # customer 4 ('east', 'bronze') is not in the population; its levels are kept
    assert list(prof["region"].cat.categories) == ["east", "north", "south"]
    assert list(prof["loyalty_tier"].cat.categories) == ["bronze", "gold", "silver"]
    assert prof["region"].astype(object).where(prof["region"].notna(), None).tolist() == [
        "north", "south", None, None, None]  # 1, 2, 3 (signs up later), 5 (no region), 9
    assert "channel" not in prof.columns  # not in the table


def test_levels_of_customers_signing_up_after_the_cutoff_are_not_known_yet():
    cu = pd.concat([_customers(), pd.DataFrame({
        "customer_id": [6], "signup_ts": _ts(["2025-05-01"]), "region": ["west"],
        "loyalty_tier": ["platinum"]})], ignore_index=True)
    f = profile_features(Tables(_tx(), customers=cu), CUTOFF, pd.Index([1, 6]))
    assert list(f["region"].cat.categories) == ["east", "north", "south"]
    assert list(f["loyalty_tier"].cat.categories) == ["bronze", "gold", "silver"]
    assert f.loc[6].isna().all()


# ---------------------------------------------------------------------------- build_features

def test_build_features_skips_builders_whose_table_is_absent():
    t = Tables(_tx())
    pop = pd.Index([1, 2])
    f = build_features(t, CUTOFF, pop)
    # rfm and the signs of life (contact needs only transactions); no other family
    expected = pd.concat([rfm_features(t, CUTOFF, pop), contact_features(t, CUTOFF, pop)], axis=1)
    pd.testing.assert_frame_equal(f, expected)


def test_build_features_puts_families_side_by_side_in_population_order():
    t = Tables(_tx(), feedback=_feedback(), tickets=_tickets(), customers=_customers())
    pop = pd.Index([3, 1, 2])
    f = build_features(t, "2025-03-31 17:45", pop)  # a time of day is dropped: the cutoff day
    assert f.index.tolist() == [3, 1, 2]
    assert {"recency_days", "csat_last", "tickets_90d", "days_since_signup"} <= set(f.columns)
    assert f.loc[1, "resolution_hours_mean"] == 108.0
    assert f.columns.is_unique


def test_build_features_with_no_runnable_builder_returns_the_bare_population():
    f = build_features(Tables(_tx()), CUTOFF, pd.Index([1, 2]), builders=("service",))
    assert f.shape == (2, 0) and f.index.tolist() == [1, 2]


def test_misspelled_builder_raises_config_error_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown feature builder 'servce'.*Did you mean "
                                          r"'service'\?"):
        build_features(Tables(_tx()), CUTOFF, pd.Index([1]), builders=("rfm", "servce"))


def test_unknown_builder_is_an_error_even_if_it_would_be_skipped():
    with pytest.raises(ConfigError, match="Known builders: .*rfm"):
        build_features(Tables(_tx()), CUTOFF, pd.Index([1]), builders=("nonsense",))


def test_fractional_nps_is_rejected_or_grouped_consistently():
    frames = {"transactions": pd.DataFrame({"customer_id": [1], "ts": ["2025-01-01"],
                                            "amount": [1.0]}),
              "feedback": pd.DataFrame({"customer_id": [1], "ts": ["2025-03-01"],
                                        "nps": [6.5]})}
    try:
        t = tables_from_frames(frames)
    except DataError:
        return  # rejecting a non-integer NPS is fine
    f = satisfaction_features(t, CUTOFF, pd.Index([1]))
    assert (f.loc[1, "nps_group"] == "detractor") == (f.loc[1, "detractor_share"] == 1.0)
