"""How a past score file turned out, and what to expect before its labels arrive.

A score file made at ``as_of`` with a ``horizon_days``-day horizon is judged in two ways:

* **realised**, once the horizon has run (the data reach ``as_of + horizon_days``): every
  scored customer is labelled with :func:`churnmodel.labels.churn_labels` at ``as_of``,
  exactly as training labels its cutoffs, and the file's probabilities are scored against
  those labels (ROC AUC, PR AUC, Brier, log loss, calibration by decile, precision and
  recall of the at-risk list, the risk-band ladder, value kept and lost per action group);
* **estimated** from the calibrated probabilities alone (:mod:`churnmodel.modeling.cbpe`),
  always: before the horizon has run it is the only figure; after, it shows how far
  reality moved from what the model expected.

:func:`evaluate_scores` is pure (frames in, an :class:`Evaluation` out); reading the file,
printing and logging to MLflow happen in the command line and :mod:`churnmodel.tracking`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.data.tables import Tables
from churnmodel.errors import DataError
from churnmodel.labels import churn_labels
from churnmodel.modeling import cbpe
from churnmodel.modeling.metrics import evaluate as realised_metrics
from churnmodel.risk import risk_band

# At most this share of scored customers may be unknown to the data before the file is
# refused as another data set's (a few can vanish from a later extract: deletions).
MAX_UNKNOWN_SHARE = 0.01
# printed and logged, in this order: (key, label, format)
METRIC_ROWS = (("roc_auc", "ROC AUC", "{:.4f}"), ("pr_auc", "PR AUC", "{:.4f}"),
               ("brier", "Brier", "{:.4f}"), ("log_loss", "log loss", "{:.4f}"),
               ("base_rate", "churn rate", "{:.4f}"),
               ("at_risk_precision", "at-risk precision", "{:.4f}"),
               ("at_risk_recall", "at-risk recall", "{:.4f}"))


@dataclass
class Evaluation:
    """The outcome of one score file (:func:`evaluate_scores`).

    ``status``: ``matured`` (every label known), ``partial`` (the horizon has partly run)
    or ``none`` (no day of it has run). ``realised`` is ``None`` unless matured. Tables:
    ``deciles`` (calibration by decile of risk), ``bands`` (the risk-band ladder) and
    ``groups`` (the same per action, when the file has an ``action`` column; else empty).
    With the file's ``customer_value``, each table has the value expected to be lost and,
    once matured, the value kept (customers who stayed) and lost (those who churned).
    """

    meta: dict[str, Any]
    as_of: pd.Timestamp
    horizon_days: int
    data_end: pd.Timestamp
    days_run: int
    status: str
    estimated: dict[str, float]
    realised: dict[str, float] | None
    deciles: pd.DataFrame
    bands: pd.DataFrame
    groups: pd.DataFrame
    group_by: str
    n_unknown: int = 0
    settled: dict[str, int] = field(default_factory=dict)
    auc_sd: float = float("nan")

    @property
    def matures_on(self) -> pd.Timestamp:
        return self.as_of + pd.Timedelta(days=self.horizon_days)

    def horizon_line(self) -> str:
        """How far the horizon has run, in one sentence."""
        run = f"{max(self.days_run, 0)} of {self.horizon_days} days of the horizon have run"
        if self.status == "matured":
            return (f"horizon: complete ({self.horizon_days}-day window after {self.as_of.date()} "
                    f"ended {self.matures_on.date()}; data end {self.data_end.date()}): realised "
                    "metrics below")
        if self.status == "partial":
            s = self.settled
            so_far = (f"; so far {s.get('bought_again', 0):,} customers bought again and "
                      f"{s.get('cancelled', 0):,} cancelled") if s else ""
            return (f"horizon: partially matured, {run} (data end {self.data_end.date()}); labels "
                    f"mature on {self.matures_on.date()}{so_far}: estimate only")
        return (f"horizon: no label has matured, {run} (data end {self.data_end.date()}, score "
                f"date {self.as_of.date()}); labels mature on {self.matures_on.date()}: "
                "estimate only")

    def metrics_table(self) -> pd.DataFrame:
        """Realised against estimated, one row per metric (``realised`` NaN until matured)."""
        rows = []
        for key, label, _ in METRIC_ROWS:
            est = self.estimated.get(key, float("nan"))
            real = (self.realised or {}).get(key, float("nan"))
            rows.append({"metric": label, "realised": real, "estimated": est,
                         "difference": real - est})
        return pd.DataFrame(rows)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``--out`` writes and MLflow keeps."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                     for k, v in r.items()} for r in df.astype(object).to_dict("records")]

        return {"score_file": self.meta, "as_of": str(self.as_of.date()),
                "horizon_days": self.horizon_days, "data_end": str(self.data_end.date()),
                "days_run": self.days_run, "status": self.status,
                "matures_on": str(self.matures_on.date()),
                "estimated": self.estimated, "realised": self.realised,
                "roc_auc_sampling_sd": self.auc_sd, "unknown_customers": self.n_unknown,
                "settled": self.settled, "group_by": self.group_by,
                "deciles": records(self.deciles), "bands": records(self.bands),
                "groups": records(self.groups)}

    def text(self, currency: str = "") -> str:
        """The evaluation as the command line prints it."""
        m = self.meta.get("model", {})
        who = m.get("name", "?")
        if m.get("version"):
            who += f", registered '{m.get('registered_model')}' version {m['version']}"
        who += f", fingerprint {m.get('fingerprint', '?')}"
        n = int(self.estimated.get("n", 0))
        lines = [f"score file: {n:,} customers scored at {self.as_of.date()} (model {who}; churn "
                 f"within {self.horizon_days} days)", self.horizon_line()]
        if self.n_unknown:
            lines.append(f"note: {self.n_unknown:,} scored customers are no longer in the data; "
                         "left out")
        lines.append("")
        t = self.metrics_table()
        if self.realised is None:
            t = t.drop(columns=["realised", "difference"])
        lines.append(_fmt(t.set_index("metric")))
        sd = self.auc_sd
        lines.append(f"estimated = expected from the calibrated probabilities (CBPE); the realised "
                     f"ROC AUC of a perfectly calibrated model varies by +/- {sd:.4f} (1 sd) "
                     "by chance alone")
        lines.append("\ncalibration by decile of risk (1 = riskiest):")
        lines.append(_fmt(self.deciles.set_index("decile")))
        unit = f" in {currency}" if currency else ""
        worth = (f" (value{unit}: kept = of the customers who stayed, lost = of those who "
                 "churned)") if "value" in self.bands.columns else ""
        lines.append(f"\nrisk bands{worth}:")
        lines.append(_fmt(self.bands.set_index("risk_band")))
        if len(self.groups):
            lines.append("\nactions:")
            lines.append(_fmt(self.groups.set_index("action")))
        return "\n".join(lines)


def _fmt(df: pd.DataFrame) -> str:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            big = c.startswith(("value", "expected_value"))
            out[c] = [("" if not np.isfinite(v) else f"{v:,.0f}" if big else f"{v:.4f}")
                      for v in out[c]]
    return out.to_string()


def align_ids(ids: pd.Series, tables: Tables) -> pd.Series:
    """The score file's ids in the tables' canonical form (int64 or exact text)."""
    from churnmodel.data.io import canonical_ids

    target = tables.transactions["customer_id"].dtype
    if pd.api.types.is_integer_dtype(target):
        num = pd.to_numeric(ids, errors="coerce")
        ok = num.notna() & (num % 1 == 0)
        if not ok.all():
            raise DataError("scores", "customer_id", "holds ids that are not integers, while the "
                            "config's data use integer ids", "evaluate with the config whose data "
                            "made the scores (--config)", n_rows=int((~ok).sum()),
                            example=ids[~ok].iloc[0])
        return num.astype("int64")
    return canonical_ids(ids)


def _settled(tables: Tables, as_of: pd.Timestamp, ids: pd.Index) -> dict[str, int]:
    """Outcomes known before the horizon ends: bought again (stays), cancelled (churned)."""
    from churnmodel.data.tables import day_end

    tx = tables.transactions
    after = tx[(tx["ts"] >= day_end(as_of)) & (tx["amount"] > 0)]
    bought = int(ids.isin(pd.Index(after["customer_id"].unique())).sum())
    cancelled = 0
    cu = tables.customers
    if cu is not None and "churned_ts" in cu.columns:
        gone = cu.loc[cu["churned_ts"] >= day_end(as_of), "customer_id"]
        cancelled = int(ids.isin(pd.Index(gone)).sum())
    return {"bought_again": bought, "cancelled": cancelled}


def evaluate_scores(scores: pd.DataFrame, meta: dict[str, Any], tables: Tables,
                    data_end: pd.Timestamp | str | None = None) -> Evaluation:
    """Realised (once matured) and estimated performance of a score file.

    ``scores``: the file's rows (``customer_id, churn_probability`` and, as ``churnmodel
    score`` writes them, ``risk_band, at_risk, customer_value`` and ``action`` when present);
    ``meta``: its metadata (:func:`churnmodel.scorefile.score_file_metadata`); ``tables``:
    the project's data; ``data_end``: evaluate as known at the end of that day (default:
    the latest event). Labels follow the file's own horizon, so a config with another
    ``horizon_days`` judges the file by the definition its probabilities were made for.
    """
    as_of = pd.Timestamp(meta["as_of"]).normalize()
    horizon = int(meta["horizon_days"])
    last = tables.max_event_ts().normalize()
    end = last if data_end is None else min(pd.Timestamp(data_end).normalize(), last)
    if data_end is not None and end < as_of:
        raise DataError("scores", None, f"--as-of {pd.Timestamp(data_end).date()} is before the "
                        f"score file's date {as_of.date()}", "evaluate as of a later date")
    known = tables if end == last else tables.until(end)
    df = scores.copy()
    df["customer_id"] = align_ids(df["customer_id"], tables)
    ids_all = pd.Index(df["customer_id"])
    seen = pd.Index(known.transactions["customer_id"].unique())
    unknown = ~ids_all.isin(seen)
    if unknown.mean() > MAX_UNKNOWN_SHARE:
        raise DataError("scores", "customer_id", f"are not customers of the config's data "
                        f"({unknown.mean():.0%} of the {len(df):,} scored customers never bought "
                        "anything in it)", "evaluate with the config whose data made the scores "
                        "(--config)", n_rows=int(unknown.sum()), example=ids_all[unknown][0])
    df = df[~unknown]
    p = pd.to_numeric(df["churn_probability"]).to_numpy(dtype="float64")
    at_risk = (df["at_risk"].astype(bool).to_numpy() if "at_risk" in df.columns
               else p >= float(meta.get("threshold", 0.5)))
    bands = (df["risk_band"].astype("string").to_numpy() if "risk_band" in df.columns
             else np.asarray(risk_band(p, meta.get("risk_bands", (0.2, 0.5, 0.8))), dtype=object))
    days_run = int((end - as_of).days)
    status = "matured" if days_run >= horizon else "partial" if days_run > 0 else "none"
    y = None
    settled: dict[str, int] = {}
    ids = pd.Index(df["customer_id"])
    if status == "matured":
        y = churn_labels(known, as_of, ids, horizon).to_numpy().astype(int)
    elif status == "partial":
        settled = _settled(known, as_of, ids)
    estimated = cbpe.estimate(p, at_risk)
    realised = None
    if y is not None:
        realised = realised_metrics(y, p)
        flagged = int(at_risk.sum())
        realised["at_risk_precision"] = float(y[at_risk].mean()) if flagged else float("nan")
        realised["at_risk_recall"] = float(y[at_risk].sum() / y.sum()) if y.sum() else float("nan")
    value = (pd.to_numeric(df["customer_value"], errors="coerce").fillna(0.0).to_numpy()
             if "customer_value" in df.columns else None)
    group_by = "action" if "action" in df.columns else "risk_band"
    order = _band_order(meta)
    return Evaluation(
        meta=meta, as_of=as_of, horizon_days=horizon, data_end=end, days_run=days_run,
        status=status, estimated=estimated, realised=realised,
        deciles=cbpe.decile_table(p, y),
        bands=outcome_table(bands, p, y, value, "risk_band", order),
        groups=(outcome_table(df["action"].to_numpy(), p, y, value, "action")
                if group_by == "action" else pd.DataFrame()),
        group_by=group_by, n_unknown=int(unknown.sum()), settled=settled,
        auc_sd=cbpe.roc_auc_sampling_sd(p))


def _band_order(meta: dict[str, Any]) -> list[str]:
    edges = meta.get("risk_bands", (0.2, 0.5, 0.8))
    return list(risk_band(np.asarray([], dtype=float), edges).categories)


def outcome_table(group: np.ndarray, p: np.ndarray, y: np.ndarray | None,
                  value: np.ndarray | None, name: str,
                  order: list[str] | None = None) -> pd.DataFrame:
    """Per group: customers, expected and (with ``y``) realised churn; with ``value`` the
    value expected to be lost and (with ``y``) the value kept (stayers) and lost (churners).

    >>> outcome_table(np.array(["a", "a", "b"]), np.array([0.5, 0.3, 0.1]),
    ...               np.array([1, 0, 0]), np.array([10.0, 20.0, 5.0]), "g").to_dict("list")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'g': ['a', 'b'], 'customers': [2, 1], 'expected_rate': [0.4, 0.1],
     'realised_rate': [0.5, 0.0], 'churned': [1, 0], 'value': [30.0, 5.0],
     'expected_value_lost': [11.0, 0.5], 'value_kept': [20.0, 5.0], 'value_lost': [10.0, 0.0]}
    """
    f = pd.DataFrame({name: pd.Series(group, dtype="string").to_numpy(), "p": p})
    if y is not None:
        f["y"] = y
    if value is not None:
        f["value"] = value
        f["ev"] = p * value
        if y is not None:
            f["kept"] = np.where(y == 0, value, 0.0)
            f["lost"] = np.where(y == 1, value, 0.0)
    g = f.groupby(name, sort=True, observed=True)
    out = pd.DataFrame({"customers": g.size(), "expected_rate": g["p"].mean()})
    if y is not None:
        out["realised_rate"] = g["y"].mean()
        out["churned"] = g["y"].sum().astype(int)
    if value is not None:
        out["value"] = g["value"].sum()
        out["expected_value_lost"] = g["ev"].sum()
        if y is not None:
            out["value_kept"] = g["kept"].sum()
            out["value_lost"] = g["lost"].sum()
    if order is not None:
        out = out.reindex([o for o in order if o in out.index] +
                          [o for o in out.index if o not in order])
    return out.reset_index(names=name)
