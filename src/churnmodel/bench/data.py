"""The synthetic data of the benchmark, generated once per size and seed and cached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from churnmodel.bench.job import TABLES, Job
from churnmodel.bench.runner import Runner


def data_dir(cache: Path, customers: int, seed: int, events: str = "default") -> Path:
    """Where the synthetic data of one size, seed and event log are cached."""
    return cache / (f"{customers}_{seed}" + ("" if events == "default" else f"_{events}"))


def data_cached(d: Path, customers: int, seed: int, events: str = "default") -> bool:
    meta = d / "meta.json"
    if not meta.exists() or not all((d / f"{n}.parquet").exists() for n in TABLES):
        return False
    m = json.loads(meta.read_text())
    return (m.get("customers") == customers and m.get("seed") == seed
            and m.get("events", "default") == events)


def ensure_data(runner: Runner, d: Path, customers: int, seed: int,
                verbose: bool = True, events: str = "default") -> dict[str, Any]:
    """Generate the data set in its own process unless cached; the generation record."""
    record = d / "generate.json"
    if data_cached(d, customers, seed, events):
        rec = json.loads(record.read_text()) if record.exists() else {}
        return {**rec, "cached": True}
    d.mkdir(parents=True, exist_ok=True)
    for stale in ("validated", "run"):
        _remove_tree(d / stale)
    rec = runner.run(Job("generate", "generate", str(d), customers, seed, events=events), verbose)
    if "error" not in rec:
        record.write_text(json.dumps(rec, indent=2))
    return {**rec, "cached": False}


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
