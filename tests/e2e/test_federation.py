"""Two and three Shoal instances federating over real sockets on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core import accounts, publish, remote, social
from core.publish import Draft
from storage import actors, follows, statuses
from storage.actors import ActorRow
from tests import rig

pytestmark = pytest.mark.e2e


async def member(instance: rig.Instance, name: str) -> ActorRow:
    services = instance.services
    _, actor = await accounts.create_user(
        services.pool, services.urls, username=name, password="a long password"
    )
    return actor


async def status_at(instance: rig.Instance, uri: str) -> Any:
    async with instance.services.pool.acquire() as con:
        return await statuses.get_by_uri(con, uri)


async def follow_state(instance: rig.Instance, follower: ActorRow, followee: ActorRow) -> Any:
    async with instance.services.pool.acquire() as con:
        return await follows.get(con, follower.id, followee.id)


async def accepted(instance: rig.Instance, follower: ActorRow, followee: ActorRow) -> bool:
    row = await follow_state(instance, follower, followee)
    return row is not None and row.accepted


async def test_follow_publish_group_announce_delete_and_unfollow(cluster: rig.Cluster) -> None:
    async with rig.running_instance(cluster) as a, rig.running_instance(cluster) as b:
        alice = await member(a, "alice")
        bob = await member(b, "bob")
        bob_at_a = await remote.resolve_acct(a.services, f"bob@{b.domain}")
        group_at_a = await remote.resolve_acct(a.services, f"collective@{b.domain}")
        assert bob_at_a.uri == bob.uri and group_at_a.type == "Group"

        # alice (A) follows bob and B's collective; B accepts both.
        await social.follow(a.services, alice, bob_at_a)
        await social.follow(a.services, alice, group_at_a)
        await rig.wait_for(lambda: accepted(a, alice, bob_at_a), what="bob's Accept")
        await rig.wait_for(lambda: accepted(a, alice, group_at_a), what="the group's Accept")
        async with b.services.pool.acquire() as con:
            alice_at_b = await actors.get_by_uri(con, alice.uri)
            group_at_b = await actors.get_local(con, "collective")
        assert alice_at_b is not None and group_at_b is not None
        assert await accepted(b, alice_at_b, bob)
        assert await accepted(b, alice_at_b, group_at_b)

        # bob publishes to the collective: the post reaches A, and the collective
        # announces it (FEP-1b12) so A also holds the group's boost.
        post = await publish.publish_note(
            b.services, bob, Draft(text="Bulk order closes Friday @collective #food")
        )
        arrived = await rig.wait_for(lambda: status_at(a, post.uri), what="bob's post at A")
        assert "Bulk order closes Friday" in arrived.content
        assert arrived.visibility == "public" and not arrived.local

        async def group_boost() -> Any:
            async with a.services.pool.acquire() as con:
                return await statuses.get_reblog(con, group_at_a.id, arrived.id)

        boost = await rig.wait_for(group_boost, what="the collective's Announce at A")
        assert boost.audience == group_at_a.uri

        # bob deletes it: gone at A, and a tombstone keeps it gone.
        await publish.delete_status(b.services, bob, post)
        await rig.wait_for(lambda: _gone(a, post.uri), what="the Delete at A")

        # alice unfollows bob: B drops the follow and stops delivering to A.
        assert await social.unfollow(a.services, alice, bob_at_a)
        await rig.wait_for(lambda: _no_follow(b, alice_at_b, bob), what="the Undo(Follow) at B")
        later = await publish.publish_note(b.services, bob, Draft(text="only for my followers"))
        await asyncio.sleep(1.0)
        assert await status_at(a, later.uri) is None


async def _gone(instance: rig.Instance, uri: str) -> bool:
    async with instance.services.pool.acquire() as con:
        return (
            await statuses.get_by_uri(con, uri) is None
            and await statuses.get_tombstone(con, uri) is not None
        )


async def _no_follow(instance: rig.Instance, follower: ActorRow, followee: ActorRow) -> bool:
    return await follow_state(instance, follower, followee) is None


async def test_peer_down_then_up_still_receives(cluster: rig.Cluster) -> None:
    name = await cluster.create_database()
    port = rig.free_port()
    try:
        async with rig.running_instance(cluster) as b:
            bob = await member(b, "bob")
            async with rig.running_instance(cluster, database=name, port=port) as a:
                alice = await member(a, "alice")
                bob_at_a = await remote.resolve_acct(a.services, f"bob@{b.domain}")
                await social.follow(a.services, alice, bob_at_a)
                await rig.wait_for(lambda: accepted(a, alice, bob_at_a), what="Accept")
            # A is down now: bob's post cannot be delivered and is retried.
            post = await publish.publish_note(b.services, bob, Draft(text="while you were out"))

            async def retried() -> bool:
                async with b.services.pool.acquire() as con:
                    attempts = await con.fetchval(
                        "SELECT max(attempts) FROM deliveries WHERE state = 'queued'"
                    )
                return bool(attempts and attempts >= 2)

            await rig.wait_for(retried, what="failed attempts while A is down")
            async with rig.running_instance(cluster, database=name, port=port) as a_again:
                arrived = await rig.wait_for(
                    lambda: status_at(a_again, post.uri), timeout=30, what="post after restart"
                )
                assert "while you were out" in arrived.content
    finally:
        await cluster.drop_database(name)


async def test_three_instances_fan_out(cluster: rig.Cluster) -> None:
    async with (
        rig.running_instance(cluster) as a,
        rig.running_instance(cluster) as b,
        rig.running_instance(cluster) as c,
    ):
        carol = await member(c, "carol")
        readers = [(a, await member(a, "ann")), (b, await member(b, "ben"))]
        for instance, reader in readers:
            carol_there = await remote.resolve_acct(instance.services, f"carol@{c.domain}")
            await social.follow(instance.services, reader, carol_there)
            await rig.wait_for(
                lambda i=instance, r=reader, t=carol_there: accepted(i, r, t), what="Accept"
            )
        post = await publish.publish_note(c.services, carol, Draft(text="hello both"))
        for instance, _ in readers:
            await rig.wait_for(lambda i=instance: status_at(i, post.uri), what="fan-out")
        # The same activity twice is applied once: each instance holds one copy.
        for instance, _ in readers:
            async with instance.services.pool.acquire() as con:
                count = await con.fetchval("SELECT count(*) FROM statuses WHERE uri = $1", post.uri)
            assert count == 1
