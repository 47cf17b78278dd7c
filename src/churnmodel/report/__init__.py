"""The churn report: one self-contained HTML page a retention manager can open.

Three rooms:

* :mod:`~churnmodel.report.gather` — :func:`churn_report` gathers every number, table and
  figure the page shows into a :class:`ChurnReport` (plus :func:`top_drivers`,
  :func:`data_coverage`, :func:`metrics_frame`, each usable on its own);
* :mod:`~churnmodel.report.render` — :func:`render_html` fills the Jinja2 template
  ``templates/report.html.j2`` (images embedded as base64 PNG, no external CSS, JavaScript
  or fonts) and :func:`write_report` writes the page atomically;
* :mod:`~churnmodel.report.browser` — :func:`find_chromium` / :func:`render_in_chromium`
  load a page in headless Chromium (Debian package ``chromium``): the DOM after load,
  console messages and a screenshot.

The segments the page shows are computed by :func:`churnmodel.scoring.customer_segments`
and :mod:`churnmodel.segmentation`; their names stay importable from here. Every section
of the page is a ``<section id="...">`` with a stable id (:data:`SECTION_IDS`) so tests
and links can find it.
"""

from churnmodel.report.browser import CHROMIUM_NAMES, Rendered, find_chromium, render_in_chromium
from churnmodel.report.gather import (
    CURVE_PLOTS,
    METRIC_COLUMNS,
    REPORT_FILE,
    SECTION_IDS,
    ChurnReport,
    churn_report,
    data_coverage,
    metrics_frame,
    top_drivers,
)
from churnmodel.report.render import render_html, skip_report, write_report
from churnmodel.scoring import Segments, customer_segments
from churnmodel.segmentation import segment_metrics, segment_overview

__all__ = ["CHROMIUM_NAMES", "CURVE_PLOTS", "METRIC_COLUMNS", "REPORT_FILE", "SECTION_IDS",
           "ChurnReport", "Rendered", "Segments", "churn_report", "customer_segments",
           "data_coverage", "find_chromium", "metrics_frame", "render_html", "render_in_chromium",
           "segment_metrics", "segment_overview", "skip_report", "top_drivers", "write_report"]
