"""Test rig: real PostgreSQL databases and real Shoal servers on loopback ports.

One PostgreSQL per test session (embedded, or the server named by
SHOAL_TEST_DATABASE_URL). Migrations run once into a template database; each test
gets its own database copied from it, which takes a few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from starlette.applications import Starlette

from core.settings import Settings
from server.app import create_app
from storage import embedded, migrate

REPO = Path(__file__).resolve().parent.parent
_counter = itertools.count(1)


def with_database(url: str, dbname: str) -> str:
    base, sep, query = url.partition("?")
    head = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{head}/{dbname}{sep}{query}"


@dataclass
class Cluster:
    admin_url: str
    template: str
    server: embedded.EmbeddedServer | None
    parent: Path | None = None  # the temporary directory of an embedded server

    async def create_database(self) -> str:
        name = f"shoal_test_{os.getpid()}_{next(_counter)}"
        con = await asyncpg.connect(self.admin_url)
        try:
            await con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await con.close()
        return name

    async def drop_database(self, name: str) -> None:
        con = await asyncpg.connect(self.admin_url)
        try:
            await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await con.close()

    def url(self, name: str) -> str:
        return with_database(self.admin_url, name)


async def start_cluster() -> Cluster:
    url = os.environ.get("SHOAL_TEST_DATABASE_URL")
    server = None
    parent: Path | None = None
    if not url:
        # pgserver runs postgres as an unprivileged user under root: the parent must be
        # traversable by it, which pytest's 0700 tmp dirs are not.
        parent = Path(tempfile.mkdtemp(prefix="shoal-test-pg-"))
        parent.chmod(0o755)
        server = await asyncio.to_thread(embedded.start, parent / "pgdata")
        url = server.url
    template = f"shoal_template_{os.getpid()}"
    con = await asyncpg.connect(url)
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        await con.execute(f'CREATE DATABASE "{template}"')
    finally:
        await con.close()
    con = await asyncpg.connect(with_database(url, template))
    try:
        await migrate.apply(con)
    finally:
        await con.close()
    return Cluster(admin_url=url, template=template, server=server, parent=parent)


async def stop_cluster(cluster: Cluster) -> None:
    await cluster.drop_database(cluster.template)
    if cluster.server is not None:
        await asyncio.to_thread(embedded.release, cluster.server)
    # The data directory goes with the server (unless some other process keeps it up).
    if cluster.parent is not None and not embedded.is_running(cluster.parent / "pgdata"):
        await asyncio.to_thread(shutil.rmtree, cluster.parent, True)


async def wait_for(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 20.0, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(database_url: str, domain: str = "localhost:8000", **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "domain": domain,
        "database_url": database_url,
        "dev": True,
        "retry_scale": 0.001,
        "workers": True,
    }
    values.update(extra)
    return Settings(**values)


@contextlib.asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app with its lifespan running, driven in-process through httpx."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{settings.domain}"
        ) as client:
            yield app, client


@dataclass
class Instance:
    """A Shoal server listening on a loopback port, inside the test process."""

    settings: Settings
    app: Starlette
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def domain(self) -> str:
        return self.settings.domain

    @property
    def services(self) -> Any:
        return self.app.state.services

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)


@contextlib.asynccontextmanager
async def running_instance(
    cluster: Cluster, *, database: str | None = None, port: int = 0, **extra: Any
) -> AsyncIterator[Instance]:
    """A real uvicorn server on 127.0.0.1 (a free port unless given) for a fresh database
    (or the named one, which is then kept: a test may stop and start an instance)."""
    name = database or await cluster.create_database()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = int(sock.getsockname()[1])
    settings = make_settings(
        cluster.url(name), domain=f"127.0.0.1:{port}", host="127.0.0.1", port=port, **extra
    )
    app = create_app(settings)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            if task.done():
                task.result()
            raise RuntimeError("test server did not start")
        yield Instance(settings=settings, app=app, port=port)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)
        sock.close()
        if database is None:
            await cluster.drop_database(name)
