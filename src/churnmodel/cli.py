"""The ``churnmodel`` command line: data, train, score, evaluate, serve, segment, report.

Library inside, I/O here: this module reads the config and paths, sets up logging and
progress, calls the library and writes outputs, printing where they went. Errors caused
by input print one clear message (no traceback unless ``--debug``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from churnmodel.config import (
    ENGINES,
    SEED_RANGE,
    SYNTH_MIN_CUSTOMERS,
    Config,
    load_config,
    with_overrides,
)
from churnmodel.errors import ChurnModelError, describe_failure
from churnmodel.threads import one_thread

log = logging.getLogger("churnmodel")


# dates a command accepts (as YYYYMMDD integers in tables): far inside pandas' range
_DATE_RANGE = ("1900-01-01", "2100-12-31")


def _parse_date(value: str) -> str:
    try:
        day = pd.Timestamp(value).date()
    except (ValueError, TypeError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    if not _DATE_RANGE[0] <= str(day) <= _DATE_RANGE[1]:
        raise argparse.ArgumentTypeError(f"{day} is out of range {_DATE_RANGE[0]}..{_DATE_RANGE[1]}")
    return str(day)


def _int_in(lo: int, hi: int):
    """An argparse type: an integer in ``lo..hi`` (checked when parsed, not when used)."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{n:,} is out of range {lo:,}..{hi:,}")
        return n

    parse.__name__ = "integer"
    return parse


_SEED = _int_in(*SEED_RANGE)
ENGINE_HELP = ("where features are built: duckdb (this machine) or spark (one customer bucket per "
               "Spark task; [engine] master / remote); default: [engine] name")


def _config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config)
    model_dir = Path(args.model_dir) if getattr(args, "model_dir", None) else None
    return with_overrides(
        cfg,
        training={"as_of": getattr(args, "as_of", None), "seed": getattr(args, "seed", None)},
        engine={"name": getattr(args, "engine", None)},
        # --model-dir names the one place a run writes to: its report goes there too
        output={"model_dir": model_dir, "report_dir": model_dir,
                "report": False if getattr(args, "no_report", False) else None},
    )


def _load_tables(cfg: Config, for_training: bool = False):
    from churnmodel.data.io import load_tables

    if cfg.data.snapshot:  # a customers table alone: only train, score, report and serve
        from churnmodel.snapshot.commands import unsupported

        raise unsupported()

    if cfg.engine.name == "spark":  # a Spark Connect server answers, before any reading
        from churnmodel.engine.spark import check_remote

        check_remote(cfg.engine)
    t0 = time.perf_counter()
    from churnmodel.data.io import join_warnings
    from churnmodel.features.base import check_builders

    notes: list[str] = []
    tables = load_tables(cfg, notes)
    if for_training:  # scoring builds what the model was trained with, not the config's list
        check_builders(tables, cfg.features.builders)
    sizes = ", ".join(f"{n} {len(getattr(tables, n)):,}" for n in tables.names())
    print(f"loaded {sizes} rows in {time.perf_counter() - t0:.1f}s")
    for line in notes + join_warnings(tables):
        print(line)
    return tables


def _oracle(cfg: Config):
    """The synthetic oracle, when training on the default data with matching label settings."""
    if not cfg.data.uses_default:
        return None
    path, meta = cfg.data.dir / "oracle.parquet", cfg.data.dir / "meta.json"
    if not (path.exists() and meta.exists()):
        return None
    m = json.loads(meta.read_text())
    if (m.get("horizon_days"), m.get("activity_lookback_days")) != (
            cfg.labels.horizon_days, cfg.labels.activity_lookback_days):
        print("note: the oracle was generated for other label settings; not reported")
        return None
    return pd.read_parquet(path)


def cmd_data_synth(args: argparse.Namespace) -> None:
    from churnmodel import preflight
    from churnmodel.data.synthetic import generate, get_scenario, write_synthetic

    cfg = load_config(args.config)
    if args.scenario == "snapshot":  # one row per customer with a churn flag (snapshot mode)
        from churnmodel.snapshot.commands import synth

        return synth(args, cfg)
    scenario = get_scenario(args.scenario)
    # the default data go where the config reads them; a scenario beside them, in its own folder
    out = Path(args.out) if args.out else (
        cfg.data.dir if scenario.name == "default" else cfg.data.dir.parent / scenario.name)
    preflight.writable_dir(out, "data directory", "--out" if args.out else "[data] dir")
    s = cfg.data.synthetic
    customers = args.customers if args.customers is not None else s.customers
    t0 = time.perf_counter()
    data = generate(customers=customers, seed=args.seed if args.seed is not None else s.seed,
                    end=args.end or s.end, years=s.years if scenario.name == "default" else None,
                    horizon_days=cfg.labels.horizon_days,
                    activity_lookback_days=cfg.labels.activity_lookback_days,
                    scenario=scenario.name, events=args.events)
    paths = write_synthetic(out, data)
    kept = ", ".join(f"{len(getattr(data, n)):,} {n}" for n in ("transactions", "feedback", "tickets",
                                                                 "events")
                     if getattr(data, n) is not None)
    print(f"generated scenario '{scenario.name}' ({scenario.description}): {customers:,} customers, "
          f"{kept}, {data.meta['start']} to {data.meta['end']} in {time.perf_counter() - t0:.1f}s")
    print(f"wrote {', '.join(p.name for p in paths)} to {out}")
    if scenario.name != "default":
        print(f"train on it with a config holding [data] dir = \"{out}\"")


def _metrics_table(metrics: dict) -> str:
    rows = {f"model ({metrics['model']['name']})": metrics["model"]}
    rows.update({f"baseline: {k}": v for k, v in metrics["baselines"].items()})
    if "oracle" in metrics:
        rows["oracle (true probability)"] = metrics["oracle"]
    # capture@10% is always lift@10% x 0.1: not printed
    cols = ["roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile"]
    width = max(len(k) for k in rows) + 2
    lines = ["".ljust(width) + "".join(c.rjust(12) for c in ["ROC AUC", "PR AUC", "Brier",
                                                           "log loss", "lift@10%"])]
    for name, m in rows.items():
        lines.append(name.ljust(width) + "".join(f"{m[c]:12.4f}" for c in cols))
    return "\n".join(lines)


def cmd_train(args: argparse.Namespace) -> None:
    from churnmodel.modeling.train import train
    from churnmodel.plots import training_plots
    from churnmodel.serving import save_pyfunc

    cfg = _config(args)
    if cfg.data.snapshot:  # a customers table with a churn flag, no purchase log
        from churnmodel.snapshot import commands

        return commands.train(args, cfg, _bars(args))
    if cfg.data.uses_default and not (cfg.data.dir / "transactions.parquet").exists():
        raise ChurnModelError(f"no data in {str(cfg.data.dir)!r}: run `churnmodel data synth` "
                              "first, or pass --config with your own [data.transactions].")
    from churnmodel.tracking import log_training, preflight_store, training_run

    _preflight_train(args, cfg)
    if cfg.tracking.enabled and not args.no_track:
        preflight_store(cfg)

    # the MLflow run opens first, so a training that fails is recorded as FAILED
    with training_run(cfg, cfg.tracking.enabled and not args.no_track) as run_id:
        tables = _load_tables(cfg, for_training=True)
        result = train(tables, cfg, oracle=_oracle(cfg), progress=_bars(args))
        metrics = result.metrics_json()
        model_dir = Path(cfg.output.model_dir)
        paths = result.model.save(model_dir, metrics)
        t_exp = time.perf_counter()
        expl, importance = _explain_sample(result)
        report = cfg.output.report
        plots = training_plots(result, model_dir / "plots", expl, importance) if report else {}
        if importance is not None:
            importance.to_csv(model_dir / "shap_importance.csv", index=False)
        save_pyfunc(result.model, result.test_sample, model_dir / "mlflow_model")
        t_exp = time.perf_counter() - t_exp
        _print_ladder(result)
        print("validation ROC AUC: " + ", ".join(
            f"{k} {v['roc_auc']:.4f}" for k, v in result.valid_metrics.items())
            + f" -> champion: {result.champion}")
        test_rows = "held-out customers at" if result.split.step != "full" else "test cutoff"
        print(f"\n{test_rows} {result.split.test.date()}, churn within {cfg.labels.horizon_days} days "
              f"(base rate {metrics['model']['base_rate']:.3f}, n={metrics['model']['n']:,}):")
        print(_metrics_table(metrics))
        sc = result.model.info["scoring"]
        print(f"\nat-risk threshold p >= {sc['threshold']:.3f} ({sc['rule']}; flags "
              f"{sc['share']:.1%} of validation customers, campaign profit {sc['profit']:,.0f})"
              + (f" — {sc['note']}" if sc["note"] else ""))
        if result.model.info.get("learnt_nothing"):
            print(f"warning: {result.model.info['learnt_nothing']}")
        if importance is not None and importance["mean_abs_shap"].sum() > 0:
            print("top drivers (mean |SHAP|): " + ", ".join(importance["feature"].head(5)))
        if result.test_drift is not None and result.split.step == "full":
            from churnmodel.drift import summary_line

            # how far the population moves in one cutoff step: the yardstick for score's drift line
            line = summary_line(result.test_drift, str(result.split.valid.date()))
            print(line.replace("drift vs ", "drift test cutoff vs ", 1))
        _print_refit(result)
        from churnmodel.modeling.lifetime import summary_lines

        for line in summary_lines(result.value, result.survival):
            print(line)
        _horizon_check(cfg, tables, result)
        made = f"mlflow_model/ and {len(plots)} plots" if report else "mlflow_model/"
        print(f"\ntrained in {result.seconds['total']:.1f}s, explained"
              f"{' and plotted' if report else ''} in {t_exp:.1f}s; wrote "
              f"{', '.join(p.name for p in paths)}, {made} to {model_dir}")
        if run_id is not None:
            rep = log_training(result, cfg, tables, model_dir, plots, importance)
            from churnmodel.scorefile import record_training_identity

            record_training_identity(model_dir, rep, cfg.tracking.model_name)  # for score files
            print(f"MLflow: run {rep.run_id} in experiment '{rep.experiment}' "
                  f"({rep.tracking_uri}); registered '{cfg.tracking.model_name}' version "
                  f"{rep.version}: {rep.reason} [{rep.seconds:.1f}s]")
            if not rep.alias_moved:
                champion = f"models:/{cfg.tracking.model_name}@{cfg.tracking.alias}"
                print(f"note: {model_dir} now holds this run's model, not the registered "
                      f"'{cfg.tracking.alias}' that `churnmodel serve` serves; to batch-score "
                      f"with the same model as the server, pass --model {champion}")
        if report:
            _report_after_training(cfg, tables, result, model_dir)
        else:
            from churnmodel.report import REPORT_FILE, skip_report

            print(skip_report(model_dir, Path(cfg.output.report_dir) / REPORT_FILE))


def cmd_profile(args: argparse.Namespace) -> None:
    """The facts to check before modelling: history, arrivals, gaps, base rates, the ladder."""
    from churnmodel import preflight
    from churnmodel.profiling import profile_history

    cfg = _config(args)
    out = None
    if args.out:
        from churnmodel.scoring import check_output_path

        out = check_output_path(args.out, args.overwrite, suffixes=(".json",))
    preflight.table_sources(cfg)
    tables = _load_tables(cfg)
    prof = profile_history(tables, cfg, _as_of(args, tables))
    print(prof.text())
    if out is not None:
        from churnmodel.files import atomic_write

        atomic_write(out, lambda p: p.write_text(json.dumps(prof.as_dict(), indent=2)))
        print(f"wrote {out}")


def _horizon_check(cfg: Config, tables, result) -> None:
    """Warn when the horizon does not fit the data: shorter than the usual gap, base rate odd."""
    from churnmodel.profiling import training_warnings

    rate = float(result.test_metrics[result.champion]["base_rate"])
    for w in training_warnings(tables, result.as_of, cfg.labels.horizon_days, rate):
        print(f"warning: {w}")


def _print_ladder(result) -> None:
    """Which ladder step the run used and why, and which rows each part saw."""
    s, r = result.split, result.rows
    print(f"as of {result.as_of.date()}: ladder step '{s.step}' ({s.reason})")
    if s.step == "full":
        print(f"  train cutoffs {s.train[0].date()}..{s.train[-1].date()} ({r['train']:,} rows), "
              f"validation {s.valid.date()} ({r['valid']:,}), test {s.test.date()} ({r['test']:,})")
    else:
        print(f"  cross-validated on {r['train']:,} rows of cutoffs {s.train[0].date()}.."
              f"{s.train[-1].date()} (validation: their {r['valid']:,} rows at {s.valid.date()}, "
              f"out of fold); test: {r['test']:,} held-out customers at {s.test.date()}")


def _print_refit(result) -> None:
    """How the shipped model was refitted, and how far the as-of population is from it."""
    from churnmodel.drift import MAJOR

    ref = result.refit
    if ref.get("refitted"):
        trees = f", {ref['n_rounds']} trees" if ref.get("n_rounds") else ""
        print(f"shipped: {result.champion} refitted on the latest labelled cutoffs "
              f"{ref['cutoffs'][0]}..{ref['cutoffs'][-1]} ({ref['rows']:,} rows{trees}, calibrated "
              f"{ref['calibration']}); the test metrics above are the model before the refit, "
              "`churnmodel backtest` measures the refit")
    drift = result.asof_drift
    if not drift:
        return
    worst = {k: d.sort_values("psi", ascending=False).iloc[0] for k, d in drift.items()}
    top = worst["shipped"]
    line = (f"drift as-of population vs the shipped model's training rows: largest "
            f"{top['feature']} PSI {top['psi']:.2f}")
    if ref.get("refitted") and "chosen" in worst:
        line += (f" (vs the rows the champion was chosen on: {worst['chosen']['feature']} "
                 f"{worst['chosen']['psi']:.2f})")
    print(line)
    major = drift["shipped"][drift["shipped"]["psi"] > MAJOR]
    if len(major):
        what = ("the refit already uses the latest labelled cutoffs" if ref.get("refitted")
                else "set [training] refit = true to fit on the latest labelled cutoffs")
        print(f"warning: {len(major)} feature(s) drift at the major level between training and the "
              f"as-of date ({', '.join(major['feature'].head(4))}): the customers scored are "
              f"older or younger than those trained on; {what}. Lifetime totals and tenure move "
              "most; [features] exclude removes them if `churnmodel backtest` shows it helps.")


def _preflight_train(args: argparse.Namespace, cfg: Config) -> None:
    """Every place train reads and writes, checked before any data are read."""
    from churnmodel import preflight

    preflight.table_sources(cfg)
    preflight.writable_dir(cfg.output.model_dir, "model directory",
                           "--model-dir" if getattr(args, "model_dir", None) else
                           "[output] model_dir")
    preflight.writable_dir(cfg.output.report_dir, "report directory", "[output] report_dir")


def _report_after_training(cfg: Config, tables, result, model_dir: Path) -> None:
    """Write the project's churn_report.html; a failing report must never fail a training run."""
    from churnmodel.report import REPORT_FILE, churn_report, write_report

    t0 = time.perf_counter()
    out = Path(cfg.output.report_dir) / REPORT_FILE
    try:
        report = churn_report(tables.until(result.as_of), cfg, result.model, model_dir, result.as_of)
        write_report(report, out)
    except Exception as exc:  # the model is already saved: warn, say what failed, go on
        print(f"warning: the HTML report was not written ({type(exc).__name__}: {exc}); "
              "run `churnmodel report` to retry")
        return
    print(f"report: wrote {out} [{time.perf_counter() - t0:.1f}s]")


def _explain_sample(result):
    """SHAP values of the champion on the test sample (None for rules without features)."""
    from churnmodel.explain import explain, global_importance

    expl = explain(result.model, result.test_sample)
    return expl, (global_importance(expl) if expl is not None else None)


def _as_of(args: argparse.Namespace, tables) -> pd.Timestamp:
    """--as-of, or the latest event in any table."""
    return pd.Timestamp(args.as_of) if args.as_of else tables.max_event_ts().normalize()


def _companion_output(out: Path, name: str, what: str, overwrite: bool) -> Path:
    """``<stem>_<name>.csv`` beside ``out``, refused like ``out`` when it exists."""
    path = out.with_name(f"{out.stem}_{name}.csv")
    if path.exists() and not overwrite:
        raise ChurnModelError(f"output {str(path)!r} ({what}) exists; pass --overwrite to "
                              "replace it.")
    return path


def _scoring_model(args: argparse.Namespace, cfg: Config):
    """The model of --model (a directory or an MLflow URI), default the exported one."""
    from churnmodel.serving import load_churn_model

    source = args.model or cfg.output.model_dir
    if str(source).startswith(("models:/", "runs:/")):
        from churnmodel.tracking import configure, preflight_store

        preflight_store(cfg)
        configure(cfg)
    from churnmodel.scoring import check_model_project

    model = load_churn_model(source)
    check_model_project(model, cfg, source)
    return model


def cmd_score(args: argparse.Namespace) -> None:
    from churnmodel import engine, preflight
    from churnmodel.drift import against_model, summary_line
    from churnmodel.scoring import call_list, check_output_path, write_table

    cfg = _config(args)
    if cfg.data.snapshot:
        from churnmodel.snapshot import commands

        return commands.score(args, cfg)
    out = check_output_path(args.out, args.overwrite)
    drift_out = _companion_output(out, "drift", "the feature drift table", args.overwrite)
    calls_out = (_companion_output(out, "call_list", "the call list", args.overwrite)
                 if args.call_list else None)
    preflight.table_sources(cfg)
    model = _scoring_model(args, cfg)
    if model.info.get("learnt_nothing"):
        print(f"warning: {model.info['learnt_nothing']}")
    tables = _load_tables(cfg)
    as_of = _as_of(args, tables)
    t0 = time.perf_counter()
    steps = ["features", "predict + explain at-risk", "write"]
    found: dict[str, Any] = {}
    with _progress(len(steps), not args.quiet, "scoring") as bar:
        # on Spark, the same rows, built and scored per customer bucket
        scores = engine.score_customers(
            model, tables, as_of, cfg, explain=not args.no_drivers,
            on_step=lambda s: (bar.set_postfix_str(s), bar.update(1)),
            on_features=lambda X: found.update(drift=against_model(model.info, X)))
        estimate = _write_scores(args, cfg, model, as_of, scores, out)
        if found["drift"] is not None:
            write_table(found["drift"][0], drift_out)
        if calls_out is not None:
            write_table(call_list(scores, args.call_list, model.policy()), calls_out)
        bar.update(1)
    secs = time.perf_counter() - t0
    ref = model.info.get("reference", {})
    then = (f"; {ref['mean_probability']:.3f} on the model's reference cutoff {ref['cutoff']}"
            if "mean_probability" in ref else "")
    print(f"scored {len(scores):,} customers active at {as_of.date()} in {secs:.1f}s "
          f"(mean churn probability {scores['churn_probability'].mean():.3f}{then})")
    for line in decision_lines(scores, model.info, cfg.scoring.currency):
        print(line)
    if scores.attrs.get("value_note"):  # CLV is the default value: say why it is not used
        print(f"note: {scores.attrs['value_note']}")
    if found["drift"] is None:
        print("drift: not measured (the model was trained before drift references were kept; "
              "retrain to get them)")
    else:
        print(summary_line(*found["drift"]))
        _loud_drift(found["drift"][0], model.info)
    written = [str(out)] + ([str(drift_out)] if found["drift"] is not None else []) + \
        ([str(calls_out)] if calls_out is not None else [])
    print(_estimate_line(estimate, model.horizon_days, as_of, out))
    print("wrote " + ", ".join(written))


def decision_lines(scores: pd.DataFrame, info: dict, currency: str) -> list[str]:
    """The at-risk list, win-back list, states and actions, as score prints them."""
    from churnmodel.decisions import counts
    from churnmodel.report.render import money

    sc = info.get("scoring", {})
    n = max(len(scores), 1)
    risk = scores[scores["at_risk"]]
    c = counts(scores)
    share = f"; {sc['share']:.1%} of the not-lapsed on validation" if "share" in sc else ""
    win = scores[scores["action"] == "win back"]
    return [
        f"at risk, to retain now (p >= {sc.get('threshold', 0.5):.3f}, not lapsed): "
        f"{len(risk):,} customers ({len(risk) / n:.1%}{share}), expected value at risk "
        f"{money(risk['expected_value_at_risk'].sum(), currency)} of "
        f"{money(scores['expected_value_at_risk'].sum(), currency)}",
        f"win back (lapsed, worth an offer): {len(win):,} customers, value "
        f"{money(win['customer_value'].sum(), currency)}",
        "states: " + ", ".join(f"{k} {v:,}" for k, v in c["state"].items())
        + "; actions: " + ", ".join(f"{k} {v:,}" for k, v in c["action"].items()),
    ]


def _loud_drift(drift: pd.DataFrame, info: dict) -> None:
    """Most features drifting at the major level: another data set, not a new month."""
    major = int((drift["level"] == "major").sum())
    if len(drift) and major / len(drift) > 0.5:
        print(f"WARNING: {major} of {len(drift)} features drift at the major level: these data do "
              f"not look like what the model (project '{info.get('project', '?')}') was trained "
              "on. Check that --config and --model belong together; the scores are not to be "
              "trusted until they do.")


def _customer_ids(given: list[str]) -> list[str]:
    """``--customers`` values (comma-separated, repeatable) as a list; none is an error."""
    ids = [x.strip() for part in given for x in part.split(",") if x.strip()]
    if not ids:
        raise ChurnModelError("--customers names no customer id; give ids separated by commas.")
    return ids


def cmd_features(args: argparse.Namespace) -> None:
    """The feature rows the model scores at a date, at full precision (for REST or checks)."""
    from churnmodel import preflight
    from churnmodel.scoring import check_output_path, feature_rows, write_table

    cfg = _config(args)
    out = check_output_path(args.out, args.overwrite, suffixes=(".csv", ".parquet", ".json"))
    preflight.table_sources(cfg)
    model = _scoring_model(args, cfg)
    tables = _load_tables(cfg)
    as_of = _as_of(args, tables)
    ids = None
    if args.customers:
        ids = _customer_ids(args.customers)
    X = feature_rows(model, tables, as_of, cfg.scoring, ids).reset_index()
    write_table(X, out)
    print(f"wrote the features of {len(X):,} customers at {as_of.date()} ({len(X.columns) - 2} "
          f"features, customer_id and customer_value) to {out}"
          + (" as a REST request body (dataframe_split)" if out.suffix.lower() == ".json" else ""))


def _write_scores(args: argparse.Namespace, cfg: Config, model, as_of: pd.Timestamp,
                  scores: pd.DataFrame, out: Path) -> dict[str, float]:
    """The score file with the metadata `churnmodel evaluate` needs; returns the CBPE estimate."""
    from churnmodel.modeling.cbpe import estimate
    from churnmodel.scorefile import local_identity, score_file_metadata, write_score_file

    source = str(args.model or cfg.output.model_dir)
    identity = {"source": source, **local_identity(source, model)}
    if source.startswith(("models:/", "runs:/")):
        from churnmodel.tracking import registered_identity, tracking_uri

        identity.update(registered_identity(source), tracking_uri=tracking_uri(cfg))
    est = estimate(scores["churn_probability"].to_numpy(), scores["at_risk"].to_numpy())
    write_score_file(scores, out, score_file_metadata(cfg, model, as_of, identity, est))
    return est


def _estimate_line(est: dict[str, float], horizon: int, as_of: pd.Timestamp, out: Path) -> str:
    return (f"estimated before labels (CBPE, from the calibrated probabilities): ROC AUC "
            f"{est['roc_auc']:.3f}, PR AUC {est['pr_auc']:.3f}, Brier {est['brier']:.3f}, "
            f"{est['base_rate']:.1%} expected to churn within {horizon} days; after "
            f"{(as_of + pd.Timedelta(days=horizon)).date()} `churnmodel evaluate --scores {out}` "
            "gives the realised figures")


def cmd_evaluate(args: argparse.Namespace) -> None:
    """How a past score file turned out (once its horizon has run) and the CBPE estimate."""
    from churnmodel import preflight
    from churnmodel.evaluation import evaluate_scores
    from churnmodel.scorefile import check_project, read_score_file

    cfg = load_config(args.config)
    scores, meta = read_score_file(args.scores)  # a foreign file fails before any data are read
    check_project(meta, cfg, args.scores)
    out = None
    if args.out:
        from churnmodel.scoring import check_output_path

        out = check_output_path(args.out, args.overwrite, suffixes=(".json",))
    track = cfg.tracking.enabled and not args.no_track
    if track:
        from churnmodel.tracking import preflight_store

        preflight_store(cfg)
    preflight.table_sources(cfg)
    tables = _load_tables(cfg)
    t0 = time.perf_counter()
    ev = evaluate_scores(scores, meta, tables, args.as_of)
    from churnmodel.scorefile import data_source

    if meta.get("data_source") and meta["data_source"] != data_source(cfg):
        print(f"note: the scores were made from {meta['data_source']}; the config now reads "
              f"{data_source(cfg)}")
    print(ev.text(cfg.scoring.currency))
    print(f"\nevaluated in {time.perf_counter() - t0:.1f}s")
    if out is not None:
        from churnmodel.files import atomic_write

        atomic_write(out, lambda p: p.write_text(json.dumps(ev.as_dict(), indent=2, default=str)))
        print(f"wrote {out}")
    if track:
        from churnmodel.tracking import log_evaluation, tracking_uri

        run_id = log_evaluation(ev, cfg, args.scores)
        version = meta.get("model", {}).get("version")
        print(f"MLflow: run {run_id} in experiment '{cfg.tracking.experiment}' "
              f"({tracking_uri(cfg)})" + (f", tagged with model version {version}" if version
                                          else ", tagged with the model fingerprint"))


def cmd_explain(args: argparse.Namespace) -> None:
    """Why given customers have their risk: the features pushing it up and holding it down."""
    from churnmodel.explain import explain_customers
    from churnmodel.scoring import check_output_path, write_table

    if args.n < 1:
        raise ChurnModelError(f"--n must be at least 1 (factors per direction), got {args.n}.")
    from churnmodel import preflight

    cfg = _config(args)
    out = check_output_path(args.out, args.overwrite) if args.out else None
    preflight.table_sources(cfg)
    model = _scoring_model(args, cfg)
    tables = _load_tables(cfg)
    as_of = _as_of(args, tables)
    ids = _customer_ids(args.customers)
    frame = explain_customers(model, tables, as_of, ids, args.n)
    threshold = model.info.get("scoring", {}).get("threshold", 0.5)
    for cid, rows in frame.groupby("customer_id", sort=False):
        r0 = rows.iloc[0]
        flag = "at risk" if r0["at_risk"] else "not at risk"
        print(f"customer {cid} at {as_of.date()}: churn probability {r0['churn_probability']:.3f} "
              f"({r0['risk_band']}; {flag}, threshold p >= {threshold:.3f})")
        for direction, title in (("up", "pushes risk up"), ("down", "holds risk down"),
                                 ("lever", "what to act on")):
            part = rows[rows["direction"] == direction]
            if len(part):
                print(f"  {title}:")
                for r in part.itertuples():
                    print(f"    {r.contribution:+.3f}  {r.sentence}")
        for r in rows[rows["direction"] == "none"].itertuples():
            print(f"  {r.sentence}")
    if out is not None:
        write_table(frame, out)
        print(f"wrote {out}")


def cmd_backtest(args: argparse.Namespace) -> None:
    """Train as of several earlier dates; every candidate scored at each date against what followed."""
    from churnmodel.backtest import backtest, backtest_text, check_settings
    from churnmodel.scoring import check_output_path, write_table

    check_settings(args.folds, args.step_months)  # bad settings fail before any work
    cfg = _config(args)
    out = check_output_path(args.out, args.overwrite) if args.out else None
    if cfg.data.uses_default and not (cfg.data.dir / "transactions.parquet").exists():
        raise ChurnModelError(f"no data in {str(cfg.data.dir)!r}: run `churnmodel data synth` "
                              "first, or pass --config with your own [data.transactions].")
    from churnmodel import preflight

    preflight.table_sources(cfg)
    tables = _load_tables(cfg, for_training=True)
    t0 = time.perf_counter()
    with _progress(args.folds, not args.quiet, "backtest folds") as bar:
        frame = backtest(tables, cfg, args.folds, args.step_months, oracle=_oracle(cfg),
                         on_fold=lambda k, result: bar.update(1))
    print(backtest_text(frame, args.folds, args.step_months, time.perf_counter() - t0))
    if out is not None:
        write_table(frame, out)
        print(f"wrote {out}")


def _segment_model(args: argparse.Namespace, cfg: Config):
    """The model to score segments with, or None (with a note) when none was trained yet."""
    from churnmodel.modeling.model import MODEL_FILE

    source = Path(cfg.output.model_dir)
    if args.model is None and not any((source / f).exists() for f in (MODEL_FILE, "MLmodel")):
        print(f"note: no trained model in {source}: segments without churn probability or risk x "
              "value (run `churnmodel train` first, or pass --model DIR)")
        return None
    return _scoring_model(args, cfg)


_SUMMARY_COLUMNS = {"customers": ("customers", "{:,.0f}"), "share": ("share", "{:.1%}"),
                    "mean_probability": ("mean p", "{:.3f}"), "total_value": ("value", "{:,.0f}"),
                    "expected_value_at_risk": ("value at risk", "{:,.0f}")}


def _summary_text(summary: pd.DataFrame, title: str) -> str:
    df = summary.copy()
    df.index = df.index.astype(str)
    df.index.name = title
    cols = {}
    for c in df.columns:
        name, spec = _SUMMARY_COLUMNS.get(str(c), (str(c), "{}"))
        cols[name] = [spec.format(v) if pd.notna(v) else "" for v in df[c]]
    return pd.DataFrame(cols, index=df.index).to_string()


def _matrix_text(matrix: pd.DataFrame) -> str:
    """Risk band x value band: the customers of each action, and the cell's value."""
    bands = ["low", "medium", "high"]
    risks = [str(b) for b in matrix["risk_band"].cat.categories][::-1] \
        if hasattr(matrix["risk_band"], "cat") else ["high", "medium", "low"]
    rows = {}
    for risk in risks:
        row = []
        for v in bands:
            cell = matrix[(matrix["risk_band"].astype(str) == risk) & (matrix["value_band"].astype(str) == v)]
            cell = cell[cell["customers"] > 0].sort_values("customers", ascending=False)
            acts = ", ".join(f"{a} {n:,}" for a, n in zip(cell["action"], cell["customers"], strict=True))
            row.append(f"{acts or 'none'} / {cell['total_value'].sum():,.0f}")
        rows[f"{risk} risk"] = row
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=[f"{v} value" for v in bands]).to_string()


def cmd_segment(args: argparse.Namespace) -> None:
    from churnmodel.scoring import check_output_path, customer_segments, write_table
    from churnmodel.segmentation import segment_overview

    cfg = _config(args)
    out = check_output_path(args.out, args.overwrite)
    profiles_out = _companion_output(out, "clusters", "the cluster profiles", args.overwrite)
    from churnmodel import preflight

    preflight.table_sources(cfg)
    model = _segment_model(args, cfg)
    tables = _load_tables(cfg)
    as_of = _as_of(args, tables)
    t0 = time.perf_counter()
    with _progress(2, not args.quiet, "segmenting") as bar:
        seg = customer_segments(tables, as_of, cfg, model)
        bar.update(1)
        write_table(seg.table.reset_index(names="customer_id"), out)
        write_table(seg.clusters.profiles.reset_index(), profiles_out)
        bar.update(1)
    cl = seg.clusters
    print(f"segmented {len(seg.table):,} customers active at {as_of.date()} in "
          f"{time.perf_counter() - t0:.1f}s" + ("" if model is None else f" (model {model.name})"))
    print("\n" + _summary_text(segment_overview(seg.table, "rfm_segment"), "RFM segment"))
    clusters = segment_overview(seg.table, "cluster")
    clusters.index = [f"{i} {n}" for i, n in zip(clusters.index, clusters.pop("name"), strict=True)]
    print(f"\nbehavioural clusters (k = {cl.k}, best silhouette "
          f"{cl.silhouette[cl.k]:.3f} of k = {min(cl.silhouette)}..{max(cl.silhouette)}):")
    print(_summary_text(clusters, "cluster"))
    if "nps_group" in seg.table.columns:
        print("\n" + _summary_text(segment_overview(seg.table, "nps_group"), "NPS group"))
    if seg.matrix is not None:
        print("\nrisk x value (customers per action / value):")
        print(_matrix_text(seg.matrix))
    print(f"\nwrote {out} (one row per customer) and {profiles_out} (cluster profiles)")


def cmd_report(args: argparse.Namespace) -> None:
    from churnmodel import preflight
    from churnmodel.modeling.model import ChurnModel
    from churnmodel.report import REPORT_FILE, churn_report, render_in_chromium, write_report
    from churnmodel.report.render import money

    cfg = _config(args)
    if cfg.data.snapshot:
        from churnmodel.snapshot import commands

        return commands.report(args, cfg)
    model_dir = Path(args.model or cfg.output.model_dir)
    out = Path(args.out) if args.out else Path(cfg.output.report_dir) / REPORT_FILE
    if out.suffix.lower() not in (".html", ".htm"):
        raise ChurnModelError(f"report {str(out)!r} must end in .html.")
    if args.out:
        preflight.writable_file(out, "report", "--out")
    else:
        preflight.writable_dir(out.parent, "report directory", "[output] report_dir")
    if args.screenshot:
        preflight.writable_file(args.screenshot, "screenshot", "--screenshot")
    preflight.table_sources(cfg)
    model = ChurnModel.load(model_dir)
    from churnmodel.scoring import check_model_project

    check_model_project(model, cfg, model_dir)
    tables = _load_tables(cfg)
    as_of = _as_of(args, tables)
    t0 = time.perf_counter()
    with _progress(6, not args.quiet, "report") as bar:
        report = churn_report(tables, cfg, model, model_dir, as_of,
                              on_step=lambda s: (bar.set_postfix_str(s), bar.update(1)))
        write_report(report, out)
        bar.update(1)
    h = report.headline
    auc = f"{h['test_auc']:.3f}" if h["test_auc"] is not None else "n/a"
    oracle = f" (oracle {h['oracle_auc']:.3f})" if h["oracle_auc"] is not None else ""
    print(f"report on {h['customers']:,} customers active at {as_of.date()}: {h['at_risk']:,} at risk, "
          f"expected value at risk {money(h['value_at_risk'], cfg.scoring.currency)}; "
          f"test ROC AUC {auc}{oracle} [{time.perf_counter() - t0:.1f}s]")
    for notes in report.notes.values():
        for note in notes:
            print(f"note: {note}")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, self-contained)")
    if args.screenshot is not None:
        png = Path(args.screenshot) if args.screenshot else out.with_suffix(".png")
        rendered = render_in_chromium(out, png)
        print(f"rendered in headless Chromium: {len(rendered.console)} console message(s); "
              f"screenshot {rendered.screenshot}")
        for line in rendered.console:
            print(f"  {line}")


class _StepLines:
    """Progress for a log file or pipe: one line per finished step on stderr, no ``\\r``."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.done, self.step = total, desc, 0, ""
        self.t0 = time.perf_counter()

    def set_postfix_str(self, s: str) -> None:
        self.step = s

    def update(self, n: int = 1) -> None:
        self.done += n
        what = f" {self.step}" if self.step else ""
        print(f"{self.desc} {self.done}/{self.total}{what} [{time.perf_counter() - self.t0:.1f}s]",
              file=sys.stderr, flush=True)
        self.step = ""

    def __enter__(self) -> _StepLines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(total: int, enabled: bool, desc: str):
    """A tqdm bar on a terminal; elsewhere one line per finished step (nothing when disabled)."""
    if enabled and not sys.stderr.isatty():
        return _StepLines(total, desc)
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, leave=False)


def _bars(args: argparse.Namespace) -> bool:
    """Live bars only on a terminal: carriage returns must not end up in log files."""
    return not args.quiet and sys.stderr.isatty()


# Loggers of the libraries that talk on their own; silent below WARNING unless --verbose.
LIBRARY_LOGGERS = ("mlflow", "alembic", "sqlalchemy", "huey", "urllib3", "matplotlib", "numba",
                   "shap", "lightgbm")


class _LogFormat(logging.Formatter):
    """churnmodel's own log lines as the commands print their notes (``warning: ...``); a
    library's (shown with ``--verbose``) with its level and logger name.

    >>> f = _LogFormat(LOG_FORMAT)
    >>> def line(name):
    ...     return f.format(logging.LogRecord(name, logging.WARNING, "", 0, "slow %s", ("x",), None))
    >>> line("churnmodel.modeling.lifetime"), line("mlflow.store")
    ('warning: slow x', 'WARNING mlflow.store: slow x')
    """

    def format(self, record: logging.LogRecord) -> str:
        if record.name != "churnmodel" and not record.name.startswith("churnmodel."):
            return super().format(record)
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def _setup_logging(verbose: bool, debug: bool) -> None:
    """Quiet by default: our own warnings and errors only; ``--verbose`` shows library logs.

    MLflow configures its loggers when it is first imported (INFO, its own stderr handler):
    ``MLFLOW_LOGGING_LEVEL`` is read then, so it is set before any import of mlflow, and the
    loggers are set directly in case mlflow is already imported (``main`` called in-process).
    """
    level = logging.INFO if verbose else logging.WARNING
    root = logging.getLogger()
    had = list(root.handlers)
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for h in root.handlers:  # only the handler basicConfig added (an embedding app keeps its own)
        if h not in had:
            h.setFormatter(_LogFormat(LOG_FORMAT))
    os.environ["MLFLOW_LOGGING_LEVEL"] = logging.getLevelName(level)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    # artifact upload bars would bury our own summary (and write \r into logs)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not (verbose or debug):
        warnings.simplefilter("ignore")  # library deprecation notes are not the user's to act on


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve the registered champion (or a model directory) over REST on 127.0.0.1.

    The port and the model are checked first (one error line each); the server is MLflow's
    scoring app behind churnmodel's request guard (:mod:`churnmodel.serving.app`).
    """
    import subprocess

    from churnmodel import preflight
    from churnmodel.tracking import configure, preflight_store, resolve_served_model

    cfg = _config(args)
    preflight.free_port(args.host, args.port)
    preflight_store(cfg)
    uri = configure(cfg)
    model = args.model or f"models:/{cfg.tracking.model_name}@{cfg.tracking.alias}"
    local = resolve_served_model(model, uri)
    from mlflow.pyfunc import scoring_server

    _, env = scoring_server.get_cmd(local, args.port, args.host, None, args.workers)
    # Nagle off on every connection (see serving/protocol.py): 40 ms per answer otherwise
    cmd = [sys.executable, "-m", "uvicorn", "--host", args.host, "--port", str(args.port),
           "--workers", str(args.workers), "--http",
           "churnmodel.serving.protocol:NoDelayH11Protocol", "churnmodel.serving.app:app"]
    print(f"serving {model} (tracking {uri}) on http://{args.host}:{args.port}/invocations; "
          "Ctrl-C stops")
    env = dict(env, MLFLOW_TRACKING_URI=uri)
    try:
        subprocess.run(cmd, env=env, check=True)
    except subprocess.CalledProcessError as exc:
        raise ChurnModelError(f"the REST server exited with status {exc.returncode}") from None
    except KeyboardInterrupt:
        pass


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line (like every other error), exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="churnmodel", description=__doc__.split("\n")[0])
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", help="TOML config file (default: built-in defaults, "
                                         "embedded synthetic data in data/default)")
        sp.add_argument("--quiet", action="store_true", help="no progress bars or step lines")
        sp.add_argument("--verbose", action="store_true", help="also show the log lines and warnings "
                        "of MLflow and other libraries")

    data = sub.add_parser("data", help="data utilities").add_subparsers(dest="data_cmd", required=True)
    synth = data.add_parser("synth", help="generate the embedded synthetic data set")
    common(synth)
    synth.add_argument("--customers", type=_int_in(SYNTH_MIN_CUSTOMERS, 100_000_000),
                       help=f"number of customers (default 20000, at least {SYNTH_MIN_CUSTOMERS})")
    synth.add_argument("--seed", type=_SEED, help="random seed (default 42)")
    synth.add_argument("--end", type=_parse_date, help="last day of the history (2025-12-31)")
    synth.add_argument("--out", help="output directory (default data/default, or data/SCENARIO)")
    synth.add_argument("--events", choices=("default", "thin", "none"), default="default",
                       help="the engagement log (logins, sessions, page views, email opens): "
                            "'thin' makes it sparse (about 21 events per customer, not 318), "
                            "'none' leaves it out, the other tables unchanged (default: default)")
    synth.add_argument("--scenario", default="default",
                       help="shape of the business: default, single-cohort, sparse, subscription, "
                       "or snapshot (one row per customer with a Yes/No churn flag)")
    synth.set_defaults(func=cmd_data_synth)

    tr = sub.add_parser("train", help="train, compare with baselines, export the champion")
    common(tr)
    tr.add_argument("--engine", choices=ENGINES, help=ENGINE_HELP)
    tr.add_argument("--as-of", type=_parse_date, help="ignore every event after this date "
                    "(backtesting); default: the latest event")
    tr.add_argument("--seed", type=_SEED, help="random seed (default from config: 42)")
    tr.add_argument("--model-dir", help="where to export the model (default models/<project>)")
    tr.add_argument("--no-track", action="store_true", help="do not log the run to MLflow")
    tr.add_argument("--no-report", action="store_true",
                    help="write no HTML report and no figures after training ([output] report "
                         "= false); `churnmodel report` writes them later")
    tr.set_defaults(func=cmd_train)

    ex = sub.add_parser("explain", help="why given customers have their churn risk (any active "
                        "customer, at risk or not)")
    common(ex)
    ex.add_argument("--customers", nargs="+", required=True, metavar="ID[,ID...]",
                    help="customer ids, separated by commas or spaces")
    ex.add_argument("--as-of", type=_parse_date, help="date of the explanation (default: the latest "
                    "event)")
    ex.add_argument("--model", help="model directory (default models/<project>) or MLflow URI")
    ex.add_argument("--n", type=int, default=3, help="factors per direction (default 3)")
    ex.add_argument("--out", help="also write the factors, .csv or .parquet")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    ex.set_defaults(func=cmd_explain)

    bt = sub.add_parser("backtest", help="train as of several earlier dates and compare every "
                        "candidate on each fold's test cutoff")
    common(bt)
    bt.add_argument("--as-of", type=_parse_date, help="date of the latest fold (default: the "
                    "latest event)")
    bt.add_argument("--folds", type=int, default=3, help="number of folds (default 3)")
    bt.add_argument("--step-months", type=int, default=3, help="months between folds (default 3: "
                    "test windows of a 90-day horizon do not overlap)")
    bt.add_argument("--out", help="also write every fold's metrics, .csv or .parquet")
    bt.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    bt.set_defaults(func=cmd_backtest)

    pf = sub.add_parser("profile", help="the facts to check before modelling: history, arrivals, "
                                        "one-time buyers, gaps, base rate per horizon, ladder")
    common(pf)
    pf.add_argument("--as-of", type=_parse_date, help="profile the history up to this date")
    pf.add_argument("--out", help="also write the profile as JSON to this file")
    pf.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    pf.set_defaults(func=cmd_profile)

    sc = sub.add_parser("score", help="score every active customer at a date")
    common(sc)
    sc.add_argument("--as-of", type=_parse_date, help="scoring date (default: the latest event)")
    sc.add_argument("--out", required=True, help="output file, .csv or .parquet (feature drift goes "
                    "to <stem>_drift.csv next to it)")
    sc.add_argument("--model", help="model directory (default models/<project>) or MLflow URI, "
                    "e.g. models:/churnmodel-default@champion")
    sc.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    sc.add_argument("--no-drivers", action="store_true", help="skip explaining at-risk customers")
    sc.add_argument("--call-list", type=_int_in(1, 10_000_000), metavar="N",
                    help="also write the N customers to contact first to <stem>_call_list.csv")
    sc.add_argument("--engine", choices=ENGINES, help=ENGINE_HELP)
    sc.set_defaults(func=cmd_score)

    ev = sub.add_parser("evaluate", help="how a past score file turned out: realised metrics once "
                        "its horizon has run, estimated ones (CBPE) before")
    common(ev)
    ev.add_argument("--scores", required=True, help="a score file written by `churnmodel score` "
                    "(.parquet, or .csv with its .meta.json sidecar)")
    ev.add_argument("--as-of", type=_parse_date, help="evaluate with the data known at this date "
                    "(default: the latest event)")
    ev.add_argument("--out", help="also write the whole evaluation as JSON to this file")
    ev.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    ev.add_argument("--no-track", action="store_true", help="do not log the evaluation to MLflow")
    ev.set_defaults(func=cmd_evaluate)

    ft = sub.add_parser("features", help="write the feature rows the model scores at a date "
                        "(.csv, .parquet, or .json: a REST request body)")
    common(ft)
    ft.add_argument("--as-of", type=_parse_date, help="date (default: the latest event)")
    ft.add_argument("--customers", action="append", help="only these ids (comma-separated; "
                    "repeatable); they must be active at the date")
    ft.add_argument("--out", required=True, help="output file: .csv, .parquet or .json")
    ft.add_argument("--model", help="model directory (default models/<project>) or MLflow URI")
    ft.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    ft.set_defaults(func=cmd_features)

    sub.add_parser("bench", help="measure every stage at scale: churnmodel bench --customers N "
                   "(see churnmodel bench --help)")

    sv = sub.add_parser("serve", help="serve the champion over REST (mlflow models serve)")
    common(sv)
    sv.add_argument("--model", help="MLflow model URI or exported directory "
                    "(default models:/<model_name>@champion)")
    sv.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    sv.add_argument("--port", type=_int_in(1, 65535), default=5001, help="port (default 5001)")
    sv.add_argument("--workers", type=_int_in(1, 64), default=2, help="server processes (default 2, "
                    "measured best on 2 cores: README, Performance; each holds the model in memory)")
    sv.set_defaults(func=cmd_serve)

    sg = sub.add_parser("segment", help="RFM segments, behavioural clusters, NPS groups and risk x "
                        "value of every active customer at a date")
    common(sg)
    sg.add_argument("--as-of", type=_parse_date, help="segmentation date (default: the latest event)")
    sg.add_argument("--out", required=True, help="output file, .csv or .parquet (cluster profiles "
                    "go to <stem>_clusters.csv next to it)")
    sg.add_argument("--model", help="model directory (default models/<project>; without a trained "
                    "model no churn probability) or MLflow URI")
    sg.add_argument("--overwrite", action="store_true", help="replace existing output files")
    sg.set_defaults(func=cmd_segment)

    rp = sub.add_parser("report", help="write the self-contained HTML churn report")
    common(rp)
    rp.add_argument("--as-of", type=_parse_date, help="date of the customers shown (default: the "
                    "latest event)")
    rp.add_argument("--model", help="exported model directory (default models/<project>)")
    rp.add_argument("--out", help="HTML file (default reports/<project>/churn_report.html)")
    rp.add_argument("--screenshot", nargs="?", const="", metavar="PNG",
                    help="also render the page in headless Chromium and save a screenshot "
                         "(default next to the report, .png)")
    rp.set_defaults(func=cmd_report)
    return p


def _terminate(signum, frame) -> None:
    """SIGTERM unwinds like Ctrl-C: temp files are removed, the MLflow run is marked KILLED."""
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark has its own options (python -m churnmodel.bench)
        from churnmodel.bench import main as bench_main

        return bench_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, status 2) and --help, also in process
        return exc.code if isinstance(exc.code, int) else 2
    _setup_logging(getattr(args, "verbose", False), args.debug)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        with one_thread():
            args.func(args)
    except ChurnModelError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc or 'Ctrl-C'}); no partial output was left behind", file=sys.stderr)
        return 130
    except Exception as exc:  # the one boundary: pandas, pyarrow, DuckDB, OS, MLflow errors
        if args.debug:
            raise
        print(f"error: {describe_failure(exc)}", file=sys.stderr)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
