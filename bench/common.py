"""What every benchmark shares: a PostgreSQL to use, child processes, figures to print.

Children (receivers, servers) run in their own session so that a Ctrl-C in the terminal
reaches the bench alone, which then stops them itself, in order, from ``finally`` blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from storage import embedded, migrate
from storage.pool import create_pool

REPO = Path(__file__).resolve().parent.parent
TIMES = "\u00d7"  # the multiplication sign, in printed ratios
VENV_BIN = Path(sys.executable).parent


# --- figures -----------------------------------------------------------------------


@dataclass(slots=True)
class Figure:
    """One printed line: a measured value, and the target it was held against (if any)."""

    name: str
    text: str
    met: bool | None = None  # None: no target
    target: str = ""
    valid: bool = True  # False when the run itself went wrong (lost requests, errors)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        out = f"{self.name + ':':<11}{self.text}"
        if self.met is not None:
            out += f" (target {self.target}: {'met' if self.met else 'NOT met'})"
        if not self.valid:
            out += " [INVALID RUN]"
        return out


def emit(figure: Figure, out: TextIO = sys.stdout) -> None:
    print(figure.line(), file=out, flush=True)
    for note in figure.notes:
        print(f"{'':<11}  {note}", file=out, flush=True)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest-rank."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


@dataclass(slots=True)
class Run:
    """Requests sent to one server, possibly over several rounds: their latencies, the
    time they took in all, and what went wrong."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_problem: str | None = None

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) * 1000

    def problem(self, text: str) -> None:
        if self.first_problem is None:
            self.first_problem = text


def cores() -> tuple[int, int]:
    """(CPUs this process may run on, CPUs in the machine)."""
    total = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = total
    return usable, total


def machine_header() -> str:
    usable, total = cores()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return (
        f"machine:   {usable} usable cores ({total} in total), load average {load}; "
        f"Python {sys.version.split()[0]}, {loop} event loop"
    )


def run_loop(coro: Any) -> Any:
    """Run a coroutine on uvloop when installed, as ``shoal serve`` does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# --- PostgreSQL -----------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    base, sep, query = url.partition("?")
    head = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{head}/{name}{sep}{query}"


@dataclass
class Cluster:
    """A PostgreSQL server: embedded in a temporary directory, or SHOAL_TEST_DATABASE_URL."""

    admin_url: str
    kind: str
    pgdata: Path | None = None  # embedded only: where to find the server's processes

    @property
    def others(self) -> str:
        """What CPU not metered by a benchmark went to."""
        if self.pgdata is None:
            return "other processes (PostgreSQL included)"
        return "other processes"

    @contextlib.asynccontextmanager
    async def database(self, tag: str) -> AsyncIterator[str]:
        """A fresh, migrated database, dropped on the way out; yields its URL."""
        name = f"shoal_bench_{os.getpid()}_{tag}"
        pool = await create_pool(self.admin_url, max_size=1)
        try:
            await pool.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await pool.execute(f'CREATE DATABASE "{name}"')
            url = _with_database(self.admin_url, name)
            try:
                db = await create_pool(url, max_size=1)
                try:
                    async with db.acquire() as con:
                        await migrate.apply(con)
                finally:
                    await db.close()
                yield url
            finally:
                await pool.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await pool.close()


@contextlib.asynccontextmanager
async def cluster() -> AsyncIterator[Cluster]:
    url = os.environ.get("SHOAL_TEST_DATABASE_URL")
    if url:
        yield Cluster(admin_url=url, kind="SHOAL_TEST_DATABASE_URL")
        return
    # pgserver runs postgres as an unprivileged user when we are root: the directory
    # must be traversable by it, which mkdtemp's 0700 is not.
    parent = Path(tempfile.mkdtemp(prefix="shoal-bench-pg-"))
    server: embedded.EmbeddedServer | None = None
    try:
        parent.chmod(0o755)
        server = await asyncio.to_thread(embedded.start, parent / "pgdata")
        yield Cluster(admin_url=server.url, kind="embedded (pgserver)", pgdata=server.pgdata)
    finally:
        if server is not None:
            await asyncio.to_thread(embedded.release, server)
        shutil.rmtree(parent, ignore_errors=True)


# --- child processes ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    """Our environment without SHOAL_* settings (children get theirs as flags), with the
    repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


class Child:
    """A child process in its own session; stderr goes to a temporary file shown on failure."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, name: str, args: Sequence[str], *, stdout: int | None = None) -> Child:
        fd, log_path = tempfile.mkstemp(prefix=f"shoal-bench-{name}-", suffix=".log")
        try:
            process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout if stdout is not None else asyncio.subprocess.DEVNULL,
                stderr=fd,
                env=child_env(),
                cwd=REPO,
                start_new_session=True,
            )
        except BaseException:
            os.unlink(log_path)
            raise
        finally:
            os.close(fd)
        return cls(name, process, Path(log_path))

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.returncode is not None:
            raise RuntimeError(
                f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}"
            )

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; removes the log file."""
        try:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(self.process.wait(), timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        self.process.kill()
                    await self.process.wait()
        finally:
            with contextlib.suppress(OSError):
                self.log.unlink()


async def wait_for_port(child: Child, port: int, *, timeout: float = 30.0) -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (the child still alive)."""
    deadline = time.monotonic() + timeout
    while True:
        child.check_alive()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} did not listen on port {port}") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
