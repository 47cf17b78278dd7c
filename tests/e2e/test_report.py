"""The HTML report and the segment command, end to end through the real command line.

`churnmodel train` writes the report; the page is loaded in headless Chromium (Debian package
`chromium`, installed by ``make test`` and .ci/run through scripts/ensure-chromium) and must
show every section and every image without a console error. Without Chromium the three browser
tests skip with how to install it, except under ``CI=true``, where they fail: CI must see the
page, not assume it.
"""

from __future__ import annotations

import base64
import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.data.io import load_default_tables
from churnmodel.labels import active_customers
from churnmodel.report import SECTION_IDS, find_chromium, render_in_chromium

import cli_process

AS_OF = "2025-11-30"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return cli_process.run(*args, cwd=cwd, unset=())


@pytest.fixture(scope="module")
def project(tmp_path_factory, small_data_dir) -> Path:
    """A project on the 2,000-customer synthetic set, trained by `churnmodel train` (no MLflow)."""
    d = tmp_path_factory.mktemp("report_project")
    (d / "config.toml").write_text(
        f'[data]\ndir = "{small_data_dir}"\n'
        "[training]\nn_cutoffs = 8\n[model]\nn_estimators = 150\nearly_stopping_rounds = 30\n"
        '[output]\nmodel_dir = "model"\nreport_dir = "reports"\n'
        "[tracking]\nenabled = false\n")
    r = run("train", "--config", "config.toml", "--quiet", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "report: wrote" in r.stdout, r.stdout
    return d


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        why = ("Chromium is not installed, so the report is not rendered: run scripts/ensure-chromium "
               "or `sudo apt-get install -y chromium`")
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(why + " (CI=true: CI must render the page)")
        pytest.skip(why)
    return exe


# Injected into a copy of the page: records script and resource errors and, once the page has
# loaded, how many images decoded to a picture. --dump-dom shows both as attributes on <html>.
CHECKER = """<script>
(function () {
  var root = document.documentElement;
  window.addEventListener("error", function (e) {
    var what = e.message || ("failed to load a " + ((e.target && e.target.tagName) || "resource"));
    root.setAttribute("data-page-errors", (root.getAttribute("data-page-errors") || "") + what + ";");
  }, true);
  window.addEventListener("load", function () {
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    root.setAttribute("data-images-loaded", ok + "/" + imgs.length);
  });
})();
</script>"""


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.root: dict[str, str | None] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.root = a
        if tag == "section":
            self.sections.append(a.get("id") or "")
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag in ("link", "script", "iframe") and (a.get("src") or a.get("href")):
            self.external.append(f"<{tag}> {a.get('src') or a.get('href')}")


def check_page(page: Path, screenshot: Path | None = None) -> dict:
    """Render an instrumented copy of ``page``; what Chromium saw, ready for asserts."""
    text = page.read_text(encoding="utf-8")
    assert "</head>" in text
    probe = page.with_name(page.stem + ".checked.html")
    probe.write_text(text.replace("</head>", CHECKER + "</head>", 1), encoding="utf-8")
    rendered = render_in_chromium(probe, screenshot)
    dom = _Page()
    dom.feed(rendered.dom)
    return {"dom": dom, "console": rendered.console, "screenshot": rendered.screenshot}


def _png(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    return base64.b64decode(src[len(prefix):], validate=True)


def test_train_writes_a_self_contained_report(project):
    page = project / "reports" / "churn_report.html"
    text = page.read_text(encoding="utf-8")
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in text
    dom = _Page()
    dom.feed(text)
    assert dom.external == []  # no external CSS, JS or fonts
    assert "http://" not in text and "https://" not in text
    assert len(dom.images) >= 7  # 5 curves + SHAP beeswarm + importance (+ dependence plots)
    assert "oracle (true probability)" in text and "baseline: bgnbd" in text
    assert "Champions" in text and "retain now" in text
    # the call list closes the page: the customers to contact first, with state and action
    calls = text[text.index('<section id="call-list">'):]
    assert "first lever" in calls and ("retain now" in calls or "win back" in calls)
    # drift of the scored population against the validation cutoff, in the coverage section
    coverage = text[text.index('<section id="coverage">'):]
    assert "Feature drift since the model's reference cutoff" in coverage
    assert "drift vs " in coverage and "recency_days" in text
    # the ladder step and the refit, and the history profile (issue 11)
    assert "on the ladder step\n<b>full</b>" in coverage and "refitted on the latest labelled" in coverage
    history = text[text.index('<section id="history">'):]
    assert "one-time buyers" in history and "suggested horizon_days" in history


def test_report_renders_in_headless_chromium_with_every_section_and_image(
        project, chromium, tmp_path_factory, capsys):
    shot = tmp_path_factory.getbasetemp() / "churn_report_screenshot" / "churn_report.png"
    seen = check_page(project / "reports" / "churn_report.html", shot)
    dom, console = seen["dom"], seen["console"]
    assert dom.sections == list(SECTION_IDS)
    assert dom.images and all(_png(src).startswith(b"\x89PNG\r\n\x1a\n") for src in dom.images)
    assert dom.root.get("data-images-loaded") == f"{len(dom.images)}/{len(dom.images)}", (
        "not every image decoded (or the page never finished loading)")
    assert dom.root.get("data-page-errors") is None, dom.root.get("data-page-errors")
    assert console == [], console  # no console message at all: no error, no failed load
    assert shot.exists() and shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000
    with capsys.disabled():
        print(f"\nreport screenshot: {shot}")


def test_the_chromium_check_fails_on_a_broken_page(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><title>x</title></head><body>"
                    '<section id="headline"><img alt="bad" src="data:image/png;base64,AAAA"></section>'
                    "<script>undefinedFunction();</script></body></html>")
    seen = check_page(page)
    assert seen["dom"].root.get("data-images-loaded") == "0/1"
    assert "undefinedFunction" in (seen["dom"].root.get("data-page-errors") or "")
    assert any("Uncaught" in line for line in seen["console"])


def test_report_command_writes_the_page_at_an_earlier_date_with_a_screenshot(project, chromium):
    r = run("report", "--config", "config.toml", "--quiet", "--as-of", AS_OF, "--out", "r/nov.html",
            "--screenshot", cwd=project)
    assert r.returncode == 0, r.stderr
    assert f"active at {AS_OF}" in r.stdout and "at risk" in r.stdout
    assert "rendered in headless Chromium: 0 console message(s)" in r.stdout
    text = (project / "r" / "nov.html").read_text(encoding="utf-8")
    assert f"customers active on {AS_OF}" in text
    assert (project / "r" / "nov.png").read_bytes().startswith(b"\x89PNG")


def test_segment_command_writes_every_active_customer_with_segments_and_actions(project, small_data_dir):
    r = run("segment", "--config", "config.toml", "--quiet", "--as-of", AS_OF, "--out", "seg.parquet",
            cwd=project)
    assert r.returncode == 0, r.stderr
    seg = pd.read_parquet(project / "seg.parquet")
    assert list(seg.columns) == [
        "customer_id", "r_score", "f_score", "m_score", "fm_score", "rfm_score", "rfm_segment",
        "cluster", "cluster_name", "nps_group", "churn_probability", "customer_value", "risk_band",
        "value_band", "action", "state", "at_risk"]
    active = active_customers(load_default_tables(small_data_dir), AS_OF)
    assert seg["customer_id"].is_unique and set(seg["customer_id"]) == set(active)
    assert seg["churn_probability"].between(0, 1).all() and seg["action"].notna().all()
    profiles = pd.read_csv(project / "seg_clusters.csv")
    assert profiles["size"].sum() == len(seg) and profiles["name"].is_unique
    assert set(profiles["cluster"]) == set(seg["cluster"])
    for text in ("RFM segment", "Champions", "behavioural clusters (k = ", "NPS group",
                 "risk x value", "retain now", "seg.parquet", "seg_clusters.csv"):
        assert text in r.stdout

    again = run("segment", "--config", "config.toml", "--as-of", AS_OF, "--out", "seg.parquet",
                cwd=project)
    assert again.returncode == 2 and "--overwrite" in again.stderr
