"""Every builder, the population and the label: the Spark engine equals the DuckDB engine.

The same tables go through :func:`churnmodel.training_set.training_set` (local DuckDB) and
:func:`churnmodel.engine.spark.training_set` (the same builders per customer bucket on
Spark): same rows, same order and index, same dtypes and category levels, every value to
1e-9 and missing where it is missing.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from churnmodel.data.io import tables_from_frames
from churnmodel.data.synthetic import generate
from churnmodel.engine import spark as es
from churnmodel.features import REGISTRY, available_builders, fix_builders
from churnmodel.training_set import cutoff_dates, cutoff_frame, training_set

pytestmark = pytest.mark.spark

ALL = ("rfm", "satisfaction", "service", "profile", "engagement", "contact")


def assert_same(local: pd.DataFrame, spark: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(local, spark, check_exact=False, rtol=0, atol=1e-9)
    for c in local.columns:  # missing exactly where the local engine has it missing
        assert (local[c].isna().to_numpy() == spark[c].isna().to_numpy()).all(), c


@pytest.fixture(scope="module")
def default_like():
    d = generate(customers=300, seed=5)
    return tables_from_frames({n: getattr(d, n) for n in ("transactions", "feedback", "tickets",
                                                          "customers", "events")})


def test_every_builder_gives_the_local_features_populations_and_labels(spark, engine, default_like):
    tables = default_like.until(default_like.max_event_ts())
    builders = fix_builders(tables, available_builders(tables, ALL))
    assert len(builders) == len(REGISTRY) == len(ALL)  # every registered builder is here
    cuts = cutoff_dates(tables.max_event_ts(), 90, 3)
    local = training_set(tables, cuts, builders, 90, 365)
    on_spark = es.training_set(tables, cuts, builders, 90, 365, engine, spark=spark)
    assert_same(local, on_spark)
    # each family really built columns (not an empty frame equal to an empty frame)
    for name in ("recency_days", "csat_mean", "tickets_90d", "region", "events_30d",
                 "days_since_contact", "churned"):
        assert on_spark[name].notna().any(), name
    assert len(local.index.get_level_values("cutoff").unique()) == 3


def _at(day: str, hms: str = "10:00:00.123456789") -> pd.Timestamp:
    return pd.Timestamp(f"{day} {hms}")


def odd_tables(ids: list) -> tuple:
    """Customers with no history, a single purchase, refunds only since their one purchase,
    no answers or only missing scores, open tickets, an event type nobody else has, and a
    region only customers without any purchase are in (the levels must still have it)."""
    a, b, c, d, e, f, g = ids
    tx = pd.DataFrame({
        "customer_id": [a, b, b, b, c, c, c, d, e, e],
        "ts": [_at("2025-06-01"), _at("2025-03-01"), _at("2025-05-20", "23:59:59.999999999"),
               _at("2025-05-21"), _at("2025-02-01"), _at("2025-04-01"), _at("2025-05-01"),
               _at("2025-01-15"), _at("2024-11-30"), _at("2025-08-20")],
        "amount": [40.0, 25.5, -5.0, -7.25, 10.0, 12.0, 14.0, 99.99, 30.0, 15.0],
    })
    fb = pd.DataFrame({"customer_id": [b, c, c], "ts": [_at("2025-04-01"), _at("2025-03-01"),
                                                         _at("2025-05-02")],
                       "csat": [np.nan, 2.0, 5.0], "nps": [np.nan, 3.0, np.nan]})
    tk = pd.DataFrame({"customer_id": [c, d], "opened_ts": [_at("2025-05-03"), _at("2025-05-30")],
                       "resolved_ts": [_at("2025-05-06"), pd.NaT]})
    cu = pd.DataFrame({"customer_id": [a, b, c, d, e, f, g],
                       "signup_ts": [_at("2024-12-01")] * 5 + [_at("2025-01-01"), _at("2025-08-01")],
                       "region": ["north", "north", None, "south", "east", "far west", "moon"]})
    ev = pd.DataFrame({"customer_id": [c, c, d, f], "ts": [_at("2025-05-25"), _at("2025-05-31"),
                                                           _at("2025-05-01"), _at("2025-05-05")],
                       "event_type": ["login", "Page View", "login", "rare thing"]})
    return tables_from_frames({"transactions": tx, "feedback": fb, "tickets": tk, "customers": cu,
                               "events": ev})


@pytest.mark.parametrize("ids", [[101, 102, 103, 104, 105, 106, 107],
                                 ["c-1", "c-2", "é-3", "c-4", "C-5", "c-6", "c-7"]],
                         ids=["int ids", "text ids"])
def test_odd_tables_give_the_local_features(spark, engine, ids):
    tables = odd_tables(ids)
    cuts = [pd.Timestamp("2025-05-01"), pd.Timestamp("2025-06-01")]
    # builders as given (engagement learns its event types at each cutoff, as locally)
    local = training_set(tables, cuts, list(ALL), 60, 365)
    on_spark = es.training_set(tables, cuts, list(ALL), 60, 365, engine, spark=spark)
    assert_same(local, on_spark)
    assert len(local) >= 4
    assert "far west" in local["region"].cat.categories  # a level of customers never active


def test_features_at_a_date_equal_the_scoring_path(spark, engine, default_like):
    as_of = default_like.max_event_ts().normalize()
    builders = fix_builders(default_like, available_builders(default_like, ALL))
    local = cutoff_frame(default_like.until(as_of), as_of, builders, 90, 365,
                         with_labels=False).droplevel("cutoff")  # what ChurnModel.features does
    assert_same(local, es.features(default_like, as_of, builders, 90, 365, engine, spark=spark))


def test_the_training_sample_is_whole_customers_seeded_and_capped(spark, engine, default_like):
    tables = default_like.until(default_like.max_event_ts())
    cuts = cutoff_dates(tables.max_event_ts(), 90, 3)
    engine = dataclasses.replace(engine, sample_customers=120)
    full = training_set(tables, cuts, ["rfm"], 90, 365)
    runs = [es.training_set(tables, cuts, ["rfm"], 90, 365, engine, seed=s, spark=spark)
            for s in (7, 8)]
    a = runs[0]
    ids = a.index.get_level_values("customer_id")
    assert ids.nunique() == 120
    # a kept customer is kept at every cutoff where they are active, with the local rows
    kept = full[full.index.get_level_values("customer_id").isin(ids.unique())]
    assert_same(kept, a)
    # every cutoff keeps about the same share of its population
    share = a.groupby(level="cutoff").size() / full.groupby(level="cutoff").size()
    assert share.max() - share.min() < 0.15, share
    # seeded by a hash of the id: the same customers wherever they are computed
    u = es._uniform(pd.Index(full.index.get_level_values("customer_id").unique()), 7)
    assert (u <= np.sort(u)[119]).sum() == 120
    assert not a.index.equals(runs[1].index)  # another seed, another sample
