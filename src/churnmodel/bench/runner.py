"""Running a job in a fresh process and measuring it: wall and CPU seconds, peak memory.

Processes are forked from a server that has imported the libraries once (multiprocessing
``forkserver``), so a stage pays no import time and starts from the same footprint a fresh
``python`` with those imports would have.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from churnmodel.bench.job import Job
from churnmodel.bench.stages import LABELS, STAGE_FUNCTIONS

PRELOAD = ["pandas", "numpy", "pyarrow", "duckdb", "lightgbm", "sklearn", "scipy.special",
           "churnmodel.features", "churnmodel.features.reference", "churnmodel.data.io",
           "churnmodel.data.synthetic", "churnmodel.modeling.train", "churnmodel.explain",
           "churnmodel.scoring", "churnmodel.segmentation"]


def _rss_mb() -> float:
    """Current resident memory of this process (MiB)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _maxrss_mb()


def _maxrss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024


def _reset_peak() -> bool:
    """Restart the kernel's peak-RSS counter (Linux ``clear_refs``); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _child(job: Job, result_path: str) -> None:
    """Run one stage in this (fresh) process and write its figures to ``result_path``."""
    import warnings

    warnings.filterwarnings("ignore")
    _silence_stdout()
    out: dict[str, Any] = {"stage": job.key}
    try:
        rss_start = _rss_mb()
        t0 = time.perf_counter()
        steps = STAGE_FUNCTIONS[job.stage](job)
        next(steps)
        input_seconds = time.perf_counter() - t0
        rss_input = _rss_mb()
        peak_input = _maxrss_mb()
        reset = _reset_peak()
        load0, cpu0, t1 = os.getloadavg()[0], _cpu_seconds(), time.perf_counter()
        figures = next(steps)
        seconds = time.perf_counter() - t1
        cpu = _cpu_seconds() - cpu0
        stage_peak = _maxrss_mb()  # since the reset: the stage, its input resident
        assert figures is not None
        rows = figures.pop("rows")
        out.update(
            seconds=round(seconds, 4), rows=int(rows),
            rows_per_second=round(rows / seconds, 1) if seconds > 0 else None,
            unit=figures.pop("unit"),
            peak_rss_mb=round(max(peak_input, stage_peak), 1),
            stage_peak_rss_mb=round(stage_peak, 1) if reset else None,
            input_rss_mb=round(rss_input, 1), start_rss_mb=round(rss_start, 1),
            input_seconds=round(input_seconds, 3),
            cpu_seconds=round(cpu, 2), cpu_per_wall=round(cpu / seconds, 2) if seconds > 0 else None,
            load_average=[round(load0, 2), round(os.getloadavg()[0], 2)],
            **figures,
        )
        next(steps, None)
        # figures the untimed tail added (e.g. the cap study's AUC on the full test population)
        out.update({k: v for k, v in figures.items() if k not in out and k not in ("rows", "unit")})
    except BaseException as exc:  # report any failure (MemoryError too) to the parent
        out = {"stage": job.key, "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()}
    Path(result_path).write_text(json.dumps(out, default=json_default))


def _silence_stdout() -> None:
    """Keep progress bars (DuckDB draws one for long queries) out of the bench's table."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    sys.stdout.flush()
    os.dup2(devnull, 1)
    os.close(devnull)


def json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


class Runner:
    """Runs jobs in fresh processes forked from a server that preloaded the libraries."""

    def __init__(self, start_method: str = "forkserver") -> None:
        self.ctx: Any = mp.get_context(start_method)
        if start_method == "forkserver":
            self.ctx.set_forkserver_preload(PRELOAD)

    def run(self, job: Job, verbose: bool = True) -> dict[str, Any]:
        import tempfile

        if verbose:
            print(f"  {LABELS.get(job.stage, job.key):<34} ...", end="", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result.json")
            t0 = time.perf_counter()
            proc = self.ctx.Process(target=_child, args=(job, path), name=f"bench-{job.key}")
            proc.start()
            proc.join()
            wall = time.perf_counter() - t0
            if os.path.exists(path):
                rec = json.loads(Path(path).read_text())
            else:  # killed (e.g. out of memory) before it could report
                rec = {"stage": job.key, "error": f"process exited with code {proc.exitcode}"
                       + (" (killed: out of memory?)" if proc.exitcode == -9 else "")}
        rec["process_seconds"] = round(wall, 3)
        if verbose:
            print(" " + _stage_summary(rec), flush=True)
        return rec


def _stage_summary(rec: dict[str, Any]) -> str:
    if "error" in rec:
        return f"FAILED: {rec['error']}"
    return (f"{rec['seconds']:8.2f} s  {rec['rows']:>12,} {rec['unit']}  "
            f"peak {rec['peak_rss_mb']:,.0f} MB")
