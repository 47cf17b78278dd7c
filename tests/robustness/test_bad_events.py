"""Bad engagement logs: one clear error naming the table, column, failing rows and the fix;
an event log of ids no other table knows is allowed and counted in the load summary."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.data.io import join_warnings, tables_from_frames
from churnmodel.data.synthetic import SyntheticData
from churnmodel.errors import DataError


@pytest.fixture
def ev(small_synth: SyntheticData) -> pd.DataFrame:
    assert small_synth.events is not None
    return small_synth.events.copy()


def load(tx: pd.DataFrame, ev: pd.DataFrame, columns: dict | None = None):
    return tables_from_frames({"transactions": tx, "events": ev},
                              {"events": columns} if columns else None)


def message(tx, ev, columns=None) -> str:
    with pytest.raises(DataError) as exc:
        load(tx, ev, columns)
    return str(exc.value)


def test_a_log_without_event_type_names_the_column_and_how_to_map_it(tx, ev):
    msg = message(tx, ev.drop(columns="event_type"))
    assert "table 'events', column 'event_type'" in msg
    assert "required column is missing" in msg and "[data.events] event_type =" in msg


def test_an_unparseable_timestamp_is_counted_and_quoted(tx, ev):
    bad = ev.assign(ts=ev["ts"].astype(str).astype(object))
    bad.loc[[3, 70, 900], "ts"] = ["yesterday", "2025-13-45", "soon"]
    msg = message(tx, bad)
    assert "table 'events', column 'ts'" in msg and "has values that are not dates" in msg
    assert "(3 rows)" in msg and "'yesterday'" in msg


def test_negative_values_are_refused_with_the_count(tx, ev):
    bad = ev.copy()
    bad.loc[[5, 6], "value"] = [-3.0, -0.5]
    msg = message(tx, bad)
    assert "table 'events', column 'value'" in msg and "has negative values" in msg
    assert "(2 rows)" in msg and "leave [data.events] value unmapped" in msg


def test_empty_event_types_are_refused(tx, ev):
    bad = ev.assign(event_type=ev["event_type"].astype(object))
    bad.loc[[1, 2, 3, 4], "event_type"] = None
    msg = message(tx, bad)
    assert "column 'event_type'" in msg and "empty event types" in msg and "(4 rows)" in msg


def test_ids_unknown_to_every_other_table_are_allowed_and_counted(tx, ev):
    visitors = pd.DataFrame({"customer_id": [9_000_001, 9_000_001, 9_000_002],
                             "ts": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-02-01"]),
                             "event_type": ["page_view"] * 3, "value": [float("nan")] * 3})
    t = load(tx, pd.concat([ev, visitors], ignore_index=True))
    lines = join_warnings(t)
    assert len(lines) == 1
    assert lines[0].startswith(f"note: 3 of {len(ev) + 3:,} events rows")
    assert "(0%, 2 ids) belong to ids found in no other table" in lines[0]


def test_a_log_that_matches_nobody_says_so_with_examples(tx, ev):
    t = load(tx, ev.assign(customer_id="C-" + ev["customer_id"].astype(str)))
    (line,) = join_warnings(t)
    assert "(100%" in line and "e.g. events id 'C-" in line and "check that customer_id" in line


def test_the_command_line_trains_with_an_event_log_of_strangers_and_reports_them(
        tmp_path: Path, monkeypatch, capsys, tx, ev):
    monkeypatch.chdir(tmp_path)
    tx.to_csv("tx.csv", index=False)
    strangers = ev.assign(customer_id=ev["customer_id"] + 10_000_000).head(50)
    pd.concat([ev, strangers]).rename(columns={"event_type": "kind"}).to_csv("ev.csv", index=False)
    Path("c.toml").write_text(
        '[data.transactions]\npath = "tx.csv"\n[data.events]\npath = "ev.csv"\nevent_type = "kind"\n'
        '[model]\nn_estimators = 50\ncandidates = ["lightgbm"]\n[training]\nn_cutoffs = 7\n'
        '[tracking]\nenabled = false\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["train", "--config", "c.toml", "--model-dir", "model", "--no-report"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"events {len(ev) + 50:,}" in out
    assert "note: 50 of" in out and "belong to ids found in no other table" in out
    meta = json.loads(Path("model/metadata.json").read_text())
    fixed = [b for b in meta["builders"] if b.startswith("engagement:")]
    assert len(fixed) == 1 and set(fixed[0].removeprefix("engagement:").split(",")) == \
        {"session", "page_view", "email_open", "login"}
    assert any(f.startswith("days_since_event_") for f in meta["feature_names"])
