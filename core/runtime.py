"""Start and stop a process's shared resources in the right order."""

from __future__ import annotations

import asyncio
import logging
from importlib import metadata

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
        pool = await create_pool(url, max_size=max(10, settings.delivery_concurrency // 2))
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
