"""State and action per customer (churnmodel.decisions), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import ScoringConfig
from churnmodel.decisions import ACTIONS, STATES, Policy, counts, customer_state, decide, policy


def test_states_by_hand_at_the_edges():
    X = pd.DataFrame({
        "recency_days": [0.0, 20.0, 21.0, 89.0, 90.0, 400.0, 10.0, 31.0, np.nan],
        "gap_mean_days": [10.0, 10.0, 10.0, 60.0, 60.0, 5.0, np.nan, np.nan, np.nan],
    })
    # 20 = 2 x 10 is still active, 21 lapsing; 89 < H; 90 = H lapsed (no purchase for a whole
    # horizon); one-time buyers use the typical gap (15): 10 active, 31 > 30 lapsing;
    # no purchase on record: active (nothing says otherwise)
    assert customer_state(X, 90, typical_gap_days=15.0).tolist() == [
        "active", "active", "lapsing", "active", "lapsed", "lapsed", "active", "lapsing", "active"]


def test_without_recency_everyone_is_active():
    assert customer_state(pd.DataFrame({"x": [1, 2]}), 90).tolist() == ["active", "active"]


def test_a_zero_gap_falls_back_to_the_typical_gap():
    X = pd.DataFrame({"recency_days": [25.0], "gap_mean_days": [0.0]})
    assert customer_state(X, 90, typical_gap_days=10.0).tolist() == ["lapsing"]


POL = Policy(horizon_days=90, threshold=0.5, offer_cost=20.0, acceptance_rate=0.25,
             winback_acceptance_rate=0.1, nurture_probability=0.2, nurture_value=100.0)


@pytest.mark.parametrize(("p", "state", "value", "at_risk", "action"), [
    (0.9, "active", 5.0, True, "retain now"),       # at risk whatever the value
    (0.5, "lapsing", np.nan, True, "retain now"),   # on the threshold counts
    (0.99, "lapsed", 201.0, False, "win back"),     # 0.1 x 201 = 20.1 > 20
    (0.99, "lapsed", 200.0, False, "let go"),       # 0.1 x 200 = 20 does not pay
    (0.99, "lapsed", np.nan, False, "let go"),      # unknown value: no paid offer
    (0.3, "lapsing", 1.0, False, "nurture"),        # drifting, below the threshold
    (0.3, "active", 100.0, False, "nurture"),       # medium risk and valuable
    (0.3, "active", 99.0, False, "monitor"),
    (0.1, "active", 1e6, False, "monitor"),         # low risk: watch
])
def test_actions_by_hand(p, state, value, at_risk, action):
    got_risk, got_action = decide(np.array([p]), np.array([state], dtype=object),
                                  np.array([value]), POL)
    assert (bool(got_risk[0]), got_action[0]) == (at_risk, action)


def test_no_value_at_all_is_accepted():
    at, act = decide(np.array([0.9, 0.9]), np.array(["active", "lapsed"], dtype=object), None, POL)
    assert at.tolist() == [True, False] and act.tolist() == ["retain now", "let go"]


def test_the_policy_is_fixed_from_the_validation_rows():
    X = pd.DataFrame({"recency_days": [5.0, 10.0, 200.0, 3.0],
                      "gap_mean_days": [10.0, 30.0, 20.0, np.nan]})
    pol = policy(90, 0.6, ScoringConfig(winback_acceptance_rate=0.2), X,
                 np.array([10.0, 30.0, 1000.0, 50.0]), (0.25, 0.5, 0.8))
    assert pol.typical_gap_days == 20.0  # median of 10, 30, 20
    assert pol.nurture_value == 30.0  # median value of the not-lapsed: 10, 30, 50
    assert (pol.threshold, pol.nurture_probability, pol.winback_acceptance_rate) == (0.6, 0.25, 0.2)
    assert Policy(**pol.as_dict()) == pol  # stored with the model and read back


def test_an_old_model_without_decisions_gets_a_policy_from_its_threshold():
    info = {"scoring": {"threshold": 0.7, "risk_bands": [0.3, 0.6], "offer_cost": 5.0}}
    pol = Policy.from_info(info, 60)
    assert (pol.horizon_days, pol.threshold, pol.nurture_probability, pol.offer_cost) == (60, 0.7, 0.3, 5.0)


def test_counts_cover_every_state_and_action():
    frame = pd.DataFrame({"state": ["active", "lapsed", "lapsed"],
                          "action": ["retain now", "win back", "let go"],
                          "at_risk": [True, False, False]})
    c = counts(frame)
    assert list(c["state"]) == list(STATES) and list(c["action"]) == list(ACTIONS)
    assert c["state"] == {"active": 1, "lapsing": 0, "lapsed": 2}
    assert c["action"]["win back"] == 1 and c["at_risk"] == {"at_risk": 1}


def test_a_bad_winback_rate_is_refused():
    from churnmodel.errors import ConfigError

    with pytest.raises(ConfigError, match="winback_acceptance_rate"):
        ScoringConfig(winback_acceptance_rate=0.0)
