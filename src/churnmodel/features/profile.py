"""Profile features from the customers table: age of the relationship and who they are.

Beware of snapshot columns: a customers table is exported *today*, so a column that
changes over time (a loyalty tier recomputed from spend) leaks the future into past
cutoffs. Use such columns only if they were fixed at signup, or provide their history.
"""

from __future__ import annotations

import pandas as pd

from churnmodel.data.tables import Tables, day_end
from churnmodel.features.base import register

CATEGORICAL = ("loyalty_tier", "region", "channel")


@register("profile", needs=("customers",))
def profile_features(tables: Tables, cutoff: pd.Timestamp, customers: pd.Index) -> pd.DataFrame:
    """``days_since_signup`` and the categorical ``loyalty_tier, region, channel``.

    A customer whose signup is after the cutoff is unknown at the cutoff (all missing), and
    category levels come only from customers known at the cutoff, so adding a future
    customer never changes a feature at the cutoff. (Training sets unify the levels of
    different cutoffs; the model maps unseen levels to missing.)

    >>> import pandas as pd
    >>> from churnmodel.data.tables import Tables, day_end
    >>> tx = pd.DataFrame({"customer_id": [1], "ts": pd.to_datetime(["2025-01-01"]), "amount": [1.0]})
    >>> cu = pd.DataFrame({"customer_id": [1, 2], "signup_ts": pd.to_datetime(["2024-12-01", "2025-03-01"]),
    ...                    "region": ["north", "south"]})
    >>> f = profile_features(Tables(tx, customers=cu), pd.Timestamp("2025-01-31"), pd.Index([1, 2]))
    >>> f["days_since_signup"].tolist(), f["region"].tolist()
    ([61.0, nan], ['north', nan])
    """
    cu = tables.customers
    assert cu is not None
    cu = cu.drop_duplicates("customer_id").set_index("customer_id")
    out = pd.DataFrame(index=customers)
    if "signup_ts" in cu.columns:
        cu = cu[~(cu["signup_ts"] >= day_end(cutoff))]  # unknown yet at the cutoff
        signup = cu["signup_ts"].reindex(customers)
        days = (cutoff.normalize() - signup.dt.normalize()).dt.days.astype("float64")
        out["days_since_signup"] = days.to_numpy()
    for col in CATEGORICAL:
        if col in cu.columns:
            levels = sorted(cu[col].dropna().astype(str).unique())
            values = cu[col].astype("string").reindex(customers)
            out[col] = pd.Categorical(values.to_numpy(dtype=object, na_value=None), categories=levels)
    return out
