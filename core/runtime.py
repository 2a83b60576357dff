"""Start and stop a process's shared resources in the right order."""

from __future__ import annotations

import asyncio
import logging
import os
from importlib import metadata
from typing import Final

from core import accounts, streaming, workers
from core.services import Services
from core.settings import Settings
from core.urls import Urls
from federation.client import ClientConfig, HttpClient
from storage import embedded, migrate
from storage.pool import create_pool

log = logging.getLogger("shoal")


def user_agent(settings: Settings) -> str:
    try:
        version = metadata.version("shoal")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    return f"Shoal/{version} (+{settings.base_url}/)"


# Connections the workers hold for as long as they run, to LISTEN (``storage.inbox.wakeups``
# and ``storage.deliveries.Listener``).
_LISTENING: Final = 2


def pool_size(settings: Settings) -> int:
    """The process's pool: ``settings.db_connections`` for statements, by default twice
    the CPU cores (at least 4). A process that runs the workers keeps at least half the
    delivery concurrency for them, plus the connections they hold to LISTEN.

    More backends than cores running at once only take turns on the same cores, and each
    costs more CPU: on 2 cores, with 8 clients reading their home timelines, 16
    connections instead of 4 cost PostgreSQL 10-20% more CPU per page and served 6-13%
    fewer pages. A request that finds every connection busy waits its turn in the pool.
    Deliveries are the other way round: each in flight records its outcome on its own,
    and with 6 connections for 64 in flight they went 7% slower than with 34.
    """
    size = settings.db_connections or max(4, 2 * (os.cpu_count() or 1))
    if not settings.workers:
        return size
    return max(size, settings.delivery_concurrency // 2) + _LISTENING


async def database_url(settings: Settings) -> tuple[str, embedded.EmbeddedServer | None]:
    """The URL to connect to, starting the embedded server when none is configured."""
    if settings.database_url is not None:
        return settings.database_url, None
    server = await asyncio.to_thread(embedded.start, settings.pg_dir)
    return server.url, server


async def start(settings: Settings, *, migrate_schema: bool = True) -> Services:
    """Open everything a process needs; with ``settings.workers``, start the workers too."""
    url, server = await database_url(settings)
    try:
        pool = await create_pool(url, max_size=pool_size(settings))
    except BaseException:
        if server is not None:
            embedded.release(server)
        raise
    http = HttpClient(ClientConfig(user_agent=user_agent(settings), allow_private=settings.dev))
    services = Services(
        settings=settings, pool=pool, urls=Urls(settings.base_url), http=http, embedded=server
    )
    try:
        await http.start()
        if migrate_schema:
            async with pool.acquire() as con:
                applied = await migrate.apply(con)
            for name in applied:
                log.info("applied migration %s", name)
        await accounts.ensure_instance_actors(pool, settings, services.urls)
        if settings.workers:
            await workers.start(services)
    except BaseException:
        await stop(services)
        raise
    return services


async def stop(services: Services) -> None:
    await workers.stop(services)
    await streaming.shutdown(services)
    await services.http.close()
    await services.pool.close()
    if services.embedded is not None:
        await asyncio.to_thread(embedded.release, services.embedded)
