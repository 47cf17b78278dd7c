"""What the figures are measured against: the RFM engines compared, the memory slope,
the targets of issue 5 and the machine the run was on.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


from churnmodel.bench.stages import RAW_COLUMNS

LIBRARIES = ("pandas", "numpy", "pyarrow", "duckdb", "lightgbm", "scikit-learn", "scipy", "mlflow",
             "shap")


GIB = 1024.0  # MiB


@dataclass(frozen=True)
class Target:
    """A goal of issue 5, measured on one stage."""

    name: str
    stage: str
    max_seconds: float
    max_rss_mb: float


TARGETS = (
    Target("features at one cutoff, all families", "features_all", 15.0, 3 * GIB),
    Target("churnmodel score end to end", "score_e2e", 90.0, 6 * GIB),
    Target("churnmodel train end to end", "train", 600.0, 12 * GIB),
)
# Training rows: a sample of this many active customers per cutoff (at 1M customers about
DUCKDB_RATIO_LIMIT = 1.5  # the project's RFM builder vs the raw DuckDB query
LINEAR_TOLERANCE = 1.05  # memory exponent allowed above 1 before growth counts as super-linear


def compare_frames(a: pd.DataFrame, b: pd.DataFrame, columns: Sequence[str] | None = None,
                   tol: float = 1e-9) -> dict[str, Any]:
    """Do two feature frames agree (same index, columns; values to ``tol``, NaN = NaN)?

    >>> import pandas as pd
    >>> a = pd.DataFrame({"x": [1.0, float("nan")]}, index=[1, 2])
    >>> compare_frames(a, a + 1e-12)["agree"]
    True
    """
    import numpy as np

    cols = list(columns) if columns is not None else list(a.columns)
    same_shape = (a.index.equals(b.index) and all(c in b.columns for c in cols)
                  and (columns is not None or list(a.columns) == list(b.columns)))
    if not same_shape:
        return {"agree": False, "reason": "index or columns differ", "columns": len(cols)}
    x = a[cols].to_numpy(dtype="float64")
    y = b[cols].to_numpy(dtype="float64")
    both_nan = np.isnan(x) & np.isnan(y)
    diff = np.where(both_nan, 0.0, np.abs(x - y))
    diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only
    rel = diff / np.maximum(np.abs(np.nan_to_num(y)), 1.0)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(rel.max()) if rel.size else 0.0
    return {"agree": bool(max_rel <= tol), "tolerance": tol, "max_abs_diff": max_abs,
            "max_rel_diff": max_rel, "rows": len(a), "columns": len(cols)}


def comparisons(stages: dict[str, dict[str, Any]], run: Path) -> dict[str, Any]:
    """The project's RFM builder against the pandas reference and the raw DuckDB query."""
    import pandas as pd

    fast = stages.get("features_rfm", {})
    out: dict[str, Any] = {}
    files = {k: run / f"rfm_{k}.parquet" for k in ("project", "pandas", "duckdb")}
    for other, limit in (("pandas", None), ("duckdb", DUCKDB_RATIO_LIMIT)):
        ref = stages.get(f"rfm_{other}", {})
        if "seconds" not in fast or "seconds" not in ref:
            continue
        rec: dict[str, Any] = {
            "project_seconds": fast["seconds"], f"{other}_seconds": ref["seconds"],
            "project_peak_rss_mb": fast["peak_rss_mb"], f"{other}_peak_rss_mb": ref["peak_rss_mb"],
            # > 1: the project is that many times faster / leaner than the other engine
            "speedup": round(ref["seconds"] / fast["seconds"], 3),
            "memory_ratio": round(ref["peak_rss_mb"] / fast["peak_rss_mb"], 3),
            # the project's time as a multiple of the other's (the 1.5x bar is on this one)
            "ratio": round(fast["seconds"] / ref["seconds"], 3),
        }
        if limit is not None:
            rec.update(limit=limit, met=bool(rec["ratio"] <= limit))
        if files["project"].exists() and files[other].exists():
            a, b = pd.read_parquet(files["project"]), pd.read_parquet(files[other])
            rec["agreement"] = compare_frames(a, b, None if other == "pandas" else RAW_COLUMNS)
        out[f"rfm_vs_{other}"] = rec
    return out


def engine_ratios(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Spark engine's stages against the DuckDB engine's in the same run: seconds, peak
    memory (the stage's process, and Spark's JVM and workers) and their ratio."""
    out: dict[str, Any] = {}
    for local, spark in (("features_all", "features_all_spark"), ("score_e2e", "score_e2e_spark")):
        a, b = stages.get(local, {}), stages.get(spark, {})
        if "seconds" not in a or "seconds" not in b:
            continue
        out[f"{spark}_vs_duckdb"] = {
            "duckdb_seconds": a["seconds"], "spark_seconds": b["seconds"],
            "spark_session_seconds": b.get("session_seconds"),
            # > 1: the Spark engine takes that many times the DuckDB engine's wall time
            "ratio": round(b["seconds"] / a["seconds"], 3),
            "duckdb_peak_rss_mb": a["peak_rss_mb"], "spark_driver_peak_rss_mb": b["peak_rss_mb"],
            "spark_jvm_and_workers_peak_rss_mb": b.get("spark_peak_rss_mb"),
            "buckets": b.get("buckets"), "same_file": b.get("same_file_as_duckdb"),
        }
    return out


def memory_scaling(points: list[dict[str, Any]], stage: str) -> dict[str, Any]:
    """Slope of peak RSS against customers, and whether growth is at most linear.

    ``exponent`` is the log-log slope of the memory above the process's starting footprint
    (imports) against customers: 1 is linear, below 1 sub-linear.

    >>> pts = [{"customers": n, stage: {"peak_rss_mb": 300 + n / 1000, "start_rss_mb": 300}}
    ...        for n, stage in [(100_000, "s"), (300_000, "s"), (1_000_000, "s")]]
    >>> r = memory_scaling(pts, "s")
    >>> r["mb_per_100k_customers"], r["exponent"], r["at_most_linear"]
    (100.0, 1.0, True)
    """
    import numpy as np

    ok = [p for p in points if "peak_rss_mb" in p.get(stage, {})]
    if len(ok) < 2:
        return {"stage": stage, "points": len(ok)}
    n = np.array([p["customers"] for p in ok], dtype=float)
    peak = np.array([p[stage]["peak_rss_mb"] for p in ok])
    net = np.maximum(peak - np.array([p[stage]["start_rss_mb"] for p in ok]), 1.0)
    slope, intercept = np.polyfit(n, peak, 1)
    exponent = float(np.polyfit(np.log(n), np.log(net), 1)[0])
    return {"stage": stage, "points": len(ok), "customers": n.astype(int).tolist(),
            "peak_rss_mb": peak.round(1).tolist(),
            "mb_per_100k_customers": round(float(slope) * 100_000, 1),
            "intercept_mb": round(float(intercept), 1), "exponent": round(exponent, 3),
            "at_most_linear": bool(exponent <= LINEAR_TOLERANCE)}


def check_targets(stages: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 5 with the measured figures and whether it is met."""
    out = []
    for t in TARGETS:
        rec: dict[str, Any] = {**asdict(t)}
        s = stages.get(t.stage, {})
        if "seconds" not in s:
            rec.update(met=None, note="stage not run" if not s else s.get("error", "failed"))
        else:
            rec.update(seconds=s["seconds"], peak_rss_mb=s["peak_rss_mb"],
                       seconds_met=s["seconds"] <= t.max_seconds,
                       rss_met=s["peak_rss_mb"] <= t.max_rss_mb)
            rec["met"] = rec["seconds_met"] and rec["rss_met"]
        out.append(rec)
    return out


def busy_machine(res: dict[str, Any]) -> dict[str, Any]:
    """Was the machine shared while stages ran? (load average above cores + 1: the bench uses
    at most the cores, so the excess is other work competing with it, and timings are inflated)."""
    loads = [x for s in res["stages"].values() for x in s.get("load_average", [])]
    loads += res["machine"]["load_average"][:1] + res["load_average_end"][:1]
    cores = res["machine"].get("cores_available") or res["machine"].get("cores") or 1
    worst = max(loads, default=0.0)
    return {"max_load_average": worst, "cores": cores, "busy": bool(worst > cores + 1)}


def machine_facts() -> dict[str, Any]:
    """Cores, memory, CPU, OS, Python and library versions of this machine."""
    from importlib import metadata

    facts: dict[str, Any] = {"cores": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version()}
    with contextlib.suppress(AttributeError):
        facts["cores_available"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError):
        meminfo = Path("/proc/meminfo").read_text().split("\n")
        kb = {ln.split(":")[0]: int(ln.split()[1]) for ln in meminfo if ln.strip()}
        facts["ram_gb"] = round(kb["MemTotal"] / 2**20, 1)
        facts["ram_available_gb"] = round(kb.get("MemAvailable", 0) / 2**20, 1)
    with contextlib.suppress(OSError):
        for ln in Path("/proc/cpuinfo").read_text().split("\n"):
            if ln.startswith("model name"):
                facts["cpu"] = ln.split(":", 1)[1].strip()
                break
    facts["load_average"] = [round(x, 2) for x in os.getloadavg()]
    versions: dict[str, str | None] = {}
    for lib in ("churnmodel", *LIBRARIES):
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    facts["libraries"] = versions
    return facts
