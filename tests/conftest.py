from __future__ import annotations

import os
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from core.settings import Settings
from tests import rig

# pgserver asks platformdirs for a runtime dir; give it one rather than a warning.
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")


@pytest.fixture(scope="session")
async def cluster() -> AsyncIterator[rig.Cluster]:
    cluster = await rig.start_cluster()
    try:
        yield cluster
    finally:
        await rig.stop_cluster(cluster)


@pytest.fixture
async def database_url(cluster: rig.Cluster) -> AsyncIterator[str]:
    name = await cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        await cluster.drop_database(name)


@pytest.fixture
async def con(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    from storage.pool import _init_connection

    connection = await asyncpg.connect(database_url)
    await _init_connection(connection)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return rig.make_settings(database_url)


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    async with rig.app_client(settings) as pair:
        yield pair


@pytest.fixture
async def client(app_client: tuple[Starlette, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]
