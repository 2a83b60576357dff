from __future__ import annotations

import asyncpg

from storage import migrate
from tests import rig


async def test_migrations_apply_from_empty_and_are_idempotent(cluster: rig.Cluster) -> None:
    con = await asyncpg.connect(cluster.admin_url)
    try:
        await con.execute('DROP DATABASE IF EXISTS "shoal_empty_check" WITH (FORCE)')
        await con.execute('CREATE DATABASE "shoal_empty_check"')
    finally:
        await con.close()
    con = await asyncpg.connect(cluster.url("shoal_empty_check"))
    try:
        assert await migrate.current_version(con) == 0
        applied = await migrate.apply(con)
        assert applied == [m.name for m in migrate.available()]
        assert await migrate.current_version(con) == migrate.available()[-1].version
        tables = {
            r["tablename"]
            for r in await con.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        for table in ("actors", "users", "statuses", "follows", "deliveries", "inbox_items"):
            assert table in tables
        assert await migrate.apply(con) == []
        count = await con.fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(migrate.available())
    finally:
        await con.close()
        await cluster.drop_database("shoal_empty_check")


async def test_concurrent_migrations_serialise(cluster: rig.Cluster) -> None:
    import asyncio

    admin = await asyncpg.connect(cluster.admin_url)
    try:
        await admin.execute('DROP DATABASE IF EXISTS "shoal_race_check" WITH (FORCE)')
        await admin.execute('CREATE DATABASE "shoal_race_check"')
    finally:
        await admin.close()
    url = cluster.url("shoal_race_check")
    cons = [await asyncpg.connect(url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate.apply(c) for c in cons))
        applied = [name for result in results for name in result]
        assert sorted(applied) == sorted(m.name for m in migrate.available())
    finally:
        for c in cons:
            await c.close()
        await cluster.drop_database("shoal_race_check")


async def test_ids_sort_by_time(con: asyncpg.Connection) -> None:
    first = await con.fetchval("SELECT shoal_id()")
    second = await con.fetchval("SELECT shoal_id()")
    assert 0 < first < second < 2**63
    earlier = await con.fetchval("SELECT shoal_id_at(now() - interval '1 day')")
    assert earlier < first
    # The high bits are milliseconds since the epoch.
    millis = await con.fetchval("SELECT floor(extract(epoch FROM now()) * 1000)::bigint")
    assert abs((first >> 16) - millis) < 60_000
