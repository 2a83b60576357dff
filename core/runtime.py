"""Start and stop a process's shared resources in the right order."""

from __future__ import annotations

import asyncio
import logging

from core import accounts
from core.services import Services
from core.settings import Settings
from core.urls import Urls
from storage import embedded, migrate
from storage.pool import create_pool

log = logging.getLogger("shoal")


async def database_url(settings: Settings) -> tuple[str, embedded.EmbeddedServer | None]:
    """The URL to connect to, starting the embedded server when none is configured."""
    if settings.database_url is not None:
        return settings.database_url, None
    server = await asyncio.to_thread(embedded.start, settings.pg_dir)
    return server.url, server


async def start(settings: Settings, *, migrate_schema: bool = True) -> Services:
    url, server = await database_url(settings)
    try:
        pool = await create_pool(url)
    except BaseException:
        if server is not None:
            embedded.release(server)
        raise
    services = Services(settings=settings, pool=pool, urls=Urls(settings.base_url), embedded=server)
    try:
        if migrate_schema:
            async with pool.acquire() as con:
                applied = await migrate.apply(con)
            for name in applied:
                log.info("applied migration %s", name)
        await accounts.ensure_instance_actors(pool, settings, services.urls)
    except BaseException:
        await stop(services)
        raise
    return services


async def stop(services: Services) -> None:
    await services.pool.close()
    if services.embedded is not None:
        await asyncio.to_thread(embedded.release, services.embedded)
