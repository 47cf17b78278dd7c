"""Loading user tables (CSV, Parquet or a DuckDB SQL query) into validated :class:`Tables`.

The column mapping of the config renames the user's columns onto the contract; then each
table is coerced to its types and validated. Every problem raises :class:`DataError`
naming the table, the column, how many rows are affected, an example and the fix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from churnmodel.config import Config, EngineConfig, TableSource
from churnmodel.contracts import CONTRACTS, CSAT_RANGE, NPS_RANGE, TableContract
from churnmodel.data.tables import Tables
from churnmodel.errors import DataError, nearest, one_line

log = logging.getLogger(__name__)

# Integers in this range are read as YYYYMMDD dates, above it as Unix epoch seconds.
_YYYYMMDD = (19000101, 21001231)
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}


def read_source(name: str, src: TableSource, engine: EngineConfig | None = None) -> pd.DataFrame:
    """Read one table as the user stored it (no renaming, no coercion). A ``table`` source
    is read through Spark (``engine``: the session to use)."""
    if src.table is not None:
        from churnmodel.engine.spark import read_table

        return read_table(name, src.table, engine)
    if src.query is not None:
        import duckdb

        try:
            rel = duckdb.sql(src.query)
            if rel is None:
                raise DataError(name, None, "the SQL query returned no result set",
                                "use a SELECT statement")
            return rel.df()
        except duckdb.Error as exc:
            raise DataError(name, None, f"the SQL query failed: {one_line(exc)}",
                            "check the query in [data." + name + "] query") from None
    assert src.path is not None
    path = Path(src.path)
    if not path.exists():
        raise DataError(name, None, f"file {str(path)!r} does not exist",
                        f"set [data.{name}] path to an existing CSV or Parquet file")
    if path.is_dir():
        raise DataError(name, None, f"path {str(path)!r} is a directory, not a file",
                        f"set [data.{name}] path to the CSV or Parquet file inside it")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        labels = [src.columns.get(c, c) for c in CONTRACTS[name].label_columns] if name in CONTRACTS else []
        try:
            return read_parquet(path, labels)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise DataError(name, None, f"cannot read Parquet file {str(path)!r} ({one_line(exc)})",
                            "re-export the file; it looks truncated or corrupt") from None
    if suffix in (".csv", ".txt", ".tsv", ".gz"):
        return _read_csv(name, path, src)
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):  # Online Retail ships as .xlsx
        raise DataError(name, None, f"{str(path)!r} is a spreadsheet, which is not read directly",
                        "save the sheet as CSV (in the spreadsheet program, or "
                        f"pandas.read_excel({path.name!r}).to_csv({path.stem + '.csv'!r}, "
                        f"index=False)) and set [data.{name}] path to the .csv file")
    raise DataError(name, None, f"unsupported file type {suffix!r} for {str(path)!r}",
                    "use .csv or .parquet (or a [data." + name + "] query)")


def read_parquet(path: Path, label_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a Parquet file; its text ``label_columns`` come back as categoricals.

    Reading them as dictionaries skips building one string object per row (19.6M rows of
    transactions: 1.5 s and 0.6 GB less than reading strings and converting them).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    text = [c for c in label_columns if c in schema.names
            and (pa.types.is_string(t := schema.field(c).type) or pa.types.is_large_string(t))]
    return pd.read_parquet(path, read_dictionary=text or None)


# pandas' default missing-value texts, minus the ones that are real ids ("NA", "NULL", ...):
# in an id column only an empty field is missing unless [data.<table>] na_values says so.
_ID_NA = ("",)


def _read_csv(name: str, path: Path, src: TableSource) -> pd.DataFrame:
    id_col = src.columns.get("customer_id", "customer_id")
    # BOM-tolerant utf-8 by default; ids stay text so leading zeros survive.
    encoding = src.encoding or "utf-8-sig"
    sep = src.sep or ("\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        header = _csv_header(path, sep, encoding)
        _refuse_repeated(name, header)
        na: dict[str, list[str]] | None = None
        keep_default = True
        if id_col in header:  # the id column gets its own, narrower missing-value texts
            from pandas._libs.parsers import STR_NA_VALUES

            others = sorted(STR_NA_VALUES) + list(src.na_values or ())
            na = {c: others for c in header if c != id_col}
            na[id_col] = list(_ID_NA) + list(src.na_values or ())
            keep_default = False
        elif src.na_values:
            na = {c: list(src.na_values) for c in header}
        df = pd.read_csv(path, sep=sep, encoding=encoding, dtype={id_col: str},
                         low_memory=False, na_values=na, keep_default_na=keep_default)
    except UnicodeDecodeError as exc:
        raise DataError(name, None, f"{str(path)!r} is not valid {encoding} ({exc.reason} at "
                        f"byte {exc.start})",
                        f"set [data.{name}] encoding = \"latin-1\" (or the file's encoding)") from None
    except pd.errors.ParserError as exc:
        raise DataError(name, None, f"cannot parse CSV {str(path)!r}: {one_line(exc)}",
                        f"check the delimiter and quoting of that line; set [data.{name}] sep = "
                        "\";\" if the file is not comma-separated") from None
    except pd.errors.EmptyDataError:
        raise DataError(name, None, f"{str(path)!r} is empty", "export the table with a header "
                        "row and at least one data row") from None
    except (ValueError, LookupError) as exc:  # e.g. an option pandas refuses for this file
        raise DataError(name, None, f"cannot read CSV {str(path)!r} with sep={sep!r}, "
                        f"encoding={encoding!r} ({one_line(exc)})",
                        f"check [data.{name}] sep and encoding") from None
    if df.shape[1] == 1 and sep == ",":
        only = str(df.columns[0])
        for cand in (";", "\t", "|"):
            if cand in only:
                raise DataError(name, None, f"{str(path)!r} has a single column {only!r}: "
                                f"it looks delimited by {cand!r}",
                                f"set [data.{name}] sep = {cand!r}")
    return df


def _csv_header(path: Path, sep: str, encoding: str) -> list[str]:
    """The header row exactly as written (pandas renames a repeated 'x' to 'x.1')."""
    head = pd.read_csv(path, sep=sep, encoding=encoding, header=None, nrows=1, dtype=str,
                       keep_default_na=False)
    return [str(c) for c in head.iloc[0].tolist()] if len(head) else []


def _refuse_repeated(name: str, header: Sequence[str]) -> None:
    seen: set[str] = set()
    for c in header:
        if c.strip() == "":  # unnamed columns (trailing commas of spreadsheet exports)
            continue
        if c in seen:
            raise DataError(name, c, f"appears more than once in the header "
                            f"({list(header).count(c)} times)",
                            "rename or drop the repeated column so each name is used once")
        seen.add(c)


def apply_mapping(name: str, df: pd.DataFrame, columns: dict[str, str] | None) -> pd.DataFrame:
    """Rename user columns onto the contract and keep only contract columns."""
    contract = CONTRACTS[name]
    mapping = dict(columns or {})
    dup = df.columns[df.columns.duplicated()]
    if len(dup):
        raise DataError(name, str(dup[0]), "appears more than once in the header",
                        "rename or drop the repeated column (e.g. alias it in the SQL query)")
    for canon, source in mapping.items():
        if source not in df.columns:
            raise DataError(name, canon, f"is mapped to column {source!r}, which the file does "
                            f"not have.{nearest(source, map(str, df.columns))} Columns present: "
                            f"{', '.join(map(str, df.columns[:20]))}",
                            f"set [data.{name}] {canon} = \"<one of the columns present>\"")
    rename = {src: canon for canon, src in mapping.items()}
    if len(rename) < len(mapping):
        source = next(s for s in rename if list(mapping.values()).count(s) > 1)
        both = [c for c, s in mapping.items() if s == source]
        raise DataError(name, both[-1], f"is mapped to column {source!r}, which is also mapped "
                        f"to {', '.join(both[:-1])}", "map each canonical column to its own column")
    # A mapped column replaces a column of the file that already has the canonical name
    # (e.g. ts = "order_date" in a file that also has a 'ts' column): the mapping wins.
    shadowed = [c for c in mapping if c in df.columns and mapping[c] != c and c not in rename]
    out = df.drop(columns=shadowed).rename(columns=rename)
    missing = [c for c in contract.required if c not in out.columns
               and not (c == "amount" and _derives_amount(name, out))]
    if missing:
        c = missing[0]
        if c in rename:  # the file has the column, but the mapping gives it another role
            raise DataError(name, c, f"is missing: the file's column {c!r} is mapped to "
                            f"{rename[c]}", f"set [data.{name}] {c} = \"<your column>\" too, or "
                            f"map {rename[c]} to another column")
        lines = ("; or, for order lines, map quantity and unit_price (amount = quantity x "
                 "unit_price)" if c == "amount" and name == "transactions" else "")
        raise DataError(name, c, f"required column is missing.{nearest(c, map(str, df.columns))} "
                        f"Columns present: {', '.join(map(str, df.columns[:20]))}",
                        f"add it or map it in the config: [data.{name}] {c} = \"<your column>\""
                        + lines)
    return out[[c for c in contract.columns if c in out.columns]]


def _derives_amount(name: str, df: pd.DataFrame) -> bool:
    """True when a transactions table without ``amount`` has ``quantity`` and ``unit_price``."""
    return (name == "transactions" and "amount" not in df.columns
            and {"quantity", "unit_price"} <= set(df.columns))


def _amount_of_lines(df: pd.DataFrame) -> pd.Series:
    """``amount = quantity x unit_price`` of coerced order lines; one error for the rows where
    either is empty (the amount is required).

    >>> lines = pd.DataFrame({"quantity": [2.0, -1.0], "unit_price": [2.5, 4.0]})
    >>> _amount_of_lines(lines).tolist()
    [5.0, -4.0]
    """
    amount = df["quantity"] * df["unit_price"]
    empty = amount.isna()
    if empty.any():
        raise DataError("transactions", "amount", "cannot be computed as quantity x unit_price "
                        "where either is empty", "fill or drop those rows",
                        n_rows=int(empty.sum()))
    return amount


def parse_datetime(s: pd.Series, table: str, column: str,
                   date_format: str | None = None) -> pd.Series:
    """Parse a column of dates: datetimes, ISO strings, YYYYMMDD integers, epoch seconds.

    Zoned values are converted to UTC and made naive so every table compares alike.
    """
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return _as_ns(s.dt.tz_convert("UTC").dt.tz_localize(None), s, table, column)
    if pd.api.types.is_datetime64_any_dtype(s):
        return _as_ns(s, s, table, column)
    notnull = s.notna()
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s[notnull]
        fractional = v % 1 != 0
        if fractional.any() and v.max() < 1e8:
            _bad_dates(table, column, s, fractional.reindex(s.index, fill_value=False), date_format)
        # each value is read the way most of the column reads (YYYYMMDD or epoch); the
        # rest are the bad rows, counted and quoted (never a valid date of the majority)
        ymd, epoch = s.between(*_YYYYMMDD), s > 1e8
        if len(v) and ymd.sum() >= epoch.sum():
            parsed = pd.to_datetime(s.where(ymd).astype("Int64").astype("string"),
                                    format="%Y%m%d", errors="coerce")
            if (parsed.isna() & notnull).any():
                _bad_dates(table, column, s, parsed.isna() & notnull, date_format,
                           "the other rows are YYYYMMDD dates; these are not (or fall outside "
                           "19000101-21001231)")
        elif len(v):
            unit = "ms" if v.max() > 1e11 else "s"
            parsed = pd.to_datetime(s.where(epoch), unit=unit, errors="coerce")
            if (parsed.isna() & notnull).any():
                _bad_dates(table, column, s, parsed.isna() & notnull, date_format,
                           "the other rows are epoch timestamps; these are not")
        else:
            parsed = pd.Series(pd.NaT, index=s.index)
    else:
        text = s.astype("string").str.strip()
        if date_format is not None:
            try:
                parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
            except ValueError as exc:  # a directive pandas refuses even with errors="coerce"
                raise DataError(table, column, f"cannot be read with date_format {date_format!r} "
                                f"({one_line(exc)})", f"fix [data.{table}] date_format (strptime "
                                "codes such as %d/%m/%Y)") from None
        elif text[notnull].str.fullmatch(r"\d{8}").all():
            parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce", utc=True)
        else:
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
            if (parsed.isna() & notnull).any():
                parsed = _one_format_for_all(text, notnull, parsed, table, column)
        parsed = parsed.dt.tz_localize(None)
    bad = parsed.isna() & notnull
    if bad.any():
        _bad_dates(table, column, s, bad, date_format)
    return _as_ns(parsed, s, table, column)


def _as_ns(parsed: pd.Series, s: pd.Series, table: str, column: str) -> pd.Series:
    """Cast to ``datetime64[ns]``, refusing dates outside its range (1677-2262).

    Exports often write "never" as 9999-12-31; pandas parses it (in microseconds) but it
    does not fit the nanosecond timestamps every table is compared in.
    """
    lo, hi = pd.Timestamp.min.ceil("s"), pd.Timestamp.max.floor("s")
    outside = parsed.notna() & ((parsed < lo) | (parsed > hi))
    if outside.any():
        raise DataError(table, column, f"has dates outside {lo.year}-{hi.year}", "leave "
                        "'never' / unknown dates (such as 9999-12-31) empty, or fix those rows",
                        n_rows=int(outside.sum()), example=s[outside].iloc[0])
    return parsed.astype("datetime64[ns]")


# Common non-ISO layouts, tried one at a time for the whole column (never value by value,
# which would read 01/02 as January in one row and 13/02 as February in the next).
_FALLBACK_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d",
                     "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S")


def _one_format_for_all(text: pd.Series, notnull: pd.Series, iso: pd.Series, table: str,
                        column: str) -> pd.Series:
    fits = []
    for fmt in _FALLBACK_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        if not (parsed.isna() & notnull).any():
            fits.append((fmt, parsed))
    day_first = [f for f, _ in fits if f.startswith("%d/")]
    month_first = [f for f, _ in fits if f.startswith("%m/")]
    if day_first and month_first:
        raise DataError(table, column, "has dates that read both day-first and month-first "
                        f"(e.g. {text[notnull].iloc[0]!r})",
                        f'set [data.{table}] date_format = "%d/%m/%Y" or "%m/%d/%Y"')
    return fits[0][1] if fits else iso


def _bad_dates(table: str, column: str, s: pd.Series, bad: pd.Series,
               date_format: str | None, context: str = "") -> None:
    hint = (f"the values do not match date_format {date_format!r}; fix the format"
            if date_format else
            f"use ISO dates (2025-03-31 or 2025-03-31T14:05:00), YYYYMMDD integers or epoch "
            f"seconds, or set [data.{table}] date_format = \"%d/%m/%Y\" (strptime codes); leave "
            "unknown dates (sentinels such as 18991230) empty")
    hint = f"{context}: fix or empty those rows, or " + hint if context else hint
    raise DataError(table, column, "has values that are not dates", hint,
                    n_rows=int(bad.sum()), example=s[bad].iloc[0])


# Largest magnitude accepted in a numeric column: sums over a billion rows stay finite
# and exact to the cent in float64 up to about 1e13; above 1e15 is an export error.
MAX_ABS_NUMBER = 1e15


def _numeric(df: pd.DataFrame, table: str, column: str, allow_null: bool) -> pd.Series:
    s = df[column]
    if pd.api.types.is_bool_dtype(s) or (s.dtype == object and s.map(
            lambda v: isinstance(v, bool | np.bool_)).any()):
        flags = s.map(lambda v: isinstance(v, bool | np.bool_)) if s.dtype == object else s.notna()
        raise DataError(table, column, "has true/false values where numbers belong",
                        f"map [data.{table}] {column} to a numeric column (true/false is not "
                        "an amount), or fix the rows", n_rows=int(flags.sum()),
                        example=s[flags].iloc[0])
    num = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_numeric_dtype(s) else s
    num = num.astype("float64")
    not_number = num.isna() & s.notna()
    if not_number.any():
        example = s[not_number].iloc[0]
        comma = isinstance(example, str) and re.fullmatch(r"\s*-?\d+,\d+\s*", example)
        raise DataError(table, column, "has values that are not numbers",
                        "remove currency symbols / thousands separators"
                        + (" and write decimal commas as points (12,50 -> 12.50)" if comma else "")
                        + ", or fix the rows", n_rows=int(not_number.sum()), example=example)
    if not allow_null and num.isna().any():
        raise DataError(table, column, "has empty values", "fill or drop those rows",
                        n_rows=int(num.isna().sum()))
    inf = np.isinf(num.to_numpy())
    if inf.any():
        raise DataError(table, column, "has infinite values", "fix or drop those rows",
                        n_rows=int(inf.sum()), example=float(num[inf].iloc[0]))
    huge = (num.abs() > MAX_ABS_NUMBER).to_numpy()
    if huge.any():
        raise DataError(table, column, f"has values beyond +/-{MAX_ABS_NUMBER:.0e} (sums of them "
                        "would overflow)", "fix those rows (an export error or a wrong unit)",
                        n_rows=int(huge.sum()), example=s[huge].iloc[0])
    return num


def _boolean(df: pd.DataFrame, table: str, column: str) -> pd.Series:
    s = df[column]
    if pd.api.types.is_bool_dtype(s):
        return s.fillna(False).astype(bool)
    text = s.astype("string").str.strip().str.lower().fillna("")
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise DataError(table, column, "has values that are not true/false",
                        "use true/false, yes/no or 1/0", n_rows=int(bad.sum()),
                        example=s[bad].iloc[0])
    return text.isin(_TRUE)


def _labels(s: pd.Series) -> pd.Series:
    """A column of labels (category, channel, region...) as a categorical of strings.

    One small code per row instead of a string: at 20M transactions this saves about
    0.6 GB; a column read from Parquet as a dictionary is already one.
    """
    if isinstance(s.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(s.cat.categories):
        return s
    return s.astype("string").astype("category")


def coerce_and_validate(name: str, df: pd.DataFrame, date_format: str | None = None) -> pd.DataFrame:
    """Coerce a mapped table to its contract types and check every rule of the contract."""
    contract: TableContract = CONTRACTS[name]
    if len(df) == 0:
        raise DataError(name, None, "is empty", "export the table with at least one row, or "
                        "remove it from the config (only transactions are mandatory)")
    out = df.copy(deep=False)  # copy-on-write: columns replaced below never touch df
    ids = out["customer_id"]
    if ids.isna().any():
        raise DataError(name, "customer_id", "has empty customer ids", "fill or drop those rows, "
                        f"or let loading drop them: [data.{name}] missing_ids = \"drop\"",
                        n_rows=int(ids.isna().sum()))
    for col in contract.datetime_columns:
        if col in out.columns:
            out[col] = parse_datetime(out[col], name, col, date_format)
            required = col in contract.required
            if required and out[col].isna().any():
                raise DataError(name, col, "has empty dates", "fill or drop those rows",
                                n_rows=int(out[col].isna().sum()))
    for col in contract.numeric_columns:
        if col in out.columns:
            out[col] = _numeric(out, name, col, allow_null=col not in contract.required)
    if _derives_amount(name, out):
        out.insert(out.columns.get_loc("ts") + 1, "amount", _amount_of_lines(out))
    if "unit_price" in out.columns:  # it has served (or amount was mapped itself)
        out = out.drop(columns="unit_price")
    for col in contract.text_columns:
        if col in out.columns:
            out[col] = out[col].astype("string")
    for col in contract.label_columns:
        if col in out.columns:
            out[col] = _labels(out[col])
    _check_rules(name, out)
    return out.reset_index(drop=True)


def _check_rules(name: str, df: pd.DataFrame) -> None:
    if name == "feedback":
        if "csat" not in df.columns and "nps" not in df.columns:
            raise DataError(name, None, "has neither a 'csat' nor an 'nps' column",
                            "map at least one: [data.feedback] csat = \"<your column>\"")
        for col, (lo, hi) in (("csat", CSAT_RANGE), ("nps", NPS_RANGE)):
            if col in df.columns:
                bad = df[col].notna() & ~df[col].between(lo, hi)
                if bad.any():
                    raise DataError(name, col, f"has scores outside {lo}-{hi}",
                                    f"rescale the scores to {lo}-{hi} or drop those rows",
                                    n_rows=int(bad.sum()), example=float(df.loc[bad, col].iloc[0]))
        if "nps" in df.columns:
            frac = df["nps"].notna() & (df["nps"] % 1 != 0)
            if frac.any():
                raise DataError(name, "nps", "has fractional scores (NPS answers are whole numbers "
                                "0-10)", "round the answers, or map an answer column rather than an "
                                "average", n_rows=int(frac.sum()), example=float(df.loc[frac, "nps"].iloc[0]))
    if name == "tickets":
        if "is_complaint" in df.columns:
            df["is_complaint"] = _boolean(df, name, "is_complaint")
        if "resolved_ts" in df.columns:
            bad = df["resolved_ts"] < df["opened_ts"]
            if bad.any():
                raise DataError(name, "resolved_ts", "is earlier than opened_ts",
                                "check the two columns are not swapped; fix those rows",
                                n_rows=int(bad.sum()), example=str(df.loc[bad, "resolved_ts"].iloc[0]))
    if name == "events":
        _check_events(df)
    if name == "customers":
        dup = df["customer_id"].duplicated()
        if dup.any():
            raise DataError(name, "customer_id", "has duplicate customer ids (one row per "
                            "customer expected)", "deduplicate the customers table",
                            n_rows=int(dup.sum()), example=df.loc[dup, "customer_id"].iloc[0])


def _check_events(df: pd.DataFrame) -> None:
    """An event needs a type; its value (minutes, pages...) is a non-negative measure."""
    empty = df["event_type"].isna()
    if empty.any():
        raise DataError("events", "event_type", "has empty event types",
                        "fill them (e.g. \"unknown\") or drop those rows",
                        n_rows=int(empty.sum()))
    if "value" in df.columns:
        neg = df["value"] < 0
        if neg.any():
            raise DataError("events", "value", "has negative values (an event's value is a "
                            "duration or count such as session minutes)",
                            "fix or drop those rows, or leave [data.events] value unmapped",
                            n_rows=int(neg.sum()), example=float(df.loc[neg, "value"].iloc[0]))


def canonical_ids(s: pd.Series) -> pd.Series:
    """Customer ids as the exact text a person would type, whatever the column's type.

    Integers keep every digit (unsigned 64-bit ids above the int64 range included); whole
    floats (an id column that went through a spreadsheet) lose their ``.0``; a text column
    whose ids are *all* written as whole floats (``"100001.0"``) loses it too. Other text
    is kept as it is, leading zeros included.

    >>> canonical_ids(pd.Series([100001.0, 7.0])).tolist()
    ['100001', '7']
    >>> canonical_ids(pd.Series(["100001.0", "7.00"])).tolist()
    ['100001', '7']
    >>> canonical_ids(pd.Series(["007", "A1"])).tolist()
    ['007', 'A1']
    """
    if pd.api.types.is_integer_dtype(s):
        return s.astype("string")
    if pd.api.types.is_float_dtype(s):
        whole = (s % 1 == 0) & (s.abs() < 2**53)  # beyond 2**53 a float id is not exact
        if whole.all():
            return s.astype("int64").astype("string")
        return s.astype("string")
    txt = s.astype("string")
    first = txt.dropna().head(1)
    # the first id decides whether the (costly) whole-column test is worth running
    if len(first) and re.fullmatch(r"\d+\.0+", str(first.iloc[0])) \
            and txt.str.fullmatch(r"\d+\.0+").all():
        return txt.str.replace(r"\.0+$", "", regex=True)
    return txt


def _as_int64(s: pd.Series) -> pd.Series | None:
    """``s`` as int64 ids without a detour through text (20M ids: seconds saved), or None
    when some id is not an integer that fits int64 exactly."""
    if pd.api.types.is_integer_dtype(s):
        if s.dtype == "uint64" and len(s) and s.max() > np.iinfo("int64").max:
            return None  # would wrap negative
        return s.astype("int64")
    if pd.api.types.is_float_dtype(s):
        return s.astype("int64") if ((s % 1 == 0) & (s.abs() < 2**53)).all() else None
    txt = canonical_ids(s)
    # leading zeros carry meaning in ids: keep those as text
    return txt.astype("int64") if txt.str.fullmatch(r"0|[1-9]\d{0,17}").all() else None


def _unify_ids(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Give customer_id one canonical form everywhere: int64 if every table's ids are
    integers that fit (without leading zeros), else their exact text (:func:`canonical_ids`)."""
    ints = {k: _as_int64(v["customer_id"]) for k, v in frames.items()}
    if all(v is not None for v in ints.values()):
        return {k: v.assign(customer_id=ints[k]) for k, v in frames.items()}
    return {k: v.assign(customer_id=canonical_ids(v["customer_id"])) for k, v in frames.items()}


# Below this share of matching rows a table barely joins: its features are mostly missing.
JOIN_WARN_SHARE = 0.5


def join_warnings(tables: Tables) -> list[str]:
    """One line per table whose rows barely match a known customer (tables that do join
    say nothing): the share, an unmatched id and a known one, so a format mismatch
    (``100001.0`` against ``100001``, ``C-7`` against ``7``) shows at once."""
    tx_ids = pd.Index(tables.transactions["customer_id"].unique())
    known = tx_ids
    if tables.customers is not None:
        known = known.union(pd.Index(tables.customers["customer_id"].unique()))
    checks = [(n, getattr(tables, n), known, "a known customer (transactions or customers)")
              for n in ("feedback", "tickets") if getattr(tables, n) is not None]
    if tables.customers is not None:
        checks.append(("transactions", tables.transactions,
                       pd.Index(tables.customers["customer_id"].unique()),
                       "a row of the customers table"))
    out = _event_id_notes(tables, known)
    for name, df, ids, what in checks:
        hit = df["customer_id"].isin(ids)
        share = float(hit.mean()) if len(df) else 1.0
        if share < JOIN_WARN_SHARE:
            miss = df.loc[~hit, "customer_id"].iloc[0]
            other = "customers" if name == "transactions" else "transactions"
            example = ids[0] if name == "transactions" else tx_ids[0]
            out.append(f"warning: only {share:.0%} of {name} rows ({int(hit.sum()):,} of "
                       f"{len(df):,}) match {what}, e.g. {name} id {str(miss)!r} vs {other} "
                       f"id {str(example)!r}: their features will be mostly missing; check that "
                       "customer_id holds the same ids in both tables")
    return out


def _event_id_notes(tables: Tables, known: pd.Index) -> list[str]:
    """Events of ids no other table knows are allowed (a log keeps visitors who never
    bought): they are counted here, and no feature ever sees them (features are built for
    the customers active at a cutoff, who all have transactions)."""
    ev = tables.events
    if ev is None or len(ev) == 0:
        return []
    if tables.feedback is not None:
        known = known.union(pd.Index(tables.feedback["customer_id"].unique()))
    if tables.tickets is not None:
        known = known.union(pd.Index(tables.tickets["customer_id"].unique()))
    unknown = ~ev["customer_id"].isin(known)
    n = int(unknown.sum())
    if n == 0:
        return []
    ids = int(ev.loc[unknown, "customer_id"].nunique())
    line = (f"note: {n:,} of {len(ev):,} events rows ({n / len(ev):.0%}, {ids:,} ids) belong to "
            "ids found in no other table; they are kept but no customer's features use them")
    if n / len(ev) > 1 - JOIN_WARN_SHARE:
        line += (f", e.g. events id {str(ev.loc[unknown, 'customer_id'].iloc[0])!r} vs "
                 f"transactions id {str(tables.transactions['customer_id'].iloc[0])!r}: check "
                 "that customer_id holds the same ids in both tables")
    return [line]


def drop_missing_ids(name: str, df: pd.DataFrame, column: str = "customer_id"
                     ) -> tuple[pd.DataFrame, str | None]:
    """``df`` without its rows that have no customer id (in ``column``), and the note saying
    how many went (``None`` when none did); a table with no id at all is an error.

    >>> df = pd.DataFrame({"customer_id": [7.0, None, 8.0, None], "amount": [1, 2, 3, 4]})
    >>> kept, note = drop_missing_ids("transactions", df)
    >>> kept["amount"].tolist()
    [1, 3]
    >>> note.removesuffix(' ([data.transactions] missing_ids = "drop")')
    'note: dropped 2 of 4 transactions rows (50%) without a customer id'
    """
    empty = df[column].isna()
    n = int(empty.sum())
    if n == 0:
        return df, None
    if n == len(df):
        raise DataError(name, column, "is empty in every row", f"map [data.{name}] "
                        "customer_id to the column that holds the customer ids", n_rows=n)
    note = (f"note: dropped {n:,} of {len(df):,} {name} rows ({n / len(df):.0%}) without a "
            f"customer id ([data.{name}] missing_ids = \"drop\")")
    return df[~empty.to_numpy()].reset_index(drop=True), note


def tables_from_frames(
    frames: dict[str, pd.DataFrame],
    columns: dict[str, dict[str, str]] | None = None,
    date_formats: dict[str, str | None] | None = None,
    missing_ids: dict[str, str] | None = None,
    notes: list[str] | None = None,
) -> Tables:
    """Validate in-memory frames (user column names + optional mapping) into :class:`Tables`.

    ``missing_ids``: per table, ``"drop"`` drops the rows without a customer id (else they
    are an error); a note per table that lost rows is appended to ``notes`` (logged as a
    warning when ``notes`` is None).

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"cust": ["a", "b"], "day": [20250101, 20250102], "usd": [5, 7]})
    >>> t = tables_from_frames({"transactions": tx},
    ...                        {"transactions": {"customer_id": "cust", "ts": "day", "amount": "usd"}})
    >>> t.transactions["ts"].dt.strftime("%Y-%m-%d").tolist()
    ['2025-01-01', '2025-01-02']
    """
    if "transactions" not in frames:
        raise DataError("transactions", None, "is missing", "provide a transactions table "
                        "(customer_id, ts, amount); it is the one mandatory table")
    out: dict[str, pd.DataFrame] = {}
    for name, df in frames.items():
        if name not in CONTRACTS:
            raise DataError(name, None, f"is not a known table.{nearest(name, CONTRACTS)}",
                            f"use one of {', '.join(CONTRACTS)}")
        mapped = apply_mapping(name, df, (columns or {}).get(name))
        if (missing_ids or {}).get(name) == "drop":
            mapped, note = drop_missing_ids(name, mapped)
            if note is not None:
                notes.append(note) if notes is not None else log.warning(note)
        out[name] = coerce_and_validate(name, mapped, (date_formats or {}).get(name))
    out = _unify_ids(out)
    return Tables(**out)


def load_tables(cfg: Config, notes: list[str] | None = None) -> Tables:
    """Load every configured table (or the embedded default data) and validate it; what
    loading changed (rows dropped for ``missing_ids = "drop"``) goes to ``notes``."""
    if cfg.data.uses_default:
        return load_default_tables(cfg.data.dir)
    frames, columns, formats, missing = {}, {}, {}, {}
    for name, src in cfg.data.tables.items():
        frames[name] = read_source(name, src, cfg.engine)
        columns[name] = dict(src.columns)
        formats[name] = src.date_format
        missing[name] = src.missing_ids
    return tables_from_frames(frames, columns, formats, missing, notes)


def load_default_tables(directory: Path) -> Tables:
    """Load the synthetic tables written by ``churnmodel data synth`` into ``directory``."""
    directory = Path(directory)
    if not (directory / "transactions.parquet").exists():
        raise DataError("transactions", None, f"no data in {str(directory)!r}",
                        "run `churnmodel data synth` (or `make data`) first, or configure "
                        "your own tables in a config file with [data.transactions]")
    frames = {
        name: read_parquet(directory / f"{name}.parquet", CONTRACTS[name].label_columns)
        for name in CONTRACTS
        if (directory / f"{name}.parquet").exists()
    }
    return tables_from_frames(frames)
