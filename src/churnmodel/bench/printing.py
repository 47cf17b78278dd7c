"""The results as the plain-text table the run prints."""

from __future__ import annotations

from typing import Any

from churnmodel.bench.compare import GIB, TARGETS, Target
from churnmodel.bench.rest import format_rest
from churnmodel.bench.stages import LABELS


def _busy_note(res: dict[str, Any]) -> list[str]:
    b = res.get("busy", {})
    if not b.get("busy"):
        return []
    return [f"NOTE: the machine was busy (load average up to {b['max_load_average']:.1f} on {b['cores']} "
            "cores): timings are inflated"]


def _fmt_target(t: Target | None, rec: dict[str, Any]) -> str:
    if t is None or "seconds" not in rec:
        return ""
    ok = rec["seconds"] <= t.max_seconds and rec["peak_rss_mb"] <= t.max_rss_mb
    return f"<= {t.max_seconds:g} s, {t.max_rss_mb / GIB:g} GB: {'met' if ok else 'MISSED'}"


def format_report(res: dict[str, Any]) -> str:
    """The results as a plain-text table (what the run prints)."""
    m = res["machine"]
    d = res["data"]
    lines = [
        f"churnmodel bench: {res['customers']:,} customers (seed {res['seed']}), "
        + ", ".join(f"{v:,} {k}" for k, v in d.get("tables", {}).items()),
        f"machine: {m.get('cores')} cores, {m.get('ram_gb')} GiB RAM, {m.get('cpu', '?')}; "
        f"Python {m['python']}; load average {m['load_average'][0]} at start, "
        f"{res['load_average_end'][0]} at end",
        *_busy_note(res),
        "peak MB = peak RSS of the stage's own process (fresh per stage), including Python, libraries "
        "and loading its input;",
        "input MB = RSS once the input is loaded, before the clock starts (end-to-end stages load "
        "inside the clock); MB = MiB, GB = GiB",
        "",
        f"{'stage':<34}{'seconds':>9}{'rows':>13}  {'unit':<22}{'rows/s':>12}{'input MB':>10}"
        f"{'peak MB':>9}  target",
    ]
    targets = {t.stage: t for t in TARGETS}
    gen = res.get("generate", {})
    if "seconds" in gen:
        lines.append(f"{'generate synthetic data' + (' (cached)' if gen.get('cached') else ''):<34}"
                     f"{gen['seconds']:>9.1f}{gen['rows']:>13,}  {'transactions':<22}"
                     f"{gen['rows'] / gen['seconds']:>12,.0f}{'':>10}{gen['peak_rss_mb']:>9,.0f}")
    for key, rec in res["stages"].items():
        label = LABELS.get(key, key)
        if "error" in rec:
            lines.append(f"{label:<34} FAILED: {rec['error']}")
            continue
        lines.append(f"{label:<34}{rec['seconds']:>9.2f}{rec['rows']:>13,}  {rec['unit']:<22}"
                     f"{rec['rows_per_second'] or 0:>12,.0f}{rec['input_rss_mb']:>10,.0f}"
                     f"{rec['peak_rss_mb']:>9,.0f}  " + _fmt_target(targets.get(key), rec))
    cmp = res.get("comparisons", {})
    if cmp:
        lines += ["", "comparisons (same run, same machine):"]
    if "rfm_vs_pandas" in cmp:
        c = cmp["rfm_vs_pandas"]
        agree = c.get("agreement", {})
        lines.append(f"  RFM builder vs pandas reference: {c['project_seconds']:.2f} s vs "
                     f"{c['pandas_seconds']:.2f} s = {c['speedup']:.2f}x faster; peak "
                     f"{c['project_peak_rss_mb']:,.0f} vs {c['pandas_peak_rss_mb']:,.0f} MB = "
                     f"{c['memory_ratio']:.2f}x leaner; values agree to 1e-9: "
                     f"{'yes' if agree.get('agree') else 'NO'} (max rel diff "
                     f"{agree.get('max_rel_diff', float('nan')):.1e})")
    if "rfm_vs_duckdb" in cmp:
        c = cmp["rfm_vs_duckdb"]
        agree = c.get("agreement", {})
        lines.append(f"  RFM builder vs raw DuckDB query: {c['project_seconds']:.2f} s vs "
                     f"{c['duckdb_seconds']:.2f} s = {c['ratio']:.2f}x its time (limit "
                     f"{c['limit']}x: {'met' if c['met'] else 'MISSED'}); peak "
                     f"{c['project_peak_rss_mb']:,.0f} vs {c['duckdb_peak_rss_mb']:,.0f} MB; core "
                     f"columns agree: {'yes' if agree.get('agree') else 'NO'}")
    for key, what in (("features_all_spark_vs_duckdb", "features at one cutoff"),
                      ("score_e2e_spark_vs_duckdb", "score end to end")):
        if key in cmp:
            c = cmp[key]
            same = {True: "; same score file", False: "; score file DIFFERS"}.get(c.get("same_file"), "")
            lines.append(f"  Spark engine (local[2], {c['buckets']} buckets) vs DuckDB, {what}: "
                         f"{c['spark_seconds']:.1f} s (session start {c['spark_session_seconds'] or 0:.1f} "
                         f"s) vs {c['duckdb_seconds']:.1f} s = {c['ratio']:.2f}x its time; peak "
                         f"{c['spark_driver_peak_rss_mb']:,.0f} MB driver + "
                         f"{c['spark_jvm_and_workers_peak_rss_mb'] or 0:,.0f} MB JVM and workers vs "
                         f"{c['duckdb_peak_rss_mb']:,.0f} MB{same}")
    ex = res["stages"].get("explain_top10", {})
    if "rows_per_second" in ex and ex["rows_per_second"]:
        lines.append(f"  drivers per second: {ex['rows_per_second']:,.0f} (top 10%: {ex['rows']:,} "
                     f"customers in {ex['seconds']:.1f} s)")
    tr = res["stages"].get("train", {})
    if "test_roc_auc" in tr:
        capped = tr.get("max_customers_per_cutoff")
        lines.append(f"  training: champion {tr['champion']}, test ROC AUC "
                     + ", ".join(f"{k} {v:.4f}" for k, v in tr["test_roc_auc"].items())
                     + f"; {tr['rows']:,} training rows, cap per cutoff: {capped or 'none'}")
    rest = res["stages"].get("rest", {})
    if rest.get("cells"):
        lines += ["", *format_rest(rest)]
    for name in ("scaling", "cap_study"):
        if res.get(name):
            lines += ["", _format_extra(name, res[name])]
    lines += ["", "targets (issue 5):"]
    for t in res["targets"]:
        if t.get("met") is None:
            lines.append(f"  {t['name']:<40} not measured ({t.get('note')})")
            continue
        miss = []
        if not t["seconds_met"]:
            miss.append(f"{t['seconds'] - t['max_seconds']:.1f} s over")
        if not t["rss_met"]:
            miss.append(f"{t['peak_rss_mb'] - t['max_rss_mb']:,.0f} MB over")
        lines.append(f"  {t['name']:<40} {t['seconds']:8.1f} s / {t['max_seconds']:g} s, "
                     f"{t['peak_rss_mb']:7,.0f} / {t['max_rss_mb']:,.0f} MB: "
                     + ("met" if t["met"] else "MISSED (" + ", ".join(miss) + ")"))
    if "rfm_vs_duckdb" in cmp:
        c = cmp["rfm_vs_duckdb"]
        lines.append(f"  {'RFM builder within 1.5x of raw DuckDB':<40} {c['ratio']:.2f}x: "
                     + ("met" if c["met"] else "MISSED"))
    for s in (res.get("scaling") or {}).get("slopes", []):
        lines.append(f"  {'memory at most linear (' + s['stage'] + ')':<40} exponent "
                     f"{s.get('exponent', float('nan')):.2f}: "
                     + ("met" if s.get("at_most_linear") else "MISSED"))
    return "\n".join(lines)


def _format_extra(name: str, block: dict[str, Any]) -> str:
    if name == "scaling":
        lines = ["memory scaling (peak RSS MB; each point a fresh process):",
                 f"  {'customers':>10}{'transactions':>14}{'load':>10}{'features':>10}{'feat s':>9}"]
        for p in block["points"]:
            ld, ft = p.get("load", {}), p.get("features_all", {})
            lines.append(f"  {p['customers']:>10,}{p.get('transactions', 0):>14,}"
                         f"{ld.get('peak_rss_mb', float('nan')):>10,.0f}"
                         f"{ft.get('peak_rss_mb', float('nan')):>10,.0f}"
                         f"{ft.get('seconds', float('nan')):>9.2f}")
        for s in block["slopes"]:
            if "exponent" in s:
                lines.append(f"  {s['stage']}: {s['mb_per_100k_customers']:,.1f} MB per 100k customers, "
                             f"exponent {s['exponent']:.2f} "
                             f"({'at most linear' if s['at_most_linear'] else 'SUPER-LINEAR'})")
        return "\n".join(lines)
    lines = ["training-row cap per cutoff (LightGBM only; AUC on the full test population):",
             f"  {'cap':>10}{'train rows':>12}{'seconds':>9}{'peak MB':>9}{'test AUC':>10}{'vs best':>9}"]
    for r in block["runs"]:
        if "error" in r:
            lines.append(f"  {r.get('cap') or 'none':>10} FAILED: {r['error']}")
            continue
        lines.append(f"  {str(r['cap'] or 'none'):>10}{r['rows']:>12,}{r['seconds']:>9.1f}"
                     f"{r['peak_rss_mb']:>9,.0f}{r['auc']:>10.4f}{r['auc_cost']:>9.4f}")
    return "\n".join(lines)
