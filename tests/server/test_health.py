from __future__ import annotations

import asyncpg
import httpx

from tests import rig


async def test_healthz_ok_with_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_healthz_503_when_database_unreachable(cluster: rig.Cluster) -> None:
    name = await cluster.create_database()
    settings = rig.make_settings(cluster.url(name))
    try:
        async with rig.app_client(settings) as (_app, client):
            assert (await client.get("/healthz")).status_code == 200
            admin = await asyncpg.connect(cluster.admin_url)
            try:
                # Refuse new connections and cut the existing ones: the database is "down".
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
                response = await client.get("/healthz")
                assert response.status_code == 503
                assert response.json()["database"] == "unreachable"
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                assert (await client.get("/healthz")).status_code == 200
            finally:
                await admin.close()
    finally:
        await cluster.drop_database(name)
