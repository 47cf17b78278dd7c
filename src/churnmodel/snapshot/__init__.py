"""Snapshot mode: a customers table with a churn flag and no purchase log.

One row per customer (attributes and a Yes/No churn flag): :mod:`.columns` types the
columns, :mod:`.train` cross-validates LightGBM against a logistic regression and the
best single column, :mod:`.model` is the exported :class:`SnapshotModel` (a
:class:`~churnmodel.modeling.model.ChurnModel` served like any other), :mod:`.score`
scores another table of the same columns, :mod:`.synthetic` generates a telco-shaped
table, :mod:`.commands` are the CLI's snapshot paths.
"""

from churnmodel.snapshot.columns import Typing, feature_frame, parse_flag, type_columns
from churnmodel.snapshot.model import SnapshotModel, is_snapshot

__all__ = ["SnapshotModel", "Typing", "feature_frame", "is_snapshot", "parse_flag", "type_columns"]
