"""Shoal and a real foreign ActivityPub server (Fedify) follow each other and exchange posts.

Fedify signs with RFC 9421 first and falls back to draft-cavage; it verifies every
request we send it. These tests fail, never skip, when Fedify cannot be installed.
"""

from __future__ import annotations

from typing import Any

import pytest

from core import accounts, publish, remote, social
from core.publish import Draft
from storage import actors, follows
from tests import rig

from .fedify_peer import FedifyPeer

pytestmark = [pytest.mark.interop, pytest.mark.e2e]


@pytest.mark.parametrize("first_knock", [None, "draft-cavage-http-signatures-12"])
async def test_fedify_follows_shoal_member_and_verifies_her_post(
    cluster: rig.Cluster, first_knock: str | None
) -> None:
    async with (
        rig.running_instance(cluster) as shoal,
        FedifyPeer.start(first_knock=first_knock) as peer,
    ):
        services = shoal.services
        _, alice = await accounts.create_user(
            services.pool, services.urls, username="alice", password="a long password"
        )
        await peer.follow(alice.uri)

        await peer.wait_for(lambda: _following_accepted(peer, alice.uri), timeout=20)
        async with services.pool.acquire() as con:
            fedi = await actors.get_by_uri(con, peer.actor_url)
            assert fedi is not None
            row = await follows.get(con, fedi.id, alice.id)
        assert row is not None and row.accepted

        post = await publish.publish_note(services, alice, Draft(text="Hello, Fedify!"))

        async def received() -> dict[str, Any] | None:
            for activity in await peer.inbox():
                obj = activity.get("object")
                if (
                    activity.get("type") == "Create"
                    and isinstance(obj, dict)
                    and obj.get("id") == post.uri
                ):
                    return activity
            return None

        create = await peer.wait_for(received, timeout=20)
        assert create["verified"] is True
        assert create["actor"] == alice.uri
        assert "Hello, Fedify!" in create["object"]["content"]


async def _following_accepted(peer: FedifyPeer, actor_uri: str) -> bool:
    return any(f["actor"] == actor_uri and f["state"] == "accepted" for f in await peer.following())


async def test_shoal_member_follows_fedify_actor_and_is_accepted(cluster: rig.Cluster) -> None:
    async with rig.running_instance(cluster) as shoal, FedifyPeer.start() as peer:
        services = shoal.services
        _, bob = await accounts.create_user(
            services.pool, services.urls, username="bob", password="a long password"
        )
        fedi = await remote.fetch_actor(services, peer.actor_url)
        assert fedi.public_key_pem and fedi.inbox_uri
        await social.follow(services, bob, fedi)

        async def accepted() -> bool:
            async with services.pool.acquire() as con:
                row = await follows.get(con, bob.id, fedi.id)
            return row is not None and row.accepted

        await rig.wait_for(accepted, timeout=20, what="Fedify's Accept")
        assert bob.uri in await peer.followers()

        # Fedify's post reaches bob through the follow.
        note_id = await peer.post("Greetings from Fedify")

        async def arrived() -> Any:
            async with services.pool.acquire() as con:
                return await con.fetchval("SELECT content FROM statuses WHERE uri = $1", note_id)

        text = await rig.wait_for(arrived, timeout=20, what="Fedify's Create at Shoal")
        assert "Greetings from Fedify" in text
