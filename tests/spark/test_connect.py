"""Spark Connect, for real: a Spark Connect server (the one PySpark ships,
``sbin/start-connect-server.sh``) runs on a loopback port with its own JVM and
``local[2]`` master, and `churnmodel score --engine spark` with ``[engine] remote`` runs in
another process that starts no JVM. Its score file is the local engine's, byte for byte.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyspark
import pytest

from churnmodel.cli import main
from churnmodel.engine.spark import INSTALL_JAVA, java_problem

pytestmark = pytest.mark.spark


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """``sc://127.0.0.1:<port>``; the server is stopped (its process group) afterwards."""
    problem = java_problem()
    if problem:
        pytest.fail(f"{problem}; the Spark Connect test needs it. Fix: {INSTALL_JAVA}")
    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("spark-connect")
    port = _free_port()
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOG_DIR=str(work / "logs"),
               SPARK_PID_DIR=str(work), SPARK_LOCAL_IP="127.0.0.1",
               PYSPARK_PYTHON=sys.executable)  # the server's Python workers import churnmodel
    log = open(work / "server.log", "w")  # noqa: SIM115 (closed after the server stops)
    proc = subprocess.Popen(
        [str(home / "sbin" / "start-connect-server.sh"), "--wait", "--master", "local[2]",
         "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.session.timeZone=UTC"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Spark Connect server did not start:\n"
                            + (work / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env["CHURNMODEL_ROOT"] = str(project)
    return subprocess.run([sys.executable, "-m", "churnmodel.cli", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)


def test_score_through_spark_connect_writes_the_local_file(connect_server, project, monkeypatch,
                                                           capsys):
    """The tables go to the server as Arrow (no shared files), the builders run in its
    Python workers, and the file is the one the local engine writes (here, in-process)."""
    conf = project / "connect.toml"
    conf.write_text('[project]\nname = "shop"\n' + (project / "shop.toml").read_text()
                    + f'remote = "{connect_server}"\n')  # appended to shop.toml's [engine]
    r = _cli(project, "score", "--config", "connect.toml", "--out",
             "via_connect.parquet", "--engine", "spark", "--call-list", "50", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    monkeypatch.chdir(project)
    monkeypatch.setenv("CHURNMODEL_ROOT", str(project))
    assert main(["score", "--config", "shop.toml", "--out", "here.parquet", "--call-list", "50",
                 "--quiet"]) == 0, capsys.readouterr().err
    assert (project / "via_connect.parquet").read_bytes() == (project / "here.parquet").read_bytes()
    assert ((project / "via_connect_call_list.csv").read_text()
            == (project / "here_call_list.csv").read_text())
