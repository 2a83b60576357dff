"""Housekeeping deletes what is old and finished, keeps the rest, and runs one sweep at a
time however many processes try."""

from __future__ import annotations

import asyncio

from core import housekeeping
from core.services import Services
from storage import locks

OLD = "now() - interval '40 days'"
RECENT = "now() - interval '1 day'"


async def _fill(services: Services) -> None:
    async with services.pool.acquire() as con:
        actor_id = await con.fetchval("SELECT id FROM actors ORDER BY id LIMIT 1")
        for n, (state, finished) in enumerate(
            [("done", OLD), ("failed", OLD), ("ignored", RECENT), ("queued", None)]
        ):
            await con.execute(
                f"""INSERT INTO inbox_items (activity_uri, actor_uri, type, payload, state,
                                             received_at, processed_at)
                    VALUES ($1, 'https://far.example/users/a', 'Create', '{{}}', $2,
                            {OLD}, {finished or "NULL"})""",
                f"https://far.example/activities/{n}",
                state,
            )
        activity_id = await con.fetchval(
            """INSERT INTO activities (uri, actor_id, type, payload)
               VALUES ('https://local.test/activities/1', $1, 'Create', '{}') RETURNING id""",
            actor_id,
        )
        for n, (state, finished) in enumerate([("done", OLD), ("done", RECENT), ("queued", None)]):
            await con.execute(
                f"""INSERT INTO deliveries (activity_id, inbox_uri, domain, state, finished_at)
                    VALUES ($1, $2, 'far.example', $3, {finished or "NULL"})""",
                activity_id,
                f"https://far.example/inbox/{n}",
                state,
            )
        await con.execute(
            f"""INSERT INTO rate_limits (bucket, window_start, hits)
                VALUES ('old', {OLD}, 3), ('now', now(), 1)"""
        )


async def test_a_sweep_deletes_old_finished_rows_only(services: Services) -> None:
    await _fill(services)
    deleted = await housekeeping.sweep(services)
    assert deleted is not None
    assert (deleted["inbox_items"], deleted["deliveries"], deleted["rate_limits"]) == (2, 1, 1)
    async with services.pool.acquire() as con:
        states = await con.fetch("SELECT state FROM inbox_items ORDER BY state")
        assert [r["state"] for r in states] == ["ignored", "queued"]
        assert await con.fetchval("SELECT count(*) FROM deliveries") == 2
        assert await con.fetchval("SELECT bucket FROM rate_limits") == "now"
    again = await housekeeping.sweep(services)
    assert again is not None and not any(again.values())


async def test_one_sweep_at_a_time(services: Services) -> None:
    await _fill(services)
    held, release = asyncio.Event(), asyncio.Event()

    async def other_process() -> None:
        async with services.pool.acquire() as con, con.transaction():
            assert await locks.try_transaction_lock(con, locks.HOUSEKEEPING)
            held.set()
            await release.wait()

    other = asyncio.create_task(other_process())
    await held.wait()
    assert await housekeeping.sweep(services) is None  # skipped: someone else sweeps
    release.set()
    await other
    deleted = await housekeeping.sweep(services)
    assert deleted is not None and deleted["inbox_items"] == 2
