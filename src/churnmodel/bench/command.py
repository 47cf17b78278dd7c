"""``churnmodel bench`` / ``python -m churnmodel.bench``: options, the run, the results file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from churnmodel.bench.compare import (
    busy_machine,
    check_targets,
    comparisons,
    engine_ratios,
    machine_facts,
    memory_scaling,
)
from churnmodel.bench.data import data_dir, ensure_data
from churnmodel.bench.job import Job
from churnmodel.bench.printing import format_report
from churnmodel.bench.rest import CLIENTS, ROWS_PER_REQUEST, WORKERS
from churnmodel.bench.runner import Runner, json_default
from churnmodel.bench.stages import ALL_STAGES, SPARK_STAGES, STAGES, resolve_stages
from churnmodel.config import ENGINES

# Training rows: a sample of this many active customers per cutoff (at 1M customers about
# 700k are active at each cutoff; uncapped, LightGBM alone would take well over 10 minutes).
DEFAULT_CAP = 100_000


# At the full size, the memory slope over customers (issue 5) comes with every run.
FULL_SIZE_SCALING = (100_000, 300_000, 1_000_000)


def _scaling_arg(text: str) -> list[int] | str:
    """``auto`` (the slope at the full size only), ``none``, or a list of sizes."""
    word = text.strip().lower()
    return word if word in ("auto", "none") else _int_list(text)


def _int_list(text: str) -> list[int]:
    try:
        return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None


def _cap(text: str) -> int | None:
    return None if text.strip().lower() in ("none", "0") else _int_list(text)[0]


def _cap_list(text: str) -> list[int | None]:
    out: list[int | None] = []
    for x in text.split(","):
        x = x.strip().lower()
        if x:
            out.append(None if x == "none" else _int_list(x)[0])
    return out


def build_parser() -> argparse.ArgumentParser:
    """Options of ``python -m churnmodel.bench`` (and ``churnmodel bench``)."""
    p = argparse.ArgumentParser(
        prog="churnmodel bench",
        description="Measure every stage (seconds, rows/second, peak RSS) on synthetic data, "
                    "compare the RFM engine with pandas and raw DuckDB, check the targets.")
    p.add_argument("--customers", type=int, default=1_000_000,
                   help="synthetic customers (default 1000000: about 20M transactions)")
    p.add_argument("--seed", type=int, default=42, help="seed of the synthetic data (default 42)")
    p.add_argument("--out", default="bench/results.json", help="results JSON (default bench/results.json)")
    p.add_argument("--data-cache", default="bench/data",
                   help="where generated data are cached, per size and seed (default bench/data)")
    p.add_argument("--stages", nargs="+", choices=(*ALL_STAGES, "none"), metavar="STAGE",
                   help=f"stages to run (default all but rest; needed inputs are added; 'none' with "
                        f"--scaling or --cap-study runs only those): {', '.join(ALL_STAGES)}")
    p.add_argument("--rest", action="store_true",
                   help="also run the rest stage: churnmodel serve and the bare LightGBM booster "
                        f"(MLflow's scoring app) with {' and '.join(map(str, WORKERS))} workers, "
                        f"{'/'.join(map(str, ROWS_PER_REQUEST))}-row requests from "
                        f"{', '.join(map(str, CLIENTS))} clients on 127.0.0.1 (--stages rest: only it)")
    p.add_argument("--rest-seconds", type=float, default=8.0, metavar="S",
                   help="rest stage: seconds per server x request size x clients (default 8)")
    p.add_argument("--max-customers-per-cutoff", type=_cap, default=DEFAULT_CAP, metavar="N|none",
                   help="customers sampled per cutoff in training_set and train ([training] "
                        f"max_customers_per_cutoff; default {DEFAULT_CAP}, which keeps training at 1M "
                        "customers near 1M rows; 'none' = every active customer)")
    p.add_argument("--config", help="TOML config whose [labels], [training], [model] and [scoring] "
                   "settings to benchmark (its data sections are ignored; default: built-in defaults)")
    p.add_argument("--scaling", type=_scaling_arg, default="auto", metavar="N,N,...|auto|none",
                   help="also run load + features_all at these sizes and report the memory slope, "
                        "e.g. 100000,300000,1000000 (default auto: those three when --customers "
                        "is 1000000, none otherwise)")
    p.add_argument("--cap-study", type=_cap_list, metavar="CAP,...",
                   help="also train LightGBM alone with these per-cutoff caps ('none' = no cap) "
                        "and report the test AUC each costs, e.g. none,50000,100000")
    p.add_argument("--start-method", choices=("forkserver", "spawn"), default="forkserver",
                   help="how stage processes start (default forkserver: libraries imported once)")
    p.add_argument("--engine", choices=ENGINES, default="duckdb",
                   help="spark: also build the features and score end to end on the Spark engine "
                        "(local[2]) next to the DuckDB engine, with the ratio of each (needs the "
                        "spark extra and Java 17+)")
    p.add_argument("--events", choices=("thin", "default", "none"), default="thin",
                   help="the synthetic engagement log: thin (about 20 events per customer, so 20M "
                        "at 1M customers; the default here), default (about 330 per customer, as "
                        "`make train`'s data: too many to generate at 1M on 24 GB), or none")
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    return p


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark described by parsed ``args``; return the results (also written)."""
    from churnmodel.config import load_config

    started = datetime.now(UTC)
    if args.scaling == "auto":
        args.scaling = list(FULL_SIZE_SCALING) if args.customers == FULL_SIZE_SCALING[-1] else None
    elif args.scaling == "none":
        args.scaling = None
    if args.config:
        args.config = str(Path(args.config).resolve())
        load_config(args.config)  # a bad config fails now, not in every stage
    machine = machine_facts()
    runner = Runner(args.start_method)
    verbose = not args.quiet
    cache = Path(args.data_cache)
    d = data_dir(cache, args.customers, args.seed, args.events)
    say = print if verbose else (lambda *a, **k: None)
    say(f"churnmodel bench: {args.customers:,} customers, seed {args.seed}, {args.events} event "
        f"log, data in {d}")
    gen = ensure_data(runner, d, args.customers, args.seed, verbose, args.events)
    if "error" in gen:
        raise SystemExit(f"error: generating the data failed: {gen['error']}")
    if gen.get("cached"):
        say(f"  using cached data in {d}")
    stages: dict[str, dict[str, Any]] = {}
    requested = [s for s in (args.stages or STAGES) if s != "none"]
    if args.rest and "rest" not in requested:
        requested.append("rest")
    if args.engine == "spark":
        requested += [s for s in SPARK_STAGES if s not in requested]
    for stage in resolve_stages(requested, d) if requested else []:
        job = Job(stage, stage, str(d), args.customers, args.seed, config=args.config,
                  cap=args.max_customers_per_cutoff if stage in ("training_set", "train") else None,
                  rest_seconds=args.rest_seconds)
        stages[stage] = runner.run(job, verbose)
    results: dict[str, Any] = {
        "churnmodel_bench": 1, "started": started.isoformat(timespec="seconds"),
        "arguments": {k: v for k, v in vars(args).items()},
        "customers": args.customers, "seed": args.seed, "events": args.events, "data_dir": str(d),
        "data": {"tables": gen.get("tables") or stages.get("load", {}).get("tables", {})},
        "settings": {
            "max_customers_per_cutoff": args.max_customers_per_cutoff,
            "start_method": args.start_method,
            "peak_rss": "peak resident memory of the stage's own process (fresh per stage), "
                        "including Python, the imported libraries and loading the stage's input",
            "units": {"seconds": "wall seconds of the stage (input loaded before the clock "
                                 "starts, except train and score_e2e, which load as part of the job)",
                      "rss": "MiB (2**20 bytes)"},
        },
        "machine": machine, "generate": gen, "stages": stages,
    }
    results["comparisons"] = comparisons(stages, d / "run")
    results["comparisons"].update(engine_ratios(stages))
    if args.scaling:
        results["scaling"] = _scaling(runner, args, cache, stages, verbose)
    if args.cap_study:
        results["cap_study"] = _cap_study(runner, args, d, verbose)
    results["targets"] = check_targets(stages)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["busy"] = busy_machine(results)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=json_default))
    tmp.replace(out)
    return results


def _scaling(runner: Runner, args: argparse.Namespace, cache: Path,
             main_stages: dict[str, dict[str, Any]], verbose: bool) -> dict[str, Any]:
    points = []
    for n in sorted(set(args.scaling)):
        if verbose:
            print(f"scaling: {n:,} customers")
        d = data_dir(cache, n, args.seed, args.events)
        gen = ensure_data(runner, d, n, args.seed, verbose, args.events)
        point: dict[str, Any] = {"customers": n,
                                 "transactions": (gen.get("tables") or {}).get("transactions", 0)}
        for stage in ("load", "features_all"):
            if n == args.customers and "seconds" in main_stages.get(stage, {}):
                point[stage] = main_stages[stage]
            else:
                point[stage] = runner.run(Job(stage, stage, str(d), n, args.seed, config=args.config),
                                          verbose)
        points.append(point)
    keep = ("seconds", "rows", "peak_rss_mb", "start_rss_mb", "input_rss_mb", "error")
    slim = [{k: ({f: v for f, v in p[k].items() if f in keep} if isinstance(p[k], dict) else p[k])
             for k in p} for p in points]
    return {"points": slim, "slopes": [memory_scaling(slim, s) for s in ("features_all", "load")]}


def _cap_study(runner: Runner, args: argparse.Namespace, d: Path, verbose: bool) -> dict[str, Any]:
    runs = []
    for cap in args.cap_study:
        key = f"train_cap_{cap or 'none'}"
        if verbose:
            print(f"cap study: {f'{cap:,} customers' if cap else 'every active customer'} per cutoff, "
                  "LightGBM only")
        rec = runner.run(Job("train", key, str(d), args.customers, args.seed, cap=cap,
                             candidates=("lightgbm",), config=args.config), verbose)
        if "error" in rec:
            runs.append({"cap": cap, "error": rec["error"]})
            continue
        full = rec.get("test_roc_auc_full_population")
        auc = full["roc_auc"] if full else rec["test_roc_auc"]["lightgbm"]
        runs.append({"cap": cap, "rows": rec["rows"], "seconds": rec["seconds"],
                     "peak_rss_mb": rec["peak_rss_mb"], "auc": auc,
                     "auc_on": "full test population" if full else "test population (uncapped)",
                     "best_iteration": rec.get("best_iteration")})
    best = max((r["auc"] for r in runs if "auc" in r), default=float("nan"))
    for r in runs:
        if "auc" in r:
            r["auc_cost"] = round(best - r["auc"], 5)
    return {"customers": args.customers, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 if every stage ran (targets may still be missed: see the table)."""
    from churnmodel.errors import ChurnModelError

    args = build_parser().parse_args(argv)
    try:
        res = run_bench(args)
    except ChurnModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(format_report(res))
    print(f"\nwrote {args.out}")
    failed = [k for k, v in res["stages"].items() if "error" in v]
    return 1 if failed else 0
