"""The home feeds kept by triggers (migration 0005) hold exactly what their definition
says, through posts, follows accepted late, unfollows and remote followers."""

from __future__ import annotations

from typing import Any

import asyncpg

from core import accounts
from core.publish import Draft, publish_note
from storage import actors, follows
from tests import rig

REMOTE = "https://far.example/users/rita"


async def _remote(con: Any) -> int:
    row = await actors.upsert_remote(
        con,
        {
            "uri": REMOTE,
            "type": "Person",
            "username": "rita",
            "domain": "far.example",
            "display_name": "Rita",
            "summary": "",
            "url": None,
            "inbox_uri": f"{REMOTE}/inbox",
            "shared_inbox_uri": None,
            "outbox_uri": None,
            "followers_uri": None,
            "following_uri": None,
            "featured_uri": None,
            "icon_url": None,
            "image_url": None,
            "manually_approves_followers": False,
            "discoverable": True,
            "fields": [],
            "public_key_id": None,
            "public_key_pem": None,
            "raw": None,
            "published_at": None,
            "deleted_at": None,
        },
    )
    return row.id


async def _feeds(con: asyncpg.Connection) -> set[tuple[int, int, int]]:
    rows = await con.fetch("SELECT owner_id, status_id, author_id FROM home_feed")
    return {(r["owner_id"], r["status_id"], r["author_id"]) for r in rows}


async def _truth(con: asyncpg.Connection) -> set[tuple[int, int, int]]:
    """Every local actor's own statuses and those of the accounts it follows (accepted)."""
    rows = await con.fetch(
        """SELECT a.id AS owner_id, s.id AS status_id, s.actor_id AS author_id
           FROM actors a JOIN statuses s ON s.actor_id = a.id WHERE a.local
           UNION
           SELECT f.follower_id, s.id, s.actor_id
           FROM follows f JOIN actors a ON a.id = f.follower_id AND a.local
           JOIN statuses s ON s.actor_id = f.followee_id WHERE f.state = 'accepted'"""
    )
    return {(r["owner_id"], r["status_id"], r["author_id"]) for r in rows}


async def test_feeds_follow_posts_follows_and_unfollows(cluster: rig.Cluster) -> None:
    name = await cluster.create_database()
    try:
        async with rig.app_client(rig.make_settings(cluster.url(name), workers=False)) as (app, _):
            services = app.state.services
            users = [
                (await accounts.create_user(
                    services.pool, services.urls, username=n, password="long password"
                ))[1]
                for n in ("alice", "bob", "carol")
            ]  # fmt: skip
            alice, bob, carol = users
            early = await publish_note(services, alice, Draft(text="before anyone follows"))
            async with services.pool.acquire() as con:
                rita = await _remote(con)
                pending = await follows.upsert(
                    con, uri="http://x/f1", follower_id=bob.id, followee_id=alice.id,
                    accepted=False,
                )  # fmt: skip
                await follows.upsert(
                    con, uri="http://x/f2", follower_id=rita, followee_id=alice.id,
                    accepted=True,
                )  # fmt: skip
                assert await _feeds(con) == await _truth(con)
                assert all(owner != bob.id for owner, _, _ in await _feeds(con))  # pending
                await follows.accept(con, pending.id)  # brings in the earlier post
                assert (bob.id, early.id, alice.id) in await _feeds(con)
                await follows.upsert(
                    con, uri="http://x/f3", follower_id=carol.id, followee_id=bob.id,
                    accepted=True,
                )  # fmt: skip
            later = await publish_note(services, alice, Draft(text="after"))
            reply = await publish_note(services, bob, Draft(text="re", in_reply_to=later))
            async with services.pool.acquire() as con:
                assert (bob.id, later.id, alice.id) in await _feeds(con)
                assert (carol.id, reply.id, bob.id) in await _feeds(con)
                assert not any(owner == rita for owner, _, _ in await _feeds(con))  # remote
                assert await _feeds(con) == await _truth(con)
                await follows.delete(con, bob.id, alice.id)
                assert not any(
                    owner == bob.id and author == alice.id for owner, _, author in await _feeds(con)
                )
                await con.execute(
                    "UPDATE follows SET state = 'pending' WHERE follower_id = $1", carol.id
                )
                assert await _feeds(con) == await _truth(con)
                # Deleting a status leaves its rows, joined to nothing when read.
                await con.execute("DELETE FROM statuses WHERE id = $1", later.id)
                assert await _truth(con) <= await _feeds(con)
    finally:
        await cluster.drop_database(name)
