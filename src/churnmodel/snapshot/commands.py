"""The command line's snapshot-mode paths: ``data synth --scenario snapshot``, ``train``,
``score`` and ``report`` when the config has ``[data.customers]`` and no transactions.

I/O lives here (reading the table, writing the model, scores and report, printing); the
library work is in the sibling modules. ``churnmodel serve`` needs no path of its own:
the registered pyfunc is the same kind of model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from churnmodel.config import Config, TableSource
from churnmodel.errors import ChurnModelError, ConfigError

SUPPORTED = ("train", "score", "report", "serve")
DEFAULT_CUSTOMERS = 7043


def _source(cfg: Config) -> TableSource:
    return cfg.data.tables["customers"]


def read_table(cfg: Config) -> pd.DataFrame:
    """The customers table as stored (the user's column names), ids kept as text."""
    from churnmodel.data.io import read_source

    df = read_source("customers", _source(cfg), cfg.engine)
    # unnamed trailing columns of spreadsheet exports carry nothing
    df = df[[c for c in df.columns if not str(c).startswith("Unnamed: ") or df[c].notna().any()]]
    if len(df) == 0:
        raise ChurnModelError("table 'customers' is empty. Fix: export the table with a header "
                              "row and at least one customer.")
    id_col = _columns(cfg)[0]
    if _source(cfg).missing_ids == "drop" and id_col in df.columns:
        from churnmodel.data.io import drop_missing_ids

        df, note = drop_missing_ids("customers", df, id_col)
        if note is not None:
            print(note)
    return df


def _columns(cfg: Config) -> tuple[str, str | None, str | None]:
    cols = _source(cfg).columns
    return cols.get("customer_id", "customer_id"), cols.get("churned"), cols.get("value")


def _leave_out(cfg: Config) -> dict[str, str]:
    """Mapped columns that are no attribute: the churn date leaks the label, dates need an
    as-of date a snapshot does not have."""
    cols = _source(cfg).columns
    reasons = {"churned_ts": "the churn date (churned_ts): it would leak the label",
               "signup_ts": "the signup date (signup_ts): snapshot mode has no as-of date"}
    return {cols[k]: why for k, why in reasons.items() if k in cols}


def unsupported() -> ChurnModelError:
    return ChurnModelError(f"this command needs purchase logs; this config is in "
                           f"snapshot mode ([data.customers] without [data.transactions]), which "
                           f"supports {', '.join(SUPPORTED)}.")


# --- data synth ----------------------------------------------------------------------------

def synth(args: argparse.Namespace, cfg: Config) -> None:
    from churnmodel import preflight
    from churnmodel.snapshot.synthetic import write_snapshot

    out = Path(args.out) if args.out else cfg.data.dir.parent / "snapshot"
    preflight.writable_dir(out, "data directory", "--out" if args.out else "[data] dir")
    n = args.customers if args.customers is not None else DEFAULT_CUSTOMERS
    seed = args.seed if args.seed is not None else cfg.data.synthetic.seed
    t0 = time.perf_counter()
    res = write_snapshot(out, n, seed)
    print(f"generated scenario 'snapshot' (one row per customer, telco-shaped, Churn Yes/No, no "
          f"purchase log): {n:,} labelled customers (churn rate {res['churn_rate']:.1%}) and "
          f"{res['to_score']:,} to score in {time.perf_counter() - t0:.1f}s")
    print(f"wrote {', '.join(p.name for p in res['paths'].values())} to {out}")
    print(f"train with `churnmodel train --config {out / 'snapshot.toml'}`, then score with "
          f"`churnmodel score --config {out / 'scoring.toml'} --out scores.csv`")


# --- train ------------------------------------------------------------------------------------

def _cv_table(result) -> str:
    cols = ["roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile"]
    best = result.model.info.get("best_single_column")

    def label(k: str) -> str:
        col = f" ({best})" if k == "best_column" and best else ""
        return k + col + (" (champion)" if k == result.champion else "")

    rows = {label(k): v for k, v in result.cv_metrics.items()}
    width = max(len(k) for k in rows) + 2
    lines = ["".ljust(width) + "".join(c.rjust(12) for c in ["ROC AUC", "PR AUC", "Brier",
                                                           "log loss", "lift@10%"])
             + "  fold ROC AUC"]
    for name, m in rows.items():
        folds = result.fold_auc[name.split(" ")[0]]
        lines.append(name.ljust(width) + "".join(f"{m[c]:12.4f}" for c in cols)
                     + f"  {min(folds):.3f}..{max(folds):.3f}")
    return "\n".join(lines)


def train(args: argparse.Namespace, cfg: Config, progress: bool) -> None:
    from churnmodel import preflight
    from churnmodel.explain import explain, global_importance
    from churnmodel.serving import save_pyfunc
    from churnmodel.snapshot.train import train_snapshot
    from churnmodel.tracking import preflight_store, training_run

    id_col, flag, value = _columns(cfg)
    if flag is None:
        raise ConfigError("[data.customers] without [data.transactions] is snapshot mode, which "
                          "trains on a churn flag: add churned = \"<your Yes/No column>\" to "
                          "[data.customers] (or configure [data.transactions] for purchase logs).")
    preflight.table_sources(cfg)
    model_dir = Path(cfg.output.model_dir)
    preflight.writable_dir(model_dir, "model directory",
                           "--model-dir" if getattr(args, "model_dir", None) else "[output] model_dir")
    preflight.writable_dir(cfg.output.report_dir, "report directory", "[output] report_dir")
    track = cfg.tracking.enabled and not args.no_track
    if track:
        preflight_store(cfg)
    with training_run(cfg, track) as run_id:
        t0 = time.perf_counter()
        df = read_table(cfg)
        print(f"loaded customers {len(df):,} rows x {df.shape[1]} columns in "
              f"{time.perf_counter() - t0:.1f}s (snapshot mode: one row per customer, flag "
              f"{flag!r})")
        result = train_snapshot(df, cfg, id_col, flag, value, _leave_out(cfg))
        t = result.typing
        kinds = {k: sum(d.kind == k for d in t.decisions) for k in ("numeric", "categorical",
                                                                      "dropped")}
        print(f"columns: {kinds['numeric']} numeric, {kinds['categorical']} categorical, "
              f"{kinds['dropped']} left out (id {id_col!r}, flag {flag!r})")
        for d in t.decisions:
            if d.kind == "dropped" or "blank" in d.reason or "stored as text" in d.reason \
                    or "pooled" in d.reason or getattr(args, "verbose", False):
                print(f"note: {d.note()}")
        for w in result.warnings:
            print(f"warning: {w}")
        print(f"\n{result.n_labelled:,} labelled customers (churn rate "
              f"{result.cv_metrics[result.champion]['base_rate']:.3f}), {result.n_to_score:,} "
              f"with a blank flag (to score); stratified {result.folds}-fold cross-validation, "
              "calibrated out of fold:")
        print(_cv_table(result))
        for k, why in result.skipped.items():
            print(f"note: candidate {k} skipped ({why})")
        m = result.model
        sc = m.info["scoring"]
        print(f"\nchampion: {result.champion}, refitted on all {result.n_labelled:,} labelled rows"
              + (f" ({m.info['n_rounds']} trees)" if "n_rounds" in m.info else "")
              + (f" (column {m.info['best_column']!r})" if "best_column" in m.info else ""))
        print(f"at-risk threshold p >= {sc['threshold']:.3f} ({sc['rule']})")
        paths = m.save(model_dir, result.metrics_json())
        t1 = time.perf_counter()
        sample = result.features.sample(min(2000, len(result.features)),
                                         random_state=cfg.training.seed).sort_index()
        expl = explain(m, sample)
        importance = global_importance(expl) if expl is not None else None
        if importance is not None:
            importance.to_csv(model_dir / "shap_importance.csv", index=False)
            if importance["mean_abs_shap"].sum() > 0:
                print("top drivers (mean |SHAP|): " + ", ".join(importance["feature"].head(5)))
        result.oof.to_csv(model_dir / "cv_predictions.csv", index=False)
        save_pyfunc(m, result.features, model_dir / "mlflow_model")
        print(f"\ntrained in {result.seconds:.1f}s, explained in {time.perf_counter() - t1:.1f}s; "
              f"wrote {', '.join(p.name for p in paths)}, cv_predictions.csv and mlflow_model/ "
              f"to {model_dir}")
        if run_id is not None:
            from churnmodel.snapshot.tracking import log_snapshot_training

            rep = log_snapshot_training(result, cfg, df, model_dir, importance)
            print(f"MLflow: run {rep.run_id} in experiment '{rep.experiment}' ({rep.tracking_uri}); "
                  f"registered '{cfg.tracking.model_name}' version {rep.version}: {rep.reason} "
                  f"[{rep.seconds:.1f}s]")
        if not cfg.output.report:
            from churnmodel.report import REPORT_FILE, skip_report

            print(skip_report(model_dir, Path(cfg.output.report_dir) / REPORT_FILE))
            return
        try:
            _write_report(cfg, m, df, result.oof, importance,
                          Path(cfg.output.report_dir) / "churn_report.html")
        except ChurnModelError as exc:  # the model is saved: say so and go on
            print(f"warning: the HTML report was not written ({exc}); run `churnmodel report`")


# --- score --------------------------------------------------------------------------------------

def load_model(args: argparse.Namespace, cfg: Config):
    from churnmodel.serving import load_churn_model
    from churnmodel.snapshot.model import is_snapshot

    source = getattr(args, "model", None) or cfg.output.model_dir
    if str(source).startswith(("models:/", "runs:/")):
        from churnmodel.tracking import configure, preflight_store

        preflight_store(cfg)
        configure(cfg)
    model = load_churn_model(source)
    if not is_snapshot(model):
        raise ChurnModelError(f"the model in {str(source)!r} was trained on purchase logs; a "
                              "customers table alone (snapshot mode) needs a model trained in "
                              "snapshot mode: `churnmodel train` with [data.customers] churned.")
    return model


def score(args: argparse.Namespace, cfg: Config) -> None:
    from churnmodel import preflight
    from churnmodel.scoring import check_output_path, write_table
    from churnmodel.snapshot.score import score_snapshot

    out = check_output_path(args.out, args.overwrite)
    preflight.table_sources(cfg)
    model = load_model(args, cfg)
    df = read_table(cfg)
    id_col, flag, _ = _columns(cfg)
    t0 = time.perf_counter()
    res = score_snapshot(model, df, id_col, flag or model.info["typing"]["flag_column"],
                         explain=not args.no_drivers)
    write_table(res.scores, out)
    s = res.scores
    sc = model.info.get("scoring", {})
    print(f"scored {len(s):,} customers ({res.which}) in {time.perf_counter() - t0:.1f}s (mean "
          f"churn probability {s['churn_probability'].mean():.3f}; "
          f"{model.info.get('reference', {}).get('mean_probability', float('nan')):.3f} out of "
          "fold in training)")
    risk = int(s["at_risk"].sum())
    print(f"at risk (p >= {sc.get('threshold', 0.5):.3f}): {risk:,} customers "
          f"({risk / max(len(s), 1):.1%}; {sc.get('share', float('nan')):.1%} out of fold)")
    print(f"wrote {out}")


# --- report ---------------------------------------------------------------------------------------

def _write_report(cfg: Config, model, df: pd.DataFrame, oof: pd.DataFrame | None,
                  importance: pd.DataFrame | None, out: Path) -> Path:
    from churnmodel.snapshot.report import render_snapshot_report, snapshot_figures, write_snapshot_report
    from churnmodel.snapshot.score import score_snapshot

    t0 = time.perf_counter()
    id_col, flag, _ = _columns(cfg)
    res = score_snapshot(model, df, id_col, flag or model.info["typing"]["flag_column"])
    figs = snapshot_figures(oof, model.name, importance) if oof is not None else {}
    src = _source(cfg)
    page = render_snapshot_report(model.info, res.scores, res.which, importance, figs,
                                  src.short())
    write_snapshot_report(page, out)
    print(f"report: wrote {out} [{time.perf_counter() - t0:.1f}s]")
    return out


def report(args: argparse.Namespace, cfg: Config) -> None:
    from churnmodel import preflight

    out = Path(args.out) if args.out else Path(cfg.output.report_dir) / "churn_report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise ChurnModelError(f"report {str(out)!r} must end in .html.")
    if args.out:
        preflight.writable_file(out, "report", "--out")
    else:
        preflight.writable_dir(out.parent, "report directory", "[output] report_dir")
    preflight.table_sources(cfg)
    model_dir = Path(args.model or cfg.output.model_dir)
    model = load_model(args, cfg)
    df = read_table(cfg)
    oof = imp = None
    if (model_dir / "cv_predictions.csv").exists():
        oof = pd.read_csv(model_dir / "cv_predictions.csv", dtype={"customer_id": str})
    if (model_dir / "shap_importance.csv").exists():
        imp = pd.read_csv(model_dir / "shap_importance.csv")
    _write_report(cfg, model, df, oof, imp, out)
