"""The report's lifetime-value and time-to-churn sections: tables and figures.

:func:`lifetime_section` gathers CLV by segment and the value calibration (predicted vs
realised spend after the test cutoff, recorded at training), Kaplan-Meier retention by
first-purchase cohort and by RFM segment at the latest cutoff whose 180-day follow-up is
complete, and the hazard model's mean survival curve per risk band at the report date.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from churnmodel.data.tables import Tables  # noqa: E402
from churnmodel.errors import DataError  # noqa: E402
from churnmodel.modeling.hazard import CURVE_DAYS, N_PERIODS, PERIOD_DAYS, churn_onsets, kaplan_meier  # noqa: E402
from churnmodel.training_set import cutoff_frame  # noqa: E402

if TYPE_CHECKING:
    from churnmodel.modeling.model import ChurnModel
    from churnmodel.scoring import Segments

__all__ = ["LifetimeSection", "lifetime_section"]

GRID = np.arange(N_PERIODS + 1) * PERIOD_DAYS


@dataclass
class LifetimeSection:
    """What the "value" and "time-to-churn" sections show (``None`` parts become notes)."""

    clv_by_segment: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    value_info: dict[str, Any] = field(default_factory=dict)
    survival_info: dict[str, Any] = field(default_factory=dict)
    km_cutoff: str | None = None
    km_by_cohort: pd.DataFrame | None = None  # group, day, retention, customers
    km_by_segment: pd.DataFrame | None = None
    curves_by_band: pd.DataFrame | None = None  # band, day, survival, customers
    figures: list[tuple[str, bytes]] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=lambda: {"value": [], "time-to-churn": []})


def lifetime_section(tables: Tables, model: ChurnModel, segs: Segments,
                     as_of: pd.Timestamp) -> LifetimeSection:
    """Gather both sections for ``model`` at ``as_of`` (``segs`` scored with the model)."""
    out = LifetimeSection(value_info=dict(model.info.get("value", {}) or {}),
                          survival_info=dict(model.info.get("survival", {}) or {}))
    _value_part(out, tables, model, segs, as_of)
    _survival_part(out, tables, model, segs, as_of)
    return out


def _value_part(out: LifetimeSection, tables: Tables, model: ChurnModel, segs: Segments,
                as_of: pd.Timestamp) -> None:
    from churnmodel.scoring import customer_clv

    vm = getattr(model, "value_model", None)
    if vm is None:
        out.notes["value"].append(out.value_info.get("note") or "this model has no lifetime value "
                                  "model (trained before CLV existed): retrain to add it.")
        return
    clv = customer_clv(vm, tables, as_of, segs.features.index)
    t = segs.table
    group = "rfm_segment" if "rfm_segment" in t.columns else "cluster_name"
    frame = pd.DataFrame({"segment": t[group].astype("string").reindex(clv.index).to_numpy(),
                          "clv": clv.to_numpy()})
    if segs.scores is not None:
        frame["p"] = segs.scores["churn_probability"].reindex(clv.index).to_numpy()
    by = frame.groupby("segment", observed=True).agg(
        customers=("clv", "size"), clv_mean=("clv", "mean"), clv_total=("clv", "sum"),
        **({"mean_probability": ("p", "mean")} if "p" in frame else {}))
    by["clv_share"] = by["clv_total"] / max(float(by["clv_total"].sum()), 1e-12)
    out.clv_by_segment = by.sort_values("clv_total", ascending=False).reset_index()
    cal = out.value_info.get("calibration") or []
    if cal:
        out.calibration = pd.DataFrame(cal)
        out.figures.append(("Value calibration: predicted vs realised spend after the test cutoff, "
                            "by decile of predicted spend", _png(_calibration_figure(out.calibration))))
    else:
        out.notes["value"].append("no value calibration recorded at training.")


def _survival_part(out: LifetimeSection, tables: Tables, model: ChurnModel, segs: Segments,
                   as_of: pd.Timestamp) -> None:
    notes = out.notes["time-to-churn"]
    H = model.horizon_days
    # Kaplan-Meier at the latest month start with a full 180-day follow-up after its horizon
    latest = (as_of - pd.Timedelta(days=H + N_PERIODS * PERIOD_DAYS)).to_period("M").to_timestamp()
    try:  # the population and the RFM columns: the other builders would cost most of the time
        X = cutoff_frame(tables.until(latest), latest, [b for b in model.builders if b == "rfm"],
                         H, model.activity_lookback_days, with_labels=False).droplevel("cutoff")
    except DataError:
        X = None
    if X is None or latest < tables.transactions["ts"].min():
        notes.append(f"the history is too short for a {N_PERIODS * PERIOD_DAYS}-day follow-up after "
                     f"the {H}-day horizon: no Kaplan-Meier retention curves.")
    else:
        out.km_cutoff = str(latest.date())
        onsets = churn_onsets(tables, latest, X.index, H, as_of)
        first = tables.transactions.groupby("customer_id")["ts"].min().reindex(X.index)
        cohort = first.dt.year.astype("Int64").astype("string").fillna("?")
        out.km_by_cohort = _km_groups(onsets, cohort.rename("group"))
        if {"recency_days", "frequency", "monetary_total"} <= set(X.columns):
            from churnmodel.segmentation import rfm_scores

            seg = rfm_scores(X)["rfm_segment"].reindex(X.index).astype("string")
            out.km_by_segment = _km_groups(onsets, seg.rename("group"))
        for name, df in (("first-purchase year", out.km_by_cohort), ("RFM segment", out.km_by_segment)):
            if df is not None:
                out.figures.append((f"Kaplan-Meier retention (no churn onset yet) of the customers "
                                    f"active at {out.km_cutoff}, by {name}", _png(_km_figure(df, name))))
    if segs.scores is None or getattr(model, "hazard", None) is None:
        notes.append(out.survival_info.get("note") or "this model has no time-to-churn model "
                     "(trained before it existed): retrain to add it.")
        return
    raw_band = segs.scores["risk_band"]
    order = (list(raw_band.cat.categories) if isinstance(raw_band.dtype, pd.CategoricalDtype)
             else sorted(raw_band.dropna().unique()))
    band = raw_band.astype("string").reindex(segs.features.index)
    curves = model.hazard.survival(model.prepare(segs.features))
    rows = []
    for b in [str(x) for x in order if (band == str(x)).any()]:
        sel = (band == b).to_numpy()
        for j, day in enumerate(GRID):
            rows.append({"band": str(b), "day": int(day), "survival": float(curves[sel, j].mean()),
                         "customers": int(sel.sum())})
    out.curves_by_band = pd.DataFrame(rows)
    out.figures.append((f"Time-to-churn model: mean survival curve by risk band at {as_of.date()}",
                        _png(_band_figure(out.curves_by_band))))


def _km_groups(onsets: pd.DataFrame, group: pd.Series, min_customers: int = 30) -> pd.DataFrame:
    rows = []
    g = group.reindex(onsets.index)
    for name in sorted(g.dropna().unique()):
        sel = (g == name).to_numpy()
        if sel.sum() < min_customers:
            continue
        km = kaplan_meier(onsets["duration"].to_numpy()[sel], onsets["event"].to_numpy()[sel])
        rows += [{"group": str(name), "day": int(d), "retention": float(s), "customers": int(sel.sum())}
                 for d, s in zip(km["day"], km["retention"], strict=True)]
    return pd.DataFrame(rows, columns=["group", "day", "retention", "customers"])


def curve_table(df: pd.DataFrame, key: str, value: str) -> pd.DataFrame:
    """Long curves as one row per group with the 30/60/90/180-day values (the page's tables)."""
    if df is None or not len(df):
        return pd.DataFrame()
    wide = df[df["day"].isin(CURVE_DAYS)].pivot_table(index=key, columns="day", values=value,
                                                       observed=True)
    wide = wide.reindex(pd.unique(df[key]))  # the groups' own order (risk bands low to high)
    wide.columns = [f"{int(c)} days" for c in wide.columns]
    n = df.groupby(key, observed=True)["customers"].first()
    return wide.assign(customers=n).reset_index().rename(columns={key: ""})


def _calibration_figure(cal: pd.DataFrame):
    d = cal[cal["decile"].astype(str) != "all"]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    x = np.arange(len(d))
    ax.bar(x - 0.2, d["predicted_mean"], 0.4, label="predicted (BG/NBD x Gamma-Gamma)")
    ax.bar(x + 0.2, d["realised_mean"], 0.4, label="realised")
    ax.set_xticks(x, d["decile"].astype(str))
    ax.set_xlabel("decile of predicted spend")
    ax.set_ylabel("mean spend per customer")
    ax.legend(frameon=False)
    return fig


def _km_figure(df: pd.DataFrame, name: str):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for g, part in df.groupby("group", sort=True):
        # points every 30 days (the grid the model's curves use), joined for the eye
        ax.plot(part["day"], part["retention"], marker="o", ms=3,
                label=f"{g} (n={int(part['customers'].iloc[0]):,})")
    ax.set_xlabel("days after the cutoff")
    ax.set_ylabel("share without churn onset")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, fontsize=7, title=name, title_fontsize=8)
    return fig


def _band_figure(df: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for b, part in df.groupby("band", sort=False):
        ax.plot(part["day"], part["survival"], marker="o",
                label=f"{b} (n={int(part['customers'].iloc[0]):,})")
    ax.set_xlabel("days after the report date")
    ax.set_ylabel("predicted probability of still buying")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, title="risk band", fontsize=8)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
