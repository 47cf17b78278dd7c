"""Column typing of a snapshot table: which attribute columns become which features.

A snapshot table is one row per customer: an id, a churn flag and attribute columns of any
type, often exported from a spreadsheet (numbers stored as text, blank strings for
missing values, 0/1 integers, "No internet service" levels). Every decision is recorded
with its reason so the run can print one note per column and scoring applies the very
same typing to another file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnmodel.errors import DataError

TABLE = "customers"
# flag texts (compared lower-cased and stripped); blank or missing = a customer to score
FLAG_TRUE = ("yes", "y", "true", "t", "1", "1.0")
FLAG_FALSE = ("no", "n", "false", "f", "0", "0.0")
# at most this many levels per categorical column; rarer levels are pooled into OTHER
MAX_LEVELS = 50
OTHER = "(other)"
# a text column with more distinct values than this share of rows names people (surnames,
# e-mails), not groups: fewer than 4 rows per value on average carry little that generalises
ID_LIKE_SHARE = 0.25
MIN_ROWS_FOR_ID_LIKE = 20


@dataclass(frozen=True)
class ColumnDecision:
    """What one column of the table became: ``numeric``, ``categorical`` or ``dropped``."""

    column: str
    kind: str
    reason: str
    levels: tuple[str, ...] = ()  # categorical levels, most frequent first
    binary: bool = False  # a numeric column holding only 0 and 1 (a yes/no attribute)
    unit: str = ""  # of a numeric column, for sentences ("months"), from its name

    def note(self) -> str:
        return f"{self.column}: {self.kind} ({self.reason})"


@dataclass(frozen=True)
class Typing:
    """The typing of a snapshot table: the id, the flag and one decision per other column."""

    id_column: str
    flag_column: str | None
    decisions: tuple[ColumnDecision, ...] = field(default_factory=tuple)

    @property
    def features(self) -> list[str]:
        return [d.column for d in self.decisions if d.kind != "dropped"]

    @property
    def numeric(self) -> list[str]:
        return [d.column for d in self.decisions if d.kind == "numeric"]

    @property
    def categories(self) -> dict[str, list[str]]:
        return {d.column: list(d.levels) for d in self.decisions if d.kind == "categorical"}

    def decision(self, column: str) -> ColumnDecision | None:
        return next((d for d in self.decisions if d.column == column), None)

    def notes(self) -> list[str]:
        return [d.note() for d in self.decisions]

    def as_dict(self) -> dict:
        return {"id_column": self.id_column, "flag_column": self.flag_column,
                "columns": [{"column": d.column, "kind": d.kind, "reason": d.reason,
                             "levels": list(d.levels), "binary": d.binary, "unit": d.unit}
                            for d in self.decisions]}


def _blank(s: pd.Series) -> pd.Series:
    """True where a value is missing or only whitespace."""
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return s.isna()
    text = s.astype("string")
    return (text.isna() | (text.str.strip() == "")).fillna(True).astype(bool)


def parse_flag(values: pd.Series, column: str) -> pd.Series:
    """A Yes/No, True/False or 1/0 churn flag (any case) as float 1.0 / 0.0, blanks as NaN.

    Blank rows are the customers to score. Any other value is one :class:`DataError` with
    the count of failing rows and examples.

    >>> parse_flag(pd.Series(["Yes", "no", " ", None, "TRUE", "0"]), "Churn").tolist()
    [1.0, 0.0, nan, nan, 1.0, 0.0]
    """
    blank = _blank(values)
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    yes, no = text.isin(FLAG_TRUE).fillna(False), text.isin(FLAG_FALSE).fillna(False)
    out[yes.to_numpy(dtype=bool)] = 1.0
    out[no.to_numpy(dtype=bool)] = 0.0
    bad = ~(blank | yes | no)
    if bad.any():
        examples = ", ".join(repr(v) for v in pd.unique(values[bad].astype(str))[:5])
        raise DataError(TABLE, column, f"the churn flag must be Yes/No, True/False or 1/0 (any "
                        f"case; blank = a customer to score), but {int(bad.sum()):,} row(s) hold "
                        f"other values: {examples}",
                        "recode those values, or map [data.customers] churned to the flag column",
                        n_rows=int(bad.sum()))
    return out


def _as_numbers(s: pd.Series) -> tuple[pd.Series, int] | None:
    """``s`` as float64 with blanks missing, and the count of blanks; None if some text
    value is not a number."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64"), int(s.isna().sum())
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64"), int(s.isna().sum())
    blank = _blank(s)
    text = s.astype("string").str.strip().where(~blank)
    conv = pd.to_numeric(text, errors="coerce")
    if (conv.isna() & ~blank).any() or blank.all():
        return None
    return conv.astype("float64"), int(blank.sum())


def _text_levels(s: pd.Series) -> pd.Series:
    """Text values stripped, blanks missing (the form categorical levels are compared in)."""
    text = s.astype("string").str.strip()
    return text.where(text != "")


_DATE = r"\d{4}-\d{1,2}-\d{1,2}([ T].*)?|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}( .*)?"


def type_columns(df: pd.DataFrame, id_column: str, flag_column: str | None,
                 exclude: Iterable[str] = (), leave_out: Mapping[str, str] | None = None) -> Typing:
    """Decide, for every column but the id and the flag, what feature it becomes.

    * listed in ``exclude`` -> dropped;
    * empty, or a single value on every row -> dropped (nothing to learn);
    * numbers, or text that is a number on every non-blank row -> numeric (blank text is a
      missing value); a 0/1 column is marked ``binary``;
    * integers distinct on every row -> dropped as id-like (a row number, a second id);
    * text that is a date on every non-blank row -> dropped (a snapshot has no as-of date
      to measure it from); ``leave_out`` maps other columns to the reason they are dropped;
    * other text -> categorical, unless almost every row has its own value (a name, an
      e-mail: dropped as id-like); beyond :data:`MAX_LEVELS` levels the rarest are pooled.

    >>> t = type_columns(pd.DataFrame({"id": ["a", "b", "c"], "flag": ["Yes", "No", ""],
    ...     "plan": ["x", "y", "x"], "charge": ["1.5", " ", "2"], "const": [1, 1, 1]}),
    ...     "id", "flag")
    >>> [(d.column, d.kind) for d in t.decisions]
    [('plan', 'categorical'), ('charge', 'numeric'), ('const', 'dropped')]
    """
    excluded = set(exclude)
    n = len(df)
    decisions = []
    for col in df.columns:
        if col in (id_column, flag_column):
            continue
        s = df[col]
        name = str(col)
        if name in excluded:
            decisions.append(ColumnDecision(name, "dropped", "listed in [features] exclude"))
            continue
        if leave_out and name in leave_out:
            decisions.append(ColumnDecision(name, "dropped", leave_out[name]))
            continue
        blank = _blank(s)
        if blank.all():
            decisions.append(ColumnDecision(name, "dropped", "empty on every row"))
            continue
        nums = _as_numbers(s)
        if nums is not None:
            x, n_blank = nums
            distinct = x.dropna().unique()
            if len(distinct) <= 1 and n_blank == 0:
                decisions.append(ColumnDecision(name, "dropped", f"constant: {_fmt(distinct[0])} "
                                                "on every row"))
                continue
            whole = bool(np.all(np.mod(distinct, 1) == 0))
            if whole and n_blank == 0 and len(distinct) == n and n >= MIN_ROWS_FOR_ID_LIKE:
                decisions.append(ColumnDecision(name, "dropped", "id-like: a different whole "
                                                "number on every row"))
                continue
            binary = set(distinct.tolist()) <= {0.0, 1.0}
            text = not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype))
            why = ("numbers stored as text" if text else "numbers") + (
                f", {n_blank:,} blank -> missing" if n_blank else "") + (", 0/1" if binary else "")
            decisions.append(ColumnDecision(name, "numeric", why, binary=binary,
                                            unit=_unit(name, float(np.max(distinct)))))
            continue
        text = _text_levels(s)
        if text.dropna().str.fullmatch(_DATE).all():
            decisions.append(ColumnDecision(name, "dropped", "dates: snapshot mode has no as-of "
                                            "date to measure them from"))
            continue
        counts = text.value_counts(dropna=True)
        n_blank = int(text.isna().sum())
        if len(counts) <= 1 and n_blank == 0:
            decisions.append(ColumnDecision(name, "dropped", f"constant: {counts.index[0]!r} on "
                                            "every row"))
            continue
        if len(counts) > ID_LIKE_SHARE * n and n >= MIN_ROWS_FOR_ID_LIKE:
            what = "unique per row" if len(counts) == n else f"{len(counts):,} distinct values in {n:,} rows"
            decisions.append(ColumnDecision(name, "dropped", f"id-like: {what}"))
            continue
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        levels = tuple(str(k) for k, _ in ordered[:MAX_LEVELS])
        why = f"text, {len(counts)} levels" + (f", {n_blank:,} blank -> missing" if n_blank else "")
        if len(counts) > MAX_LEVELS:
            levels = levels + (OTHER,)
            why += f"; the {len(counts) - MAX_LEVELS} rarest pooled as {OTHER!r}"
        decisions.append(ColumnDecision(name, "categorical", why, levels=levels))
    return Typing(str(id_column), flag_column, tuple(decisions))


def _unit(column: str, largest: float) -> str:
    """The unit a numeric column's name implies, for sentences ("" when it does not say).

    A bare "tenure" is months when it goes past 20 (telecom tables count months) and years
    otherwise (bank tables count years): a guess from the values, said as a guess nowhere
    else than in the sentence.

    >>> _unit("tenure", 72), _unit("Tenure", 10), _unit("days_active", 3), _unit("Age", 40)
    ('months', 'years', 'days', '')
    """
    words = set(humanise(column).lower().split())
    for unit in ("months", "years", "days", "weeks", "hours"):
        if unit in words or unit[:-1] in words:
            return unit
    if "tenure" in words:
        return "months" if largest > 20 else "years"
    return ""


def _fmt(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:g}"


def feature_frame(df: pd.DataFrame, typing: Typing) -> pd.DataFrame:
    """The model's feature columns of ``df`` typed as decided (index: the rows of ``df``).

    Numeric columns become float64 (blank text missing); a value that is not a number is a
    :class:`DataError` with the count of failing rows. Categorical columns become text
    (blank missing; a level pooled at training becomes :data:`OTHER`, an unseen one stays
    as it is and the model treats it as missing). Missing columns are refused by name.
    """
    missing = [c for c in typing.features if c not in df.columns]
    if missing:
        raise DataError(TABLE, missing[0], f"is missing: the model was trained on {len(missing)} "
                        f"column(s) this table lacks ({', '.join(missing[:10])})",
                        "score a table with the same columns as the training table")
    out: dict[str, pd.Series] = {}
    for d in typing.decisions:
        if d.kind == "numeric":
            nums = _as_numbers(df[d.column])
            if nums is None:
                blank = _blank(df[d.column])
                conv = pd.to_numeric(df[d.column].astype("string").str.strip().where(~blank),
                                     errors="coerce")
                bad = conv.isna() & ~blank
                if not bad.any():  # every row blank: all missing
                    out[d.column] = pd.Series(np.nan, index=df.index, dtype="float64")
                    continue
                raise DataError(TABLE, d.column, "must hold numbers (it did in the training "
                                "table)", "fix or blank those values", n_rows=int(bad.sum()),
                                example=df[d.column][bad].iloc[0])
            out[d.column] = nums[0]
        elif d.kind == "categorical":
            text = _text_levels(df[d.column])
            if OTHER in d.levels:
                text = text.where(text.isna() | text.isin(d.levels), OTHER)
            out[d.column] = text
    return pd.DataFrame(out, index=df.index)


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def humanise(column: str) -> str:
    """A column name as words: ``MonthlyCharges`` -> ``Monthly charges``.

    >>> humanise("MonthlyCharges"), humanise("tenure"), humanise("num_of_products")
    ('Monthly charges', 'Tenure', 'Num of products')
    >>> humanise("SeniorCitizen"), humanise("HasCrCard")
    ('Senior citizen', 'Has cr card')
    """
    words = _WORD.findall(column) or [column]
    text = " ".join(w if (w.isupper() and len(w) > 1 and w != words[0]) else w.lower()
                    for w in words)
    return text[:1].upper() + text[1:]
