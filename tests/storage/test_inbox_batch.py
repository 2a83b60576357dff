"""What the inbox's group commit stands on: one statement for many activities, cheap
``mark_all_available``, and pool connections released without a reset round trip."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date

import asyncpg
import pytest

from storage import domains, inbox
from storage.inbox import NewItem
from storage.pool import PoolConnection, create_pool


def item(n: int, **payload: object) -> NewItem:
    uri = f"https://a.example/activities/{n}"
    return NewItem(uri, "https://a.example/u", "Like", {"id": uri, **payload})


async def test_record_many_dedupes_within_and_across_batches_with_one_notify(
    con: asyncpg.Connection,
) -> None:
    notified: list[str] = []
    await con.add_listener(inbox.CHANNEL, lambda *args: notified.append(args[2]))
    one, two = item(1), item(2)
    # The same id twice in one batch (a peer retrying while the first try is queued).
    assert await inbox.record_many(con, [one, two, item(1, copy=True)]) == [True, True, False]
    assert await inbox.record_many(con, [item(2), item(3)]) == [False, True]
    assert await inbox.record_many(con, [one]) == [False]
    assert await inbox.record_many(con, []) == []
    await asyncio.sleep(0.1)
    assert notified == [inbox.CHANNEL, inbox.CHANNEL]  # one per batch that added rows

    stored = await inbox.get_by_uri(con, one.activity_uri)
    assert stored is not None and stored.payload == one.payload  # the first copy won
    assert stored.actor_uri == one.actor_uri and stored.state == "queued"
    assert (await inbox.counts(con))["queued"] == 3


async def test_record_many_is_committed_when_it_returns(
    con: asyncpg.Connection, database_url: str
) -> None:
    other = await asyncpg.connect(database_url)
    try:
        assert await inbox.record_many(con, [item(1), item(2)]) == [True, True]
        # Seen at once from another session: no transaction was left open.
        assert await other.fetchval("SELECT count(*) FROM inbox_items") == 2
    finally:
        await other.close()


async def test_values_the_database_refuses_fail_the_whole_statement(
    con: asyncpg.Connection,
) -> None:
    # PostgreSQL's text cannot hold U+0000; a Python string can.
    bad = dataclasses.replace(item(2), actor_uri="https://a.example/nul\u0000")
    with pytest.raises(inbox.Unstorable):
        await inbox.record_many(con, [item(1), bad])
    assert (await inbox.counts(con))["queued"] == 0
    assert await inbox.record_many(con, [item(1)]) == [True]


async def test_mark_all_available_clears_failures_of_the_named_hosts_only(
    con: asyncpg.Connection,
) -> None:
    day = date(2026, 1, 5)
    for n in range(domains.UNAVAILABLE_AFTER_DAYS):
        await domains.record_failures(con, ["down.example", "other.example"], date(2026, 1, n + 1))
    await domains.record_failure(con, "flaky.example", day)
    await domains.ensure(con, "fine.example")
    assert await domains.unavailable_domains(con) == ["down.example", "other.example"]

    await domains.mark_all_available(
        con, ["down.example", "flaky.example", "fine.example", "unknown.example", "down.example"]
    )
    assert await domains.unavailable_domains(con) == ["other.example"]
    assert await domains.failure_days(con, "flaky.example") == []
    assert await domains.failure_days(con, "other.example") != []
    await domains.mark_all_available(con, [])  # nothing to do, no statement


async def test_a_pool_connection_is_reset_only_after_it_listened(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as con:
            assert isinstance(con, PoolConnection)
            # Nothing to undo: released without asyncpg's reset query (a round trip).
            assert con.get_reset_query() == ""

            def callback(*_: object) -> None:
                pass

            await con.add_listener("some_channel", callback)
            await con.remove_listener("some_channel", callback)
            # Still listening, as if that UNLISTEN had been lost: the reset still runs.
            await con.execute("LISTEN some_channel")
            assert "UNLISTEN" in con.get_reset_query()
        async with pool.acquire() as con:  # the same connection: the pool holds one
            assert await con.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
            assert con.get_reset_query() == ""
    finally:
        await pool.close()
