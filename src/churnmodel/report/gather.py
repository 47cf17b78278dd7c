"""Gathering what the churn report shows: every number, table and figure of the page.

:func:`churn_report` scores, explains and segments the customers active at a date with the
model, reads the training metrics and figures the model directory holds and returns a
:class:`ChurnReport`; :mod:`churnmodel.report.render` turns it into HTML. Nothing here
formats text for the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnmodel import drift
from churnmodel.config import Config
from churnmodel.data.tables import Tables
from churnmodel.decisions import counts
from churnmodel.errors import ChurnModelError, DataError
from churnmodel.features import catalog
from churnmodel.profiling import profile_history
from churnmodel.scoring import Segments, call_list, customer_segments
from churnmodel.segmentation import segment_metrics
from churnmodel.threads import in_one_thread

if TYPE_CHECKING:
    from churnmodel.modeling.model import ChurnModel

SECTION_IDS = ("headline", "metrics", "curves", "drivers", "segments", "segment-metrics",
               "risk-value", "value", "time-to-churn", "coverage", "history", "call-list")
REPORT_FILE = "churn_report.html"
#: Training figures shown in the "curves" section, in order: file name in ``<model>/plots``, caption.
CURVE_PLOTS = (
    ("roc.png", "ROC curve on the test cutoff"),
    ("pr.png", "Precision-recall on the test cutoff"),
    ("calibration.png", "Calibration: predicted probability vs observed churn rate"),
    ("gains_lift.png", "Cumulative gains and lift"),
    ("profit_curve.png", "Retention-campaign profit curve (validation cutoff) and the at-risk threshold"),
)
CALL_LIST_ROWS = 25  # the report's call list; `churnmodel score --call-list N` writes any length
# capture@10% is not shown: it is always lift@10% x 0.1, a second name for the same number.
METRIC_COLUMNS = (("roc_auc", "ROC AUC"), ("pr_auc", "PR AUC"), ("brier", "Brier"),
                  ("log_loss", "log loss"), ("lift_top_decile", "lift@10%"))


@dataclass
class ChurnReport:
    """Everything the HTML page shows; :func:`churnmodel.report.render.render_html` renders it."""

    as_of: pd.Timestamp
    model_name: str
    headline: dict[str, Any]
    metrics: pd.DataFrame  # one row per candidate (+ oracle), metric columns
    metrics_info: dict[str, Any]  # test cutoff, base rate, n, threshold rule
    curves: list[tuple[str, bytes | None]]  # caption, PNG (None: not found)
    shap_images: list[tuple[str, bytes]]
    importance: pd.DataFrame | None
    drivers: pd.DataFrame
    segments: Segments
    segment_metrics: pd.DataFrame | None
    coverage: pd.DataFrame
    training: dict[str, Any]
    notes: dict[str, list[str]] = field(default_factory=dict)
    drift: pd.DataFrame | None = None  # features at as_of vs the validation cutoff (PSI)
    drift_cutoff: str | None = None
    currency: str = ""  # shown after money values ([scoring] currency); "" shows none
    history: Any = None  # churnmodel.profiling.HistoryProfile of the purchase log at as_of
    call_list: pd.DataFrame | None = None  # the customers to contact first (scoring.call_list)
    lifetime: Any = None  # churnmodel.report.lifetime.LifetimeSection (CLV, time to churn)


@in_one_thread
def churn_report(tables: Tables, cfg: Config, model: ChurnModel, model_dir: str | Path,
                 as_of: pd.Timestamp | str | None = None,
                 on_step: Callable[[str], Any] | None = None) -> ChurnReport:
    """Gather the report of ``model`` (exported in ``model_dir``) on ``tables`` at ``as_of``.

    Reads ``metrics.json`` and the training figures in ``<model_dir>/plots`` (written by
    ``churnmodel train``); scores, explains and segments the customers active at ``as_of``
    (default: the latest event); evaluates the model per segment on the test cutoff.
    What cannot be shown (a figure that was never drawn, per-segment metrics when the data
    do not cover the label window) becomes a note in its section, never an error.
    """
    step = on_step or (lambda name: None)
    mdir = Path(model_dir)
    notes: dict[str, list[str]] = {s: [] for s in SECTION_IDS}
    as_of = (pd.Timestamp(as_of) if as_of is not None else tables.max_event_ts()).normalize()
    metrics_json = _read_json(mdir / "metrics.json")
    if not metrics_json:
        notes["metrics"].append(f"no metrics.json in {mdir}: train with `churnmodel train` to "
                                "compare the model with its baselines.")
    segs = customer_segments(tables, as_of, cfg, model, explain=True)
    step("score, explain and segment")
    scores = segs.scores
    assert scores is not None  # a model was given
    sc = model.info.get("scoring", {})
    threshold = float(sc.get("threshold", 0.5))
    if "threshold" not in sc:
        notes["headline"].append("this model has no trained at-risk threshold; p >= 0.5 is used. "
                                 "Retrain to fix it on the campaign profit curve.")
    value = segs.table["customer_value"]
    at_risk = scores["at_risk"].to_numpy()
    evr = scores["churn_probability"] * value
    m = metrics_json.get("model", {})
    headline: dict[str, Any] = {
        "customers": len(scores), "at_risk": int(at_risk.sum()),
        "at_risk_share": float(at_risk.mean()) if len(scores) else 0.0,
        "threshold": threshold, "threshold_rule": sc.get("rule", "default"),
        "value_at_risk": float(evr[at_risk].sum()), "value_at_risk_all": float(evr.sum()),
        "mean_probability": float(scores["churn_probability"].mean()),
        "win_back": int((scores["action"] == "win back").sum()),
        "counts": counts(scores),
        "test_auc": m.get("roc_auc"), "oracle_auc": metrics_json.get("oracle", {}).get("roc_auc"),
        "best_baseline": _best_baseline(metrics_json),
        "test_cutoff": metrics_json.get("test_cutoff"),
    }
    metrics = metrics_frame(metrics_json)
    plots_dir = mdir / "plots"
    curves = [(cap, _read_bytes(plots_dir / name)) for name, cap in CURVE_PLOTS]
    if any(png is None for _, png in curves):
        notes["curves"].append(f"figures missing in {plots_dir} (marked below): they are drawn by "
                               "`churnmodel train`; retrain to add them.")
    shap_images, importance = _shap_section(model, segs.features, mdir, notes["drivers"])
    step("drivers")
    drivers = top_drivers(scores)
    seg_metrics = None
    cutoff = metrics_json.get("test_cutoff") or model.info.get("cutoffs", {}).get("test")
    if cutoff is None:
        notes["segment-metrics"].append("the model records no test cutoff: no per-segment metrics.")
    else:
        trained_to = model.info.get("as_of") or metrics_json.get("as_of")
        known = tables.until(pd.Timestamp(trained_to)) if trained_to else tables
        try:
            seg_metrics = segment_metrics(model, known, cutoff)
        except (DataError, ChurnModelError) as exc:
            notes["segment-metrics"].append(f"per-segment metrics on the test cutoff {cutoff} are not "
                                            f"available: {exc}")
        if seg_metrics is not None:
            skipped = seg_metrics[seg_metrics["note"] != ""]
            for _, r in skipped.iterrows():
                notes["segment-metrics"].append(f"{r['grouping']} '{r['segment']}': {r['note']}.")
    step("segment metrics")
    measured = drift.against_model(model.info, segs.features)
    if measured is None:
        notes["coverage"].append("this model keeps no reference distribution of its features: no "
                                 "drift measure. Retrain to add one.")
    training = {k: metrics_json.get(k) for k in ("as_of", "train_cutoffs", "valid_cutoff",
                                                  "test_cutoff", "rows", "ladder", "refit")}
    history = profile_history(tables, cfg, as_of)
    step("history profile")
    from churnmodel.report.lifetime import lifetime_section

    lifetime = lifetime_section(tables, model, segs, as_of)
    for sid, extra in lifetime.notes.items():
        notes[sid] += extra
    step("lifetime value and time to churn")
    info = {"test_cutoff": metrics_json.get("test_cutoff"), "base_rate": m.get("base_rate"),
            "n": m.get("n"), "horizon_days": model.horizon_days, "rule": sc.get("rule"),
            "validation": metrics_json.get("validation", {})}
    return ChurnReport(as_of=as_of, model_name=str(m.get("name", model.name)), headline=headline,
                       metrics=metrics, metrics_info=info, curves=curves, shap_images=shap_images,
                       importance=importance, drivers=drivers, segments=segs,
                       segment_metrics=seg_metrics, coverage=data_coverage(tables),
                       training=training, notes=notes,
                       drift=measured[0] if measured else None,
                       drift_cutoff=measured[1] if measured else None,
                       currency=cfg.scoring.currency, history=history, lifetime=lifetime,
                       call_list=call_list(scores.assign(customer_value=value.to_numpy())
                                           .reset_index(names="customer_id"), CALL_LIST_ROWS,
                                           model.policy()))


def top_drivers(scores: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The features that most often push at-risk customers' risk up, with a typical sentence.

    ``scores`` is a :func:`~churnmodel.scoring.score_frame` (``at_risk`` and
    ``driver_{k}_feature / _sentence`` columns). Returns up to ``n`` rows, most frequent
    first: ``feature, label, customers`` (at-risk customers with it among their drivers),
    ``share`` (of the at-risk customers), ``first`` (customers for whom it is the top
    driver) and ``sentence`` (its most frequent sentence; ties: the riskiest customer's).
    """
    risky = scores[scores["at_risk"]]
    if "churn_probability" in risky.columns:
        risky = risky.sort_values("churn_probability", ascending=False, kind="stable")
    ks = sorted(int(c.split("_")[1]) for c in risky.columns if re.fullmatch(r"driver_\d+_feature", c))
    cols = ["feature", "label", "customers", "share", "first", "sentence"]
    if not ks or not len(risky):
        return pd.DataFrame(columns=cols)
    long = pd.concat([pd.DataFrame({"feature": risky[f"driver_{k}_feature"].astype("object"),
                                    "sentence": risky[f"driver_{k}_sentence"].astype("object"),
                                    "rank": k}) for k in ks])
    long = long[long["feature"].notna()]
    rows = []
    for feat, grp in long.groupby("feature", sort=False):
        counts = grp["sentence"].value_counts(sort=False)
        sentence = counts.index[int(np.argmax(counts.to_numpy()))] if len(counts) else ""
        rows.append({"feature": feat, "label": catalog.label(str(feat)),
                     "customers": int(grp.index.nunique()), "share": grp.index.nunique() / len(risky),
                     "first": int((grp["rank"] == ks[0]).sum()), "sentence": sentence})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["customers", "first"], ascending=False, kind="stable").head(n).reset_index(
        drop=True)


# Main date column per table, shown first in the coverage section.
_MAIN_DATE = {"transactions": "ts", "feedback": "ts", "tickets": "opened_ts", "customers": "signup_ts"}


def data_coverage(tables: Tables) -> pd.DataFrame:
    """Rows, customers and date ranges of every table present (one row per table and date column)."""
    rows = []
    for name in tables.names():
        df: pd.DataFrame = getattr(tables, name)
        dates = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
        main = _MAIN_DATE.get(name)
        dates.sort(key=lambda c: c != main)
        base = {"table": name, "rows": len(df), "customers": int(df["customer_id"].nunique())}
        if not dates:
            rows.append({**base, "column": "", "first": None, "last": None, "filled": None})
        for c in dates:
            s = df[c]
            rows.append({**base, "column": c, "first": s.min(), "last": s.max(),
                         "filled": float(s.notna().mean()) if len(s) else None})
            base = {"table": "", "rows": None, "customers": None}
    return pd.DataFrame(rows, columns=["table", "rows", "customers", "column", "first", "last", "filled"])


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _read_bytes(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data or None


def _best_baseline(metrics_json: Mapping[str, Any]) -> tuple[str, float] | None:
    base = {k: v.get("roc_auc") for k, v in metrics_json.get("baselines", {}).items()
            if v.get("roc_auc") is not None}
    if not base:
        return None
    name = max(base, key=lambda k: base[k])
    return name, float(base[name])


def metrics_frame(metrics_json: Mapping[str, Any]) -> pd.DataFrame:
    """``metrics.json`` as a table: the champion, each baseline and the oracle, one row each.

    The first column (named ``""``) says which; then ``roc_auc, pr_auc, brier, log_loss,
    lift_top_decile``.
    """
    rows: list[dict[str, Any]] = []
    if "model" in metrics_json:
        rows.append({"": f"model ({metrics_json['model'].get('name', '?')}, champion)",
                     **metrics_json["model"]})
    rows += [{"": f"baseline: {k}", **v} for k, v in metrics_json.get("baselines", {}).items()]
    if "oracle" in metrics_json:
        rows.append({"": "oracle (true probability)", **metrics_json["oracle"]})
    cols = [""] + [c for c, _ in METRIC_COLUMNS]
    return pd.DataFrame(rows).reindex(columns=cols) if rows else pd.DataFrame(columns=cols)


def _shap_section(model: ChurnModel, X: pd.DataFrame, mdir: Path,
                  notes: list[str]) -> tuple[list[tuple[str, bytes]], pd.DataFrame | None]:
    """Training SHAP figures; drawn afresh on (a sample of) today's customers when missing."""
    plots = mdir / "plots"
    images: list[tuple[str, bytes]] = []
    for name, cap in (("shap_beeswarm.png", "SHAP summary (beeswarm): each dot a customer"),
                      ("shap_importance.png", "Mean |SHAP|: the model's top drivers overall")):
        png = _read_bytes(plots / name)
        if png is not None:
            images.append((cap, png))
    for p in sorted(plots.glob("shap_dependence_*.png")) if plots.is_dir() else []:
        png = _read_bytes(p)
        if png is not None:
            feat = p.stem.removeprefix("shap_dependence_")
            images.append((f"SHAP dependence: {catalog.label(feat)}", png))
    importance = None
    imp_csv = mdir / "shap_importance.csv"
    if imp_csv.exists():
        try:
            importance = pd.read_csv(imp_csv)
        except (OSError, ValueError):
            importance = None
    if images and importance is not None:
        return images, importance
    from churnmodel.explain import explain, global_importance

    sample = X.sample(min(len(X), 2000), random_state=0) if len(X) else X
    expl = explain(model, sample) if len(sample) else None
    if expl is None:
        notes.append(f"the champion ({model.name}) has no per-feature explanation (a rule): no SHAP.")
        return images, importance
    importance = global_importance(expl) if importance is None else importance
    if not images:
        from churnmodel.plots import shap_beeswarm_figure, shap_importance_figure

        notes.append(f"no SHAP figures in {plots}; drawn on {len(sample):,} customers active at "
                     "the report date.")
        images = [("SHAP summary (beeswarm): each dot a customer", _png(shap_beeswarm_figure(expl))),
                  ("Mean |SHAP|: the model's top drivers overall",
                   _png(shap_importance_figure(importance)))]
    return images, importance


def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
