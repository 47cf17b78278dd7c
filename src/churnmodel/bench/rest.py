"""The REST stage: the trained model behind ``churnmodel serve`` under load, against an anchor.

The anchor is the same champion's bare LightGBM booster saved as an MLflow ``lightgbm``
model and served by MLflow's scoring app (what ``mlflow models serve`` runs, on the HTTP
protocol of ``churnmodel serve``, see :func:`server_command`): what the server costs without preparing
features, calibrating, banding and explaining. Both get the same customers, the
anchor as the numeric matrix the booster reads.

For each server (``churnmodel serve`` and the anchor, each with 1 and 2 workers), every
combination of rows per request (:data:`ROWS_PER_REQUEST`) and concurrent clients
(:data:`CLIENTS`) is run for at most ``rest_seconds`` or :data:`MAX_REQUESTS` requests,
after a few warm-up requests; each client keeps one HTTP/1.1 connection (Nagle off, as
in ``requests``). Figures:
requests per second (completed requests / wall time), p50 and p99 latency. Requests go to
127.0.0.1 only; every server is a process group this stage started and stops.

The clients run on the same cores as the servers, so on a 2-core machine the figures are
those of one machine serving itself: compare servers, not absolute numbers.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnmodel.bench.job import Job
from churnmodel.bench.stages import _model, _stage, _validated_tables

if TYPE_CHECKING:
    import pandas as pd

    from churnmodel.modeling.model import ChurnModel

ROWS_PER_REQUEST = (1, 100)
CLIENTS = (1, 4, 8)
WORKERS = (1, 2)
MAX_REQUESTS = 5000  # per combination; rest_seconds usually ends it first
WARMUP_REQUESTS = 5
DISTINCT_BODIES = 40  # different customers per request size, cycled
SERVER_START_SECONDS = 180.0
# Targets of the issue: the served model's 1-row p50 within 2x the bare booster's (1 client,
# 1 worker each), and at least 150 requests/s from 8 clients on 2 workers (1-row requests).
P50_RATIO_LIMIT = 2.0
MIN_RPS_8_CLIENTS_2_WORKERS = 150.0
HOST = "127.0.0.1"


# --- payloads ------------------------------------------------------------------------------

def churnmodel_body(rows: pd.DataFrame) -> bytes:
    """``dataframe_split`` JSON of feature rows, floats exact, missing values as null."""
    data = rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
    return json.dumps({"dataframe_split": {"columns": list(rows.columns), "data": data}}).encode()


def booster_matrix(model: ChurnModel, X: pd.DataFrame) -> Any:
    """The matrix the bare booster reads: prepared features, categories as their codes.

    >>> import numpy as np, pandas as pd
    >>> class M:
    ...     def prepare(self, X):
    ...         return X.assign(c=pd.Categorical(["a", None], categories=["a", "b"]))
    >>> booster_matrix(M(), pd.DataFrame({"x": [1.0, 2.0]})).tolist()
    [[1.0, 0.0], [2.0, nan]]
    """
    import numpy as np
    import pandas as pd

    P = model.prepare(X).copy()
    for c in P.columns:
        if isinstance(P[c].dtype, pd.CategoricalDtype):
            codes = P[c].cat.codes.astype("float64")
            P[c] = codes.where(codes >= 0, np.nan)
    return P.to_numpy(dtype="float64")


def anchor_body(matrix: Any) -> bytes:
    """``inputs`` JSON (a tensor) of booster rows; missing values as NaN tokens."""
    return json.dumps({"inputs": matrix.tolist()}).encode()


# --- servers -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    # mlflow starts uvicorn by name: the environment's bin directory must be on PATH
    bindir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def server_command(kind: str, model_dir: Path, port: int, workers: int) -> list[str]:
    """``churnmodel serve`` of the pyfunc, or MLflow's scoring app of the anchor.

    The anchor runs what ``mlflow models serve`` runs (uvicorn with MLflow's app) on the
    HTTP protocol ``churnmodel serve`` uses: uvicorn's plain h11 keeps Nagle's algorithm on
    with 2 or more workers, which put a 40 ms floor under every answer
    (:mod:`churnmodel.serving.protocol`) and measured that, not the server.
    """
    if kind == "churnmodel":
        return [sys.executable, "-m", "churnmodel.cli", "serve", "--model", str(model_dir),
                "--port", str(port), "--workers", str(workers)]
    return [sys.executable, "-m", "uvicorn", "--host", HOST, "--port", str(port), "--workers",
            str(workers), "--http", "churnmodel.serving.protocol:NoDelayH11Protocol",
            "mlflow.pyfunc.scoring_server.app:app"]


def server_env(kind: str, model_dir: Path) -> dict[str, str]:
    """The environment of a server: the anchor's app finds its model as MLflow's CLI says."""
    env = _env()
    if kind != "churnmodel":
        from mlflow.pyfunc import scoring_server

        env.update(scoring_server.get_cmd(str(model_dir))[1])
        env["PATH"] = _env()["PATH"]
    return env


class Server:
    """One server process group on 127.0.0.1, started here and stopped here."""

    def __init__(self, cmd: list[str], port: int, cwd: Path, log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.port, self.log = port, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env or _env(), stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = SERVER_START_SECONDS) -> float:
        """Seconds until ``/ping`` answers; raises if the server dies or never answers."""
        t0 = time.perf_counter()
        while True:
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    conn.close()
                    return time.perf_counter() - t0
            except OSError:
                pass
            if self.proc.poll() is not None or time.perf_counter() - t0 > timeout:
                tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
                raise RuntimeError(f"server on port {self.port} did not come up: {tail}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


# --- load ----------------------------------------------------------------------------------

class Connection(http.client.HTTPConnection):
    """A keep-alive HTTP/1.1 connection with Nagle's algorithm off, as ``requests`` (urllib3)
    and most clients have it. ``http.client`` sends a request's headers and body in two
    writes: with Nagle on, the body waits for the server's delayed ACK (40 ms on Linux)."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, resp.read()


def load(port: int, bodies: Sequence[bytes], clients: int, max_requests: int = MAX_REQUESTS,
         max_seconds: float = 8.0) -> dict[str, Any]:
    """``clients`` threads POST ``bodies`` (cycled) until either bound; the figures."""
    import numpy as np

    counter = itertools.count()
    deadline = time.perf_counter() + max_seconds

    def client(_: int) -> tuple[list[float], int]:
        conn = Connection(HOST, port, timeout=120)
        latencies: list[float] = []
        errors = 0
        while True:
            k = next(counter)
            if k >= max_requests or time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            try:
                status = post(conn, bodies[k % len(bodies)])[0]
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = Connection(HOST, port, timeout=120)
            latencies.append(time.perf_counter() - t0)
            errors += status != 200
        conn.close()
        return latencies, errors

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array([x for d, _ in done for x in d]) * 1000.0
    errors = sum(e for _, e in done)
    ok = len(lat) - errors
    return {"requests": int(len(lat)), "errors": int(errors), "seconds": round(wall, 3),
            "requests_per_second": round(ok / wall, 1) if wall > 0 else None,
            "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None}


# --- the stage -----------------------------------------------------------------------------

def _export(model: ChurnModel, X: pd.DataFrame, d: Path) -> tuple[Path, Path | None]:
    """The champion as the project's pyfunc, and its bare booster as an MLflow lightgbm model."""
    import logging
    from importlib import metadata

    import mlflow.lightgbm

    from churnmodel.serving.pyfunc import save_pyfunc

    # this process's own stderr is the bench's table: no MLflow progress bars or info lines
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    pyfunc = save_pyfunc(model, X.head(50), d / "pyfunc")
    booster = getattr(model.candidate, "booster_", None)
    if booster is None:
        return pyfunc, None
    mlflow.lightgbm.save_model(booster, str(d / "anchor"),
                               pip_requirements=[f"lightgbm=={metadata.version('lightgbm')}"])
    return pyfunc, d / "anchor"


def _bodies(model: ChurnModel, X: pd.DataFrame, seed: int) -> dict[tuple[str, int], list[bytes]]:
    rows = X[model.feature_names]
    out: dict[tuple[str, int], list[bytes]] = {}
    for n in ROWS_PER_REQUEST:
        picks = [rows.sample(min(n, len(rows)), random_state=seed + i) for i in range(DISTINCT_BODIES)]
        served = []
        for p in picks:
            p = p.copy()
            for c in model.categories:
                p[c] = p[c].astype("string")
            served.append(churnmodel_body(p.reset_index()))
        out["churnmodel", n] = served
        out["anchor", n] = [anchor_body(booster_matrix(model, p)) for p in picks]
    return out


def _anchor_agrees(model: ChurnModel, X: pd.DataFrame, port: int) -> bool:
    """Does the anchor server return the booster's own predictions for a few rows?"""
    import numpy as np

    rows = X[model.feature_names].head(20)
    conn = Connection(HOST, port, timeout=60)
    try:
        status, data = post(conn, anchor_body(booster_matrix(model, rows)))
    finally:
        conn.close()
    if status != 200:
        return False
    got = np.asarray(json.loads(data)["predictions"], dtype=float)
    want = model.candidate.booster_.predict(booster_matrix(model, rows))
    return bool(np.allclose(got, want, rtol=1e-6, atol=1e-9))


@_stage("rest")
def _rest(job: Job) -> Iterator[dict[str, Any] | None]:
    model = _model(job)
    tables = _validated_tables(job)
    as_of = tables.max_event_ts().normalize()
    X = model.features(tables, as_of)
    del tables
    work = Path(tempfile.mkdtemp(prefix="churnmodel-bench-rest-"))
    try:
        pyfunc, anchor = _export(model, X, work)
        bodies = _bodies(model, X, job.seed)
        yield None
        servers = [("churnmodel", pyfunc)] + ([("anchor", anchor)] if anchor is not None else [])
        cells: list[dict[str, Any]] = []
        checks: dict[str, Any] = {}
        for kind, model_dir in servers:
            for workers in WORKERS:
                port = free_port()
                server = Server(server_command(kind, model_dir, port, workers), port, work,
                                work / f"{kind}_{workers}.log", server_env(kind, model_dir))
                try:
                    start = server.wait_ready()
                    if kind == "anchor" and "anchor_agrees" not in checks:
                        checks["anchor_agrees"] = _anchor_agrees(model, X, port)
                    for n in ROWS_PER_REQUEST:
                        load(port, bodies[kind, n], 1, WARMUP_REQUESTS, 60.0)
                        for clients in CLIENTS:
                            rec = load(port, bodies[kind, n], clients, MAX_REQUESTS, job.rest_seconds)
                            cells.append({"server": kind, "workers": workers, "rows_per_request": n,
                                          "clients": clients, "start_seconds": round(start, 2), **rec})
                finally:
                    server.stop()
        yield {"rows": sum(c["requests"] for c in cells), "unit": "requests",
               "model": model.name, "anchor": "bare LightGBM booster (MLflow's scoring app)"
               if anchor is not None else None,
               "seconds_per_cell": job.rest_seconds, "max_requests_per_cell": MAX_REQUESTS,
               "cells": cells, "targets": rest_targets(cells), **checks}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cell(cells: Sequence[dict[str, Any]], server: str, workers: int, rows: int,
          clients: int) -> dict[str, Any]:
    for c in cells:
        if (c["server"], c["workers"], c["rows_per_request"], c["clients"]) == (server, workers, rows,
                                                                               clients):
            return c
    return {}


def rest_targets(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's two REST targets, measured (``met`` is None when a cell is missing)."""
    served, bare = _cell(cells, "churnmodel", 1, 1, 1), _cell(cells, "anchor", 1, 1, 1)
    out: list[dict[str, Any]] = []
    if served.get("p50_ms") and bare.get("p50_ms"):
        ratio = served["p50_ms"] / bare["p50_ms"]
        out.append({"name": "1-row p50 within 2x the bare booster's", "value": round(ratio, 2),
                    "limit": P50_RATIO_LIMIT, "met": bool(ratio <= P50_RATIO_LIMIT),
                    "text": f"{served['p50_ms']:.1f} ms vs {bare['p50_ms']:.1f} ms = {ratio:.2f}x"})
    else:
        out.append({"name": "1-row p50 within 2x the bare booster's", "met": None})
    busy = _cell(cells, "churnmodel", 2, 1, 8)
    if busy.get("requests_per_second") is not None:
        rps = busy["requests_per_second"]
        out.append({"name": ">= 150 req/s, 8 clients, 2 workers", "value": rps,
                    "limit": MIN_RPS_8_CLIENTS_2_WORKERS, "met": bool(rps >= MIN_RPS_8_CLIENTS_2_WORKERS),
                    "text": f"{rps:,.0f} req/s"})
    else:
        out.append({"name": ">= 150 req/s, 8 clients, 2 workers", "met": None})
    return out


def format_rest(rec: dict[str, Any]) -> list[str]:
    """The REST stage's table: one line per server, workers and request size."""
    cells = rec.get("cells") or []
    if not cells:
        return []
    head = "".join(f"{f'{c} client' + ('s' if c > 1 else ''):>24}" for c in CLIENTS)
    lines = [f"REST on {HOST} (req/s  p50/p99 ms; each cell {rec.get('seconds_per_cell')} s or "
             f"{rec.get('max_requests_per_cell'):,} requests; clients share the machine):",
             f"  {'server':<26}{'workers':>8}{'rows':>6}{head}"]
    names = {"churnmodel": "churnmodel serve", "anchor": "bare booster (MLflow app)"}
    for kind in ("churnmodel", "anchor"):
        for w in WORKERS:
            for n in ROWS_PER_REQUEST:
                row = [_cell(cells, kind, w, n, c) for c in CLIENTS]
                if not any(row):
                    continue
                text = "".join(
                    f"{c['requests_per_second']:>8,.0f} {c['p50_ms']:>6.1f}/{c['p99_ms']:<7.1f}"
                    + ("!" if c.get("errors") else " ") if c.get("p50_ms") is not None else f"{'-':>24}"
                    for c in row)
                lines.append(f"  {names[kind]:<26}{w:>8}{n:>6}{text}")
    if any(c.get("errors") for c in cells):
        lines.append("  ! some requests failed: see cells[].errors in the results")
    if rec.get("anchor_agrees") is False:
        lines.append("  NOTE: the anchor's predictions differ from the booster's own")
    for t in rec.get("targets", []):
        verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "MISSED")
        lines.append(f"  {t['name']:<40} {t.get('text', '')}: {verdict}")
    return lines
