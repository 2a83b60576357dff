"""Embedded PostgreSQL from the pgserver wheel, shared by every process on one data dir.

pgserver keeps a list of the processes using a data dir: the first one starts the server,
later ones reuse it, and the last one to exit stops it. ``stop`` is the clean way to stop it
by hand (``shoal db stop``) whatever the list says, e.g. after a process was killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class EmbeddedError(Exception):
    """The embedded PostgreSQL could not be started; ``log_path`` tells where to look."""

    def __init__(self, message: str, log_path: Path) -> None:
        super().__init__(message)
        self.log_path = log_path


@dataclass(frozen=True, slots=True)
class EmbeddedServer:
    pgdata: Path
    url: str
    handle: Any  # pgserver.PostgresServer; untyped library

    def database_url(self, dbname: str) -> str:
        """The server's URL pointed at another database name."""
        base, _, query = self.url.partition("?")
        head = base.rsplit("/", 1)[0]
        return f"{head}/{dbname}?{query}" if query else f"{head}/{dbname}"


def start(pgdata: Path) -> EmbeddedServer:
    """Start (or join) the embedded server for ``pgdata``; stopped when the last user exits."""
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback it picks is fine.
        warnings.simplefilter("ignore")
        import pgserver

        try:
            handle = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        except Exception as exc:  # pgserver raises bare errors from initdb/pg_ctl
            raise EmbeddedError(
                f"embedded PostgreSQL failed to start ({type(exc).__name__}: {exc})",
                pgdata / "log",
            ) from exc
        url = str(handle.get_uri())
    return EmbeddedServer(pgdata=pgdata, url=url, handle=handle)


def release(server: EmbeddedServer) -> None:
    """Drop this process's claim; the server stops if no other process uses it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server.handle._cleanup()


def is_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(pgdata: Path) -> bool:
    """Stop the server for ``pgdata`` now, whoever started it. Returns False if none ran."""
    pgdata = pgdata.expanduser().resolve()
    if not is_running(pgdata):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import _commands

        # The server runs as the data dir's owner (pgserver uses a 'pgserver' user under root).
        owner = pgdata.owner() if os.geteuid() == 0 else None
        with contextlib.suppress(subprocess.CalledProcessError):
            _commands.pg_ctl(  # type: ignore[attr-defined]
                ["-w", "-m", "fast", "stop"], pgdata=pgdata, user=owner, timeout=60
            )
    with contextlib.suppress(OSError):
        (pgdata / ".handle_pids.json").write_text(json.dumps([]))
    return not is_running(pgdata)
