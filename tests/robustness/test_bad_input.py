"""Messy real exports through the command line: one clear line, exit 2, never a traceback.

Each bad input is a small hand-made file (mostly a valid synthetic table with a few rows
spoiled) run through ``churnmodel train`` / ``score`` in a temporary project. The error
must name the table and column, count the bad rows where rows are at fault, and say how
to fix it. Inputs that look odd but are valid (YYYYMMDD, epoch seconds, mixed time
zones, other delimiters and encodings, events after ``--as-of``) must train.

Time zones: zoned timestamps are converted to UTC and made naive; timestamps without a
zone in the same column are read as UTC. Every table therefore compares alike.

The loader's unit tests live in ``tests/data/test_validation.py``; here the same kinds of
input go through the whole command, plus what only shows up end to end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnmodel.cli import main
from churnmodel.config import load_config
from churnmodel.data.io import load_tables, tables_from_frames
from churnmodel.data.synthetic import SyntheticData
from churnmodel.errors import DataError, ModelInputError
from churnmodel.features import build_features

TRAIN = ("train", "--config", "c.toml", "--quiet", "--model-dir", "model")
BAD_ROWS = [7, 250, 4001, 6123]  # rows of the transactions table that get spoiled

# Cheap but real training: LightGBM with few trees, the fewest monthly cutoffs that leave
# one training cutoff 90 days (the embargo) before validation, no MLflow run.
BASE_CONFIG: dict[str, dict[str, Any]] = {
    # the fixtures' models are trained in Python on the default project
    "project": {"name": "default"},
    "data.transactions": {"path": "tx.csv"},
    "model": {"n_estimators": 50, "candidates": ["lightgbm"]},
    "training": {"n_cutoffs": 7},
    "tracking": {"enabled": False},
}


def toml_text(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """A TOML document from ``{"section.sub": {key: value}}`` (JSON scalars are TOML too)."""
    return "".join(f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
                   for name, keys in sections.items())


@dataclass
class Run:
    status: int
    out: str
    err: str


# MLflow / alembic log lines a real subprocess may print before the error
_LOG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (INFO|WARNING) ")


def error_line(run: Run, *, in_process: bool = True) -> str:
    """The single ``error: ...`` line of a failed run (in-process: nothing else on stderr)."""
    assert run.status == 2, f"exit {run.status}\nstdout: {run.out}\nstderr: {run.err}"
    assert "Traceback" not in run.err, run.err
    lines = [ln for ln in run.err.splitlines() if ln.strip()]
    if not in_process:
        lines = [ln for ln in lines if not _LOG_LINE.match(ln)]
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    return lines[0]


class Project:
    """A temporary project directory: write tables and a config, run the CLI in it."""

    def __init__(self, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.path, self._capsys = path, capsys

    def write(self, name: str, df: pd.DataFrame, **to_csv: Any) -> Path:
        p = self.path / name
        if p.suffix == ".parquet":
            df.to_parquet(p, index=False)
        else:
            df.to_csv(p, index=False, **to_csv)
        return p

    def config(self, overrides: Mapping[str, Mapping[str, Any]] | None = None,
               replace: tuple[str, str] | None = None) -> Path:
        """``BASE_CONFIG`` with sections extended; ``replace`` = (old, new) text edit."""
        sections: dict[str, dict[str, Any]] = {k: dict(v) for k, v in BASE_CONFIG.items()}
        for section, keys in (overrides or {}).items():
            sections.setdefault(section, {}).update(keys)
        text = toml_text(sections)
        if replace is not None:
            text = text.replace(*replace)
        p = self.path / "c.toml"
        p.write_text(text)
        return p

    def cli(self, *args: str) -> Run:
        self._capsys.readouterr()
        with warnings.catch_warnings():
            status = main(list(args))
        out, err = self._capsys.readouterr()
        return Run(status, out, err)

    def train(self, *extra: str) -> Run:
        return self.cli(*TRAIN, *extra)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path, capsys)


@dataclass(frozen=True)
class Expect:
    """What the one error line must contain (``rows``: the count shown as ``(n rows)``)."""

    needles: tuple[str, ...]
    rows: int | None = None
    command: tuple[str, ...] = TRAIN


def expect(*needles: str, rows: int | None = None, command: tuple[str, ...] = TRAIN) -> Expect:
    return Expect(needles, rows, command)


Setup = Callable[[Project, pd.DataFrame, SyntheticData], Expect]
CASES: dict[str, Setup] = {}


def case(fn: Setup) -> Setup:
    CASES[fn.__name__] = fn
    return fn


def spoil(df: pd.DataFrame, column: str, values: list, rows: list[int] = BAD_ROWS) -> pd.DataFrame:
    """``df`` with ``values`` written into ``column`` at the first ``len(values)`` ``rows``."""
    out = df.copy()
    out[column] = out[column].astype(object)
    out.loc[rows[: len(values)], column] = values
    return out


def with_table(p: Project, name: str, df: pd.DataFrame, file: str | None = None, **opts) -> None:
    """Write optional table ``name`` and configure it next to the transactions."""
    file = file or f"{name}.csv"
    p.write(file, df)
    p.config({f"data.{name}": {"path": file, **opts}})


# ------------------------------------------------------------------------ columns

@case
def missing_required_column(p, tx, synth):
    p.write("tx.csv", tx.drop(columns="amount"))
    p.config()
    return expect("table 'transactions', column 'amount'", "required column is missing",
                  "Columns present: customer_id, ts, category", "Fix: add it or map it")


@case
def column_mapped_to_a_name_the_file_lacks(p, tx, synth):
    p.write("tx.csv", tx.rename(columns={"ts": "order_date"}))
    p.config({"data.transactions": {"ts": "order_dt"}})
    return expect("table 'transactions', column 'ts'", "is mapped to column 'order_dt'",
                  "Did you mean 'order_date'?", "Fix: set [data.transactions] ts =")


@case
def two_contract_columns_mapped_to_one_column(p, tx, synth):
    p.write("tx.csv", tx.rename(columns={"customer_id": "cust"}))
    p.config({"data.transactions": {"customer_id": "cust", "order_id": "cust"}})
    return expect("table 'transactions', column 'order_id'", "is mapped to column 'cust', which is "
                  "also mapped to customer_id", "Fix: map each canonical column to its own column")


@case
def required_column_mapped_away_to_another_role(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"data.transactions": {"order_id": "customer_id"}})
    return expect("table 'transactions', column 'customer_id'", "is missing: the file's column "
                  "'customer_id' is mapped to order_id", "Fix: set [data.transactions] customer_id =")


@case
def failing_sql_query(p, tx, synth):
    p.write("tx.csv", tx)
    # DuckDB's message spans lines ('Did you mean ...'): it must still print as one
    p.config(replace=('path = "tx.csv"', 'query = "SELECT * FROM orders_typo"'))
    return expect("table 'transactions'", "the SQL query failed", "orders_typo",
                  "Fix: check the query in [data.transactions] query")


@case
def parquet_with_a_repeated_column(p, tx, synth):
    pq.write_table(pa.table([pa.array([1]), pa.array(["2025-01-01"]), pa.array([2.0]),
                             pa.array([3.0])], names=["customer_id", "ts", "amount", "amount"]),
                   p.path / "tx.parquet")
    p.config({"data.transactions": {"path": "tx.parquet"}})
    return expect("table 'transactions'", "cannot read Parquet file", "Fix: re-export the file")


# -------------------------------------------------------------------------- dates

@case
def unparseable_dates(p, tx, synth):
    p.write("tx.csv", spoil(tx, "ts", ["yesterday", "2025-02-30", "soon"]))
    p.config()
    return expect("table 'transactions', column 'ts'", "has values that are not dates",
                  "e.g. 'yesterday'", "Fix: use ISO dates", rows=3)


@case
def empty_dates(p, tx, synth):
    p.write("tx.csv", spoil(tx, "ts", [None, None]))
    p.config()
    return expect("table 'transactions', column 'ts'", "has empty dates",
                  "Fix: fill or drop those rows", rows=2)


@case
def sentinel_date_9999_12_31(p, tx, synth):
    cu = synth.customers[["customer_id", "signup_ts"]].assign(churned_ts=None)
    with_table(p, "customers", spoil(cu, "churned_ts", ["9999-12-31", "9999-12-31"], [3, 9]))
    p.write("tx.csv", tx)
    return expect("table 'customers', column 'churned_ts'", "has dates outside 1677-2262",
                  "e.g. '9999-12-31'", "Fix: leave 'never' / unknown dates", rows=2)


@case
def slash_dates_that_read_both_ways(p, tx, synth):
    early = tx[tx["ts"].dt.day <= 12]
    p.write("tx.csv", early.assign(ts=early["ts"].dt.strftime("%d/%m/%Y")))
    p.config()
    return expect("table 'transactions', column 'ts'", "read both day-first and month-first",
                  'Fix: set [data.transactions] date_format = "%d/%m/%Y" or "%m/%d/%Y"')


@case
def dates_not_matching_the_configured_date_format(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"data.transactions": {"date_format": "%d/%m/%Y"}})
    return expect("table 'transactions', column 'ts'", "has values that are not dates",
                  "Fix: the values do not match date_format '%d/%m/%Y'", rows=len(tx))


# ------------------------------------------------------------------------ numbers

@case
def amounts_as_text(p, tx, synth):
    p.write("tx.csv", spoil(tx, "amount", ["$12.50", "12.50 EUR", "twelve"]))
    p.config()
    return expect("table 'transactions', column 'amount'", "has values that are not numbers",
                  "e.g. '$12.50'", "Fix: remove currency symbols", rows=3)


@case
def amounts_with_decimal_commas(p, tx, synth):
    p.write("tx.csv", tx, sep=";", decimal=",")
    p.config({"data.transactions": {"sep": ";"}})
    return expect("table 'transactions', column 'amount'", "has values that are not numbers",
                  "write decimal commas as points", rows=len(tx))


@case
def amounts_missing(p, tx, synth):
    p.write("tx.csv", spoil(tx, "amount", [np.nan, None, np.nan, None]))
    p.config()
    return expect("table 'transactions', column 'amount'", "has empty values",
                  "Fix: fill or drop those rows", rows=4)


@case
def amounts_infinite(p, tx, synth):
    p.write("tx.csv", spoil(tx, "amount", [np.inf, -np.inf]))
    p.config()
    return expect("table 'transactions', column 'amount'", "has infinite values", "e.g. inf",
                  "Fix: fix or drop those rows", rows=2)


@case
def csat_zero(p, tx, synth):
    p.write("tx.csv", tx)
    with_table(p, "feedback", spoil(synth.feedback, "csat", [0, 0], [1, 2]))
    return expect("table 'feedback', column 'csat'", "has scores outside 1-5", "e.g. 0.0",
                  "Fix: rescale the scores to 1-5", rows=2)


@case
def csat_six(p, tx, synth):
    p.write("tx.csv", tx)
    with_table(p, "feedback", spoil(synth.feedback, "csat", [6], [5]))
    return expect("table 'feedback', column 'csat'", "has scores outside 1-5", "e.g. 6.0", rows=1)


@case
def nps_eleven(p, tx, synth):
    p.write("tx.csv", tx)
    with_table(p, "feedback", spoil(synth.feedback, "nps", [11, 11, 11], [0, 10, 20]))
    return expect("table 'feedback', column 'nps'", "has scores outside 0-10", "e.g. 11.0",
                  "Fix: rescale the scores to 0-10", rows=3)


@case
def nps_averaged_into_fractions(p, tx, synth):
    p.write("tx.csv", tx)
    with_table(p, "feedback", spoil(synth.feedback, "nps", [7.5], [4]))
    return expect("table 'feedback', column 'nps'", "has fractional scores", "e.g. 7.5",
                  "Fix: round the answers", rows=1)


@case
def csat_as_words(p, tx, synth):
    p.write("tx.csv", tx)
    with_table(p, "feedback", spoil(synth.feedback, "csat", ["very good", "bad"], [1, 2]))
    return expect("table 'feedback', column 'csat'", "not numbers", "e.g. 'very good'", rows=2)


@case
def feedback_without_any_score(p, tx, synth):
    p.write("tx.csv", tx)
    with_table(p, "feedback", synth.feedback[["customer_id", "ts"]])
    return expect("table 'feedback'", "has neither a 'csat' nor an 'nps' column",
                  "Fix: map at least one")


# --------------------------------------------------------------------- table rules

@case
def duplicate_customers(p, tx, synth):
    cu = synth.customers
    p.write("tx.csv", tx)
    with_table(p, "customers", pd.concat([cu, cu.iloc[[4, 8, 8]]]))
    return expect("table 'customers', column 'customer_id'", "has duplicate customer ids",
                  "Fix: deduplicate the customers table", rows=3)


@case
def empty_customer_ids(p, tx, synth):
    p.write("tx.csv", spoil(tx, "customer_id", [None, None]))
    p.config()
    return expect("table 'transactions', column 'customer_id'", "has empty customer ids", rows=2)


@case
def tickets_resolved_before_opened(p, tx, synth):
    tk = synth.tickets.copy()
    tk.loc[[3, 30], "resolved_ts"] = tk.loc[[3, 30], "opened_ts"] - pd.Timedelta(hours=2)
    p.write("tx.csv", tx)
    with_table(p, "tickets", tk)
    return expect("table 'tickets', column 'resolved_ts'", "is earlier than opened_ts",
                  "Fix: check the two columns are not swapped", rows=2)


@case
def complaint_flag_that_is_not_a_boolean(p, tx, synth):
    p.write("tx.csv", tx)
    with_table(p, "tickets", spoil(synth.tickets, "is_complaint", ["maybe"], [11]))
    return expect("table 'tickets', column 'is_complaint'", "not true/false", "e.g. 'maybe'",
                  "Fix: use true/false", rows=1)


@case
def empty_optional_table(p, tx, synth):
    p.write("tx.csv", tx)
    with_table(p, "feedback", synth.feedback.iloc[:0])  # a header and no rows
    return expect("table 'feedback': is empty", "Fix: export the table with at least one row")


@case
def zero_byte_file(p, tx, synth):
    (p.path / "tx.csv").write_bytes(b"")
    p.config()
    return expect("table 'transactions'", "is empty", "Fix: export the table with a header")


# --------------------------------------------------------------------------- files

@case
def other_delimiter_without_sep(p, tx, synth):
    p.write("tx.csv", tx, sep=";")
    p.config()
    return expect("table 'transactions'", "it looks delimited by ';'",
                  "Fix: set [data.transactions] sep = ';'")


@case
def latin1_without_encoding(p, tx, synth):
    p.write("tx.csv", tx.assign(category="maison & café"), encoding="latin-1")
    p.config()
    return expect("table 'transactions'", "is not valid utf-8",
                  'Fix: set [data.transactions] encoding = "latin-1"')


@case
def ragged_csv_line(p, tx, synth):
    p.write("tx.csv", tx.head(50))
    with (p.path / "tx.csv").open("a") as f:
        f.write("1,2025-01-01,3.0,home,extra,fields\n")
    p.config()
    return expect("table 'transactions'", "cannot parse CSV", "Expected 4 fields in line 52",
                  "Fix: check the delimiter and quoting")


@case
def truncated_parquet(p, tx, synth):
    full = p.write("full.parquet", tx)
    data = full.read_bytes()
    (p.path / "tx.parquet").write_bytes(data[: len(data) // 2])
    p.config({"data.transactions": {"path": "tx.parquet"}})
    return expect("table 'transactions'", "cannot read Parquet file",
                  "Fix: re-export the file; it looks truncated or corrupt")


@case
def csv_renamed_to_parquet(p, tx, synth):
    p.write("tx.csv", tx)
    (p.path / "tx.csv").rename(p.path / "tx.parquet")
    p.config({"data.transactions": {"path": "tx.parquet"}})
    return expect("table 'transactions'", "cannot read Parquet file", "magic bytes",
                  "Fix: re-export the file")


@case
def file_that_does_not_exist(p, tx, synth):
    p.config({"data.transactions": {"path": "orders_2025.csv"}})
    return expect("table 'transactions'", "orders_2025.csv' does not exist",
                  "Fix: set [data.transactions] path to an existing CSV or Parquet file")


@case
def spreadsheet_instead_of_csv(p, tx, synth):
    (p.path / "tx.xlsx").write_bytes(b"PK\x03\x04")
    p.config({"data.transactions": {"path": "tx.xlsx"}})
    return expect("table 'transactions'", "tx.xlsx' is a spreadsheet, which is not read directly",
                  "Fix: save the sheet as CSV", "pandas.read_excel('tx.xlsx').to_csv('tx.csv'")


# ------------------------------------------------------------- windows and history

def weekly_buyers(n: int = 40) -> pd.DataFrame:
    """Every customer buys every week for three years: nobody ever churns."""
    days = pd.date_range(end="2025-12-31", periods=156, freq="7D")
    return pd.DataFrame({"customer_id": np.repeat(np.arange(1, n + 1), len(days)),
                         "ts": np.tile(days, n), "amount": 20.0})


@case
def no_churners_in_the_training_window(p, tx, synth):
    p.write("tx.csv", weekly_buyers(40))
    p.config()
    # one training cutoff (2025-04-01) x 40 active customers
    return expect("table 'transactions'", "the training window (2025-04-01) has no churners",
                  "all 40 labels are 0", "Fix: use more cutoffs")


@case
def no_active_customers_at_any_cutoff(p, tx, synth):
    # active = a purchase in the 1 day up to a cutoff (month starts): nobody buys on the 1st
    p.write("tx.csv", tx[tx["ts"].dt.day != 1])
    p.config({"labels": {"activity_lookback_days": 1}})
    return expect("table 'transactions', column 'ts'", "no customer is active at any training "
                  "cutoff (2025-04-01..2025-10-01", "Fix: check the as-of date",
                  "[labels] activity_lookback_days")


@case
def stray_future_dated_transaction(p, tx, synth):
    typo = pd.DataFrame({"customer_id": [tx["customer_id"].iloc[0]], "ts": [pd.Timestamp("2052-03-14")],
                         "amount": [25.0], "category": ["home"]})
    p.write("tx.csv", pd.concat([tx, typo]))
    p.config()
    return expect("table 'transactions', column 'ts'", "no customer is active at any training "
                  "cutoff (2051-", "one stray future date moves it")


@case
def horizon_longer_than_the_history(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"labels": {"horizon_days": 1200}})
    return expect("table 'transactions', column 'ts'", "the history (2023-01-01 to 2025-12-31, "
                  "1096 days) is too short to label one cutoff", "1200-day label window",
                  "Fix: provide at least 165 more days of history, a shorter [labels] horizon_days")


@case
def history_too_short_for_one_labelled_cutoff(p, tx, synth):
    p.write("tx.csv", tx)
    p.config()
    return expect("table 'transactions', column 'ts'", "the history (2023-01-01 to 2023-03-15, "
                  "74 days) is too short to label one cutoff", "about 151 days in all, 77 more",
                  command=(*TRAIN, "--as-of", "2023-03-15"))


@case
def as_of_before_the_data_start(p, tx, synth):
    p.write("tx.csv", tx)
    p.config()
    return expect("table 'transactions', column 'ts'", "has no transaction on or before 2020-06-30 "
                  "(the data start on 2023-01-01)", "Fix: use a later as-of date",
                  command=(*TRAIN, "--as-of", "2020-06-30"))


@case
def zero_horizon(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"labels": {"horizon_days": 0}})
    return expect("labels.horizon_days must be at least 1 day, got 0")


@case
def zero_cutoffs(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"training": {"n_cutoffs": 0}})
    return expect("training.n_cutoffs must be at least 1, got 0")


# -------------------------------------------------------------------------- config

@case
def unknown_section(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"modle": {"n_estimators": 50}})
    return expect("unknown key 'modle'", "Did you mean 'model'?", "Valid keys: project, data, labels")


@case
def unknown_key_in_a_section(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"model": {"n_estimator": 50}})
    return expect("unknown key 'n_estimator'", "Did you mean 'n_estimators'?")


@case
def unknown_column_key_in_a_table(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"data.transactions": {"customer": "customer_id"}})
    return expect("unknown key 'customer' in [data.transactions]", "Did you mean 'customer_id'?")


@case
def unknown_table(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"data.transaction": {"path": "tx.csv"}})
    return expect("unknown key 'transaction' in [data]", "Did you mean 'transactions'?")


@case
def wrong_type_in_config(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"model": {"n_estimators": "many"}})
    return expect("n_estimators must be an integer, got 'many'")


@case
def text_where_a_boolean_belongs(p, tx, synth):
    p.write("tx.csv", tx)
    p.config({"training": {"embargo": "yes"}})
    return expect("embargo must be true or false, got 'yes'")


@case
def table_given_as_a_path_instead_of_a_section(p, tx, synth):
    p.write("tx.csv", tx)
    (p.path / "c.toml").write_text('[data]\ntransactions = "tx.csv"\n')
    return expect("[data.transactions] must be a section with at least a path",
                  'path = "transactions.csv"')


@case
def invalid_toml(p, tx, synth):
    (p.path / "c.toml").write_text("[model\nn_estimators = 50\n")
    return expect("config file 'c.toml' is not valid TOML", "line 1")


@case
def config_file_that_does_not_exist(p, tx, synth):
    return expect("config file 'c.toml' does not exist")


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_one_line_naming_where_how_many_and_the_fix(
        name, project, tx, small_synth):
    exp = CASES[name](project, tx, small_synth)
    line = error_line(project.cli(*exp.command))
    for needle in exp.needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    if exp.rows is not None:
        assert f"({exp.rows:,} rows)" in line, line


# -------------------------------------------------------------------------- scoring

def score(p: Project, model: str | Path, *extra: str) -> Run:
    return p.cli("score", "--config", "c.toml", "--quiet", "--model", str(model), "--out", "s.csv",
                 *extra)


def test_scoring_with_a_model_dir_that_does_not_exist(project, tx):
    project.write("tx.csv", tx)
    project.config()
    line = error_line(score(project, "models/nope"))
    assert "no trained model at 'models/nope/model.joblib'" in line and "Run `churnmodel train`" in line


def test_scoring_with_a_corrupt_model_file(project, tx):
    project.write("tx.csv", tx)
    project.config()
    (project.path / "broken").mkdir()
    (project.path / "broken" / "model.joblib").write_bytes(b"\x80\x04not a pickle")
    line = error_line(score(project, "broken"))
    assert "cannot read the model file 'broken/model.joblib'" in line
    assert "truncated or corrupt" in line and "Retrain with `churnmodel train`" in line


def test_scoring_with_a_damaged_mlflow_model_dir(project, tx):
    project.write("tx.csv", tx)
    project.config()
    (project.path / "exported").mkdir()
    (project.path / "exported" / "MLmodel").write_text("flavors: [python_function\n")
    line = error_line(score(project, "exported"))
    assert "cannot load the MLflow model in 'exported'" in line and "Re-export it" in line


def test_scoring_at_a_date_when_nobody_is_active(project, tx, model_dir):
    project.write("tx.csv", tx)
    project.config()
    line = error_line(score(project, model_dir, "--as-of", "2030-01-01"))
    assert ("table 'transactions', column 'ts': has no customer active at 2030-01-01 (a purchase in "
            "the 365 days up to it; the data end on 2025-12-31)") in line
    assert "Fix: use an as-of date (--as-of) inside the history" in line
    assert not (project.path / "s.csv").exists()


def test_scoring_without_the_tables_the_model_was_trained_on_lists_the_missing_features(
        project, tx, model_dir, trained):
    project.write("tx.csv", tx)  # the model also learnt from feedback, tickets and customers
    project.config()
    line = error_line(score(project, model_dir))
    # what transactions alone give: the rfm and contact families
    built = build_features(load_tables(load_config("c.toml")), "2025-12-31", pd.Index([]),
                           ["rfm", "contact"])
    missing = [f for f in trained.model.feature_names if f not in built.columns]
    listed = re.search(r"the feature frame lacks (\d+) column\(s\) the model was trained on: (.*?)\. "
                       r"Build features with the same builders as training", line)
    assert listed is not None, line
    assert int(listed[1]) == len(missing) and listed[2].split(", ") == missing


def test_scoring_to_an_unsupported_output_format(project, tx, model_dir):
    project.write("tx.csv", tx)
    project.config()
    run = project.cli("score", "--config", "c.toml", "--model", str(model_dir), "--out", "s.xlsx")
    assert "must end in .csv or .parquet" in error_line(run)


# ------------------------------------------------------- odd but valid: must train

POSITIVE: dict[str, Callable[[Project, pd.DataFrame], pd.Series]] = {}


def positive(fn):
    POSITIVE[fn.__name__] = fn
    return fn


@positive
def yyyymmdd_integers(p, tx):
    p.write("tx.csv", tx.assign(ts=tx["ts"].dt.strftime("%Y%m%d").astype(int)))
    p.config()
    return tx["ts"].dt.normalize()


@positive
def iso_strings_with_and_without_time(p, tx):
    iso = tx["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S").where(tx.index % 3 > 0, tx["ts"].dt.strftime("%Y-%m-%d"))
    p.write("tx.csv", tx.assign(ts=iso))
    p.config()
    return tx["ts"].where(tx.index % 3 > 0, tx["ts"].dt.normalize())


@positive
def epoch_seconds(p, tx):
    p.write("tx.csv", tx.assign(ts=(tx["ts"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)))
    p.config()
    return tx["ts"]


@positive
def mixed_time_zones(p, tx):
    # the same instants written in four ways: Z, +02:00, -05:00 and no zone (read as UTC)
    offsets = ["Z", "+02:00", "-05:00", ""]
    hours = {"Z": 0, "+02:00": 2, "-05:00": -5, "": 0}
    zone = [offsets[i % 4] for i in range(len(tx))]
    local = [t + pd.Timedelta(hours=hours[z]) for t, z in zip(tx["ts"], zone, strict=True)]
    p.write("tx.csv", tx.assign(ts=[f"{t:%Y-%m-%dT%H:%M:%S}{z}" for t, z in zip(local, zone, strict=True)]))
    p.config()
    return tx["ts"]


@positive
def semicolon_delimited_with_sep(p, tx):
    p.write("tx.csv", tx, sep=";")
    p.config({"data.transactions": {"sep": ";"}})
    return tx["ts"]


@positive
def utf8_with_byte_order_mark(p, tx):
    p.write("tx.csv", tx, encoding="utf-8-sig")
    assert (p.path / "tx.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    p.config()
    return tx["ts"]


@positive
def latin1_with_encoding(p, tx):
    p.write("tx.csv", tx.assign(category="maison & café"), encoding="latin-1")
    p.config({"data.transactions": {"encoding": "latin-1"}})
    return tx["ts"]


@pytest.fixture
def lean_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the training plots and the HTML report: they take ~60% of a small training run
    and do not depend on how the input was formatted (tests/e2e runs them)."""
    import churnmodel.cli
    import churnmodel.plots

    monkeypatch.setattr(churnmodel.plots, "training_plots", lambda *a, **k: [])
    monkeypatch.setattr(churnmodel.cli, "_report_after_training", lambda *a, **k: None)


@pytest.mark.parametrize("name", list(POSITIVE))
def test_odd_but_valid_input_trains(name, project, tx, lean_training):
    expected_ts = POSITIVE[name](project, tx)
    run = project.train()
    assert run.status == 0, run.err
    assert f"loaded transactions {len(tx):,} rows" in run.out  # nothing dropped
    assert "as of 2025-12-31: ladder step 'full'" in run.out
    assert "train cutoffs 2025-04-01..2025-04-01" in run.out
    assert "champion: lightgbm" in run.out and (project.path / "model" / "model.joblib").exists()
    loaded = load_tables(load_config(project.path / "c.toml")).transactions["ts"]
    assert loaded.tolist() == expected_ts.astype("datetime64[ns]").tolist()


def test_events_after_as_of_are_ignored(project, tx, lean_training):
    as_of = pd.Timestamp("2025-06-30")
    project.write("tx.csv", tx)
    project.config()
    full = project.train("--as-of", "2025-06-30")
    assert full.status == 0, full.err
    assert "as of 2025-06-30: ladder step 'full'" in full.out
    assert "train cutoffs 2024-10-01..2024-10-01" in full.out
    assert "validation 2025-01-01" in full.out and "test 2025-04-01" in full.out
    # the same run on a file that stops at the as-of date gives the very same model report
    project.write("tx.csv", tx[tx["ts"] < as_of + pd.Timedelta(days=1)])
    cut = project.cli("train", "--config", "c.toml", "--quiet", "--model-dir", "model_cut",
                      "--as-of", "2025-06-30")
    assert cut.status == 0, cut.err
    metrics = [json.loads((project.path / d / "metrics.json").read_text()) for d in ("model", "model_cut")]
    assert metrics[0] == metrics[1]


def test_a_mapped_column_wins_over_a_file_column_with_the_canonical_name(tx):
    # e.g. an export with both 'ts' (when the row was loaded) and 'order_date' (the event)
    frame = tx.assign(order_date=tx["ts"], ts="2026-01-01 00:00:00")
    t = tables_from_frames({"transactions": frame}, {"transactions": {"ts": "order_date"}})
    assert t.transactions["ts"].tolist() == tx["ts"].astype("datetime64[ns]").tolist()


def test_a_frame_with_a_repeated_column_is_refused(tx):
    with pytest.raises(DataError, match=r"table 'transactions', column 'amount': appears more than "
                                        r"once in the header\. Fix: rename or drop"):
        tables_from_frames({"transactions": pd.concat([tx, tx[["amount"]]], axis=1)})


def test_a_zoned_parquet_column_is_read_as_naive_utc(project, tx):
    project.write("tx.parquet", tx.assign(ts=tx["ts"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")))
    project.config({"data.transactions": {"path": "tx.parquet"}})
    loaded = load_tables(load_config(project.path / "c.toml")).transactions["ts"]
    assert loaded.dt.tz is None and loaded.tolist() == tx["ts"].astype("datetime64[ns]").tolist()


# ------------------------------------------------------------- frames given to a model

@pytest.fixture
def X(trained) -> pd.DataFrame:
    return trained.test_sample.head(300).copy()


def test_missing_feature_columns_are_listed(trained, X):
    with pytest.raises(ModelInputError, match=r"lacks 2 column\(s\) the model was trained on: "
                                              r"recency_days, csat_last"):
        trained.model.predict_proba(X.drop(columns=["csat_last", "recency_days"]))


def test_extra_columns_are_ignored(trained, X):
    p = trained.model.predict_proba(X)
    extra = X.assign(favourite_colour="teal", churned=1, shoe_size=43.0)
    np.testing.assert_array_equal(trained.model.predict_proba(extra), p)


def test_text_in_a_numeric_feature_is_refused_naming_the_column(trained, X):
    bad = X.assign(frequency=X["frequency"].astype(object))
    bad.iloc[[0, 5, 9], bad.columns.get_loc("frequency")] = ["many", "n/a", "3 or 4"]
    with pytest.raises(ModelInputError, match=r"feature column 'frequency' must be numeric; 3 "
                                              r"value\(s\) are not, e.g. 'many'"):
        trained.model.predict_proba(bad)


def test_numbers_sent_as_text_score_the_same(trained, X):
    as_text = X.assign(recency_days=X["recency_days"].astype("string"))
    np.testing.assert_allclose(trained.model.predict_proba(as_text), trained.model.predict_proba(X))


def test_categories_never_seen_in_training_are_scored_like_missing_values(trained, X):
    cats = trained.model.categories
    assert cats, "the model should have categorical features"
    unseen = X.assign(**{c: "atlantis" for c in cats})
    missing = X.assign(**{c: None for c in cats})
    p = trained.model.predict_proba(unseen)
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p, trained.model.predict_proba(missing))


def test_an_empty_frame_is_refused(trained, X):
    with pytest.raises(ModelInputError, match="no rows"):
        trained.model.predict_proba(X.iloc[:0])


# ----------------------------------------------------- the real entry point (subprocess)

def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    r = subprocess.run([sys.executable, "-m", "churnmodel.cli", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=300, env={**os.environ, **(env or {})})
    return Run(r.returncode, r.stdout, r.stderr)


def test_real_entry_point_prints_one_line_for_unparseable_dates(project, tx):
    unparseable_dates(project, tx, None)
    line = error_line(run_cli(*TRAIN, cwd=project.path), in_process=False)
    assert "table 'transactions', column 'ts': has values that are not dates (3 rows)" in line
    assert "Fix: use ISO dates" in line


def test_real_entry_point_with_a_registered_model_that_does_not_exist(project, tx):
    project.write("tx.csv", tx)
    project.config()
    run = run_cli("score", "--config", "c.toml", "--model", "models:/nope@champion", "--out", "s.csv",
                  cwd=project.path, env={"MLFLOW_TRACKING_URI": f"sqlite:///{project.path}/m.db"})
    line = error_line(run, in_process=False)
    assert "cannot load model 'models:/nope@champion' from the tracking store" in line
    assert "not found" in line and "check MLFLOW_TRACKING_URI" in line


def test_debug_shows_the_traceback(project, tx):
    missing_required_column(project, tx, None)
    r = run_cli("--debug", *TRAIN, cwd=project.path)
    assert r.status != 0
    assert "Traceback (most recent call last)" in r.err
    assert "DataError: table 'transactions', column 'amount': required column is missing" in r.err
