"""Remote actors and objects, fetched from a fake peer served by aiohttp on 127.0.0.1.

``FakePeer`` is also used by the inbox tests: it serves actor documents, key objects and
WebFinger answers, counts hits per path and keeps the headers of every request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web

from core import remote
from core.remote import RemoteError
from core.services import Services
from core.urls import INSTANCE_ACTOR_USERNAME
from federation.keys import load_public_key
from federation.signatures import parse_request_signature, verify_signature
from storage import actors

AP_JSON = "application/activity+json"


@dataclass
class FakePeer:
    """Another server: ``documents[path] = (status, json)``; ``hits[path]`` counts GETs."""

    base: str = ""
    documents: dict[str, tuple[int, Any]] = field(default_factory=dict)
    webfinger: dict[str, Any] = field(default_factory=dict)  # acct:… -> JRD
    hits: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0  # seconds before each answer: a slow server

    @property
    def domain(self) -> str:
        return self.base.removeprefix("http://")

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def actor(
        self, name: str, public_pem: str | None, /, *, type: str = "Person", **extra: Any
    ) -> dict[str, Any]:
        """Serve the actor ``name`` at /users/name, with its key at #main-key; return it."""
        uri = self.url(f"/users/{name}")
        document: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": uri,
            "type": type,
            "preferredUsername": name,
            "name": name.title(),
            "inbox": f"{uri}/inbox",
            "outbox": f"{uri}/outbox",
            "followers": f"{uri}/followers",
            "endpoints": {"sharedInbox": self.url("/inbox")},
        }
        if public_pem is not None:
            document["publicKey"] = {
                "id": f"{uri}#main-key",
                "owner": uri,
                "publicKeyPem": public_pem,
            }
        document.update(extra)
        self.documents[f"/users/{name}"] = (200, document)
        return document

    def app(self) -> web.Application:
        async def get(request: web.Request) -> web.StreamResponse:
            self.hits[request.path] += 1
            self.requests.append((request.path_qs, dict(request.headers)))
            await asyncio.sleep(self.delay)
            if request.path == "/.well-known/webfinger":
                jrd = self.webfinger.get(request.query.get("resource", ""))
                if jrd is None:
                    return web.json_response({"error": "not found"}, status=404)
                return web.Response(body=orjson.dumps(jrd), content_type="application/jrd+json")
            status, document = self.documents.get(request.path, (404, {"error": "not found"}))
            return web.Response(body=orjson.dumps(document), status=status, content_type=AP_JSON)

        app = web.Application()
        app.router.add_get("/{tail:.*}", get)
        return app


@contextlib.asynccontextmanager
async def serve_peer() -> AsyncIterator[FakePeer]:
    peer = FakePeer()
    runner = web.AppRunner(peer.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    peer.base = f"http://{host}:{port}"
    try:
        yield peer
    finally:
        await runner.cleanup()


async def age(services: Services, uri: str, by: timedelta) -> None:
    async with services.pool.acquire() as con:
        await con.execute(
            "UPDATE actors SET fetched_at = fetched_at - $2::interval WHERE uri = $1", uri, by
        )


# --- fetch_actor -----------------------------------------------------------------------


async def test_fetch_actor_stores_a_signed_fetch_and_then_uses_the_cache(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    _, public = keypairs[0]
    peer.actor(
        "alice",
        public,
        summary='<p>Hi <script>alert(1)</script><a href="javascript:x">x</a></p>',
        attachment=[{"type": "PropertyValue", "name": "Site", "value": "<b onclick=x>ok</b>"}],
        manuallyApprovesFollowers=True,
        published="2024-01-02T03:04:05Z",
    )
    uri = peer.url("/users/alice")

    row = await remote.fetch_actor(services, uri)

    assert (row.uri, row.local, row.type, row.username) == (uri, False, "Person", "alice")
    assert row.domain == peer.domain  # host:port
    assert row.acct == f"alice@{peer.domain}"
    assert row.display_name == "Alice"
    assert "script" not in row.summary and "javascript" not in row.summary
    assert row.fields == [{"name": "Site", "value": "<b>ok</b>"}]
    assert row.inbox_uri == f"{uri}/inbox" and row.shared_inbox_uri == peer.url("/inbox")
    assert row.public_key_id == f"{uri}#main-key" and row.public_key_pem == public
    assert row.manually_approves_followers is True
    assert row.published_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    # The GET was signed by our instance actor, as authorized-fetch peers require.
    path_qs, headers = peer.requests[-1]
    async with services.pool.acquire() as con:
        # The document as fetched is kept too (rows leave it out).
        assert await con.fetchval("SELECT raw ->> 'id' FROM actors WHERE id = $1", row.id) == uri
        me = await actors.get_local(con, INSTANCE_ACTOR_USERNAME)
    assert me is not None and me.public_key_pem is not None
    parsed = parse_request_signature(
        "GET", peer.url(path_qs), headers, None, now=datetime.now(UTC), max_skew=timedelta(60)
    )
    assert parsed.key_id == me.public_key_id
    verify_signature(parsed, load_public_key(me.public_key_pem))

    assert (await remote.fetch_actor(services, uri)).id == row.id
    assert peer.hits["/users/alice"] == 1
    await remote.fetch_actor(services, uri, refresh=True)
    assert peer.hits["/users/alice"] == 2


async def test_a_stale_actor_is_refetched_and_kept_when_its_server_fails(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    peer.actor("bob", keypairs[0][1])
    uri = peer.url("/users/bob")
    await remote.fetch_actor(services, uri)
    await age(services, uri, timedelta(days=2))
    peer.actor("bob", keypairs[0][1], name="Robert")

    assert (await remote.fetch_actor(services, uri)).display_name == "Robert"
    assert peer.hits["/users/bob"] == 2

    await age(services, uri, timedelta(days=2))
    peer.documents["/users/bob"] = (503, {"error": "down"})
    assert (await remote.fetch_actor(services, uri)).display_name == "Robert"
    with pytest.raises(RemoteError) as caught:
        await remote.fetch_actor(services, uri, refresh=True)
    assert caught.value.retryable


async def test_fetch_actor_refuses_a_document_from_another_origin(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    # Served by the peer, but claiming to be an actor on another server.
    forged = peer.actor("mallory", keypairs[0][1])
    forged["id"] = "http://127.0.0.2:9/users/mallory"
    with pytest.raises(RemoteError) as caught:
        await remote.fetch_actor(services, peer.url("/users/mallory"))
    assert caught.value.reason == "id origin mismatch"
    async with services.pool.acquire() as con:
        assert await actors.get_by_uri(con, "http://127.0.0.2:9/users/mallory") is None
        assert await actors.get_by_uri(con, peer.url("/users/mallory")) is None


async def test_fetch_actor_refuses_another_id_on_the_same_origin(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    peer.actor("carol", keypairs[0][1])
    peer.documents["/@carol"] = peer.documents["/users/carol"]
    with pytest.raises(RemoteError, match="does not match"):
        await remote.fetch_actor(services, peer.url("/@carol"))


async def test_fetch_actor_refuses_our_own_ids_and_gone_actors(
    services: Services, peer: FakePeer
) -> None:
    with pytest.raises(RemoteError, match="no such local actor"):
        await remote.fetch_actor(services, services.urls.actor("nobody"))
    collective = services.urls.actor(services.settings.collective_username)
    assert (await remote.fetch_actor(services, collective)).local

    peer.documents["/users/ghost"] = (410, {"type": "Tombstone"})
    with pytest.raises(RemoteError) as caught:
        await remote.fetch_actor(services, peer.url("/users/ghost"))
    assert caught.value.gone and not caught.value.retryable
    assert peer.hits["/users/ghost"] == 1

    peer.documents["/users/note"] = (200, {"id": peer.url("/users/note"), "type": "Note"})
    with pytest.raises(RemoteError, match="invalid actor"):
        await remote.fetch_actor(services, peer.url("/users/note"))


# --- key_for ---------------------------------------------------------------------------


async def test_key_for_fetches_an_unknown_key_once_then_uses_the_cache(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    peer.actor("dave", keypairs[0][1])
    key_id = peer.url("/users/dave#main-key")

    owner, key = await remote.key_for(services, key_id)
    assert owner.uri == peer.url("/users/dave")
    assert key == load_public_key(keypairs[0][1])
    await remote.key_for(services, key_id)
    assert peer.hits["/users/dave"] == 1

    # A forced refetch inside the window is refused without touching the network.
    with pytest.raises(RemoteError) as caught:
        await remote.key_for(services, key_id, refresh=True)
    assert caught.value.retryable
    assert peer.hits["/users/dave"] == 1

    services.key_refetches[key_id] -= remote.KEY_REFETCH_SECONDS
    await remote.key_for(services, key_id, refresh=True)
    assert peer.hits["/users/dave"] == 2


async def test_concurrent_requests_for_an_unknown_key_share_one_fetch(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    peer.actor("dan", keypairs[0][1])
    peer.delay = 0.3
    key_id = peer.url("/users/dan#main-key")
    found = await asyncio.gather(*(remote.key_for(services, key_id) for _ in range(5)))
    assert {owner.uri for owner, _ in found} == {peer.url("/users/dan")}
    assert peer.hits["/users/dan"] == 1

    # A fetch that fails is shared as well: everyone waiting gets the error, one GET.
    peer.documents["/users/dan2"] = (500, {})
    gone = peer.url("/users/dan2#main-key")
    results = await asyncio.gather(
        *(remote.key_for(services, gone) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RemoteError) for r in results)
    assert peer.hits["/users/dan2"] == 1


async def test_key_for_follows_a_key_object_to_its_owner(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    # GoToSocial-style: the key has a URL of its own and names its owner.
    owner_uri = peer.url("/users/erin")
    key_id = f"{owner_uri}/main-key"
    peer.actor(
        "erin",
        None,
        publicKey={"id": key_id, "owner": owner_uri, "publicKeyPem": keypairs[1][1]},
    )
    peer.documents["/users/erin/main-key"] = (
        200,
        {"id": key_id, "type": "Key", "owner": owner_uri, "publicKeyPem": keypairs[1][1]},
    )

    owner, key = await remote.key_for(services, key_id)
    assert owner.uri == owner_uri and owner.public_key_id == key_id
    assert key == load_public_key(keypairs[1][1])


async def test_key_for_refuses_a_key_its_owner_does_not_list(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    peer.actor("frank", keypairs[0][1])  # lists only #main-key
    peer.documents["/keys/1"] = (
        200,
        {"id": peer.url("/keys/1"), "owner": peer.url("/users/frank"), "publicKeyPem": "x"},
    )
    with pytest.raises(RemoteError, match="not listed"):
        await remote.key_for(services, peer.url("/keys/1"))


# --- resolve_acct and fetch_object -----------------------------------------------------


async def test_resolve_acct_through_webfinger(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    peer.actor("gina", keypairs[0][1])
    acct = f"gina@{peer.domain}"
    peer.webfinger[f"acct:{acct}"] = {
        "subject": f"acct:{acct}",
        "links": [{"rel": "self", "type": AP_JSON, "href": peer.url("/users/gina")}],
    }

    row = await remote.resolve_acct(services, acct)
    assert row.uri == peer.url("/users/gina") and row.acct == acct
    # Known and fresh: no second look-up.
    assert (await remote.resolve_acct(services, f"@{acct}")).id == row.id
    assert peer.hits["/.well-known/webfinger"] == 1

    with pytest.raises(RemoteError):
        await remote.resolve_acct(services, f"nobody@{peer.domain}")
    with pytest.raises(RemoteError):
        await remote.resolve_acct(services, "not an acct")


async def test_resolve_acct_of_a_local_account_reads_storage(services: Services) -> None:
    domain = services.settings.domain
    name = services.settings.collective_username
    row = await remote.resolve_acct(services, f"{name}@{domain}")
    assert row.local and row.username == name
    with pytest.raises(RemoteError, match="no such local account"):
        await remote.resolve_acct(services, f"nobody@{domain}")


async def test_fetch_object_returns_the_document_and_checks_its_origin(
    services: Services, peer: FakePeer
) -> None:
    note = {"id": peer.url("/notes/1"), "type": "Note", "content": "hi"}
    peer.documents["/notes/1"] = (200, note)
    assert await remote.fetch_object(services, peer.url("/notes/1")) == note

    peer.documents["/notes/2"] = (200, {**note, "id": "http://127.0.0.2:9/notes/2"})
    with pytest.raises(RemoteError, match="origin"):
        await remote.fetch_object(services, peer.url("/notes/2"))
    with pytest.raises(RemoteError, match="our own"):
        await remote.fetch_object(services, services.urls.status("x", 1))


def test_domain_of_keeps_explicit_ports_only() -> None:
    assert remote.domain_of("https://Example.org/users/a") == "example.org"
    assert remote.domain_of("https://example.org:443/users/a") == "example.org"
    assert remote.domain_of("http://127.0.0.1:8080/users/a") == "127.0.0.1:8080"
    assert remote.domain_of("http://[::1]:8080/a") == "[::1]:8080"
    with pytest.raises(RemoteError):
        remote.domain_of("not a url")
