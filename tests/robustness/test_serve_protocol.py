"""``churnmodel serve`` turns Nagle's algorithm off on every connection, whatever the
worker count: uvicorn's plain h11 with two workers waits 40 ms (a delayed ACK) per answer."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time

import pytest

from churnmodel.bench.rest import Connection, free_port

APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = b'{"predictions": [0.5]}'
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
'''


def _p50_ms(tmp_path, protocol: str) -> float:
    (tmp_path / "tiny.py").write_text(APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", "2", "--http", protocol, "--no-access-log",
                             "tiny:app"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            try:
                conn = Connection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                conn.getresponse().read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("uvicorn did not come up")
                time.sleep(0.3)
        latencies = []
        for _ in range(30):
            t0 = time.perf_counter()
            conn.request("POST", "/invocations", b'{"x": 1}' * 100, {"Content-Type": "application/json"})
            conn.getresponse().read()
            latencies.append(time.perf_counter() - t0)
        return statistics.median(latencies) * 1000
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_two_workers_answer_without_the_delayed_ack_floor(tmp_path):
    plain = _p50_ms(tmp_path, "h11")
    ours = _p50_ms(tmp_path, "churnmodel.serving.protocol:NoDelayH11Protocol")
    assert plain > 35  # the floor this protocol removes (Linux delays an ACK 40 ms)
    assert ours < 15, f"p50 {ours:.1f} ms with TCP_NODELAY against {plain:.1f} ms without"
