"""Batch scoring and safe writing of output tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from churnmodel.errors import ChurnModelError

SUFFIXES = (".csv", ".parquet")


def check_output_path(path: str | Path, overwrite: bool = False) -> Path:
    """Fail early (before any heavy work) if ``path`` cannot or must not be written."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise ChurnModelError(f"output {str(p)!r} must end in .csv or .parquet (the format "
                              "follows the suffix).")
    if p.exists() and not overwrite:
        raise ChurnModelError(f"output {str(p)!r} exists; pass --overwrite to replace it.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise ChurnModelError(f"output directory {str(parent)!r} does not exist; create it first.")
    if not os.access(parent, os.W_OK):
        raise ChurnModelError(f"output directory {str(parent)!r} is not writable.")
    return p


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV or Parquet (by suffix) atomically: temp file, then rename.

    A crash or kill mid-write leaves the previous file (if any) intact and no partial file.
    """
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        if p.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p
