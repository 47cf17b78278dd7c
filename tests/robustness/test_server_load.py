"""Load on the real REST server: 2,000 requests from 8 clients, good and bad mixed.

Every valid request (1 to 20 rows, so both the lean scorer and the pyfunc answer) must get
batch scoring's answer in every column, exactly; every bad one a 4xx with a message,
never a 5xx, and the server must still answer afterwards. The figures (throughput, p50 and
p99 latency) are printed and written to ``server_load.json`` in the test's directory.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import cli_process

N_REQUESTS = 2000
CLIENTS = 8
MAX_ROWS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: bytes) -> tuple[int, bytes, float]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read(), time.perf_counter() - t0
    except urllib.error.HTTPError as err:
        return err.code, err.read(), time.perf_counter() - t0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from churnmodel.data.io import load_default_tables
    from churnmodel.serving import load_churn_model

    d = tmp_path_factory.mktemp("load")
    (d / "config.toml").write_text('[data]\ndir = "data"\n[data.synthetic]\ncustomers = 1200\n'
                                   'seed = 9\n[training]\nn_cutoffs = 8\n[model]\nn_estimators = 100\n'
                                   # a load test: no report, no time-to-churn model
                                   '[output]\nreport = false\n[survival]\nenabled = false\n')
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    for args in (["data", "synth"], ["train", "--no-track", "--quiet"]):
        r = cli_process.run(*args, "--config", "config.toml", cwd=d)
        assert r.returncode == 0, r.stderr
    model = load_churn_model(d / "models" / "config")
    tables = load_default_tables(d / "data")
    X = model.features(tables, tables.max_event_ts().normalize())
    from churnmodel.scoring import score_frame

    expected = score_frame(model, X)  # batch scoring's answer, per customer
    rows = X.reset_index()
    for c in model.categories:
        rows[c] = rows[c].astype("string")

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "churnmodel.cli", "serve", "--config", "config.toml", "--model",
         str(d / "models" / "config" / "mlflow_model"), "--port", str(port), "--workers", "2"],
        cwd=d, env=dict(env, CHURNMODEL_MAX_REQUEST_ROWS=str(MAX_ROWS)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(base + "/ping", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("the REST server did not come up")
            time.sleep(1)
    yield base, rows, expected, d
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _payload(rows: pd.DataFrame) -> bytes:
    """JSON of the rows with exact floats (``to_json`` rounds to 10 digits, which can move a
    value across a tree split) and missing values as null."""
    data = rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
    return json.dumps({"dataframe_split": {"columns": list(rows.columns), "data": data}}).encode()


def _batch_answer(expected: pd.DataFrame, ids: list) -> list[dict]:
    """Batch scoring's rows for ``ids`` as the server answers them: text bands, nulls."""
    rows = expected.loc[ids].astype(object)
    rows = rows.where(expected.loc[ids].notna(), None)
    rows["risk_band"] = rows["risk_band"].astype(str)
    return [{"customer_id": i, **{c: (v.item() if isinstance(v, np.generic) else v)
                                  for c, v in rec.items()}}
            for i, rec in zip(ids, rows.to_dict("records"), strict=True)]


def test_two_thousand_mixed_requests_from_eight_clients(served):
    base, rows, expected, d = served
    rng = random.Random(0)
    # every customer's request row and batch answer, converted once (converting them per
    # request took three times as long as the requests themselves)
    ids_all = rows["customer_id"].tolist()
    row_data = rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
    answer = dict(zip(ids_all, _batch_answer(expected, ids_all), strict=True))
    columns = list(rows.columns)
    fixed = {"malformed": b'{"dataframe_split": {"columns": ["recency_days"',
             "columns": _payload(rows.head(3).drop(columns=["recency_days", "n_90d"])),
             "oversized": _payload(pd.concat([rows] * (MAX_ROWS // len(rows) + 2))
                                   .head(MAX_ROWS + 1)),
             "empty": b""}
    bad = rows.head(2).astype({"frequency": "object"})
    bad["frequency"] = "lots"
    fixed["types"] = _payload(bad)
    jobs: list[tuple[str, bytes, list | None]] = []
    for _ in range(N_REQUESTS):
        kind = rng.choices(["valid", "malformed", "columns", "types", "oversized", "empty"],
                           weights=[70, 8, 8, 6, 4, 4])[0]
        if kind == "valid":
            pos = rng.sample(range(len(rows)), rng.randint(1, 20))
            body = json.dumps({"dataframe_split": {"columns": columns,
                                                   "data": [row_data[i] for i in pos]}}).encode()
            jobs.append((kind, body, [ids_all[i] for i in pos]))
        else:
            jobs.append((kind, fixed[kind], None))

    url = base + "/invocations"
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda j: _post(url, j[1]), jobs))
    wall = time.perf_counter() - t0

    statuses: dict[str, list[int]] = {}
    valid_latency = []
    for (kind, _, ids), (status, body, secs) in zip(jobs, results, strict=True):
        statuses.setdefault(kind, []).append(status)
        assert status < 500, f"{kind}: HTTP {status}: {body[:300]!r}"
        if kind == "valid":
            assert status == 200, body[:300]
            # every column, exactly: the answer is batch scoring's, value for value
            assert json.loads(body)["predictions"] == [answer[i] for i in ids]
            valid_latency.append(secs)
        else:
            assert 400 <= status < 500, f"{kind} got {status}"
            assert len(body) > 0  # a message, not an empty error

    with urllib.request.urlopen(base + "/ping", timeout=5) as resp:
        assert resp.status == 200  # still up
    lat = np.array(valid_latency) * 1000
    figures = {"requests": N_REQUESTS, "clients": CLIENTS, "wall_s": round(wall, 2),
               "requests_per_s": round(N_REQUESTS / wall, 1),
               "valid_p50_ms": round(float(np.percentile(lat, 50)), 1),
               "valid_p99_ms": round(float(np.percentile(lat, 99)), 1),
               "status_by_kind": {k: sorted(set(v)) for k, v in statuses.items()},
               "count_by_kind": {k: len(v) for k, v in statuses.items()}}
    (d / "server_load.json").write_text(json.dumps(figures, indent=2))
    print("\nREST load:", json.dumps(figures))
