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
