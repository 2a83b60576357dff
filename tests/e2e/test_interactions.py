"""Favourites, boosts and edits crossing between two Shoal instances over real sockets,
driven through the client API as a member's app would."""

from __future__ import annotations

from typing import Any

import pytest

from core import remote, social
from storage import actors, follows, statuses
from tests import api, rig

pytestmark = pytest.mark.e2e


async def _accepted(instance: rig.Instance, follower_id: int, followee_id: int) -> bool:
    async with instance.services.pool.acquire() as con:
        row = await follows.get(con, follower_id, followee_id)
    return row is not None and row.accepted


async def _status(instance: rig.Instance, uri: str) -> Any:
    async with instance.services.pool.acquire() as con:
        return await statuses.get_by_uri(con, uri)


async def test_favourite_boost_and_edit_cross_instances(cluster: rig.Cluster) -> None:
    async with (
        rig.running_instance(cluster) as a,
        rig.running_instance(cluster) as b,
        a.client() as client_a,
        b.client() as client_b,
    ):
        alice = await api.member(a.services, client_a, "alice")
        bob = await api.member(b.services, client_b, "bob")
        bob_at_a = await remote.resolve_acct(a.services, f"bob@{b.domain}")
        await social.follow(a.services, alice.actor, bob_at_a)
        await rig.wait_for(lambda: _accepted(a, alice.actor.id, bob_at_a.id), what="Accept")

        # bob posts through B's API; the post reaches A.
        posted = await client_b.post(
            "/api/v1/statuses", headers=bob.headers, data={"status": "Seed swap on Sunday"}
        )
        assert posted.status_code == 200, posted.text
        post_uri = posted.json()["uri"]
        bob_post_id = int(posted.json()["id"])
        arrived = await rig.wait_for(lambda: _status(a, post_uri), what="bob's post at A")

        # alice favourites and boosts it through A's API.
        fav = await client_a.post(f"/api/v1/statuses/{arrived.id}/favourite", headers=alice.headers)
        assert fav.status_code == 200, fav.text
        assert fav.json()["favourited"] is True and fav.json()["favourites_count"] == 1
        boost = await client_a.post(f"/api/v1/statuses/{arrived.id}/reblog", headers=alice.headers)
        assert boost.status_code == 200, boost.text
        assert boost.json()["reblog"]["id"] == str(arrived.id)
        assert boost.json()["reblog"]["reblogged"] is True

        async with b.services.pool.acquire() as con:
            alice_at_b = await actors.get_by_uri(con, alice.actor.uri)
        assert alice_at_b is not None

        async def favourite_at_b() -> bool:
            async with b.services.pool.acquire() as con:
                return bool(
                    await con.fetchval(
                        "SELECT count(*) FROM favourites WHERE actor_id = $1 AND status_id = $2",
                        alice_at_b.id,
                        bob_post_id,
                    )
                )

        async def reblog_at_b() -> Any:
            async with b.services.pool.acquire() as con:
                return await statuses.get_reblog(con, alice_at_b.id, bob_post_id)

        await rig.wait_for(favourite_at_b, what="alice's Like at B")
        reblog = await rig.wait_for(reblog_at_b, what="alice's Announce at B")
        assert reblog.reblog_of_id == bob_post_id and reblog.visibility == "public"
        # bob sees both on his post, through B's API.
        seen = await client_b.get(f"/api/v1/statuses/{bob_post_id}", headers=bob.headers)
        assert seen.json()["favourites_count"] == 1 and seen.json()["reblogs_count"] == 1
        notified = await client_b.get("/api/v1/notifications", headers=bob.headers)
        if notified.status_code == 200:  # the notifications API may not be there yet
            kinds = {n["type"] for n in notified.json()}
            assert {"favourite", "reblog"} <= kinds

        # alice takes both back: B forgets them.
        undo_fav = await client_a.post(
            f"/api/v1/statuses/{arrived.id}/unfavourite", headers=alice.headers
        )
        assert undo_fav.json()["favourited"] is False
        undo_boost = await client_a.post(
            f"/api/v1/statuses/{arrived.id}/unreblog", headers=alice.headers
        )
        assert undo_boost.json()["id"] == str(arrived.id)
        assert undo_boost.json()["reblogged"] is False

        async def both_gone_at_b() -> bool:
            return not await favourite_at_b() and await reblog_at_b() is None

        await rig.wait_for(both_gone_at_b, what="Undo(Like) and Undo(Announce) at B")

        # bob edits his post: A shows the new text, marked as edited.
        edited = await client_b.put(
            f"/api/v1/statuses/{bob_post_id}",
            headers=bob.headers,
            data={"status": "Seed swap moved to Saturday"},
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["edited_at"] is not None

        async def edit_at_a() -> Any:
            row = await _status(a, post_uri)
            return row if row is not None and "Saturday" in row.content else None

        updated = await rig.wait_for(edit_at_a, what="bob's Update at A")
        assert updated.edited_at is not None
        shown = await client_a.get(f"/api/v1/statuses/{arrived.id}", headers=alice.headers)
        assert "Saturday" in shown.json()["content"]
        assert shown.json()["edited_at"] is not None
