"""The streaming API as Mastodon apps use it: a real server on loopback, a real WebSocket
client, real tokens. Every wait is bounded (10 s at most).

Events travel through PostgreSQL NOTIFY even inside one process, so a post made through a
second pool (as ``shoal worker`` would) reaches the client the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from core import publish, runtime, social
from core.publish import Draft
from core.streaming import Closed, Message, Subscriber
from storage.events import CHANNEL
from storage.listen import APPLICATION_NAME
from tests import api, rig

WAIT = 10.0


@pytest.fixture
async def instance(cluster: rig.Cluster) -> AsyncIterator[rig.Instance]:
    async with rig.running_instance(cluster, workers=False) as running:
        yield running


@pytest.fixture
async def http(instance: rig.Instance) -> AsyncIterator[httpx.AsyncClient]:
    async with instance.client() as client:
        yield client


def _url(instance: rig.Instance, query: str = "") -> str:
    return f"ws://127.0.0.1:{instance.port}/api/v1/streaming{'?' + query if query else ''}"


def _socket(instance: rig.Instance, query: str = "", **options: Any) -> Any:
    return connect(_url(instance, query), open_timeout=WAIT, close_timeout=WAIT, **options)


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout=WAIT)
    decoded = orjson.loads(message)
    assert isinstance(decoded, dict)
    return decoded


def _payload(message: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(message["payload"], str), "Mastodon sends the payload as a JSON string"
    decoded = orjson.loads(message["payload"])
    assert isinstance(decoded, dict)
    return decoded


async def _sync(ws: ClientConnection) -> None:
    """Commands are handled in order: once the error for a bad one comes back, the ones
    sent before it are in effect."""
    await ws.send(orjson.dumps({"type": "subscribe", "stream": "no-such-stream"}).decode())
    assert await _receive(ws) == {"error": "Unknown stream type", "status": 400}


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/streaming/health")
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["content-type"].startswith("text/plain")


async def test_user_stream_home_updates_deletes_and_notifications(
    instance: rig.Instance, http: httpx.AsyncClient
) -> None:
    services = instance.services
    alice = await api.member(services, http, "alice")
    bob = await api.member(services, http, "bob")
    carol = await api.member(services, http, "carol")
    await social.follow(services, alice.actor, bob.actor)

    async with _socket(instance, "stream=user", additional_headers=alice.headers) as ws:
        posted = await publish.publish_note(services, bob.actor, Draft("Soup on Friday"))
        update = await _receive(ws)
        assert update["stream"] == ["user"] and update["event"] == "update"
        status = _payload(update)
        assert status["id"] == str(posted.id)
        assert "Soup on Friday" in status["content"]
        assert status["account"]["id"] == bob.id and status["account"]["acct"] == "bob"

        await publish.delete_status(services, bob.actor, posted)
        assert await _receive(ws) == {
            "stream": ["user"],
            "event": "delete",
            "payload": str(posted.id),
        }

        # Carol is not followed: her post is not in alice's home, her mention notifies.
        mention = await publish.publish_note(services, carol.actor, Draft("@alice see you there"))
        message = await _receive(ws)
        assert message["stream"] == ["user"] and message["event"] == "notification"
        notification = _payload(message)
        assert notification["type"] == "mention"
        assert notification["account"]["id"] == carol.id
        assert notification["status"]["id"] == str(mention.id)

        # Her own post reaches her own home.
        own = await publish.publish_note(services, alice.actor, Draft("Mine"))
        assert _payload(await _receive(ws))["id"] == str(own.id)


async def test_private_posts_reach_followers_only(
    instance: rig.Instance, http: httpx.AsyncClient
) -> None:
    services = instance.services
    alice = await api.member(services, http, "alice")
    bob = await api.member(services, http, "bob")
    dave = await api.member(services, http, "dave")
    await social.follow(services, alice.actor, bob.actor)
    async with (
        _socket(instance, "stream=user", additional_headers=alice.headers) as follower,
        _socket(instance, "stream=public:local", additional_headers=dave.headers) as other,
    ):
        hidden = await publish.publish_note(services, bob.actor, Draft("followers only", "private"))
        assert _payload(await _receive(follower))["id"] == str(hidden.id)
        shown = await publish.publish_note(services, bob.actor, Draft("for everyone"))
        # Events arrive in order: the first one dave gets is the public post.
        assert _payload(await _receive(other))["id"] == str(shown.id)


async def test_public_local_stream_without_token(
    instance: rig.Instance, http: httpx.AsyncClient
) -> None:
    services = instance.services
    bob = await api.member(services, http, "bob")
    async with _socket(instance, "stream=public:local") as ws:
        await publish.publish_note(services, bob.actor, Draft("only followers", "private"))
        await publish.publish_note(services, bob.actor, Draft("quietly", "unlisted"))
        shown = await publish.publish_note(services, bob.actor, Draft("Open meeting tonight"))
        message = await _receive(ws)
        assert message["stream"] == ["public:local"] and message["event"] == "update"
        assert _payload(message)["id"] == str(shown.id)
        assert _payload(message)["visibility"] == "public"


async def test_hashtag_subscription_by_message(
    instance: rig.Instance, http: httpx.AsyncClient
) -> None:
    services = instance.services
    bob = await api.member(services, http, "bob")
    async with _socket(instance) as ws:
        await ws.send(orjson.dumps({"type": "subscribe", "stream": "hashtag", "tag": "Coop"}))
        await ws.send(orjson.dumps({"type": "subscribe", "stream": "hashtag"}).decode())
        assert await _receive(ws) == {"error": "No tag for stream provided", "status": 400}
        await _sync(ws)
        await publish.publish_note(services, bob.actor, Draft("no tag here"))
        tagged = await publish.publish_note(services, bob.actor, Draft("Shifts for the #coop"))
        message = await _receive(ws)
        assert message["stream"] == ["hashtag", "Coop"] and message["event"] == "update"
        assert _payload(message)["id"] == str(tagged.id)
        assert [t["name"] for t in _payload(message)["tags"]] == ["coop"]

        await ws.send(orjson.dumps({"type": "unsubscribe", "stream": "hashtag", "tag": "coop"}))
        await ws.send(orjson.dumps({"type": "subscribe", "stream": "public"}).decode())
        await _sync(ws)
        later = await publish.publish_note(services, bob.actor, Draft("More #coop news"))
        after = await publish.publish_note(services, bob.actor, Draft("Nothing to tag"))
        # One message per post, on the public stream only: the hashtag one is gone.
        for expected in (later, after):
            message = await _receive(ws)
            assert message["stream"] == ["public"]
            assert _payload(message)["id"] == str(expected.id)


async def test_events_from_another_process_arrive(
    instance: rig.Instance, http: httpx.AsyncClient, cluster: rig.Cluster
) -> None:
    """A second pool publishes (as ``shoal worker`` would), and a bare connection sends a
    NOTIFY of its own: both reach the client, so nothing relies on in-process calls."""
    services = instance.services
    alice = await api.member(services, http, "alice")
    bob = await api.member(services, http, "bob")
    await social.follow(services, alice.actor, bob.actor)
    other = await runtime.start(instance.settings.replace(workers=False), migrate_schema=False)
    try:
        async with _socket(instance, "stream=user", additional_headers=alice.headers) as ws:
            posted = await publish.publish_note(other, bob.actor, Draft("From the worker"))
            assert _payload(await _receive(ws))["id"] == str(posted.id)

            con = await asyncpg.connect(instance.settings.database_url)
            try:
                event = {"event": "delete", "status_id": posted.id, "actor_id": bob.actor.id}
                await con.execute("SELECT pg_notify($1, $2)", CHANNEL, orjson.dumps(event).decode())
            finally:
                await con.close()
            assert (await _receive(ws))["payload"] == str(posted.id)
    finally:
        await runtime.stop(other)


async def test_user_stream_refused_without_a_valid_token(
    instance: rig.Instance, http: httpx.AsyncClient
) -> None:
    for query, headers in (
        ("stream=user", {}),
        ("stream=user", {"Authorization": "Bearer not-a-token"}),
        ("stream=public", {"Authorization": "Bearer not-a-token"}),
        ("stream=user:notification&access_token=nope", {}),
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with _socket(instance, query, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401, query
    response = await http.get("/api/v1/streaming/user")
    assert response.status_code == 401


async def test_token_in_query_or_as_subprotocol(
    instance: rig.Instance, http: httpx.AsyncClient
) -> None:
    services = instance.services
    alice = await api.member(services, http, "alice")
    token = alice.headers["Authorization"].removeprefix("Bearer ")
    async with _socket(instance, "stream=user", subprotocols=[Subprotocol(token)]) as ws:
        assert ws.subprotocol == token  # browsers drop the connection without the echo
        own = await publish.publish_note(services, alice.actor, Draft("hello"))
        assert _payload(await _receive(ws))["id"] == str(own.id)
    async with _socket(instance, f"stream=user&access_token={token}") as ws:
        await _sync(ws)


async def test_scopes_and_unknown_streams_are_reported_on_the_socket(
    instance: rig.Instance, http: httpx.AsyncClient
) -> None:
    services = instance.services
    writer = await api.member(services, http, "writer", scopes="write")
    async with _socket(instance, "stream=nonsense") as ws:
        assert await _receive(ws) == {"error": "Unknown stream type", "status": 400}
        await ws.send(orjson.dumps({"type": "subscribe", "stream": "user"}).decode())
        assert await _receive(ws) == {"error": "Missing access token", "status": 401}
    async with _socket(instance, "stream=user", additional_headers=writer.headers) as ws:
        expected = {"error": "Access token does not cover required scopes", "status": 401}
        assert await _receive(ws) == expected


async def test_server_sent_events(instance: rig.Instance, http: httpx.AsyncClient) -> None:
    services = instance.services
    bob = await api.member(services, http, "bob")
    async with http.stream("GET", "/api/v1/streaming/public/local") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        assert await asyncio.wait_for(anext(lines), WAIT) == ":)"
        posted = await publish.publish_note(services, bob.actor, Draft("By the event stream"))
        assert await asyncio.wait_for(anext(lines), WAIT) == "event: update"
        data = await asyncio.wait_for(anext(lines), WAIT)
        assert orjson.loads(data.removeprefix("data: "))["id"] == str(posted.id)
    missing = await http.get("/api/v1/streaming/hashtag")
    assert missing.status_code == 400
    assert missing.json() == {"error": "No tag for stream provided"}
    unknown = await http.get("/api/v1/streaming/nonsense")
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "Unknown channel requested"}


async def test_a_client_that_falls_behind_is_dropped() -> None:
    subscriber = Subscriber(None, limit=2)
    for n in range(2):
        subscriber.offer(Message(("public",), "update", str(n)))
    assert subscriber.closed is None
    subscriber.offer(Message(("public",), "update", "one too many"))
    assert subscriber.closed == "slow"
    with pytest.raises(Closed):
        await subscriber.next()
    await asyncio.wait_for(subscriber.wait_closed(), WAIT)


async def test_stopping_the_server_closes_sockets_cleanly(cluster: rig.Cluster) -> None:
    async with rig.running_instance(cluster, workers=False) as running:
        ws = await connect(_url(running, "stream=public"), open_timeout=WAIT)
        await _sync(ws)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
    assert running.services.streaming is None  # the hub was shut down with the app


async def test_the_listen_connection_comes_back(
    instance: rig.Instance, http: httpx.AsyncClient
) -> None:
    services = instance.services
    bob = await api.member(services, http, "bob")
    backends = """SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                  AND application_name = $1 AND query LIKE 'LISTEN%'"""
    admin = await asyncpg.connect(instance.settings.database_url)
    try:
        async with _socket(instance, "stream=public") as ws:
            (before,) = [r["pid"] for r in await admin.fetch(backends, APPLICATION_NAME)]
            await admin.execute("SELECT pg_terminate_backend($1)", before)

            async def listening_again() -> bool:
                pids = [r["pid"] for r in await admin.fetch(backends, APPLICATION_NAME)]
                return bool(pids) and before not in pids

            await rig.wait_for(listening_again, timeout=WAIT, what="LISTEN again")
            posted = await publish.publish_note(services, bob.actor, Draft("Still here"))
            assert _payload(await _receive(ws))["id"] == str(posted.id)
    finally:
        await admin.close()
