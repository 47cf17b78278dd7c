"""The churn report: one self-contained HTML page a retention manager can open.

The pieces, each usable on its own:

* :func:`customer_segments` — every active customer at a date with RFM segment, behavioural
  cluster, NPS group and (with a model) churn probability, value band and action: what
  ``churnmodel segment`` writes and the report's segment tables are made of;
* :func:`segment_metrics` — the model's ROC AUC, churn rate and mean probability per RFM
  segment and NPS group on the test cutoff, so a user sees where the model is weak;
* :func:`churn_report` — gathers everything the page shows (:class:`ChurnReport`);
  :meth:`ChurnReport.to_html` renders it with the standard library only (images embedded
  as base64 PNG, no external CSS, JavaScript or fonts) and :func:`write_report` writes it
  atomically;
* :func:`find_chromium` / :func:`render_in_chromium` — load a page in headless Chromium
  (Debian package ``chromium``): the DOM after load, console messages and a screenshot.

Every section of the page is a ``<section id="...">`` with a stable id
(:data:`SECTION_IDS`) so tests and links can find it.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnmodel import drift
from churnmodel.config import Config
from churnmodel.data.tables import Tables
from churnmodel.errors import ChurnModelError, DataError
from churnmodel.features import available_builders, catalog
from churnmodel.files import atomic_write
from churnmodel.scoring import customer_value
from churnmodel.segmentation import (
    BANDS,
    ClusterResult,
    behaviour_clusters,
    nps_groups,
    rfm_scores,
    risk_value_matrix,
    segment_summary,
    segment_table,
)
from churnmodel.training_set import cutoff_frame

if TYPE_CHECKING:
    from churnmodel.modeling.model import ChurnModel

SECTION_IDS = ("headline", "metrics", "curves", "drivers", "segments", "segment-metrics",
               "risk-value", "coverage")
REPORT_FILE = "churn_report.html"
#: Training figures shown in the "curves" section, in order: file name in ``<model>/plots``, caption.
CURVE_PLOTS = (
    ("roc.png", "ROC curve on the test cutoff"),
    ("pr.png", "Precision-recall on the test cutoff"),
    ("calibration.png", "Calibration: predicted probability vs observed churn rate"),
    ("gains_lift.png", "Cumulative gains and lift"),
    ("profit_curve.png", "Retention-campaign profit curve (validation cutoff) and the at-risk threshold"),
)
METRIC_COLUMNS = (("roc_auc", "ROC AUC"), ("pr_auc", "PR AUC"), ("brier", "Brier"),
                  ("log_loss", "log loss"), ("lift_top_decile", "lift@10%"),
                  ("capture_top_decile", "capture@10%"))
_MIN_SEGMENT = 20  # fewer test customers than this: no per-segment AUC (too noisy to read)


# ------------------------------------------------------------------------------ segments

@dataclass(frozen=True)
class Segments:
    """Every segmentation of the customers active at ``as_of`` (:func:`customer_segments`).

    ``features``: the feature frame (one row per customer); ``table``: the
    :func:`~churnmodel.segmentation.segment_table` plus ``value`` (what keeping the
    customer is worth, :func:`~churnmodel.scoring.customer_value`); ``clusters``: the
    behavioural clusters and their profiles; ``matrix``: the nine-cell risk x value summary
    and ``scores``: probabilities, at-risk flags and drivers (both ``None`` without a model).
    """

    as_of: pd.Timestamp
    features: pd.DataFrame
    table: pd.DataFrame
    clusters: ClusterResult
    matrix: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None


def customer_segments(tables: Tables, as_of: pd.Timestamp | str, cfg: Config,
                      model: ChurnModel | None = None, explain: bool = False) -> Segments:
    """RFM segments, clusters, NPS groups and (with ``model``) risk x value at ``as_of``.

    With a model, features are the model's own (:meth:`ChurnModel.features`) and scored
    with it (:func:`~churnmodel.scoring.score_frame`; ``explain`` adds drivers for the
    customers at risk). Without one, every configured builder whose tables are present
    builds the features of the customers active at ``as_of``. Only events dated on or
    before ``as_of`` are seen.
    """
    as_of = pd.Timestamp(as_of).normalize()
    if model is not None:
        X = model.features(tables, as_of)
    else:
        builders = available_builders(tables, cfg.features.builders)
        X = cutoff_frame(tables.until(as_of), as_of, builders, cfg.labels.horizon_days,
                         cfg.labels.activity_lookback_days, with_labels=False).droplevel("cutoff")
    if len(X) == 0:
        raise DataError("transactions", "ts", f"has no customer active at {as_of.date()} (a purchase "
                        f"in the {cfg.labels.activity_lookback_days} days up to it)",
                        "pick an --as-of date inside the history")
    value = customer_value(tables, as_of, X.index, cfg.scoring.value_window_days)
    scores = matrix = p = None
    if model is not None:
        from churnmodel.scoring import score_frame

        scores = score_frame(model, X, explain=explain)
        p = scores["churn_probability"]
    clusters = behaviour_clusters(X if p is None else X.assign(churn_probability=p), cfg.segments)
    table = segment_table(X, p, value, cfg.segments, clusters)
    if p is None:
        table["value"] = value.astype("float64")
    else:
        matrix = risk_value_matrix(p, value)[1]
    return Segments(as_of, X, table, clusters, matrix, scores)


def segment_overview(table: pd.DataFrame, by: str = "rfm_segment") -> pd.DataFrame:
    """:func:`~churnmodel.segmentation.segment_summary` plus expected value at risk per segment.

    ``expected_value_at_risk`` is the sum of probability x value (with a churn probability).
    """
    out = segment_summary(table, by)
    if "churn_probability" in table.columns and "value" in table.columns:
        evr = (table["churn_probability"] * table["value"]).groupby(table[by], observed=False).sum()
        out["expected_value_at_risk"] = evr.reindex(out.index).fillna(0.0)
    return out


# ------------------------------------------------------------------ per-segment metrics

def segment_metrics(model: ChurnModel, tables: Tables, cutoff: pd.Timestamp | str,
                    min_customers: int = _MIN_SEGMENT) -> pd.DataFrame:
    """How well the model ranks churners within each RFM segment and NPS group at ``cutoff``.

    The population, features and labels are those of training (active at ``cutoff``,
    labels from the ``horizon_days`` after it: :func:`~churnmodel.labels.churn_labels`), so
    with the test cutoff of ``metrics.json`` the "all customers" row repeats the test ROC
    AUC. ``tables`` must reach the end of the label window.

    Returns one row per group: ``grouping, segment, customers, churn_rate,
    mean_probability, roc_auc, note``. A segment whose customers all churned (or none did)
    has no AUC (the note says so), nor has one with fewer than ``min_customers``.
    """
    from sklearn.metrics import roc_auc_score

    from churnmodel.labels import churn_labels

    cutoff = pd.Timestamp(cutoff).normalize()
    X = model.features(tables, cutoff)
    y = churn_labels(tables, cutoff, X.index, model.horizon_days).astype("float64")
    p = pd.Series(model.predict_proba(X), index=X.index)
    groups: list[tuple[str, pd.Series]] = [("all customers", pd.Series("all", index=X.index))]
    groups.append(("RFM segment", rfm_scores(X)["rfm_segment"]))
    if "nps_last" in X.columns or "nps_mean" in X.columns:
        groups.append(("NPS group", nps_groups(X)))
    rows = []
    for grouping, seg in groups:
        levels = seg.cat.categories if isinstance(seg.dtype, pd.CategoricalDtype) else seg.unique()
        for level in levels:
            mask = (seg == level).to_numpy()
            n = int(mask.sum())
            if n == 0:
                continue
            yy, pp = y.to_numpy()[mask], p.to_numpy()[mask]
            auc, note = np.nan, ""
            if yy.min() == yy.max():
                note = f"one class only ({'all churned' if yy[0] else 'nobody churned'}): no AUC"
            elif n < min_customers:
                note = f"fewer than {min_customers} customers: no AUC"
            else:
                auc = float(roc_auc_score(yy, pp))
            rows.append({"grouping": grouping, "segment": str(level), "customers": n,
                         "churn_rate": float(yy.mean()), "mean_probability": float(pp.mean()),
                         "roc_auc": auc, "note": note})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the report

@dataclass
class ChurnReport:
    """Everything the HTML page shows; :meth:`to_html` renders it."""

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

    def to_html(self) -> str:
        return _render(self)


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
    value = segs.table["value"]
    at_risk = scores["at_risk"].to_numpy()
    evr = scores["churn_probability"] * value
    m = metrics_json.get("model", {})
    headline: dict[str, Any] = {
        "customers": len(scores), "at_risk": int(at_risk.sum()),
        "at_risk_share": float(at_risk.mean()) if len(scores) else 0.0,
        "threshold": threshold, "threshold_rule": sc.get("rule", "default"),
        "value_at_risk": float(evr[at_risk].sum()), "value_at_risk_all": float(evr.sum()),
        "mean_probability": float(scores["churn_probability"].mean()),
        "save_now": int((segs.table["action"] == "save now").sum()) if "action" in segs.table else 0,
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
                                                  "test_cutoff", "rows")}
    info = {"test_cutoff": metrics_json.get("test_cutoff"), "base_rate": m.get("base_rate"),
            "n": m.get("n"), "horizon_days": model.horizon_days, "rule": sc.get("rule"),
            "validation": metrics_json.get("validation", {})}
    return ChurnReport(as_of=as_of, model_name=str(m.get("name", model.name)), headline=headline,
                       metrics=metrics, metrics_info=info, curves=curves, shap_images=shap_images,
                       importance=importance, drivers=drivers, segments=segs,
                       segment_metrics=seg_metrics, coverage=data_coverage(tables),
                       training=training, notes=notes,
                       drift=measured[0] if measured else None,
                       drift_cutoff=measured[1] if measured else None)


def write_report(report: ChurnReport | str, path: str | Path) -> Path:
    """Write the page (a :class:`ChurnReport` or its HTML) atomically; creates the directory."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = report if isinstance(report, str) else report.to_html()
    return atomic_write(p, lambda tmp: tmp.write_text(text, encoding="utf-8"))


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
    lift_top_decile, capture_top_decile``.
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


# ------------------------------------------------------------------------------ rendering

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
 color:#1f2933;background:#f5f7fa;line-height:1.45}
header{background:#243b53;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:24px} header p{margin:4px 0 0;color:#d9e2ec}
nav{padding:8px 32px;background:#334e68} nav a{color:#f0f4f8;margin-right:16px;font-size:14px}
main{padding:8px 32px 40px;max-width:1400px}
section{background:#fff;border-radius:8px;padding:16px 24px;margin:18px 0;
 box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{margin-top:0;font-size:20px;color:#243b53} h3{font-size:16px;color:#334e68;margin-bottom:6px}
.cards{display:flex;flex-wrap:wrap;gap:14px}
.card{flex:1 1 200px;border:1px solid #d9e2ec;border-radius:8px;padding:12px 16px}
.card .v{font-size:26px;font-weight:600;color:#102a43} .card .l{font-size:13px;color:#52606d}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
th,td{padding:4px 10px;border-bottom:1px solid #e4e7eb;text-align:left;white-space:nowrap}
th{background:#f0f4f8;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{white-space:normal;max-width:520px}
tr.champion td{font-weight:600;background:#f0fff4} tr.oracle td{color:#52606d;font-style:italic}
.figs{display:flex;flex-wrap:wrap;gap:16px} figure{margin:0;flex:0 1 560px;max-width:570px}
figure img{width:100%;height:auto;border:1px solid #e4e7eb}
figcaption{font-size:12px;color:#52606d;max-width:560px}
.missing{border:1px dashed #bcccdc;padding:40px 20px;color:#829ab1;font-size:13px}
.note{font-size:13px;color:#8d2b0b;background:#fffbea;border-left:3px solid #f0b429;padding:4px 10px;
 margin:4px 0}
.muted{color:#52606d;font-size:13px}
table.matrix td{width:150px;height:70px;vertical-align:top;white-space:normal;border:2px solid #fff}
table.matrix th{text-align:center}
.a-save-now{background:#ffe3e3} .a-nurture{background:#e3f8ff} .a-monitor{background:#f0f4f8}
.a-let-go{background:#fff3c4}
.act{font-weight:600;display:block}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: Any, spec: str = ",.0f") -> str:
    if x is None:
        return ""
    try:
        if pd.isna(x):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(x, int | np.integer):
        return f"{int(x):,}"
    if isinstance(x, float | np.floating):
        return format(float(x), spec)
    if isinstance(x, pd.Timestamp):
        return str(x.date()) if x == x.normalize() else str(x)
    return str(x)


def _pct(x: Any) -> str:
    return "" if x is None or pd.isna(x) else f"{float(x):.1%}"


Fmt = Callable[[Any], str]


def _table(df: pd.DataFrame, fmt: Mapping[str, Fmt] | None = None,
           rename: Mapping[str, str] | None = None, row_class: Sequence[str] | None = None,
           wrap: Sequence[str] = ()) -> str:
    """An HTML table: numbers right-aligned, every cell escaped."""
    fmt, rename = fmt or {}, rename or {}
    head = "".join(f"<th>{_e(rename.get(str(c), c))}</th>" for c in df.columns)
    body = []
    for i, (_, r) in enumerate(df.iterrows()):
        cells = []
        for c in df.columns:
            v = r[c]
            f = fmt.get(str(c))
            numeric = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            text = f(v) if f else (_num(v, ",.3f") if numeric else ("" if _isna(v) else str(v)))
            cls = "n" if numeric else ("wrap" if c in wrap else "")
            cells.append(f'<td class="{cls}">{_e(text)}</td>' if cls else f"<td>{_e(text)}</td>")
        rc = f' class="{_e(row_class[i])}"' if row_class and row_class[i] else ""
        body.append(f"<tr{rc}>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _figure(caption: str, png: bytes | None) -> str:
    inner = _img(png, caption) if png else f'<div class="missing">not drawn: {_e(caption)}</div>'
    return f"<figure>{inner}<figcaption>{_e(caption)}</figcaption></figure>"


def _notes(notes: Sequence[str]) -> str:
    return "".join(f'<p class="note">{_e(n)}</p>' for n in notes)


def _card(value: str, label: str) -> str:
    return f'<div class="card"><div class="v">{_e(value)}</div><div class="l">{_e(label)}</div></div>'


def _section(sid: str, title: str, body: str, notes: Sequence[str] = ()) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>{_notes(notes)}{body}</section>'


def _render(r: ChurnReport) -> str:
    parts = [_headline(r), _metrics_section(r), _curves_section(r), _drivers_section(r),
             _segments_section(r), _segment_metrics_section(r), _risk_value_section(r),
             _coverage_section(r)]
    nav = "".join(f'<a href="#{s}">{_e(s.replace("-", " "))}</a>' for s in SECTION_IDS)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Churn report {r.as_of.date()}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Churn report — customers active on {r.as_of.date()}</h1>"
        f"<p>model: {_e(r.model_name)} · churn = no purchase in the {r.metrics_info['horizon_days']} "
        "days after the date · made by <code>churnmodel report</code></p></header>"
        f"<nav>{nav}</nav><main>{''.join(parts)}</main></body></html>\n")


def _headline(r: ChurnReport) -> str:
    h = r.headline
    auc = h["test_auc"]
    auc_text = f"{auc:.3f}" if auc is not None else "n/a"
    oracle = h["oracle_auc"]
    vs = f"oracle {oracle:.3f} (gap {oracle - auc:.3f})" if oracle is not None and auc is not None \
        else "no oracle (real data)"
    best = h["best_baseline"]
    base = f"; best baseline {best[0]} {best[1]:.3f}" if best else ""
    cards = "".join([
        _card(f"{h['customers']:,}", f"active customers scored on {r.as_of.date()}"),
        _card(f"{h['at_risk']:,}", f"at risk ({h['at_risk_share']:.1%}; p ≥ {h['threshold']:.3f})"),
        _card(f"{h['value_at_risk']:,.0f}",
              f"expected value at risk among them (of {h['value_at_risk_all']:,.0f} in all)"),
        _card(auc_text, f"test ROC AUC ({h['test_cutoff'] or '?'}) vs {vs}{base}"),
        _card(f"{h['save_now']:,}", "customers to save now (risk × value matrix)"),
    ])
    text = (f'<p class="muted">Threshold rule: {_e(h["threshold_rule"])}. Mean churn probability '
            f"{h['mean_probability']:.3f}. Value = net spend over the last year (or the customers "
            "table's value column); expected value at risk = probability × value.</p>")
    return _section("headline", "Headline", f'<div class="cards">{cards}</div>{text}',
                    r.notes.get("headline", []))


def _metrics_section(r: ChurnReport) -> str:
    m = r.metrics
    info = r.metrics_info
    body = ""
    if len(m):
        rename = dict(METRIC_COLUMNS)
        classes = ["champion" if str(x).startswith("model") else "oracle" if str(x).startswith("oracle")
                   else "" for x in m[""]]
        fmt: dict[str, Fmt] = {c: (lambda v: _num(v, ".4f")) for c, _ in METRIC_COLUMNS}
        body = _table(m, fmt, rename, classes)
        val = info.get("validation") or {}
        if val:
            body += ('<p class="muted">Champion chosen on validation ROC AUC: '
                     + ", ".join(f"{_e(k)} {v.get('roc_auc', float('nan')):.4f}" for k, v in val.items())
                     + ".</p>")
        base = info.get("base_rate")
        body = (f'<p class="muted">Test cutoff {_e(info.get("test_cutoff"))}: {_num(info.get("n"))} '
                f"active customers, churn rate {_pct(base)} within {info['horizon_days']} days. "
                "Every candidate was fitted on the training cutoffs, calibrated on validation and is "
                "scored here on the same later cutoff; the oracle (synthetic data only) is the true "
                "probability: the ceiling any model can reach.</p>" + body)
    return _section("metrics", "Model vs baselines vs oracle (test cutoff)", body,
                    r.notes.get("metrics", []))


def _curves_section(r: ChurnReport) -> str:
    figs = "".join(_figure(cap, png) for cap, png in r.curves)
    return _section("curves", "ROC, precision-recall, calibration, lift and profit",
                    f'<div class="figs">{figs}</div>', r.notes.get("curves", []))


def _drivers_section(r: ChurnReport) -> str:
    figs = "".join(_figure(cap, png) for cap, png in r.shap_images)
    body = f'<div class="figs">{figs}</div>'
    d = r.drivers
    n_risk = r.headline["at_risk"]
    body += f"<h3>Top drivers among the {n_risk:,} customers at risk</h3>"
    if len(d):
        body += _table(d.drop(columns=["feature"]),
                       {"share": _pct, "customers": _num, "first": _num},
                       {"label": "driver", "customers": "customers with it in their top drivers",
                        "share": "share of at risk", "first": "as #1 driver",
                        "sentence": "most frequent sentence"}, wrap=["sentence"])
    else:
        body += '<p class="muted">No customer is at risk, or the champion has no drivers.</p>'
    if r.importance is not None and len(r.importance):
        imp = r.importance.head(10)[["label", "mean_abs_shap", "share"]]
        body += "<h3>Global importance (mean |SHAP|, log-odds)</h3>" + _table(
            imp, {"mean_abs_shap": lambda v: _num(v, ".3f"), "share": _pct},
            {"label": "feature", "mean_abs_shap": "mean |SHAP|", "share": "share of total"})
    return _section("drivers", "Why: SHAP summary and top drivers", body, r.notes.get("drivers", []))


_SUMMARY_FMT: dict[str, Fmt] = {"share": _pct, "mean_probability": lambda v: _num(v, ".3f"),
                                "churn_rate": _pct, "total_value": _num,
                                "expected_value_at_risk": _num, "customers": _num}
_SUMMARY_NAMES = {"mean_probability": "mean churn probability", "total_value": "value",
                  "expected_value_at_risk": "expected value at risk", "churn_rate": "churn rate"}


def _segments_section(r: ChurnReport) -> str:
    s = r.segments
    t = s.table
    rfm = segment_overview(t, "rfm_segment").reset_index().rename(columns={"rfm_segment": "RFM segment"})
    body = ('<h3>RFM segments</h3><p class="muted">Recency, frequency and monetary quintiles among the '
            "active customers; named by the standard R × FM map.</p>"
            + _table(rfm, _SUMMARY_FMT, _SUMMARY_NAMES))
    cl = s.clusters
    prof = cl.profiles.reset_index()
    fmt: dict[str, Fmt] = {c: (lambda v: _num(v, ",.1f")) for c in cl.columns}
    fmt.update(_SUMMARY_FMT)
    fmt.update({"size": _num, "mean_csat": lambda v: _num(v, ".2f"), "mean_nps": lambda v: _num(v, ".1f")})
    sil = ", ".join(f"k={k}: {v:.3f}" for k, v in cl.silhouette.items())
    body += ("<h3>Behavioural clusters</h3>"
             f'<p class="muted">k-means on scaled, log-transformed behaviour and satisfaction features; '
             f"k = {cl.k} has the highest silhouette on a sample ({_e(sil)}). Medians per cluster; "
             "names from the most distinctive features.</p>"
             + _table(prof, fmt, {"mean_probability": "mean churn probability", **_SUMMARY_NAMES}))
    if "nps_group" in t.columns:
        nps = segment_overview(t, "nps_group").reset_index().rename(columns={"nps_group": "NPS group"})
        body += ('<h3>NPS groups</h3><p class="muted">By the last NPS answer: promoter 9–10, passive '
                 "7–8, detractor 0–6.</p>" + _table(nps, _SUMMARY_FMT, _SUMMARY_NAMES))
    return _section("segments", "Who: segments", body, r.notes.get("segments", []))


def _segment_metrics_section(r: ChurnReport) -> str:
    body = ""
    sm = r.segment_metrics
    if sm is not None and len(sm):
        body = ('<p class="muted">The model on the test cutoff, per segment of that date: where it '
                "ranks churners well and where it does not. Churn rate is observed; mean probability "
                "is predicted.</p>"
                + _table(sm.drop(columns=["note"]),
                         {"churn_rate": _pct, "mean_probability": lambda v: _num(v, ".3f"),
                          "roc_auc": lambda v: _num(v, ".3f"), "customers": _num},
                         {"roc_auc": "ROC AUC", **_SUMMARY_NAMES}))
    return _section("segment-metrics", "Model quality and churn rate per segment (test cutoff)", body,
                    r.notes.get("segment-metrics", []))


def _risk_value_section(r: ChurnReport) -> str:
    mx = r.segments.matrix
    if mx is None:
        return _section("risk-value", "Risk × value: whom to save first", "",
                        ["no churn probabilities: no matrix"])
    cells = {(str(row.risk_band), str(row.value_band)): row for row in mx.itertuples()}
    head = "".join(f"<th>{b} value</th>" for b in BANDS)
    rows = []
    for risk in reversed(BANDS):
        tds = []
        for val in BANDS:
            c = cells[(risk, val)]
            act = str(c.action)
            tds.append(f'<td class="a-{act.replace(" ", "-")}"><span class="act">{_e(act)}</span>'
                       f"{c.customers:,} customers<br>value {c.total_value:,.0f}<br>"
                       f"at risk {c.expected_value_at_risk:,.0f}</td>")
        rows.append(f"<tr><th>{risk} risk</th>{''.join(tds)}</tr>")
    grid = (f'<table class="matrix"><thead><tr><th></th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")
    by_action = mx.groupby("action", observed=False)[["customers", "total_value",
                                                        "expected_value_at_risk"]].sum().reset_index()
    body = ('<p class="muted">Risk: p &lt; 0.2 low, 0.2–0.5 medium, ≥ 0.5 high. Value: up to the median '
            "low, up to the 80th percentile medium, above high. <b>save now</b>: a retention offer "
            "worth its cost; <b>nurture</b>: engagement and loyalty care; <b>monitor</b>: watch the "
            "score; <b>let go</b>: no paid offer.</p>" + grid
            + "<h3>By action</h3>" + _table(by_action, _SUMMARY_FMT, _SUMMARY_NAMES))
    return _section("risk-value", "Risk × value: whom to save first", body, r.notes.get("risk-value", []))


def _coverage_section(r: ChurnReport) -> str:
    cov = r.coverage
    body = _table(cov, {"rows": _num, "customers": _num, "first": _num, "last": _num, "filled": _pct},
                  {"column": "date column", "filled": "non-missing"})
    t = r.training
    if t.get("test_cutoff"):
        tc = t.get("train_cutoffs") or []
        rows = t.get("rows") or {}
        body += ("<h3>Training windows</h3>"
                 f'<p class="muted">Trained as of {_e(t.get("as_of"))}: {len(tc)} training cutoffs '
                 f"{_e(tc[0] if tc else '?')} … {_e(tc[-1] if tc else '?')} ({_num(rows.get('train'))} "
                 f"rows), validation {_e(t.get('valid_cutoff'))} ({_num(rows.get('valid'))}), test "
                 f"{_e(t.get('test_cutoff'))} ({_num(rows.get('test'))}). Features see only events on or "
                 "before a cutoff; labels only the horizon after it.</p>")
    if r.drift is not None:
        top = r.drift.head(10)
        body += (f"<h3>Feature drift since the validation cutoff</h3>"
                 f'<p class="muted">{_e(drift.summary_line(r.drift, r.drift_cutoff or "training"))}. '
                 "Population stability index of each feature, customers active at "
                 f"{_e(r.as_of.date())} against the validation cutoff the model was chosen on: "
                 "below 0.1 stable, 0.1-0.25 moderate, above 0.25 major (retrain, or check the "
                 f"data feeding that feature). The {len(top)} largest of {len(r.drift)}:</p>"
                 + _table(top[["feature", "psi", "level", "biggest_move"]],
                          {"psi": lambda x: _num(x, ",.3f")},
                          {"biggest_move": "largest move (bin: then -> now)"}))
    return _section("coverage", "Data coverage and drift", body, r.notes.get("coverage", []))


# ------------------------------------------------------------------------------ Chromium

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) binary on ``PATH``, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass(frozen=True)
class Rendered:
    """A page loaded in headless Chromium: the DOM after load, console lines, screenshot path."""

    dom: str
    console: list[str]
    screenshot: Path | None


_CONSOLE = re.compile(r":CONSOLE[:(]")


def render_in_chromium(page: str | Path, screenshot: str | Path | None = None,
                       window: tuple[int, int] = (1280, 4000), timeout: float = 120,
                       binary: str | None = None) -> Rendered:
    """Load ``page`` (a local HTML file) in headless Chromium.

    Returns the DOM after the load event (``--dump-dom``), every console message the page
    produced (``--enable-logging=stderr``: errors, uncaught exceptions, failed loads) and,
    with ``screenshot``, a PNG of the first ``window`` pixels. Raises
    :class:`ChurnModelError` when no Chromium is installed (Debian: ``apt-get install
    chromium``) or it fails.
    """
    exe = binary or find_chromium()
    if exe is None:
        raise ChurnModelError("no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES)
                              + " on PATH); install it, e.g. `sudo apt-get install -y chromium`.")
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="churnmodel-chromium-") as profile:
        base = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
                "--enable-logging=stderr", "--v=0", f"--window-size={window[0]},{window[1]}"]
        dom = _run_chromium([*base, "--dump-dom", url], timeout)
        shot = None
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            shot.parent.mkdir(parents=True, exist_ok=True)
            _run_chromium([*base, f"--screenshot={shot}", url], timeout)
            if not shot.exists():
                raise ChurnModelError(f"Chromium did not write the screenshot {shot}.")
    console = [ln for ln in dom.stderr.splitlines() if _CONSOLE.search(ln)]
    return Rendered(dom=dom.stdout, console=console, screenshot=shot)


def _run_chromium(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ChurnModelError(f"Chromium did not finish within {timeout:.0f}s: {' '.join(cmd)}") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ChurnModelError(f"Chromium exited with status {proc.returncode}:\n{tail}")
    return proc
