"""Counters kept by triggers agree with counting the rows, through every kind of change."""

from __future__ import annotations

import asyncpg

from core import accounts
from core.publish import Draft, publish_note
from storage import follows, views
from tests import rig


async def _truth(con: asyncpg.Connection, actor_id: int) -> tuple[int, int, int]:
    return (
        await con.fetchval(
            "SELECT count(*) FROM follows WHERE followee_id = $1 AND state = 'accepted'", actor_id
        ),
        await con.fetchval(
            "SELECT count(*) FROM follows WHERE follower_id = $1 AND state = 'accepted'", actor_id
        ),
        await con.fetchval("SELECT count(*) FROM statuses WHERE actor_id = $1", actor_id),
    )


async def test_counters_follow_every_change(cluster: rig.Cluster) -> None:
    name = await cluster.create_database()
    try:
        async with rig.app_client(rig.make_settings(cluster.url(name), workers=False)) as (app, _):
            services = app.state.services
            _, alice = await accounts.create_user(
                services.pool, services.urls, username="alice", password="long password"
            )
            _, bob = await accounts.create_user(
                services.pool, services.urls, username="bob", password="long password"
            )
            post = await publish_note(services, alice, Draft(text="first"))
            reply = await publish_note(services, bob, Draft(text="re", in_reply_to=post))
            async with services.pool.acquire() as con:
                pending = await follows.upsert(
                    con,
                    uri="http://x/f1",
                    follower_id=bob.id,
                    followee_id=alice.id,
                    accepted=False,
                )
                assert (await views.account_counts(con, [alice.id]))[alice.id].followers == 0
                await follows.accept(con, pending.id)
                await follows.add_favourite(con, uri=None, actor_id=bob.id, status_id=post.id)
                await con.execute(
                    "INSERT INTO statuses (uri, actor_id, local, reblog_of_id) "
                    "VALUES ('http://x/boost', $1, true, $2)",
                    bob.id,
                    post.id,
                )
                counts = (await views.status_counts(con, [post.id]))[post.id]
                assert (counts.replies, counts.reblogs, counts.favourites) == (1, 1, 1)
                for actor in (alice, bob):
                    got = (await views.account_counts(con, [actor.id]))[actor.id]
                    assert (got.followers, got.following, got.statuses) == await _truth(
                        con, actor.id
                    )
                await con.execute("DELETE FROM statuses WHERE id = $1", reply.id)
                await follows.delete(con, bob.id, alice.id)
                await follows.remove_favourite(con, actor_id=bob.id, status_id=post.id)
                counts = (await views.status_counts(con, [post.id]))[post.id]
                assert (counts.replies, counts.reblogs, counts.favourites) == (0, 1, 0)
                for actor in (alice, bob):
                    got = (await views.account_counts(con, [actor.id]))[actor.id]
                    assert (got.followers, got.following, got.statuses) == await _truth(
                        con, actor.id
                    )
                assert (await views.account_counts(con, [alice.id]))[
                    alice.id
                ].last_status_at == post.published_at
    finally:
        await cluster.drop_database(name)


async def test_profile_versions_move_with_the_actor_row_only(cluster: rig.Cluster) -> None:
    """Migration 0007: every actor has a stats row; its profile version, which pages check
    cached account entities by, moves on with each change to the actor's row and not with
    the counters; ``views.accounts`` and ``views.page_facts`` give the same version."""
    name = await cluster.create_database()
    try:
        async with rig.app_client(rig.make_settings(cluster.url(name), workers=False)) as (app, _):
            services = app.state.services
            _, alice = await accounts.create_user(
                services.pool, services.urls, username="alice", password="long password"
            )
            async with services.pool.acquire() as con:
                missing = await con.fetchval(
                    "SELECT count(*) FROM actors a WHERE NOT EXISTS "
                    "(SELECT 1 FROM actor_stats s WHERE s.actor_id = a.id)"
                )
                assert missing == 0

                async def version() -> str:
                    return (await views.accounts(con, [alice.id]))[alice.id].version

                before = await version()
                post = await publish_note(services, alice, Draft(text="counted, not a change"))
                assert await version() == before
                facts = await views.page_facts(con, alice.id, [post.id])
                assert facts[post.id].author_version == before
                await con.execute(
                    "UPDATE actors SET display_name = 'Alice A' WHERE id = $1", alice.id
                )
                renamed = await version()
                assert renamed != before
                await con.execute("UPDATE actors SET summary = summary WHERE id = $1", alice.id)
                assert await version() not in (before, renamed)
    finally:
        await cluster.drop_database(name)
