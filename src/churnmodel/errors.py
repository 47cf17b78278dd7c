"""Errors a user can act on.

Every error churnmodel raises for bad input says *where* (table, column), *how much*
(rows affected, an example value) and *what to do about it*. The CLI prints the message
without a traceback; library users catch :class:`ChurnModelError`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class ChurnModelError(Exception):
    """Base class of every error caused by input, configuration or data.

    The message is kept on one line (embedded line breaks, e.g. from a parser's or MLflow's
    own message, become spaces): the CLI prints it as a single ``error: ...`` line.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(one_line(a) if isinstance(a, str) else a for a in args))


class ConfigError(ChurnModelError):
    """The configuration file or a command-line option is wrong."""


class DataError(ChurnModelError):
    """A table does not meet its contract.

    Parameters
    ----------
    table, column:
        Where the problem is (``column`` may be ``None`` for table-level problems).
    problem:
        What is wrong, in words.
    fix:
        What the user can do.
    n_rows:
        How many rows are affected, when that is meaningful.
    example:
        One offending value, shown as ``repr``.
    """

    def __init__(
        self,
        table: str,
        column: str | None,
        problem: str,
        fix: str,
        n_rows: int | None = None,
        example: object = None,
    ) -> None:
        self.table, self.column, self.problem, self.fix = table, column, problem, fix
        self.n_rows, self.example = n_rows, example
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        count = f" ({n_rows:,} rows)" if n_rows is not None else ""
        if hasattr(example, "item"):  # numpy / pandas scalar -> plain Python value
            example = example.item()
        ex = f"; e.g. {example!r}" if example is not None else ""
        super().__init__(f"{where}: {problem}{count}{ex}. Fix: {fix}")


class ModelInputError(ChurnModelError):
    """A frame handed to a trained model does not match what it was trained on."""


def one_line(text: object) -> str:
    """``text`` (or an exception's message) on one line: each line break becomes one space.

    >>> one_line("Error tokenizing data.\\nExpected 3 fields in line 3\\n")
    'Error tokenizing data. Expected 3 fields in line 3'
    """
    return re.sub(r"\s*\n\s*", " ", str(text)).strip()


def nearest(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or an empty string."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def describe_failure(exc: BaseException) -> str:
    """One ``error:`` line for an exception raised *below* churnmodel (pandas, pyarrow,
    DuckDB, the OS, MLflow): what failed, on what the user gave, and the fix.

    The CLI's last line of defence: the checks before the work are meant to catch these
    first with a more precise message; this keeps a missed case to one line, not a
    traceback.

    >>> describe_failure(PermissionError(13, "Permission denied", "/srv/out.csv"))[:54]
    "cannot write or read '/srv/out.csv': Permission denied"
    """
    kind = type(exc).__name__
    module = type(exc).__module__.split(".")[0].lstrip("_")  # _duckdb -> duckdb
    msg = one_line(exc)
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else None
        where = f" {str(name)!r}" if name is not None else ""
        why = exc.strerror or msg
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return (f"cannot connect{where}: {why}. Fix: check the address (e.g. the tracking "
                    "URI) and that the server runs")
        return (f"cannot write or read{where}: {why}. Fix: check the path and its permissions, "
                "or choose another place")
    if isinstance(exc, RecursionError):
        return (f"input nested too deeply to process ({msg}). Fix: flatten the input (tables "
                "and JSON of plain rows)")
    if isinstance(exc, MemoryError):
        return "out of memory. Fix: use a smaller extract, or [training] max_customers_per_cutoff"
    if module == "mlflow":
        return (f"MLflow failed: {msg}. Fix: check the tracking URI (MLFLOW_TRACKING_URI or "
                "[tracking] tracking_uri) and the model URI; rerun with --debug for details")
    if module in ("pandas", "pyarrow", "duckdb", "numpy"):
        return (f"{module} could not process the input ({kind}: {msg}). Fix: check the tables "
                "and their [data.*] settings; rerun with --debug for details")
    return (f"unexpected {kind}: {msg}. Fix: rerun with --debug for the traceback and report it "
            "if the input looks right")
