"""A team's tracking server, for real (issue 14): PostgreSQL and `mlflow server`, as the README's
"Team set-up" runs them.

A throw-away PostgreSQL cluster (``initdb``, ``pg_ctl``) on a free loopback port holds the
MLflow database; a real ``mlflow server`` stores runs and registry there and artifacts in a
shared directory. ``churnmodel train`` runs twice through the server (``MLFLOW_TRACKING_URI``),
then ``churnmodel score`` loads ``models:/churnmodel-team@champion`` through it. Both servers
are stopped in the fixture's teardown, whatever happened.

PostgreSQL's server binaries must be installed (Debian: ``apt-get install postgresql``; ``make
test`` and ``.ci/run`` call scripts/ensure-postgresql, which installs it with root or sudo).
Without them the test fails and says so: it does not skip.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.data.synthetic import generate, write_synthetic

import cli_process

pytestmark = pytest.mark.slow

PROJECT = "team"
NAME = f"churnmodel-{PROJECT}"  # the project's experiment and registered model
# small and lean: two trainings, two scorings and both servers in about a minute on 2 busy cores
CONFIG = (f'[project]\nname = "{PROJECT}"\n[data]\ndir = "data"\n[training]\nn_cutoffs = 8\n'
          '[model]\nn_estimators = 40\ncandidates = ["lightgbm", "recency"]\n'
          '[value]\nenabled = false\n[survival]\nenabled = false\n')
INSTALL = ("install PostgreSQL's server binaries with `sudo apt-get install -y postgresql` "
           "(Debian/Ubuntu; or run scripts/ensure-postgresql, as `make test` does)")


def postgres_bin() -> Path:
    """The directory holding initdb, pg_ctl and psql: found on PATH, or in Debian's
    /usr/lib/postgresql/<version>/bin (not on PATH there), newest version first."""
    dirs = []
    on_path = shutil.which("initdb")
    if on_path:
        dirs += [Path(on_path).parent, Path(on_path).resolve().parent]
    dirs += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
                   key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()],
                   reverse=True)
    for d in dirs:
        if all((d / tool).is_file() and os.access(d / tool, os.X_OK)
               for tool in ("initdb", "pg_ctl", "psql")):
            return d
    pytest.fail(f"PostgreSQL is missing (no initdb, pg_ctl and psql on PATH or in "
                f"/usr/lib/postgresql/*/bin): {INSTALL}.", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster in its own temporary directory.

    initdb refuses to run as root (tests run as root in CI): then every server command runs
    as the unprivileged ``nobody``, which owns the directory. The directory is made with
    tempfile, not pytest's tmp_path: pytest's base folder is private to the current user
    (mode 0700), so ``nobody`` could not reach a data directory inside it.
    """

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="churnmodel-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.as_user: dict = {}
        if os.geteuid() == 0:
            import pwd

            who = pwd.getpwnam("nobody")
            os.chown(self.dir, who.pw_uid, who.pw_gid)
            self.as_user = {"user": who.pw_uid, "group": who.pw_gid, "extra_groups": []}

    def run(self, tool: str, *args: str, check: bool = True) -> int:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir),
               "LC_ALL": "C", "PGPORT": str(self.port)}
        r = subprocess.run([str(self.bin / tool), *args], cwd=self.dir, env=env,
                           capture_output=True, text=True, timeout=120, **self.as_user)
        if check and r.returncode != 0:
            pytest.fail(f"{tool} {' '.join(args)} failed ({r.returncode}): {r.stdout[-1500:]}"
                        f"{r.stderr[-1500:]}{self.log_tail()}", pytrace=False)
        return r.returncode

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\npostgres.log: " + self.log.read_text()[-1500:]
        return ""

    def start(self) -> None:
        # superuser `postgres` over the socket only (trust); passwords (SCRAM) over TCP
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--no-locale",
                 "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        # loopback TCP on the free port, the socket in our directory (not /var/run/postgresql);
        # fsync off: a throw-away cluster
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                 "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                 "start")

    def psql(self, *commands: str) -> None:
        args = ["-h", str(self.dir), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
        for c in commands:
            args += ["-c", c]
        self.run("psql", *args)

    def stop(self) -> None:
        """pg_ctl stop (fast); if that fails, SIGTERM to the postmaster of our data directory."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            stopped = False
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                stopped = self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30",
                                   "stop", check=False) == 0
            if not stopped:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
                    time.sleep(2)
        shutil.rmtree(self.dir, ignore_errors=True)


def start_mlflow_server(backend: str, artifacts: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`mlflow server` of this venv on a free loopback port, in its own process group."""
    port = free_port()
    exe = Path(sys.executable).with_name("mlflow")  # the venv's console script
    mlflow = [str(exe)] if exe.is_file() else [sys.executable, "-m", "mlflow"]
    cmd = [*mlflow, "server", "--backend-store-uri", backend,
           "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # churnmodel starts no MLflow jobs (GenAI scorers, trace roll-ups): without this the server
    # also runs a job runner and its huey consumers (seven with MLflow 3.17), CPU the trainings
    # need; the README says so
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=log.parent, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        if proc.poll() is not None or time.monotonic() > deadline:
            why = f"exited with {proc.returncode}" if proc.poll() is not None else \
                f"did not answer within {timeout:.0f}s"
            pytest.fail(f"mlflow server {why}: {log.read_text(errors='replace')[-3000:]}",
                        pytrace=False)
        time.sleep(0.5)


def stop_mlflow_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (uvicorn and its worker), SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # a worker left behind after the parent exited
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def cli(*args: str, cwd: Path, tracking: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLFLOW_") and k != "CHURNMODEL_ROOT"}
    if tracking:
        env["MLFLOW_TRACKING_URI"] = tracking
    return subprocess.Popen([sys.executable, "-m", "churnmodel.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen, what: str) -> str:
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, f"{what}: {out[-2000:]}{err[-3000:]}"
    return out


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """PostgreSQL, `mlflow server` on it, two trainings and two scorings; servers stopped after."""
    bin_dir = postgres_bin()
    ws = tmp_path_factory.mktemp("team")
    shared = ws / "shared-artifacts"  # the team's shared artifact directory
    shared.mkdir()
    password = secrets.token_hex(12)
    with contextlib.ExitStack() as stack:
        pg = Cluster(bin_dir)
        stack.callback(pg.stop)
        pg.start()
        # the README's database: an owner with a password, not the superuser
        pg.psql(f"CREATE USER mlflow WITH PASSWORD '{password}'", "CREATE DATABASE mlflow OWNER mlflow")
        backend = f"postgresql://mlflow:{password}@127.0.0.1:{pg.port}/mlflow"
        log = ws / "mlflow-server.log"
        server, url = start_mlflow_server(backend, shared, log)
        stack.callback(stop_mlflow_server, server)
        # the data, while the server creates its tables
        (ws / "team.toml").write_text(CONFIG)
        write_synthetic(ws / "data", generate(customers=400, seed=11))
        wait_healthy(server, url, log)

        trains = []
        unset = tuple(k for k in os.environ if k.startswith("MLFLOW_") or k == "CHURNMODEL_ROOT")
        for n, extra in ((1, ()), (2, ("--seed", "7"))):  # a retrain with another seed
            r = cli_process.run("train", "--config", "team.toml", "--quiet", "--model-dir",
                                f"models/v{n}", *extra, cwd=ws, unset=unset,
                                env={"MLFLOW_TRACKING_URI": url})
            assert r.returncode == 0, f"train {n}: {r.stdout[-2000:]}{r.stderr[-3000:]}"
            trains.append(r.stdout)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=url, registry_uri=url)
        champion = str(client.get_model_version_by_alias(NAME, "champion").version)
        # through the server, and (at the same time) with the champion's local export, no server
        through = cli("score", "--config", "team.toml", "--model", f"models:/{NAME}@champion",
                      "--out", "server.parquet", "--quiet", cwd=ws, tracking=url)
        local = cli("score", "--config", "team.toml", "--model", f"models/v{champion}",
                    "--out", "local.parquet", "--quiet", cwd=ws, tracking=None)
        finished(through, "score models:/…@champion through the server")
        finished(local, "score with the local export")
        yield {"ws": ws, "url": url, "client": client, "trains": trains, "champion": champion,
               "shared": shared, "backend": backend}


def test_both_trainings_are_runs_in_the_projects_experiment_on_postgresql(team):
    import psycopg

    client = team["client"]
    exp = client.get_experiment_by_name(NAME)
    assert exp is not None, f"no experiment {NAME!r} on the server"
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    assert len(runs) == 2
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    assert [r.data.params["training.seed"] for r in runs] == ["42", "7"]
    for r, out in zip(runs, team["trains"], strict=True):
        assert f"MLflow: run {r.info.run_id} in experiment '{NAME}' ({team['url']})" in out
        assert "test_roc_auc" in r.data.metrics
        # artifacts go through the server's proxy, not to a path on the client's disk
        assert r.info.artifact_uri.startswith("mlflow-artifacts:"), r.info.artifact_uri
    # and the server really keeps them in PostgreSQL
    with psycopg.connect(team["backend"]) as con:
        assert con.execute("SELECT count(*) FROM runs WHERE experiment_id = %s",
                           (int(exp.experiment_id),)).fetchone()[0] == 2
        assert con.execute("SELECT count(*) FROM model_versions WHERE name = %s",
                           (NAME,)).fetchone()[0] == 2


def test_two_registered_versions_and_the_champion_alias(team):
    client, trains, champion = team["client"], team["trains"], team["champion"]
    runs = client.search_runs([client.get_experiment_by_name(NAME).experiment_id],
                              order_by=["attributes.start_time ASC"])
    versions = sorted(client.search_model_versions(f"name='{NAME}'"), key=lambda v: int(v.version))
    assert [str(v.version) for v in versions] == ["1", "2"]
    assert [v.run_id for v in versions] == [r.info.run_id for r in runs]
    assert f"registered '{NAME}' version 1: first registered version: alias 'champion' set" in trains[0]
    # the second training duels with version 1, loaded through the server; the alias follows
    # what it printed
    assert f"registered '{NAME}' version 2" in trains[1]
    moved = "alias 'champion' moved" in trains[1]
    assert moved or "registered without the alias 'champion'" in trains[1], trains[1][-1500:]
    assert champion == ("2" if moved else "1")
    assert "champion" in client.get_registered_model(NAME).aliases


def test_artifacts_are_in_the_shared_directory_and_nothing_is_tracked_locally(team):
    from urllib.parse import urlsplit

    client, shared, ws = team["client"], team["shared"], team["ws"]
    runs = client.search_runs([client.get_experiment_by_name(NAME).experiment_id])
    for r in runs:  # mlflow-artifacts:/<experiment>/<run>/artifacts, under --artifacts-destination
        where = shared / urlsplit(r.info.artifact_uri).path.lstrip("/")
        assert (where / "metrics.json").is_file() and (where / "plots" / "roc.png").is_file(), where
    for v in client.search_model_versions(f"name='{NAME}'"):  # the registered pyfunc models
        model_id = str(v.source).removeprefix("models:/")
        assert model_id.startswith("m-"), v.source
        assert [p for p in shared.rglob("MLmodel") if model_id in p.parts], model_id
    assert not (ws / "mlflow.db").exists() and not (ws / "mlruns").exists()


def test_score_from_the_champion_through_the_server_equals_the_local_export(team):
    import pyarrow.parquet as pq

    ws, champion = team["ws"], team["champion"]
    through = pd.read_parquet(ws / "server.parquet")
    local = pd.read_parquet(ws / "local.parquet")
    assert len(through) > 50
    pd.testing.assert_frame_equal(through, local)  # row for row, drivers and actions too
    meta = {k: json.loads(pq.read_schema(ws / f).metadata[b"churnmodel.scores"])["model"]
            for k, f in (("server", "server.parquet"), ("local", "local.parquet"))}
    mv = team["client"].get_model_version(NAME, champion)
    assert meta["server"]["source"] == f"models:/{NAME}@champion"
    assert (meta["server"]["registered_model"], meta["server"]["version"], meta["server"]["run_id"],
            meta["server"]["tracking_uri"]) == (NAME, champion, mv.run_id, team["url"])
    # the local export is that very version (recorded when it was trained through the server)
    assert meta["local"]["version"] == champion and meta["local"]["run_id"] == mv.run_id
    assert meta["server"]["fingerprint"] == meta["local"]["fingerprint"]
