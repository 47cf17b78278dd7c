"""The snapshot-mode HTML report: one self-contained page (images embedded, no scripts).

Sections: the headline, every candidate's cross-validated metrics with ROC and
calibration curves, the column typing decisions, the drivers (SHAP), and the customers
scored, riskiest first, with their drivers in sentences.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import pandas as pd

from churnmodel.files import atomic_write
from churnmodel.report.render import figure, table

SECTION_IDS = ("headline", "candidates", "typing", "drivers", "customers")
CSS = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.5rem}img{max-width:520px}.scroll{overflow-x:auto}
.kpi{display:inline-block;margin:0 2rem 1rem 0}.kpi b{display:block;font-size:1.5rem}
figcaption{font-size:.8rem;color:#555}"""


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def snapshot_figures(oof: pd.DataFrame, champion: str, importance: pd.DataFrame | None
                     ) -> dict[str, bytes]:
    """ROC and calibration curves of every candidate out of fold, and the SHAP ranking."""
    from churnmodel.plots import calibration_figure, roc_figure, shap_importance_figure

    pred = oof.drop(columns=["customer_id"]).rename(columns=lambda c: c.removeprefix("p_"))
    out = {}
    fig = roc_figure(pred, champion)
    fig.axes[0].set_title("ROC (out of fold)")
    out["roc"] = _png(fig)
    fig = calibration_figure(pred, champion)
    fig.axes[0].set_title("Calibration (out of fold)")
    out["calibration"] = _png(fig)
    if importance is not None and importance["mean_abs_shap"].sum() > 0:
        out["shap"] = _png(shap_importance_figure(importance))
    return out


def render_snapshot_report(model_info: dict, scores: pd.DataFrame, which: str,
                           importance: pd.DataFrame | None, figures: dict[str, bytes],
                           source: str) -> str:
    """The page as an HTML string."""
    cv = pd.DataFrame(model_info.get("cv", {})).T.reset_index(names="candidate")
    champion = model_info.get("champion", "")
    sc = model_info.get("scoring", {})
    risk = scores[scores["at_risk"]]
    auc = cv.loc[cv["candidate"] == champion, "roc_auc"]
    kpis = [("customers scored", f"{len(scores):,}"), ("at risk", f"{len(risk):,}"),
            ("mean churn probability", f"{scores['churn_probability'].mean():.3f}"),
            ("champion", champion),
            ("cross-validated ROC AUC", f"{float(auc.iloc[0]):.3f}" if len(auc) else "n/a")]
    typing = pd.DataFrame(model_info["typing"]["columns"])[["column", "kind", "reason"]]
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Churn report "
             f"(snapshot)</title><style>{CSS}</style></head><body>",
             "<h1>Churn report — snapshot mode</h1>",
             f'<section id="headline"><p>Customers of {html.escape(source)}: '
             f"{html.escape(which)}. At risk: p &ge; {sc.get('threshold', 0.5):.3f} "
             f"({html.escape(str(sc.get('rule', '')))}).</p>"
             + "".join(f'<div class="kpi"><b>{html.escape(v)}</b>{html.escape(k)}</div>'
                       for k, v in kpis) + "</section>",
             '<section id="candidates"><h2>Candidates (stratified '
             f"{html.escape(str(model_info.get('folds', '')))}-fold cross-validation, calibrated "
             "out of fold)</h2>",
             str(table(cv[["candidate", "roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile",
                           "base_rate", "n"]], fmt={"n": "int", "base_rate": ".3f"},
                       rename={"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "log_loss": "log loss",
                               "lift_top_decile": "lift@10%", "base_rate": "churn rate"})),
             str(figure("ROC curves out of fold", figures.get("roc"))),
             str(figure("Calibration out of fold", figures.get("calibration"))), "</section>",
             '<section id="typing"><h2>Columns</h2>', str(table(typing, wrap=["reason"])),
             "</section>", '<section id="drivers"><h2>What drives churn risk (SHAP)</h2>']
    if importance is not None:
        parts += [str(table(importance.head(15)[["feature", "mean_abs_shap", "share"]],
                            fmt={"share": "pct", "mean_abs_shap": ".4f"})),
                  str(figure("Mean |SHAP| per column", figures.get("shap")))]
    else:
        parts.append(f"<p>The champion ({html.escape(champion)}) is a single-column rule: "
                     "nothing to explain per column.</p>")
    parts.append("</section>")
    cols = ["customer_id", "churn_probability", "risk_band"] + [
        c for c in ("driver_1_sentence", "driver_2_sentence", "driver_3_sentence") if c in scores]
    top = risk.head(50)[cols].assign(risk_band=lambda d: d["risk_band"].astype(str))
    parts += ['<section id="customers"><h2>Customers at risk (riskiest 50)</h2>',
              str(table(top, fmt={"churn_probability": ".3f"}, wrap=cols[3:]))
              if len(top) else "<p>Nobody is at risk.</p>", "</section></body></html>"]
    return "\n".join(parts)


def write_snapshot_report(page: str, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(p, lambda tmp: tmp.write_text(page, encoding="utf-8"))
