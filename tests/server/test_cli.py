"""The real ``shoal`` command, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SHOAL = str(Path(sys.executable).parent / "shoal")


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    full_env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    full_env.update(env or {})
    return subprocess.run(
        [SHOAL, *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--domain", "https://bad.example/"], {}, "is not a host name"),
        (["--database-url", "mysql://x@y/z"], {}, "database URL must look like"),
        ([], {"SHOAL_DATABASE_URL": "not a url"}, "database URL must look like"),
        (["--port", "99999"], {}, "out of range"),
        (["--port", "eighty"], {}, "'eighty' is not a whole number"),
        ([], {"SHOAL_DEV": "maybe"}, "SHOAL_DEV: 'maybe' is not a boolean"),
        ([], {"SHOAL_DB_CONNECTIONS": "-1"}, "database connections must be 0 (automatic)"),
    ],
)
def test_bad_settings_exit_2_with_one_clear_line(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    result = run("serve", "--data-dir", str(tmp_path), *args, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("shoal: error: ")


def test_several_problems_reported_together(tmp_path: Path) -> None:
    result = run("serve", "--domain", "a b", "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("shoal: error: ") for line in lines)


def test_data_dir_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("migrate", "--data-dir", str(blocker / "sub"))
    assert result.returncode == 2
    assert "data dir" in result.stderr and "cannot be created" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = run("serve", "--port", str(port), "--database-url", database_url)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr


def test_embedded_postgres_failure_names_its_log(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    # A plain file where the cluster directory should be: initdb cannot work there.
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "PG_VERSION").write_text("not a cluster\n")
    result = run("migrate", "--data-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "embedded PostgreSQL failed to start" in result.stderr
    assert f"log: {tmp_path.resolve()}/postgres/log" in result.stderr
    assert "Traceback" not in result.stderr


def test_database_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run("migrate", "--database-url", f"postgresql://u:p@127.0.0.1:{port}/x")
    assert result.returncode == 2
    assert "cannot connect to the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_twice_is_a_no_op(database_url: str) -> None:
    first = run("migrate", "--database-url", database_url)
    second = run("migrate", "--database-url", database_url)
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert "database schema at version" in second.stdout


def test_user_create_and_list(database_url: str, tmp_path: Path) -> None:
    env = {"SHOAL_DATABASE_URL": database_url}
    created = run(
        "user",
        "create",
        "alice",
        "--password",
        "correct horse",
        "--role",
        "admin",
        "--email",
        "alice@example.org",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    assert "created admin @alice@localhost:8000" in created.stdout
    secret = tmp_path / "pw"
    secret.write_text("another secret\n")
    created = run("user", "create", "bob", "--password-file", str(secret), env=env)
    assert created.returncode == 0, created.stderr
    listed = run("user", "list", env=env)
    assert listed.returncode == 0
    rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("alice", "admin", "alice@example.org"),
        ("bob", "member", "-"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alice", "--password", "short"], "at least 8 characters"),
        (["Alice!", "--password", "long enough"], "username must be"),
        (["carol", "--password", "long enough", "--email", "nope"], "is not an email"),
        (["alice", "--password", "long enough"], "the name 'alice' is taken"),
        (["dave"], "give --password or --password-file"),
    ],
)
def test_user_create_refuses_bad_input(args: list[str], message: str, database_url: str) -> None:
    env = {"SHOAL_DATABASE_URL": database_url}
    assert run("user", "create", "alice", "--password", "first password", env=env).returncode == 0
    result = run("user", "create", *args, env=env)
    assert result.returncode in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    listed = run("user", "list", env=env).stdout
    assert listed.count("\n") == 1  # nothing else stored


def test_password_comes_from_environment(database_url: str) -> None:
    env = {"SHOAL_DATABASE_URL": database_url, "SHOAL_PASSWORD": "from the env"}
    assert run("user", "create", "erin", env=env).returncode == 0
    assert "erin\tmember" in run("user", "list", env=env).stdout


def test_collective_set_and_show(database_url: str) -> None:
    env = {"SHOAL_DATABASE_URL": database_url}
    result = run(
        "collective", "set", "--name", "Harbour Tenants", "--description", "Rent strike HQ", env=env
    )
    assert result.returncode == 0, result.stderr
    shown = run("collective", "show", env=env)
    assert "name: Harbour Tenants" in shown.stdout
    assert "description: Rent strike HQ" in shown.stdout
