"""The churn report as HTML: :data:`TEMPLATE` (Jinja2) filled with a :class:`ChurnReport`.

The template (``templates/report.html.j2``, which inlines ``templates/report.css``) holds the page:
its sections, headings and words. This module gives it the few helpers a template should
not spell out: number formats, escaped tables with right-aligned numbers, figures with
embedded PNGs. Every value is escaped (autoescape); images are base64 ``data:`` URIs, so
the page needs no file, font, stylesheet or script beside it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from churnmodel.files import atomic_write
from churnmodel.report.gather import METRIC_COLUMNS, SECTION_IDS

if TYPE_CHECKING:
    from churnmodel.report.gather import ChurnReport

TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE = "report.html.j2"

Fmt = Callable[[Any], str]


def num(x: Any, spec: str = ",.0f") -> str:
    """A number for a table cell: integers with thousands separators, floats by ``spec``.

    >>> num(1234), num(0.12345, ".3f"), num(None), num(float("nan"))
    ('1,234', '0.123', '', '')
    """
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


def pct(x: Any) -> str:
    """A share as a percentage with one decimal: ``pct(0.1234) == '12.3%'``."""
    return "" if x is None or pd.isna(x) else f"{float(x):.1%}"


def money(x: Any, currency: str = "") -> str:
    """An amount, whole units with thousands separators, followed by the currency code if any.

    >>> money(1234.5, "EUR"), money(1234.5), money(None, "EUR")
    ('1,234 EUR', '1,234', '')
    """
    text = num(float(x) if isinstance(x, int | np.integer) else x, ",.0f")
    return f"{text} {currency}" if text and currency else text


def _formatter(spec: str | Fmt, currency: str) -> Fmt:
    """A cell formatter by name (``int``, ``pct``, ``money``) or number format (``".3f"``)."""
    if callable(spec):
        return spec
    if spec == "int":
        return num
    if spec == "pct":
        return pct
    if spec == "money":
        return lambda v: money(v, currency)
    return lambda v: num(v, spec)


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def table(df: pd.DataFrame, fmt: Mapping[str, str | Fmt] | None = None,
          rename: Mapping[str, str] | None = None, row_class: Sequence[str] | None = None,
          wrap: Sequence[str] = (), currency: str = "", cls: str = "") -> Markup:
    """An HTML table: numbers right-aligned, every cell escaped.

    ``fmt`` maps a column to a formatter (see :func:`_formatter`); other numbers get three
    decimals. ``rename`` gives columns their header text; ``row_class`` a CSS class per
    row; ``wrap`` the columns whose text may wrap; ``cls`` a CSS class for the table.
    """
    fmts = {str(c): _formatter(f, currency) for c, f in (fmt or {}).items()}
    rename = rename or {}
    head = "".join(f"<th>{escape(rename.get(str(c), c))}</th>" for c in df.columns)
    body = []
    for i, (_, r) in enumerate(df.iterrows()):
        cells = []
        for c in df.columns:
            v = r[c]
            f = fmts.get(str(c))
            numeric = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            text = f(v) if f else (num(v, ",.3f") if numeric else ("" if _isna(v) else str(v)))
            cls = "n" if numeric else ("wrap" if c in wrap else "")
            cells.append(f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>")
        rc = f' class="{escape(row_class[i])}"' if row_class and row_class[i] else ""
        body.append(f"<tr{rc}>{''.join(cells)}</tr>")
    table_tag = f'<table class="{escape(cls)}">' if cls else "<table>"
    return Markup(f'<div class="scroll">{table_tag}<thead><tr>{head}</tr></thead>'
                  f"<tbody>{''.join(body)}</tbody></table></div>")


def figure(caption: str, png: bytes | None) -> Markup:
    """A captioned PNG embedded as a ``data:`` URI; a dashed placeholder when it is missing."""
    if png:
        data = base64.b64encode(png).decode("ascii")
        inner = f'<img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
    else:
        inner = f'<div class="missing">not drawn: {escape(caption)}</div>'
    return Markup(f"<figure>{inner}<figcaption>{escape(caption)}</figcaption></figure>")


@cache
def environment() -> Environment:
    """The Jinja2 environment of the report's templates (autoescaped, strict)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      extensions=["jinja2.ext.do"])
    env.filters.update(num=num, pct=pct, money=money)
    env.globals.update(table=table, figure=figure, nan=float("nan"), pct=pct)
    from churnmodel.report.lifetime import curve_table

    env.globals.update(curve_table=curve_table)
    return env


def render_html(report: ChurnReport, template: str = TEMPLATE) -> str:
    """The page of ``report`` (a :class:`~churnmodel.report.gather.ChurnReport`)."""
    from churnmodel import drift

    return environment().get_template(template).render(
        r=report, sections=SECTION_IDS, metric_names=dict(METRIC_COLUMNS),
        metric_fmt={c: ".4f" for c, _ in METRIC_COLUMNS}, summary_fmt=SUMMARY_FMT,
        drift_line=drift.summary_line,
        **page_tables(report))


# --- what the template shows beside the report's own fields --------------------------------

SUMMARY_FMT: dict[str, str] = {"share": "pct", "mean_probability": ".3f", "churn_rate": "pct",
                               "total_value": "int", "expected_value_at_risk": "int", "customers": "int"}


def summary_names(currency: str = "") -> dict[str, str]:
    """Column headers of the segment summaries; money columns name the currency if any."""
    unit = f" ({currency})" if currency else ""
    return {"mean_probability": "mean churn probability", "total_value": f"value{unit}",
            "expected_value_at_risk": f"expected value at risk{unit}", "churn_rate": "churn rate"}


def page_tables(report: ChurnReport) -> dict[str, Any]:
    """The tables the page derives from the report (segment overviews, the matrix by cell)."""
    from churnmodel.features import catalog
    from churnmodel.segmentation import BANDS, PROFILE_EXTRA_COLUMNS, segment_overview

    s = report.segments
    t, cl = s.table, s.clusters
    names = summary_names(report.currency)
    features = [c for c in cl.profiles.columns if c in cl.columns or c in PROFILE_EXTRA_COLUMNS]
    out: dict[str, Any] = {
        "summary_names": names,
        "rfm": segment_overview(t, "rfm_segment").reset_index().rename(
            columns={"rfm_segment": "RFM segment"}),
        "profiles": cl.profiles.reset_index(),
        "profile_fmt": {**{c: ",.1f" for c in features}, **SUMMARY_FMT, "size": "int",
                        "csat_mean": ".2f", "nps_mean": ".1f"},
        # the catalogue's plain names, not the column names (trend_90d)
        "profile_names": {"mean_probability": "mean churn probability", **names,
                          **{c: catalog.label(c) for c in features}},
        "silhouette": ", ".join(f"k={k}: {v:.3f}" for k, v in cl.silhouette.items()),
        "nps": None, "bands": BANDS, "risk_bands": [], "cells": {}, "by_action": None,
    }
    if "nps_group" in t.columns:
        out["nps"] = segment_overview(t, "nps_group").reset_index().rename(
            columns={"nps_group": "NPS group"})
    mx = s.matrix
    if mx is not None:
        out["risk_bands"] = [str(b) for b in mx["risk_band"].cat.categories]
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        for (risk, val), g in mx.groupby(["risk_band", "value_band"], observed=False):
            acts = g[g["customers"] > 0].sort_values("customers", ascending=False)
            cells[(str(risk), str(val))] = {
                "customers": int(g["customers"].sum()), "total_value": float(g["total_value"].sum()),
                "expected_value_at_risk": float(g["expected_value_at_risk"].sum()),
                "main": str(acts["action"].iloc[0]) if len(acts) else "none",
                "actions": " · ".join(f"{a} {n:,}" for a, n in zip(acts["action"], acts["customers"],
                                                                    strict=True))}
        out["cells"] = cells
        out["by_action"] = mx.groupby("action", observed=False)[
            ["customers", "total_value", "expected_value_at_risk"]].sum().reset_index()
    return out


def write_report(report: ChurnReport | str, path: str | Path) -> Path:
    """Write the page (a :class:`ChurnReport` or its HTML) atomically; creates the directory."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = report if isinstance(report, str) else render_html(report)
    return atomic_write(p, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def skip_report(model_dir: str | Path, report_path: str | Path) -> str:
    """A training without its report (``[output] report = false``): remove the figures and
    the page the replaced model left, so that neither passes for the new model's, and say so.
    """
    import shutil

    stale = [p for p in (Path(model_dir) / "plots", Path(report_path)) if p.exists()]
    for p in stale:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return ("report: not written ([output] report = false or --no-report); `churnmodel report` "
            "writes it" + (f"; removed the replaced model's {', '.join(map(str, stale))}"
                           if stale else ""))
