"""The model of snapshot mode: a :class:`ChurnModel` whose features are attribute columns.

It is saved, logged, registered and served exactly like the purchase-log model (the
pyfunc calls :meth:`prepare` and the explanation's sentences); what differs is that its
feature rows are the typed attribute columns of a customers table, not features built
from logs at a cutoff, and that its driver sentences are written for any column
("Contract is Month-to-month: raises risk", "Tenure of 2 months: raises risk").
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from churnmodel.errors import ChurnModelError
from churnmodel.modeling.model import ChurnModel
from churnmodel.snapshot.columns import OTHER, ColumnDecision, Typing, humanise

MODE = "snapshot"


class SnapshotModel(ChurnModel):
    """A :class:`ChurnModel` of snapshot mode (``info["mode"] == "snapshot"``).

    ``info["typing"]`` holds the column decisions (:meth:`typing`), so a served request and
    a scored file are typed like the training table.
    """

    def typing(self) -> Typing:
        t = self.info["typing"]
        return Typing(t["id_column"], t["flag_column"], tuple(
            ColumnDecision(c["column"], c["kind"], c["reason"], tuple(c["levels"]), c["binary"],
                           c.get("unit", "")) for c in t["columns"]))

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """As :meth:`ChurnModel.prepare`, after blank text in numeric columns became missing
        and categorical levels pooled at training became ``(other)``."""
        cats = self.categories
        wanted = set(self.feature_names)
        fixes: dict[str, Any] = {}
        # dtypes first: a REST request of one row must not pay a column access per feature
        for c, dtype in X.dtypes.items():
            if c not in wanted:
                continue
            if c in cats:
                if OTHER in cats[c] and not isinstance(dtype, pd.CategoricalDtype):
                    text = X[c].astype("string").str.strip()
                    fixes[str(c)] = text.where(text.isna() | text.isin(cats[c]), OTHER)
            elif not pd.api.types.is_numeric_dtype(dtype):
                text = X[c].astype("string").str.strip()
                fixes[str(c)] = text.where(text != "")
        return super().prepare(X.assign(**fixes) if fixes else X)

    def features(self, tables, as_of):  # type: ignore[override]
        raise ChurnModelError("this is a snapshot-mode model: it scores a customers table "
                              "(`churnmodel score --config` with [data.customers]), not "
                              "purchase logs at a date.")

    def sentence(self, feature: str, value: Any, row: Any = None, direction: str = "up") -> str:
        """What ``feature = value`` says, and which way it moves the risk.

        >>> m = SnapshotModel.__new__(SnapshotModel)
        >>> m.info = {"typing": {"id_column": "id", "flag_column": "Churn", "columns": [
        ...     {"column": "Contract", "kind": "categorical", "reason": "", "levels": ["A"],
        ...      "binary": False}, {"column": "tenure", "kind": "numeric", "reason": "",
        ...      "levels": [], "binary": False, "unit": "months"}]}}
        >>> m.sentence("Contract", "Month-to-month"), m.sentence("tenure", 2.0)
        ('Contract is Month-to-month: raises risk', 'Tenure of 2 months: raises risk')
        >>> m.sentence("tenure", 1.0, direction="down")
        'Tenure of 1 month: lowers risk'
        """
        d = self._decisions().get(feature)
        label = humanise(feature)
        tail = {"up": ": raises risk", "down": ": lowers risk"}.get(direction, "")
        if _missing(value):
            return f"{label} is missing{tail}"
        if d is None or d.kind == "categorical":
            return f"{label} is {value}{tail}"
        x = float(value)
        if d.binary and x in (0.0, 1.0):
            return f"{label} is {'yes' if x == 1 else 'no'}{tail}"
        unit = d.unit[:-1] if d.unit and x == 1 else d.unit
        return f"{label} of {_fmt(x)}{' ' + unit if unit else ''}{tail}"

    def _decisions(self) -> dict[str, ColumnDecision]:
        cached = self.__dict__.get("_decisions_cache")
        if cached is None:
            cached = {d.column: d for d in self.typing().decisions}
            self.__dict__["_decisions_cache"] = cached
        return cached

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_decisions_cache", None)
        return state


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _fmt(x: float) -> str:
    if math.isfinite(x) and float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.2f}".rstrip("0").rstrip(".")


def is_snapshot(model: Any) -> bool:
    """True for a model of snapshot mode (also one re-imported by MLflow from code paths)."""
    info = getattr(model, "info", None)
    return isinstance(info, dict) and info.get("mode") == MODE


__all__ = ["MODE", "SnapshotModel", "is_snapshot"]
