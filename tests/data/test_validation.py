"""Loading and validating user tables: one test per bad input, and the formats that parse.

Every DataError must say where (table, column), how much (rows), an example and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import config_from_dict
from churnmodel.data.io import load_tables, parse_datetime, tables_from_frames
from churnmodel.errors import ConfigError, DataError


def _tx(**over) -> pd.DataFrame:
    base = {"customer_id": ["a", "b", "c"],
            "ts": ["2025-01-01", "2025-01-02", "2025-01-03"],
            "amount": [10.0, 20.0, 30.0]}
    base.update(over)
    return pd.DataFrame(base)


def _load(frames, columns=None, date_formats=None):
    if isinstance(frames, pd.DataFrame):
        frames = {"transactions": frames}
    return tables_from_frames(frames, columns, date_formats)


def _load_csv(tmp_path: Path, text: str | bytes, name: str = "tx.csv", **options):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    cfg = config_from_dict({"data": {"transactions": {"path": name, **options}}}, base=tmp_path)
    return load_tables(cfg)


# ------------------------------------------------------------------------------ columns

def test_missing_required_column_names_table_column_and_fix():
    df = _tx().rename(columns={"customer_id": "customer"})
    with pytest.raises(DataError, match=r"table 'transactions', column 'customer_id': required "
                                        r"column is missing\. Did you mean 'customer'\? Columns "
                                        r"present: customer, ts, amount\. Fix: add it or map it "
                                        r"in the config: \[data\.transactions\] customer_id ="):
        _load(df)


def test_column_mapped_to_a_name_the_file_does_not_have():
    df = _tx().rename(columns={"amount": "dollars"})
    with pytest.raises(DataError, match=r"table 'transactions', column 'amount': is mapped to "
                                        r"column 'dollar', which the file does not have\. Did "
                                        r"you mean 'dollars'\?.*Fix: set \[data\.transactions\] "
                                        r"amount ="):
        _load(df, {"transactions": {"amount": "dollar"}})


def test_mapping_renames_user_columns_and_drops_the_rest():
    df = pd.DataFrame({"cust": ["a"], "day": ["2025-01-01"], "usd": [3], "note": ["x"]})
    t = _load(df, {"transactions": {"customer_id": "cust", "ts": "day", "amount": "usd"}})
    assert t.transactions.columns.tolist() == ["customer_id", "ts", "amount"]
    assert t.transactions["amount"].tolist() == [3.0]


# -------------------------------------------------------------------------------- dates

def test_unparseable_dates_show_count_and_an_example():
    df = _tx(ts=["2025-01-01", "not a date", "2025-13-45"])
    with pytest.raises(DataError, match=r"table 'transactions', column 'ts': has values that are "
                                        r"not dates \(2 rows\); e\.g\. 'not a date'\. Fix: use "
                                        r"ISO dates.*date_format"):
        _load(df)


def test_invalid_yyyymmdd_integer_is_reported():
    df = _tx(ts=[20250101, 20251301, 20250103])
    with pytest.raises(DataError, match=r"column 'ts': has values that are not dates \(1 rows\); "
                                        r"e\.g\. .*20251301"):
        _load(df)


@pytest.mark.parametrize(("frames", "shown"), [
    ({"transactions": _tx(ts=[20250101, 20251301, 20250103])}, "20251301"),
    ({"transactions": _tx(customer_id=[1, 2, 3]),
      "customers": pd.DataFrame({"customer_id": [1, 2, 2]})}, "2"),
])
def test_numeric_examples_are_shown_as_plain_numbers(frames, shown):
    # numpy scalars used to show as 'e.g. np.int64(20251301)'
    with pytest.raises(DataError) as info:
        _load(frames)
    assert f"e.g. {shown}." in str(info.value)


def test_fractional_numeric_date_example_is_the_offending_value():
    # only the fractional value is bad: 1 row, and it is the example
    with pytest.raises(DataError, match=r"not dates \(1 rows\); e\.g\. 20250102\.5\."):
        _load(_tx(ts=[20250101.0, 20250102.5, 20250103.0]))


def test_dates_not_matching_the_configured_format():
    with pytest.raises(DataError, match=r"\(1 rows\); e\.g\. '2025-01-03'\. Fix: the values do "
                                        r"not match date_format '%d/%m/%Y'"):
        _load(_tx(ts=["01/02/2025", "13/02/2025", "2025-01-03"]),
              date_formats={"transactions": "%d/%m/%Y"})


def test_configured_date_format_parses_day_first():
    t = _load(_tx(ts=["01/02/2025", "13/02/2025", "28/02/2025"]),
              date_formats={"transactions": "%d/%m/%Y"})
    assert t.transactions["ts"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-02-01", "2025-02-13", "2025-02-28"]


@pytest.mark.parametrize(("values", "expected"), [
    ([20250101, 20250215, 20251231], ["2025-01-01 00:00", "2025-02-15 00:00", "2025-12-31 00:00"]),
    (["20250101", "20250215", "20251231"], ["2025-01-01 00:00", "2025-02-15 00:00",
                                            "2025-12-31 00:00"]),
    (["2025-01-01", "2025-02-15", "2025-12-31"], ["2025-01-01 00:00", "2025-02-15 00:00",
                                                  "2025-12-31 00:00"]),
    (["2025-01-01", "2025-02-15 13:45:00", "2025-12-31T23:59:00"],
     ["2025-01-01 00:00", "2025-02-15 13:45", "2025-12-31 23:59"]),
    # epoch seconds: 1735689600 = 2025-01-01 00:00 UTC, + 86400 per day, + 3600 per hour
    ([1735689600, 1735776000, 1735779600], ["2025-01-01 00:00", "2025-01-02 00:00",
                                            "2025-01-02 01:00"]),
    # mixed offsets are converted to UTC: 10:00+02:00 = 08:00Z, 10:00-05:00 = 15:00Z
    (["2025-01-01T10:00:00+02:00", "2025-01-01T10:00:00-05:00", "2025-01-01T10:00:00Z"],
     ["2025-01-01 08:00", "2025-01-01 15:00", "2025-01-01 10:00"]),
])
def test_supported_date_formats_parse_to_naive_utc(values, expected):
    t = _load(_tx(ts=values))
    ts = t.transactions["ts"]
    assert ts.dtype == "datetime64[ns]" and ts.dt.tz is None
    assert ts.dt.strftime("%Y-%m-%d %H:%M").tolist() == expected


def test_zoned_datetime_column_is_converted_to_naive_utc():
    zoned = pd.Series(pd.to_datetime(["2025-06-01 12:00"]).tz_localize("Europe/Paris"))
    out = parse_datetime(zoned, "transactions", "ts")
    assert out.tolist() == [pd.Timestamp("2025-06-01 10:00")]  # CEST is UTC+2
    assert out.dtype == "datetime64[ns]"


def test_slash_dates_are_read_with_one_convention_for_the_whole_column():
    # 13/02 can only be day-first, so 01/02 is 1 February too (not 2 January)
    out = parse_datetime(pd.Series(["01/02/2025", "13/02/2025"]), "transactions", "ts")
    assert out.tolist() == [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-02-13")]
    # 02/13 can only be month-first, so 02/01 is 1 February
    out = parse_datetime(pd.Series(["02/01/2025", "02/13/2025"]), "transactions", "ts")
    assert out.tolist() == [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-02-13")]


def test_slash_dates_that_read_both_ways_ask_for_a_date_format():
    with pytest.raises(DataError, match=r"table 'transactions', column 'ts': has dates that read "
                                        r"both day-first and month-first \(e\.g\. '01/02/2025'\)"
                                        r".*Fix: set \[data\.transactions\] date_format"):
        parse_datetime(pd.Series(["01/02/2025", "03/04/2025"]), "transactions", "ts")


# ------------------------------------------------------------------------------ numbers

@pytest.mark.parametrize("bad", ["12,50", "abc"])
def test_amounts_as_text_are_rejected_with_count_and_example(bad):
    with pytest.raises(DataError, match=rf"table 'transactions', column 'amount': has values that "
                                        rf"are not numbers \(1 rows\); e\.g\. '{bad}'\. Fix: remove "
                                        rf"currency symbols"):
        _load(_tx(amount=["10", bad, "3.5"]))


def test_numeric_text_amounts_are_converted():
    assert _load(_tx(amount=["10", "-2.5", "3"])).transactions["amount"].tolist() == [
        10.0, -2.5, 3.0]


def test_missing_amount_is_rejected():
    with pytest.raises(DataError, match=r"column 'amount': has empty values \(2 rows\)\. Fix: fill "
                                        r"or drop those rows"):
        _load(_tx(amount=[np.nan, 1.0, None]))


def test_infinite_amount_is_rejected():
    with pytest.raises(DataError, match=r"column 'amount': has infinite values \(1 rows\); e\.g\. "
                                        r"-inf"):
        _load(_tx(amount=[1.0, -np.inf, 2.0]))


def _feedback(**cols) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["a", "b"], "ts": ["2025-01-01", "2025-01-02"], **cols})


@pytest.mark.parametrize(("column", "values", "message"), [
    ("csat", [0, 3], r"column 'csat': has scores outside 1-5 \(1 rows\); e\.g\. 0\.0\. Fix: "
                     r"rescale the scores to 1-5"),
    ("csat", [6, 5], r"column 'csat': has scores outside 1-5 \(1 rows\); e\.g\. 6\.0"),
    ("nps", [11, 10], r"column 'nps': has scores outside 0-10 \(1 rows\); e\.g\. 11\.0"),
])
def test_scores_outside_their_scale_are_rejected(column, values, message):
    with pytest.raises(DataError, match=r"table 'feedback', " + message):
        _load({"transactions": _tx(), "feedback": _feedback(**{column: values})})


def test_scores_at_the_ends_of_their_scale_and_missing_scores_are_fine():
    t = _load({"transactions": _tx(),
               "feedback": _feedback(csat=[1, 5], nps=[0, None])})
    assert t.feedback["csat"].tolist() == [1.0, 5.0]
    assert t.feedback["nps"].isna().tolist() == [False, True]


def test_feedback_without_any_score_column_is_rejected():
    with pytest.raises(DataError, match=r"table 'feedback': has neither a 'csat' nor an 'nps'"):
        _load({"transactions": _tx(), "feedback": _feedback(comment=["ok", "bad"])})


# ------------------------------------------------------------------------- table rules

def test_duplicate_customer_ids_in_customers_are_rejected():
    cu = pd.DataFrame({"customer_id": ["a", "b", "a", "a"]})
    with pytest.raises(DataError, match=r"table 'customers', column 'customer_id': has duplicate "
                                        r"customer ids.*\(2 rows\); e\.g\. 'a'\. Fix: deduplicate"):
        _load({"transactions": _tx(), "customers": cu})


def test_resolved_before_opened_is_rejected():
    tk = pd.DataFrame({"customer_id": ["a", "b"],
                       "opened_ts": ["2025-01-05 10:00", "2025-01-05 10:00"],
                       "resolved_ts": ["2025-01-05 09:00", "2025-01-06 09:00"]})
    with pytest.raises(DataError, match=r"table 'tickets', column 'resolved_ts': is earlier than "
                                        r"opened_ts \(1 rows\); e\.g\. '2025-01-05 09:00:00'\. "
                                        r"Fix: check the two columns are not swapped"):
        _load({"transactions": _tx(), "tickets": tk})


def test_open_tickets_and_text_complaint_flags_load():
    tk = pd.DataFrame({"customer_id": ["a", "b"], "opened_ts": ["2025-01-05", "2025-01-06"],
                       "resolved_ts": ["2025-01-06", None], "is_complaint": ["Yes", "no"]})
    t = _load({"transactions": _tx(), "tickets": tk})
    assert t.tickets["resolved_ts"].isna().tolist() == [False, True]
    assert t.tickets["is_complaint"].tolist() == [True, False]


def test_empty_table_is_rejected():
    with pytest.raises(DataError, match=r"table 'transactions': is empty\. Fix: export the table "
                                        r"with at least one row"):
        _load(_tx().iloc[:0])


def test_empty_customer_ids_are_rejected():
    with pytest.raises(DataError, match=r"column 'customer_id': has empty customer ids \(1 rows\)"):
        _load(_tx(customer_id=["a", None, "c"]))


def test_empty_customer_ids_error_says_how_to_drop_them():
    with pytest.raises(DataError, match=r"\(2 rows\).*Fix: fill or drop those rows, or let "
                                        r"loading drop them: \[data\.transactions\] "
                                        r"missing_ids = \"drop\""):
        _load(_tx(customer_id=[None, "b", None]))


def test_rows_without_a_customer_id_are_dropped_with_a_note_when_asked(tmp_path):
    """An Online Retail-like export: float ids with blank cells (a quarter of the rows)."""
    text = ("CustomerID,InvoiceDate,amount\n17850.0,2010-12-01,15.3\n,2010-12-01,2.5\n"
            "13047.0,2010-12-02,20.0\n,2010-12-03,1.0\n17850.0,2010-12-05,9.0\n"
            ",2010-12-05,4.0\n13047.0,2010-12-06,3.0\n12583.0,2010-12-07,7.5\n")
    (tmp_path / "tx.csv").write_text(text)
    cfg = config_from_dict({"data": {"transactions": {
        "path": "tx.csv", "customer_id": "CustomerID", "ts": "InvoiceDate",
        "missing_ids": "drop"}}}, base=tmp_path)
    notes: list[str] = []
    t = load_tables(cfg, notes)
    assert t.transactions["customer_id"].tolist() == [17850, 13047, 17850, 13047, 12583]
    assert t.transactions["amount"].tolist() == [15.3, 20.0, 9.0, 3.0, 7.5]
    assert notes == ["note: dropped 3 of 8 transactions rows (38%) without a customer id "
                     "([data.transactions] missing_ids = \"drop\")"]
    # without the option the same file is refused, counting the same rows
    cfg = config_from_dict({"data": {"transactions": {
        "path": "tx.csv", "customer_id": "CustomerID", "ts": "InvoiceDate"}}}, base=tmp_path)
    with pytest.raises(DataError, match=r"has empty customer ids \(3 rows\)"):
        load_tables(cfg)


def test_dropping_missing_ids_keeps_a_table_that_has_none_and_refuses_one_with_no_id():
    t = tables_from_frames({"transactions": _tx()}, missing_ids={"transactions": "drop"},
                           notes=(notes := []))
    assert len(t.transactions) == 3 and notes == []
    with pytest.raises(DataError, match=r"column 'customer_id': is empty in every row \(3 rows\)"):
        tables_from_frames({"transactions": _tx(customer_id=[None] * 3)},
                           missing_ids={"transactions": "drop"})


def test_missing_ids_takes_error_or_drop_only():
    with pytest.raises(ConfigError, match=r"\[data\.transactions\] missing_ids must be \"error\""
                                          r".* or \"drop\".*got 'skip'"):
        config_from_dict({"data": {"transactions": {"path": "tx.csv", "missing_ids": "skip"}}})


# ------------------------------------------------------------------------ order lines

def test_amount_is_quantity_times_unit_price_for_order_lines():
    """Online Retail's shape: no amount, Quantity x UnitPrice; a cancellation has a negative
    quantity, so its amount is a refund."""
    df = pd.DataFrame({"cust": ["a", "a", "b"], "day": ["2025-01-01", "2025-01-02", "2025-01-02"],
                       "Quantity": [6, -2, 3], "UnitPrice": [2.55, 2.55, "0.5"]})
    t = _load(df, {"transactions": {"customer_id": "cust", "ts": "day", "quantity": "Quantity",
                                    "unit_price": "UnitPrice"}})
    tx = t.transactions
    assert list(tx.columns) == ["customer_id", "ts", "amount", "quantity"]
    assert tx["amount"].tolist() == [6 * 2.55, -2 * 2.55, 1.5]


def test_a_mapped_amount_wins_over_quantity_and_unit_price():
    df = _tx(quantity=[1, 2, 3], unit_price=[100.0, 100.0, 100.0])
    assert _load(df).transactions["amount"].tolist() == [10.0, 20.0, 30.0]


def test_an_order_line_without_a_price_is_one_error_on_the_amount():
    df = pd.DataFrame({"customer_id": ["a", "b", "c"], "ts": ["2025-01-01"] * 3,
                       "quantity": [1, None, 2], "unit_price": [1.0, 2.0, None]})
    with pytest.raises(DataError, match=r"column 'amount': cannot be computed as quantity x "
                                        r"unit_price where either is empty \(2 rows\)"):
        _load(df)


def test_quantity_alone_does_not_make_an_amount_and_the_error_says_what_would():
    df = pd.DataFrame({"customer_id": ["a"], "ts": ["2025-01-01"], "quantity": [1]})
    with pytest.raises(DataError, match=r"column 'amount': required column is missing\..*or, for "
                                        r"order lines, map quantity and unit_price"):
        _load(df)


def test_missing_transactions_table_is_rejected():
    with pytest.raises(DataError, match=r"table 'transactions': is missing"):
        tables_from_frames({"customers": pd.DataFrame({"customer_id": ["a"]})})


# ------------------------------------------------------------------------------- files

def test_semicolon_csv_suggests_sep(tmp_path):
    text = "customer_id;ts;amount\na;2025-01-01;12.50\nb;2025-01-02;3\n"
    with pytest.raises(DataError, match=r"table 'transactions': .*has a single column "
                                        r"'customer_id;ts;amount': it looks delimited by ';'\. "
                                        r"Fix: set \[data\.transactions\] sep = ';'"):
        _load_csv(tmp_path, text)
    t = _load_csv(tmp_path, text, sep=";")
    assert t.transactions["amount"].tolist() == [12.5, 3.0]


def test_latin1_csv_suggests_encoding_and_loads_when_it_is_set(tmp_path):
    raw = "customer_id,ts,amount,category\na,2025-01-01,12.5,café\n".encode("latin-1")
    with pytest.raises(DataError, match=r"table 'transactions': .* is not valid utf-8-sig.*Fix: "
                                        r"set \[data\.transactions\] encoding = \"latin-1\""):
        _load_csv(tmp_path, raw)
    t = _load_csv(tmp_path, raw, encoding="latin-1")
    assert t.transactions["category"].tolist() == ["café"]


def test_utf8_csv_with_a_byte_order_mark_loads(tmp_path):
    raw = "\ufeffcustomer_id,ts,amount\na,2025-01-01,12.5\n".encode()
    t = _load_csv(tmp_path, raw)
    assert t.transactions.columns.tolist() == ["customer_id", "ts", "amount"]
    assert t.transactions["customer_id"].tolist() == ["a"]


def test_truncated_parquet_file_is_a_data_error(tmp_path):
    full = tmp_path / "full.parquet"
    _tx().to_parquet(full)
    data = full.read_bytes()
    (tmp_path / "tx.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"table 'transactions': cannot read Parquet file .*Fix: "
                                        r"re-export the file; it looks truncated or corrupt"):
        load_tables(config_from_dict({"data": {"transactions": {"path": "tx.parquet"}}},
                                     base=tmp_path))


def test_missing_file_and_unsupported_type_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"file .*nope\.csv' does not exist"):
        load_tables(config_from_dict({"data": {"transactions": {"path": "nope.csv"}}},
                                     base=tmp_path))
    (tmp_path / "tx.json").write_bytes(b"x")
    with pytest.raises(DataError, match=r"unsupported file type '\.json'"):
        load_tables(config_from_dict({"data": {"transactions": {"path": "tx.json"}}},
                                     base=tmp_path))


def test_a_spreadsheet_says_how_to_save_it_as_csv(tmp_path):
    (tmp_path / "Online Retail.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match=r"'.*Online Retail\.xlsx' is a spreadsheet, which is not "
                                        r"read directly\. Fix: save the sheet as CSV .*pandas\."
                                        r"read_excel\('Online Retail\.xlsx'\)\.to_csv\('Online "
                                        r"Retail\.csv', index=False\)\) and set "
                                        r"\[data\.transactions\] path to the \.csv file"):
        load_tables(config_from_dict({"data": {"transactions": {"path": "Online Retail.xlsx"}}},
                                     base=tmp_path))


def test_csv_with_mapped_columns_through_the_config(tmp_path):
    text = "cust,order_date,dollars\n7,20250101,12.5\n8,20250102,1\n"
    t = _load_csv(tmp_path, text, customer_id="cust", ts="order_date", amount="dollars")
    assert t.transactions["customer_id"].tolist() == [7, 8]
    assert t.transactions["ts"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-01", "2025-01-02"]


# ---------------------------------------------------------------------------------- ids

def test_integer_ids_in_transactions_and_text_ids_in_customers_are_unified():
    tx = _tx(customer_id=[1, 2, 3])
    cu = pd.DataFrame({"customer_id": ["1", "2", "3", "4"]})
    t = _load({"transactions": tx, "customers": cu})
    assert t.transactions["customer_id"].dtype == "int64"
    assert t.customers["customer_id"].dtype == "int64"
    assert t.customers["customer_id"].tolist() == [1, 2, 3, 4]


def test_leading_zero_ids_stay_text_in_every_table(tmp_path):
    tx = _tx(customer_id=["007", "8", "9"])
    cu = pd.DataFrame({"customer_id": ["007", "8"]})
    t = _load({"transactions": tx, "customers": cu})
    assert t.transactions["customer_id"].tolist() == ["007", "8", "9"]
    assert t.customers["customer_id"].tolist() == ["007", "8"]
    assert pd.api.types.is_string_dtype(t.transactions["customer_id"])
    # the same through a CSV file: the id column is read as text
    t = _load_csv(tmp_path, "customer_id,ts,amount\n007,2025-01-01,1\n")
    assert t.transactions["customer_id"].tolist() == ["007"]


def test_label_columns_load_as_categoricals_of_text_from_csv_parquet_and_frames(tmp_path):
    tx = _tx(channel=["web", None, "web"], shop=[7, 8, 7], order_id=["o1", "o2", "o3"])
    tx.to_parquet(tmp_path / "tx.parquet")
    tx.to_csv(tmp_path / "tx.csv", index=False)
    loaded = [_load(tx, {"transactions": {"category": "shop"}}).transactions]
    for name in ("tx.parquet", "tx.csv"):
        cfg = config_from_dict({"data": {"transactions": {"path": name, "category": "shop"}}},
                               base=tmp_path)
        loaded.append(load_tables(cfg).transactions)
    for t in loaded:
        for col, values in (("channel", ["web", None, "web"]), ("category", ["7", "8", "7"])):
            assert isinstance(t[col].dtype, pd.CategoricalDtype), col
            assert pd.api.types.is_string_dtype(t[col].cat.categories), col
            assert t[col].astype(object).where(t[col].notna(), None).tolist() == values
        assert t["order_id"].dtype == "string"  # ids and free text stay text


def test_loading_leaves_the_callers_frames_as_they_were():
    tx = _tx(channel=["web", "app", "web"])
    tk = pd.DataFrame({"customer_id": ["a"], "opened_ts": ["2025-01-01"],
                       "resolved_ts": ["2025-01-02"], "is_complaint": ["yes"]})
    before = {"tx": tx.copy(), "tk": tk.copy()}
    t = _load({"transactions": tx, "tickets": tk})
    assert t.tickets["is_complaint"].tolist() == [True]
    pd.testing.assert_frame_equal(tx, before["tx"])
    pd.testing.assert_frame_equal(tk, before["tk"])
