"""`make bench` at a tiny size (2,000 customers), so the benchmark cannot rot.

One run of the real command (``python -m churnmodel.bench``) with a quick model config;
the tests read its JSON, its printed table and the feature files it leaves behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.bench import LIBRARIES, STAGES, TARGETS

# A quick model: few trees, one thread (the test measures that the bench works, not speed).
QUICK = """
[training]
n_cutoffs = 8
[model]
n_estimators = 60
early_stopping_rounds = 10
n_jobs = 1
"""


def bench(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "churnmodel.bench", "--customers", "2000", "--seed", "7",
           "--data-cache", "data", "--config", "quick.toml", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict]:
    d = tmp_path_factory.mktemp("bench")
    (d / "quick.toml").write_text(QUICK)
    r = bench(d, "--out", "out/results.json", "--scaling", "1000,2000")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return d, r, json.loads((d / "out" / "results.json").read_text())


def test_every_stage_reports_seconds_rows_per_second_and_its_peak_memory(run):
    _, _, res = run
    assert list(res["stages"]) == list(STAGES)
    for name, stage in res["stages"].items():
        assert "error" not in stage, (name, stage.get("traceback"))
        assert stage["seconds"] > 0 and stage["rows"] > 0, name
        assert stage["rows_per_second"] == pytest.approx(stage["rows"] / stage["seconds"], rel=0.02)
        # the stage's own process: at least what the process held before the stage began
        assert stage["peak_rss_mb"] >= stage["input_rss_mb"] > 50, name
    assert res["generate"]["rows"] == res["data"]["tables"]["transactions"] > 10_000
    explain = res["stages"]["explain_top10"]
    assert explain["rows"] == -(-res["stages"]["score"]["rows"] // 10)  # ceil(10%)


def test_results_record_the_machine_and_library_versions(run):
    _, _, res = run
    m = res["machine"]
    assert m["cores"] >= 1 and m["ram_gb"] > 0 and m["python"].count(".") == 2
    assert set(LIBRARIES) <= set(m["libraries"]) and isinstance(res["busy"]["busy"], bool)
    assert all(m["libraries"][lib] for lib in ("pandas", "numpy", "duckdb", "lightgbm", "mlflow",
                                               "shap", "scikit-learn"))


def test_rfm_builder_is_compared_with_pandas_and_raw_duckdb_as_ratios(run):
    _, r, res = run
    pandas_cmp, duckdb_cmp = res["comparisons"]["rfm_vs_pandas"], res["comparisons"]["rfm_vs_duckdb"]
    for c in (pandas_cmp, duckdb_cmp):
        assert c["ratio"] > 0 and c["speedup"] > 0 and c["memory_ratio"] > 0
    assert pandas_cmp["agreement"]["agree"] and duckdb_cmp["agreement"]["agree"]
    assert duckdb_cmp["limit"] == 1.5 and isinstance(duckdb_cmp["met"], bool)
    assert "RFM builder vs pandas reference" in r.stdout and "raw DuckDB query" in r.stdout


def test_fast_rfm_features_equal_the_pandas_reference_at_bench_size(run):
    d, _, res = run
    assert res["data_dir"] == "data/2000_7_thin" and res["events"] == "thin"  # the default log
    results = d / res["data_dir"] / "run"
    fast = pd.read_parquet(results / "rfm_project.parquet")
    ref = pd.read_parquet(results / "rfm_pandas.parquet")
    assert len(fast) > 1000
    pd.testing.assert_frame_equal(fast, ref.astype("float64"), check_exact=False, rtol=1e-9, atol=1e-9,
                                  check_index_type="equiv")


def test_every_target_is_checked_and_the_table_marks_it(run):
    _, r, res = run
    assert [t["name"] for t in res["targets"]] == [t.name for t in TARGETS]
    for t in res["targets"]:
        assert isinstance(t["met"], bool) and t["seconds"] > 0 and t["peak_rss_mb"] > 0
        assert t["max_seconds"] > 0 and t["max_rss_mb"] > 0
    table = r.stdout.split("stage ")[-1]
    assert "targets (issue 5):" in table and table.count(": met") + table.count("MISSED") >= 4
    assert "wrote out/results.json" in r.stdout


def test_memory_scaling_reports_a_slope_per_100k_customers(run):
    _, _, res = run
    sc = res["scaling"]
    assert [p["customers"] for p in sc["points"]] == [1000, 2000]
    features = next(s for s in sc["slopes"] if s["stage"] == "features_all")
    assert features["points"] == 2 and isinstance(features["at_most_linear"], bool)
    assert "mb_per_100k_customers" in features and "exponent" in features


def test_a_second_run_reuses_the_cached_data(run):
    d, _, _ = run
    r = bench(d, "--out", "again.json", "--stages", "features_rfm", "--quiet")
    assert r.returncode == 0, r.stderr
    res = json.loads((d / "again.json").read_text())
    assert res["generate"]["cached"] is True
    assert list(res["stages"]) == ["features_rfm"]  # validated tables were reused too
