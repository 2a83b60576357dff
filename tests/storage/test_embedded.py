"""Embedded PostgreSQL shared by several real ``shoal`` processes on one data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from storage import embedded
from tests.rig import free_port
from tests.server.test_cli import SHOAL, run


def _serve(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    return subprocess.Popen(
        [
            SHOAL,
            "serve",
            "--dev",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become healthy")


def _postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().split("\n", 1)[0])


def _wait_stopped(pgdata: Path, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not embedded.is_running(pgdata):
            return True
        time.sleep(0.2)
    return False


def test_processes_share_one_server_and_the_last_one_stops_it(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    data_dir = tmp_path / "data"
    pgdata = (data_dir / "postgres").resolve()
    port = free_port()
    server = _serve(data_dir, port)
    try:
        _wait_healthy(port, server)
        first_pid = _postmaster_pid(pgdata)
        assert first_pid is not None and embedded.is_running(pgdata)

        # A second process reuses the running server instead of starting another.
        created = run(
            "user", "create", "alice", "--password", "long enough", "--data-dir", str(data_dir)
        )
        assert created.returncode == 0, created.stderr
        assert _postmaster_pid(pgdata) == first_pid
        # ... and leaving does not stop it while the server process still uses it.
        assert embedded.is_running(pgdata)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        listed = run("user", "list", "--data-dir", str(data_dir))
        assert listed.stdout.startswith("alice\tmember")
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0, out
    assert "Create the first admin with:" in out
    # The last user gone, the embedded server stops.
    assert _wait_stopped(pgdata)


def test_db_stop_after_a_killed_process(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    data_dir = tmp_path / "data"
    pgdata = (data_dir / "postgres").resolve()
    port = free_port()
    server = _serve(data_dir, port)
    try:
        _wait_healthy(port, server)
    finally:
        server.kill()  # no clean-up runs: PostgreSQL is left behind
        server.communicate(timeout=30)
    assert embedded.is_running(pgdata)
    status = run("db", "status", "--data-dir", str(data_dir))
    assert status.returncode == 0 and "running" in status.stdout
    stopped = run("db", "stop", "--data-dir", str(data_dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not embedded.is_running(pgdata)
    status = run("db", "status", "--data-dir", str(data_dir))
    assert status.returncode == 3 and "stopped" in status.stdout
    # Nothing was lost: a new process starts the server again on the same data.
    again = run("migrate", "--data-dir", str(data_dir))
    assert again.returncode == 0, again.stderr
    assert _wait_stopped(pgdata)
