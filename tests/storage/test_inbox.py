"""The inbox queue table: dedupe by activity id, claiming with leases, states."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from storage import inbox
from storage.pool import _init_connection


async def add(con: asyncpg.Connection, n: int) -> str:
    uri = f"https://a.example/activities/{n}"
    assert await inbox.record(con, uri, "https://a.example/u", "Like", {"id": uri})
    return uri


async def test_record_dedupes_by_activity_id_and_notifies(con: asyncpg.Connection) -> None:
    woken = asyncio.Event()
    await con.add_listener(inbox.CHANNEL, lambda *_: woken.set())
    uri = await add(con, 1)
    await asyncio.wait_for(woken.wait(), timeout=2)
    woken.clear()

    assert not await inbox.record(con, uri, "https://a.example/u", "Like", {"id": "other"})
    await asyncio.sleep(0.05)
    assert not woken.is_set()  # a replay wakes nobody
    found = await inbox.get_by_uri(con, uri)
    assert found is not None and found.payload == {"id": uri} and found.state == "queued"
    assert await inbox.counts(con) == {"queued": 1, "done": 0, "ignored": 0, "failed": 0}


async def test_claims_are_exclusive_leased_and_in_received_order(
    con: asyncpg.Connection, database_url: str
) -> None:
    uris = [await add(con, n) for n in range(4)]
    other = await asyncpg.connect(database_url)
    await _init_connection(other)
    try:
        async with con.transaction():
            mine = await inbox.claim_due(con, limit=2, lease_seconds=60)
            # While those rows are locked, another worker skips them.
            theirs = await inbox.claim_due(other, limit=10, lease_seconds=60)
        assert [i.activity_uri for i in mine] == uris[:2]
        assert [i.activity_uri for i in theirs] == uris[2:]
        assert all(i.attempts == 1 for i in mine + theirs)
        # Leased: nothing is due until the lease ends or the rows are released.
        assert await inbox.claim_due(con, limit=10, lease_seconds=60) == []
        await inbox.release(con, [mine[1].id])
        again = await inbox.claim_due(con, limit=10, lease_seconds=60)
        assert [(i.activity_uri, i.attempts) for i in again] == [(uris[1], 1)]
    finally:
        await other.close()


async def test_mark_and_schedule_retry(con: asyncpg.Connection) -> None:
    done, later = await add(con, 1), await add(con, 2)
    claimed = {i.activity_uri: i for i in await inbox.claim_due(con, limit=5, lease_seconds=60)}
    await inbox.mark(con, claimed[done].id, "done")
    await inbox.schedule_retry(con, claimed[later].id, delay_seconds=0, error="x" * 2000)
    finished = await inbox.get_by_uri(con, done)
    assert finished is not None and finished.state == "done" and finished.processed_at
    retried = await inbox.get_by_uri(con, later)
    assert retried is not None and retried.state == "queued"
    assert retried.last_error is not None and len(retried.last_error) == 500
    assert [i.activity_uri for i in await inbox.claim_due(con, limit=5, lease_seconds=1)] == [later]
    with pytest.raises(ValueError):
        await inbox.mark(con, claimed[later].id, "queued")
