"""The Fedify interop harness itself: two real Fedify peers federate over loopback.

These tests fail (never skip) when Fedify cannot be installed: CI must prove interop.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest

from .fedify_peer import AP_ACCEPT, FedifyPeer

pytestmark = pytest.mark.interop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def of_type(activities: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [a for a in activities if a.get("type") == kind]


async def test_peer_serves_actor_and_webfinger() -> None:
    port = free_port()
    async with FedifyPeer.start(port) as peer, aiohttp.ClientSession() as http:
        assert peer.base_url == f"http://127.0.0.1:{port}"
        assert peer.handle == f"fedi@127.0.0.1:{port}"
        async with http.get(peer.actor_url, headers={"Accept": AP_ACCEPT}) as resp:
            assert resp.status == 200
            actor = await resp.json(content_type=None)
        assert actor["id"] == peer.actor_url
        assert actor["type"] == "Person"
        assert actor["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
        assert actor["endpoints"]["sharedInbox"] == peer.shared_inbox_url
        wf_url = f"{peer.base_url}/.well-known/webfinger"
        async with http.get(wf_url, params={"resource": f"acct:{peer.handle}"}) as resp:
            assert resp.status == 200
            jrd = await resp.json(content_type=None)
        assert {"rel": "self", "type": AP_ACCEPT, "href": peer.actor_url} in jrd["links"]


@pytest.mark.parametrize(
    ("first_knock", "scheme"),
    [(None, "rfc9421"), ("draft-cavage-http-signatures-12", "draft-cavage")],
)
async def test_two_peers_follow_each_other_post_unfollow(
    first_knock: str | None, scheme: str
) -> None:
    start = FedifyPeer.start
    async with start(first_knock=first_knock) as a, start(first_knock=first_knock) as b:
        assert a.base_url != b.base_url

        follow_id = await a.follow(b.actor_url)
        assert await a.following() in (
            [{"actor": b.actor_url, "id": follow_id, "state": "pending"}],
            [{"actor": b.actor_url, "id": follow_id, "state": "accepted"}],
        )

        # B receives and verifies the Follow, records A as a follower, answers Accept.
        follows = await b.wait_for(lambda: _of_type_async(b, "Follow"))
        assert follows[0]["id"] == follow_id
        assert follows[0]["actor"] == a.actor_url
        assert follows[0]["object"] == b.actor_url
        assert follows[0]["verified"] is True
        assert await b.wait_for(b.followers) == [a.actor_url]

        accepts = await a.wait_for(lambda: _of_type_async(a, "Accept"))
        assert accepts[0]["actor"] == b.actor_url
        accepted_follow = accepts[0]["object"]
        assert accepted_follow["id"] == follow_id
        assert accepted_follow["type"] == "Follow"
        await a.wait_for(lambda: _following_state(a, b.actor_url, "accepted"))

        # And the other way round: they now follow each other.
        await b.follow(a.actor_url)
        await b.wait_for(lambda: _following_state(b, a.actor_url, "accepted"))
        assert await a.followers() == [b.actor_url]

        # B posts; A (a follower) receives the verified Create(Note).
        note_id = await b.post("Hello <from> B & co")
        creates = await a.wait_for(lambda: _of_type_async(a, "Create"))
        create = creates[0]
        assert create["verified"] is True
        assert create["actor"] == b.actor_url
        note = create["object"]
        assert note["id"] == note_id
        assert note["type"] == "Note"
        assert "Hello &#60;from&#62; B &#38; co" in note["content"]
        assert create["_received"] == {"path": "/users/fedi/inbox", "signature": scheme}

        # A unfollows; B drops A from its followers.
        await a.unfollow(b.actor_url)
        assert await a.following() == []
        await b.wait_for(lambda: _of_type_async(b, "Undo"))
        await b.wait_for(lambda: _followers_empty(b))

        assert await a.errors() == []
        assert await b.errors() == []


async def test_unsigned_post_is_refused_and_reported() -> None:
    async with FedifyPeer.start() as peer, aiohttp.ClientSession() as http:
        forged = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{peer.base_url}/forged/1",
            "type": "Create",
            "actor": peer.actor_url,
            "object": {"type": "Note", "content": "forged"},
        }
        headers = {"Content-Type": "application/activity+json"}
        async with http.post(peer.inbox_url, json=forged, headers=headers) as resp:
            assert resp.status == 401
        assert await peer.inbox() == []
        errors = await peer.errors()
        assert [(e["kind"], e["reason"]) for e in errors] == [("unverified", "noSignature")]


async def _of_type_async(peer: FedifyPeer, kind: str) -> list[dict[str, Any]]:
    return of_type(await peer.inbox(), kind)


async def _following_state(peer: FedifyPeer, actor: str, state: str) -> bool:
    return any(f["actor"] == actor and f["state"] == state for f in await peer.following())


async def _followers_empty(peer: FedifyPeer) -> bool:
    return await peer.followers() == []
