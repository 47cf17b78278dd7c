"""Hostile input and faults (issue 16), one section per class of failure.

Each case runs the real command line (``churnmodel.cli.main``, in process) in a temporary
project on tiny hand-made tables. A refused input gives exactly one ``error:`` line, exit
status 2 and no traceback; an accepted one gives the exact right output. A new hostile
input belongs in the section of its class:

1. silently wrong output    -> ``TestSilentlyWrongOutput``
2. errors blaming the wrong thing -> ``TestBlameTheRightThing``
3. tracebacks from below churnmodel -> ``TestNoTracebackFromBelow``
4. checks only after the work -> ``TestPreflight``
5. a model that learnt nothing -> ``TestModelThatLearntNothing``
6. ``serve`` and REST bodies -> ``TestServe``

Training is avoided wherever a check before the work suffices; the one training here is
a deliberately uninformative model on 120 customers (a few seconds). Explaining and
scoring reuse the session model of ``conftest.py``.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_bad_input import Project, error_line  # the shared CLI helpers of the robustness suite

from churnmodel.data.synthetic import SyntheticData


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path, capsys)

TABLES = ("transactions", "feedback", "tickets", "customers")


def all_tables(p: Project, synth: SyntheticData, edit=None, suffix: str = "csv",
               **config: dict) -> dict[str, pd.DataFrame]:
    """Write the four synthetic tables (after ``edit(name, df)``) and a config using them."""
    frames = {}
    for name in TABLES:
        df = getattr(synth, name).copy()
        if name == "transactions":
            df = df[["customer_id", "ts", "amount", "category"]]
        df = edit(name, df) if edit else df
        frames[name] = df
        if suffix == "parquet":
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), p.path / f"{name}.parquet")
        else:
            df.to_csv(p.path / f"{name}.csv", index=False)
    sections = {f"data.{n}": {"path": f"{n}.{suffix}"} for n in TABLES}
    sections["data.transactions"] = {"path": f"transactions.{suffix}"}
    for section, keys in config.items():
        sections.setdefault(section.replace("__", "."), {}).update(keys)
    p.config(sections)
    (p.path / "c.toml").write_text((p.path / "c.toml").read_text().replace(
        '[data.transactions]\npath = "tx.csv"\n', ""))
    return frames


def latest_customer(synth: SyntheticData) -> int:
    """A customer who bought on the last day: active at the default as-of date."""
    tx = synth.transactions
    return int(tx.loc[tx["ts"].idxmax(), "customer_id"])


def explain(p: Project, model_dir: Path, *ids: str):
    return p.cli("explain", "--config", "c.toml", "--quiet", "--model", str(model_dir),
                 "--customers", *ids)


# ============================================================ 1. silently wrong output

class TestSilentlyWrongOutput:
    """Input that used to give exit 0 and a wrong number now gives the right one or an error."""

    @pytest.mark.parametrize("fmt", ["csv", "parquet"])
    def test_booleans_are_not_amounts(self, project, tx, fmt):
        bad = tx.assign(amount=tx["amount"] > 50)
        project.write(f"tx.{fmt}", bad)
        project.config(replace=("tx.csv", f"tx.{fmt}"))
        line = error_line(project.train())
        assert "column 'amount': has true/false values where numbers belong" in line
        assert f"({len(tx):,} rows)" in line and "e.g. " in line

    @pytest.mark.parametrize("sep", [",", ";"])
    def test_a_header_with_the_same_column_twice_is_refused_like_parquet(self, project, tx, sep):
        df = tx.copy()
        df.insert(3, "amount_again", df["amount"] * 2)
        text = df.to_csv(index=False, sep=sep).replace("amount_again", "amount", 1)
        (project.path / "tx.csv").write_text(text)
        project.config({"data.transactions": {"sep": sep}} if sep != "," else None)
        line = error_line(project.train())
        assert "column 'amount': appears more than once in the header (2 times)" in line

    def test_unnamed_columns_of_trailing_commas_are_not_repeats(self, project, tx):
        from churnmodel.config import load_config
        from churnmodel.data.io import load_tables

        text = tx.head(50).to_csv(index=False).replace("\n", ",,\n")
        (project.path / "tx.csv").write_text(text)
        project.config()
        t = load_tables(load_config(project.path / "c.toml"))
        assert len(t.transactions) == 50
        assert list(t.transactions.columns) == ["customer_id", "ts", "amount", "category"]

    @pytest.mark.parametrize("value", [1e308, -1e20])
    def test_amounts_whose_sums_would_overflow_are_refused(self, project, tx, value):
        bad = tx.copy()
        bad.loc[[3, 9], "amount"] = value
        project.write("tx.csv", bad)
        project.config()
        line = error_line(project.train())
        assert "column 'amount': has values beyond +/-1e+15" in line and "(2 rows)" in line

    @pytest.mark.parametrize("form", ["float", "text"])
    def test_feedback_ids_written_as_floats_join_their_customers(self, project, small_synth,
                                                                 model_dir, form):
        def edit(name, df):
            if name == "feedback":
                ids = df["customer_id"].astype("float64")
                df = df.assign(customer_id=ids if form == "float" else ids.map("{:.1f}".format))
            return df

        all_tables(project, small_synth, edit, suffix="parquet")
        cid = latest_customer(small_synth)
        run = explain(project, model_dir, str(cid))
        assert run.status == 0, run.err
        assert "warning: only" not in run.out
        assert f"customer {cid} at " in run.out
        from churnmodel.config import load_config
        from churnmodel.data.io import load_tables

        t = load_tables(load_config(project.path / "c.toml"))
        assert t.feedback["customer_id"].isin(t.transactions["customer_id"]).all()

    @pytest.mark.parametrize("prefix", ["C-", "0"])
    def test_tables_that_barely_join_are_named_with_their_share(self, project, small_synth,
                                                                model_dir, prefix):
        def edit(name, df):
            if name == "feedback":
                df = df.assign(customer_id=prefix + df["customer_id"].astype(str))
            return df

        all_tables(project, small_synth, edit)
        run = explain(project, model_dir, str(latest_customer(small_synth)))
        warn = [ln for ln in run.out.splitlines() if ln.startswith("warning: only")]
        assert len(warn) == 1, run.out
        assert warn[0].startswith("warning: only 0% of feedback rows (0 of ")
        assert f"e.g. feedback id '{prefix}" in warn[0]

    @pytest.mark.parametrize("fmt", ["parquet", "csv"])
    def test_ids_wider_than_int64_keep_their_exact_text(self, project, small_synth, model_dir,
                                                        fmt):
        base = np.uint64(2**64 - 10_000_000)  # above the int64 range

        def edit(name, df):
            ids = df["customer_id"].astype("uint64") + base
            return df.assign(customer_id=ids if fmt == "parquet" else ids.astype(str))

        all_tables(project, small_synth, edit, suffix=fmt)
        cid = str(np.uint64(latest_customer(small_synth)) + base)
        run = explain(project, model_dir, cid)
        assert run.status == 0, run.err
        assert f"customer {cid} at " in run.out and "-" not in run.out.split(" at ")[0]

    @pytest.mark.parametrize("args", [["--customers", "0"], ["--customers", "5"]])
    def test_synth_refuses_a_customer_count_it_cannot_generate(self, project, args):
        line = error_line(project.cli("data", "synth", "--out", "d", *args))
        assert "argument --customers" in line and "out of range 10.." in line
        assert not (project.path / "d").exists()


# ===================================================== 2. blame the right thing

class TestBlameTheRightThing:
    """Messages count and quote the rows that fail and name the setting at fault."""

    @pytest.mark.parametrize("sentinel", [18991230, 0])
    def test_sentinel_dates_among_yyyymmdd_integers_are_the_ones_quoted(self, project, tx,
                                                                        sentinel):
        df = tx.assign(ts=tx["ts"].dt.strftime("%Y%m%d").astype("int64"))
        df.loc[[5, 50, 500, 1500, 3000], "ts"] = sentinel
        project.write("tx.csv", df)
        project.config()
        line = error_line(project.train())
        assert f"has values that are not dates (5 rows); e.g. {sentinel}." in line
        assert "the other rows are YYYYMMDD dates" in line

    def test_epoch_seconds_with_a_few_non_dates_quote_those(self, project, tx):
        df = tx.assign(ts=tx["ts"].astype("int64") // 10**6)
        df.loc[[1, 2], "ts"] = 17
        project.write("tx.csv", df)
        project.config()
        line = error_line(project.train())
        assert "(2 rows); e.g. 17." in line and "epoch timestamps" in line

    @pytest.mark.parametrize("literal", ["NA", "NULL"])
    def test_literal_na_and_null_are_customer_ids(self, project, small_synth, model_dir, literal):
        cid = latest_customer(small_synth)

        def edit(name, df):
            ids = df["customer_id"].astype(str)
            return df.assign(customer_id=ids.where(ids != str(cid), literal))

        all_tables(project, small_synth, edit)
        run = explain(project, model_dir, literal)
        assert run.status == 0, run.err
        assert f"customer {literal} at " in run.out

    def test_na_values_in_the_config_make_them_missing_again(self, project, small_synth):
        cid = latest_customer(small_synth)

        def edit(name, df):
            ids = df["customer_id"].astype(str)
            return df.assign(customer_id=ids.where(ids != str(cid), "NA"))

        frames = all_tables(project, small_synth, edit,
                            data__transactions={"na_values": ["NA"]})
        n = int((frames["transactions"]["customer_id"] == "NA").sum())
        line = error_line(project.train())
        assert f"table 'transactions', column 'customer_id': has empty customer ids ({n:,} rows)" in line

    @pytest.mark.parametrize("builders", [["satisfaction"], ["satisfaction", "service"]])
    def test_builders_without_their_tables_blame_builders_not_exclude(self, project, tx,
                                                                      builders):
        project.write("tx.csv", tx)
        project.config({"features": {"builders": builders}})
        line = error_line(project.train())
        assert "[features] builders" in line and "satisfaction needs feedback" in line
        assert "exclude" not in line

    def test_an_empty_builder_list_is_named(self, project, tx):
        project.write("tx.csv", tx)
        project.config({"features": {"builders": []}})
        line = error_line(project.train())
        assert "features.builders is empty" in line and "exclude" not in line


# ================================================ 3. no traceback from below churnmodel

class TestNoTracebackFromBelow:
    """pandas, OS and MLflow failures become one line naming what the user gave."""

    @pytest.mark.parametrize(("key", "value", "needle"), [
        ("encoding", "utf-9", "[data.transactions] encoding 'utf-9' is not a known encoding"),
        ("encoding", "klingon", "is not a known encoding"),
        ("sep", ";;", "[data.transactions] sep must be one character"),
        ("date_format", "%Y-%Q", "[data.transactions] date_format '%Y-%Q' is not a valid"),
        ("date_format", "%Y-%m-%d %", "is not a valid strptime format"),
    ])
    def test_read_options_are_checked_when_the_config_is_read(self, project, tx, key, value,
                                                              needle):
        project.write("tx.csv", tx)
        project.config({"data.transactions": {key: value}})
        line = error_line(project.train())
        assert needle in line

    @pytest.mark.parametrize("path", ["tx.csv", "tx.parquet"])
    def test_a_table_path_that_is_a_directory(self, project, path):
        (project.path / path).mkdir()
        project.config(replace=("tx.csv", path))
        line = error_line(project.train())
        assert f"table 'transactions': path '{project.path / path}' is a directory" in line

    @pytest.mark.parametrize(("section", "values", "needle"), [
        ("model", {"candidates": []}, "model.candidates is empty"),
        ("training", {"seed": -1}, "training.seed must be between 0 and 4,294,967,295, got -1"),
        ("data.synthetic", {"customers": 0}, "data.synthetic.customers must be between 10"),
        ("training", {"as_of": "31/12/2025"}, "training.as_of must be a date written YYYY-MM-DD"),
    ])
    def test_config_values_are_range_checked(self, project, tx, section, values, needle):
        project.write("tx.csv", tx)
        project.config({section: values})
        assert needle in error_line(project.train())

    @pytest.mark.parametrize("args", [("train", "--seed", "-1"), ("train", "--seed", "4294967296"),
                                      ("data", "synth", "--seed", "-5"),
                                      ("train", "--as-of", "9999-12-31"),
                                      ("serve", "--port", "70000"), ("serve", "--port", "0")])
    def test_arguments_are_range_checked_when_parsed(self, project, args):
        line = error_line(project.cli(*args))
        assert "out of range" in line and args[-2] in line

    @pytest.mark.parametrize("source", ["config", "env"])
    def test_a_misspelt_tracking_uri_scheme(self, project, tx, monkeypatch, source):
        project.write("tx.csv", tx)
        uri = "sqllite:///mlflow.db"
        if source == "env":
            monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
            project.config({"tracking": {"enabled": True}})
        else:
            project.config({"tracking": {"enabled": True, "tracking_uri": uri}})
        line = error_line(project.train())
        where = "MLFLOW_TRACKING_URI" if source == "env" else "tracking.tracking_uri"
        assert f"{where} '{uri}' has an unknown scheme 'sqllite'; did you mean 'sqlite'?" in line

    @pytest.mark.parametrize("damage", ["garbage", "directory"])
    def test_a_damaged_tracking_store_fails_train_before_any_work(self, project, tx, monkeypatch,
                                                                  damage):
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        project.write("tx.csv", tx)
        project.config({"tracking": {"enabled": True}})
        db = project.path / "mlflow.db"
        if damage == "garbage":
            db.write_bytes(b"this is not a database\n" * 100)
        else:
            db.mkdir()
        run = project.train()
        line = error_line(run)
        assert "tracking store" in line and "mlflow.db" in line and "default store" in line
        assert "loaded" not in run.out

    @pytest.mark.parametrize("uri", ["http://127.0.0.1:1", "postgresql://me@127.0.0.1:1/mlflow"])
    def test_a_tracking_server_that_does_not_answer_fails_in_seconds(self, project, tx,
                                                                    monkeypatch, uri):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        project.write("tx.csv", tx)
        project.config({"tracking": {"enabled": True}})
        run = project.train()
        line = error_line(run)
        assert f"tracking server 127.0.0.1:1 of '{uri}' (MLFLOW_TRACKING_URI) does not answer" in line
        assert "loaded" not in run.out

    @pytest.mark.parametrize(("exc", "needle"), [
        (OSError(28, "No space left on device", "/data/tx.csv"),
         "cannot write or read '/data/tx.csv': No space left on device. Fix:"),
        (pa.lib.ArrowInvalid("column ts: invalid"), "pyarrow could not process the input"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
        (duckdb.ConversionException("Could not convert Timestamp"), "duckdb could not process"),
    ])
    def test_any_foreign_exception_becomes_one_line(self, project, tx, monkeypatch, exc, needle):
        project.write("tx.csv", tx)
        project.config()

        def boom(cfg, notes=None):
            raise exc

        monkeypatch.setattr("churnmodel.data.io.load_tables", boom)
        assert needle in error_line(project.train())

    def test_debug_shows_the_traceback_of_a_foreign_exception(self, project, tx, monkeypatch):
        project.write("tx.csv", tx)
        project.config()

        def boom(cfg, notes=None):
            raise pa.lib.ArrowInvalid("column ts: invalid")

        monkeypatch.setattr("churnmodel.data.io.load_tables", boom)
        with pytest.raises(pa.lib.ArrowInvalid):
            project.cli("--debug", *("train", "--config", "c.toml", "--quiet", "--model-dir", "m"))


# ============================================================== 4. preflight

class TestPreflight:
    """Every place a command writes is checked before any data are read."""

    def test_train_model_dir_that_is_a_file(self, project, tx):
        project.write("tx.csv", tx)
        project.config()
        (project.path / "model").write_text("not a directory")
        run = project.train()
        line = error_line(run)
        assert "model directory 'model' (--model-dir) is a file" in line
        assert "loaded" not in run.out

    @pytest.mark.parametrize("target", ["/proc/churn_model", "afile/sub/model"])
    def test_train_model_dir_in_an_unwritable_place(self, project, tx, target):
        project.write("tx.csv", tx)
        project.config()
        (project.path / "afile").write_text("x")
        run = project.cli("train", "--config", "c.toml", "--quiet", "--model-dir", target)
        line = error_line(run)
        assert f"model directory '{target}' (--model-dir)" in line
        assert "not writable" in line or "is a file" in line
        assert "loaded" not in run.out

    @pytest.mark.parametrize("out", ["/proc/report.html", "adir.html"])
    def test_report_out_in_an_unwritable_place(self, project, tx, model_dir, out):
        project.write("tx.csv", tx)
        project.config()
        (project.path / "adir.html").mkdir()
        run = project.cli("report", "--config", "c.toml", "--quiet", "--model", str(model_dir),
                          "--out", out)
        line = error_line(run)
        assert f"report '{out}' (--out)" in line and "loaded" not in run.out

    @pytest.mark.parametrize("extra", [(), ("--overwrite",)])
    def test_score_out_naming_an_existing_directory(self, project, tx, model_dir, extra):
        project.write("tx.csv", tx)
        project.config()
        (project.path / "scores.csv").mkdir()
        run = project.cli("score", "--config", "c.toml", "--quiet", "--model", str(model_dir),
                          "--out", "scores.csv", *extra)
        line = error_line(run)
        assert "output 'scores.csv' is a directory" in line and "loaded" not in run.out


# ===================================================== 5. a model that learnt nothing

@pytest.fixture(scope="module")
def flat_project(tmp_path_factory, small_synth) -> Path:
    """A model trained on 120 customers: too few rows for LightGBM to split even once."""
    from churnmodel.cli import main

    d = tmp_path_factory.mktemp("flat")
    ids = small_synth.customers["customer_id"].iloc[:120]
    tx = small_synth.transactions
    tx[tx["customer_id"].isin(ids)].to_csv(d / "tx.csv", index=False)
    (d / "c.toml").write_text('[project]\nname = "default"\n'
                              '[data.transactions]\npath = "tx.csv"\n[model]\nn_estimators = 50\n'
                              'candidates = ["lightgbm"]\n[training]\nn_cutoffs = 7\n'
                              '[scoring]\ntop_k_percent = 20.0\n'
                              '[output]\nreport_dir = "reports"\n[tracking]\nenabled = false\n')
    import contextlib
    import io
    import os

    cwd, buf = os.getcwd(), io.StringIO()
    os.chdir(d)
    try:
        with contextlib.redirect_stdout(buf):
            status = main(["train", "--config", "c.toml", "--quiet", "--model-dir", "model"])
    finally:
        os.chdir(cwd)
    assert status == 0
    (d / "train_stdout.txt").write_text(buf.getvalue())
    return d


class TestModelThatLearntNothing:
    def test_train_says_so_in_plain_words(self, flat_project):
        out = (flat_project / "train_stdout.txt").read_text()
        assert "warning: the model learnt nothing: every customer gets about the same churn " \
               "probability" in out
        assert "top drivers" not in out  # all-zero SHAP ranks nothing

    def test_explain_never_prints_nothing_for_an_active_customer(self, project, flat_project):
        tx = pd.read_csv(flat_project / "tx.csv")
        cid = str(tx.loc[pd.to_datetime(tx["ts"]).idxmax(), "customer_id"])
        project.write("tx.csv", tx)
        project.config()
        run = explain(project, flat_project / "model", cid)
        assert run.status == 0, run.err
        lines = run.out.splitlines()
        i = next(k for k, ln in enumerate(lines) if ln.startswith(f"customer {cid} at "))
        assert lines[i + 1].strip().startswith("No feature moves this customer's risk")

    def test_score_flags_what_training_reported_and_explains_every_flagged_customer(
            self, project, flat_project):
        project.write("tx.csv", pd.read_csv(flat_project / "tx.csv"))
        project.config()
        run = project.cli("score", "--config", "c.toml", "--quiet", "--model",
                          str(flat_project / "model"), "--out", "s.csv")
        assert run.status == 0, run.err
        assert "warning: the model learnt nothing" in run.out
        s = pd.read_csv(project.path / "s.csv")
        share = json.loads((flat_project / "model" / "metadata.json").read_text())["scoring"]["share"]
        # every probability ties: a top-20% rule flags every tied customer, and training says so
        assert share == 1.0
        assert "flags 100.0% of validation customers" in (flat_project / "train_stdout.txt").read_text()
        # every customer still buying is at risk (a lapsed one goes to win back or let go)
        assert s.loc[s["state"] != "lapsed", "at_risk"].all() and len(s) > 50
        contacted = s[s["action"].isin(["retain now", "win back"])]
        assert contacted["driver_1_sentence"].str.startswith("No feature moves this customer's risk").all()

    def test_a_validation_auc_within_noise_is_named(self):
        from churnmodel.modeling.sanity import learnt_nothing

        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 400)
        p = rng.random(400)
        assert "within noise of a coin toss" in learnt_nothing(y, p, 0.52)
        assert learnt_nothing(y, p, 0.75) == ""


# ============================================================== 6. serve and REST

def _listening_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


class TestServe:
    """serve checks the port and the model before starting; bodies of any shape get a 4xx."""

    def test_a_port_already_in_use(self, project, model_dir):
        project.config()
        s, port = _listening_port()
        with s:
            line = error_line(project.cli("serve", "--config", "c.toml", "--model",
                                          str(model_dir), "--port", str(port)))
        assert f"port {port} on 127.0.0.1 is already in use (--port)" in line

    @pytest.mark.parametrize("model", ["models/nope", None])
    def test_a_model_that_does_not_exist(self, project, monkeypatch, model):
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        project.config()
        s, port = _listening_port()
        s.close()
        args = ["serve", "--config", "c.toml", "--port", str(port)]
        line = error_line(project.cli(*args, *(["--model", model] if model else [])))
        if model:
            assert "model 'models/nope' (--model) does not exist" in line
        else:
            assert ("model 'models:/churnmodel-default@champion' cannot be loaded from the "
                    "tracking store") in line

    @pytest.fixture(scope="class")
    def client(self, trained, tmp_path_factory):
        from fastapi.testclient import TestClient
        from mlflow.pyfunc import load_model, scoring_server

        from churnmodel.serving import save_pyfunc
        from churnmodel.serving.app import guarded

        d = tmp_path_factory.mktemp("served") / "mlflow_model"
        save_pyfunc(trained.model, trained.test_sample, d)
        return TestClient(guarded(scoring_server.init(load_model(str(d))))), trained.test_sample

    @pytest.mark.parametrize("body", [b"[" * 50_000 + b"]" * 50_000, b"[" * 100_000,
                                      b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
                                      b'{"dataframe_split": {"columns": ["x"], "data": '
                                      + b"[" * 5000 + b"]" * 5000 + b"}}"])
    def test_deeply_nested_json_gets_400_not_500(self, client, body):
        c, _ = client
        r = c.post("/invocations", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "nested more than" in r.json()["message"]

    def test_an_oversized_body_gets_413(self, client, monkeypatch):
        c, _ = client
        c.app.max_bytes = 1000
        try:
            r = c.post("/invocations", content=b" " * 5000,
                       headers={"Content-Type": "application/json"})
        finally:
            c.app.max_bytes = 64 * 2**20
        assert r.status_code == 413

    def test_a_good_body_still_scores_behind_the_guard(self, client):
        c, X = client
        rows = X.head(3).reset_index()
        for col in rows.columns:
            if isinstance(rows[col].dtype, pd.CategoricalDtype):
                rows[col] = rows[col].astype("string")
        payload = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        r = c.post("/invocations", json=payload)
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == 3
