"""Checks before the work: every place a command reads or writes, tested in seconds.

A command that would fail after an hour of training because its model directory is a
file, its tracking store is damaged or its port is taken fails here instead, before any
data are read, with one message naming what the user gave and the fix.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from pathlib import Path

from churnmodel.config import Config
from churnmodel.errors import ChurnModelError, ConfigError

_SQLITE_HEADER = b"SQLite format 3\x00"


def writable_dir(path: str | Path, what: str, option: str) -> Path:
    """``path`` is (or can become) a writable directory; nothing is created.

    ``what`` names the output ("model directory"), ``option`` the setting that chose it
    (``--model-dir``).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ChurnModelError(f"{what} {str(p)!r} ({option}) is a file, not a directory; "
                              f"choose another {option}.")
    probe_in = _nearest_existing(p)
    if not probe_in.is_dir():
        raise ChurnModelError(f"{what} {str(p)!r} ({option}) cannot be created: "
                              f"{str(probe_in)!r} is a file; choose another {option}.")
    _probe(probe_in, what, p, option)
    return p


def writable_file(path: str | Path, what: str, option: str) -> Path:
    """``path`` can be written as a file: not a directory, its (nearest existing) directory
    writable; missing folders are created by the writer."""
    p = Path(path)
    if p.is_dir():
        raise ChurnModelError(f"{what} {str(p)!r} ({option}) is a directory; give a file name, "
                              f"e.g. {str(p / ('out' + (p.suffix or '.csv')))!r}.")
    parent = _nearest_existing(p.parent if str(p.parent) else Path("."))
    if not parent.is_dir():
        raise ChurnModelError(f"{what} {str(p)!r} ({option}) cannot be created: "
                              f"{str(parent)!r} is a file; choose another {option}.")
    _probe(parent, what, p, option)
    return p


def _nearest_existing(p: Path) -> Path:
    p = p.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe(directory: Path, what: str, target: Path, option: str) -> None:
    # a real probe: permission bits alone do not tell (root, read-only mounts, quotas)
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".churnmodel.probe."):
            pass
    except OSError as exc:
        raise ChurnModelError(f"{what} {str(target)!r} ({option}) is not writable: "
                              f"{str(directory)!r} refuses new files ({exc.strerror}); choose "
                              f"another {option}.") from None


def table_sources(cfg: Config) -> None:
    """Every configured table file exists and is a file (a directory is refused)."""
    from churnmodel.errors import DataError

    for name, src in cfg.data.tables.items():
        if src.path is None:
            continue
        p = Path(src.path)
        if not p.exists():
            raise DataError(name, None, f"file {str(p)!r} does not exist",
                            f"set [data.{name}] path to an existing CSV or Parquet file")
        if p.is_dir():
            raise DataError(name, None, f"path {str(p)!r} is a directory, not a file",
                            f"set [data.{name}] path to the CSV or Parquet file inside it")


def tracking_store(uri: str, where: str) -> None:
    """The tracking store at ``uri`` can be opened: an embedded SQLite file is checked
    without MLflow (a damaged file, a directory, an unwritable folder); servers are left
    to the first request. ``where`` names the setting that gave the URI."""
    if not uri.startswith("sqlite:///"):
        _server_answers(uri, where)
        return
    db = Path(uri.removeprefix("sqlite:///"))
    if db.is_dir():
        raise ConfigError(f"tracking store {uri!r} ({where}) is a directory, not an SQLite "
                          "file; point it at a file such as sqlite:///mlflow.db.")
    if db.exists():
        import sqlite3

        with open(db, "rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
        damaged = bool(head) and head != _SQLITE_HEADER
        if not damaged and head:
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                try:
                    con.execute("SELECT count(*) FROM sqlite_master").fetchone()
                finally:
                    con.close()
            except sqlite3.DatabaseError:
                damaged = True
        if damaged:
            raise ConfigError(f"tracking store {str(db)!r} ({where}) is not a readable SQLite "
                              "database (damaged or another kind of file); move it aside to "
                              "start a new store, or point MLFLOW_TRACKING_URI elsewhere.")
    else:
        try:
            writable_dir(db.parent, "tracking store folder", where)
        except ChurnModelError:
            raise ConfigError(f"tracking store {uri!r} ({where}) cannot be created: "
                              f"{str(db.parent)!r} is not a writable folder; set "
                              "MLFLOW_TRACKING_URI to a writable place, or pass --no-track.") from None


# default ports of the tracking servers and databases MLflow talks to
_DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}


def _server_answers(uri: str, where: str, timeout: float = 5.0) -> None:
    """A tracking server or database accepts a TCP connection (MLflow itself would retry
    a refused connection for minutes before failing)."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0].lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise ConfigError(f"tracking URI {uri!r} ({where}) has an invalid port.") from None
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ChurnModelError(f"tracking server {parts.hostname}:{port} of {uri!r} ({where}) does "
                              f"not answer ({why}); start it, fix the URI, or pass --no-track.") from None


def free_port(host: str, port: int) -> None:
    """Nothing listens on ``host:port`` and this user may bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # as the server will: a port in TIME_WAIT is free, one with a listener is not
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ChurnModelError(f"port {port} on {host} is already in use (--port); stop "
                                      "the other server or pass another --port.") from None
            if exc.errno == errno.EACCES:
                raise ChurnModelError(f"port {port} on {host} needs privileges (--port); use a "
                                      "port above 1023.") from None
            raise ChurnModelError(f"cannot listen on {host}:{port} ({exc.strerror}); check "
                                  "--host and --port.") from None
