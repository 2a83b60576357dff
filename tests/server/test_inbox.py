"""Inbox endpoints: signed POSTs from a fake peer on loopback, against the real app.

The peer serves its actors over http://127.0.0.1:PORT (Shoal in dev mode may fetch
from loopback); requests are signed with ``sign_request`` as Mastodon signs them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from core import inbound
from core.inbound import InboxVerifier
from core.services import Services
from core.settings import Settings
from federation.keys import generate_rsa_keypair, load_private_key
from federation.signatures import sign_request
from storage import actors, inbox
from tests import rig
from tests.core.test_remote import FakePeer, serve_peer

AP_JSON = "application/activity+json"
HOST = "localhost:8000"


@pytest.fixture(scope="module")
def keypairs() -> list[tuple[str, str]]:
    return [generate_rsa_keypair() for _ in range(3)]


@pytest.fixture
async def peer() -> AsyncIterator[FakePeer]:
    async with serve_peer() as served:
        yield served


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    # No workers: what the inbox queued stays queued for the test to look at.
    async with rig.app_client(settings.replace(workers=False)) as pair:
        yield pair


@pytest.fixture
def client(app: tuple[Starlette, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app[1]


@pytest.fixture
def services(app: tuple[Starlette, httpx.AsyncClient]) -> Services:
    services: Services = app[0].state.services
    return services


def follow(peer: FakePeer, name: str = "alice", n: int = 1, **extra: Any) -> dict[str, Any]:
    actor = peer.url(f"/users/{name}")
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}#follows/{n}",
        "type": "Follow",
        "actor": actor,
        "object": f"http://{HOST}/users/collective",
        **extra,
    }


def signed(
    body: bytes,
    private_pem: str,
    key_id: str,
    *,
    path: str = "/inbox",
    now: datetime | None = None,
) -> dict[str, str]:
    return sign_request(
        "POST",
        f"http://{HOST}{path}",
        key_id=key_id,
        private_key=load_private_key(private_pem),
        body=body,
        headers={"Content-Type": AP_JSON},
        now=now,
    )


async def post(
    client: httpx.AsyncClient,
    activity: Any,
    private_pem: str,
    key_id: str,
    *,
    path: str = "/inbox",
    now: datetime | None = None,
) -> httpx.Response:
    body = orjson.dumps(activity)
    headers = signed(body, private_pem, key_id, path=path, now=now)
    return await client.post(path, content=body, headers=headers)


async def queued(services: Services) -> int:
    async with services.pool.acquire() as con:
        return (await inbox.counts(con))["queued"]


# --- accepted -------------------------------------------------------------------------


async def test_a_signed_activity_is_queued_once(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    private, public = keypairs[0]
    peer.actor("alice", public)
    key_id = peer.url("/users/alice#main-key")
    activity = follow(peer)

    response = await post(client, activity, private, key_id)
    assert response.status_code == 202, response.text
    async with services.pool.acquire() as con:
        item = await inbox.get_by_uri(con, activity["id"])
    assert item is not None
    assert (item.state, item.type, item.actor_uri) == ("queued", "Follow", activity["actor"])
    assert item.payload == activity

    # The same activity again (a retried delivery): accepted, not queued twice.
    assert (await post(client, activity, private, key_id)).status_code == 202
    assert await queued(services) == 1
    assert peer.hits["/users/alice"] == 1  # the key came from the cache


@pytest.mark.parametrize("path", ["/users/collective/inbox", "/actor/inbox", "/inbox?x=1&y=2"])
async def test_every_inbox_accepts_signed_posts(
    client: httpx.AsyncClient,
    services: Services,
    peer: FakePeer,
    keypairs: list[tuple[str, str]],
    path: str,
) -> None:
    private, public = keypairs[0]
    peer.actor("alice", public)
    response = await post(
        client, follow(peer), private, peer.url("/users/alice#main-key"), path=path
    )
    assert response.status_code == 202, response.text
    assert await queued(services) == 1


async def test_a_members_inbox_is_looked_up_once_not_on_every_post(
    client: httpx.AsyncClient,
    services: Services,
    peer: FakePeer,
    keypairs: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private, public = keypairs[0]
    peer.actor("alice", public)
    key_id = peer.url("/users/alice#main-key")
    looked_up: list[str] = []
    real = actors.get_local

    async def counting(con: Any, username: str) -> Any:
        if username in ("collective", "Collective", "nobody"):  # not the instance actor
            looked_up.append(username)
        return await real(con, username)

    monkeypatch.setattr(actors, "get_local", counting)
    for n, path in enumerate(["/users/collective/inbox", "/users/Collective/inbox"] * 2):
        response = await post(client, follow(peer, n=n), private, key_id, path=path)
        assert response.status_code == 202, response.text
    assert looked_up == ["collective"]
    # An unknown member is looked up every time (and never remembered).
    for _ in range(2):
        response = await client.post("/users/nobody/inbox", content=b"{}")
        assert (response.status_code, response.json()) == (404, {"error": "no such inbox"})
    assert looked_up == ["collective", "nobody", "nobody"]
    # After a minute the member is looked up again.
    monkeypatch.setattr(inbound, "INBOX_KNOWN_FOR", 0.0)
    response = await post(
        client, follow(peer, n=9), private, key_id, path="/users/collective/inbox"
    )
    assert response.status_code == 202, response.text
    assert looked_up[-1] == "collective" and len(looked_up) == 4
    assert await queued(services) == 5


async def test_first_deliveries_arriving_together_are_all_accepted(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    # A new peer's first activities (a Follow of a member and of the collective, say)
    # come in parallel while its key is still being fetched.
    private, public = keypairs[0]
    peer.actor("alice", public)
    peer.delay = 0.2
    key_id = peer.url("/users/alice#main-key")
    responses = await asyncio.gather(
        *(post(client, follow(peer, n=n), private, key_id) for n in range(4))
    )
    assert [r.status_code for r in responses] == [202] * 4
    assert peer.hits["/users/alice"] == 1
    assert await queued(services) == 4


async def test_requests_verified_in_one_pass_are_each_answered_on_their_own(
    client: httpx.AsyncClient,
    services: Services,
    peer: FakePeer,
    keypairs: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (private, public), (forger, _) = keypairs[0], keypairs[1]
    peer.actor("alice", public)
    key_id = peer.url("/users/alice#main-key")
    assert (await post(client, follow(peer, n=0), private, key_id)).status_code == 202
    services.key_refetches[key_id] -= 600  # a refetch is allowed: the forgery costs one

    passes: list[int] = []
    real_pass = InboxVerifier._verify_pending

    def counted(self: InboxVerifier) -> None:
        passes.append(len(self._pending))
        real_pass(self)

    monkeypatch.setattr(InboxVerifier, "_verify_pending", counted)
    verifies: list[bool] = []
    real_verifies = inbound._verifies

    def counted_verifies(*args: Any) -> bool:
        verifies.append(real_verifies(*args))
        return verifies[-1]

    monkeypatch.setattr(inbound, "_verifies", counted_verifies)

    def request(n: int, *, key: str = private, body: bytes | None = None) -> dict[str, Any]:
        raw = orjson.dumps(follow(peer, n=n))
        return {"content": raw if body is None else body, "headers": signed(raw, key, key_id)}

    requests = {  # made before any is sent, so that they arrive together
        "good 1": (request(1), 202),
        "replay": (request(0), 202),
        "tampered": (request(2, body=orjson.dumps(follow(peer, n=99))), 401),
        "forged": (request(3, key=forger), 401),
        "not JSON": ({"content": b"{", "headers": {"Content-Type": AP_JSON}}, 400),
        "good 2": (request(4), 202),
    }
    responses = await asyncio.gather(
        *(client.post("/inbox", **kwargs) for kwargs, _ in requests.values())
    )
    assert {name: r.status_code for name, r in zip(requests, responses, strict=True)} == {
        name: status for name, (_, status) in requests.items()
    }
    assert max(passes) > 1  # they did share a pass
    assert await queued(services) == 3  # n=0, 1 and 4
    assert peer.hits["/users/alice"] == 2  # the forgery's refetch, and no other
    # Three good ones once each; the forgery with the cached key, then the refetched one.
    assert verifies.count(True) == 3 and verifies.count(False) == 2


async def test_an_instance_actor_may_sign_for_users_of_its_own_server(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    private, public = keypairs[0]
    peer.actor("relay", public, type="Application")
    activity = follow(peer, "bob")
    response = await post(client, activity, private, peer.url("/users/relay#main-key"))
    assert response.status_code == 202, response.text
    assert await queued(services) == 1


async def test_a_valid_request_makes_its_server_available_again(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    private, public = keypairs[0]
    peer.actor("alice", public)
    key_id = peer.url("/users/alice#main-key")
    assert (await post(client, follow(peer, n=1), private, key_id)).status_code == 202
    async with services.pool.acquire() as con:
        await con.execute(
            "UPDATE domains SET unavailable = true, failure_days = ARRAY[current_date]"
            " WHERE domain = $1",
            peer.domain,
        )
    assert (await post(client, follow(peer, n=2), private, key_id)).status_code == 202
    async with services.pool.acquire() as con:
        row = await con.fetchrow("SELECT * FROM domains WHERE domain = $1", peer.domain)
    assert row is not None and row["unavailable"] is False and row["failure_days"] == []


# --- refused --------------------------------------------------------------------------


async def test_unsigned_tampered_and_stale_requests_are_refused(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    private, public = keypairs[0]
    peer.actor("alice", public)
    key_id = peer.url("/users/alice#main-key")
    body = orjson.dumps(follow(peer))

    response = await client.post("/inbox", content=body, headers={"Content-Type": AP_JSON})
    assert (response.status_code, response.json()) == (401, {"error": "missing Signature header"})

    headers = signed(body, private, key_id)
    tampered = body.replace(b"Follow", b"Block")
    response = await client.post("/inbox", content=tampered, headers=headers)
    assert (response.status_code, response.json()) == (401, {"error": "Digest does not match body"})

    stale = signed(body, private, key_id, now=datetime.now(UTC) - timedelta(hours=2))
    response = await client.post("/inbox", content=body, headers=stale)
    assert (response.status_code, response.json()) == (401, {"error": "Date is too far from now"})

    # Signed for another path: the request target does not match.
    wrong = signed(body, private, key_id, path="/actor/inbox")
    response = await client.post("/inbox", content=body, headers=wrong)
    assert (response.status_code, response.json()) == (401, {"error": "signature does not verify"})

    assert await queued(services) == 0


async def test_a_signer_from_another_server_is_refused(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    private, public = keypairs[0]
    peer.actor("alice", public)
    async with serve_peer() as other:
        activity = follow(other, "bob")  # bob lives on another server (another port)
        response = await post(client, activity, private, peer.url("/users/alice#main-key"))
    assert response.status_code == 401
    assert response.json() == {"error": "signer is not the activity's actor"}
    assert await queued(services) == 0


async def test_an_unfetchable_key_is_refused(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    private, _ = keypairs[0]
    response = await post(client, follow(peer), private, peer.url("/users/alice#main-key"))
    assert response.status_code == 401
    assert response.json() == {"error": "could not fetch the signing key"}
    assert peer.hits["/users/alice"] == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b'[{"id": "x"}]', "document must be a JSON object"),
        (b'{"type": "Follow", "actor": "https://a.example/u"}', "activity has no id"),
        (b'{"id": "https://a.example/1", "actor": "https://a.example/u"}', "activity has no type"),
        (b'{"id": "https://a.example/1", "type": "Follow"}', "activity has no actor"),
        (
            b'{"id": "https://b.example/1", "type": "Follow", "actor": "https://a.example/u"}',
            "activity id is not on its actor's server",
        ),
        (
            b'{"id": "https://a.example/1", "type": "Note", "actor": "https://a.example/u",'
            b' "content": "a \\\\\\u0000 b"}',  # an escaped backslash, then the NUL escape
            "activity contains a U+0000 character",
        ),
    ],
)
async def test_malformed_activities_are_400(
    client: httpx.AsyncClient, services: Services, body: bytes, reason: str
) -> None:
    response = await client.post("/inbox", content=body, headers={"Content-Type": AP_JSON})
    assert (response.status_code, response.json()) == (400, {"error": reason})
    assert await queued(services) == 0


async def test_text_that_only_looks_like_a_nul_escape_is_not_refused(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"id": "https://a.example/1", "type": "Note", "actor": "https://a.example/u",'
    body += b' "content": "\\\\u0000 is how JSON escapes NUL"}'
    response = await client.post("/inbox", content=body, headers={"Content-Type": AP_JSON})
    # Past the JSON checks: refused only because it is not signed.
    assert (response.status_code, response.json()) == (401, {"error": "missing Signature header"})


async def test_bodies_over_one_mebibyte_are_413(client: httpx.AsyncClient) -> None:
    big = b"[" + b" " * (1024 * 1024) + b"]"
    response = await client.post("/inbox", content=big, headers={"Content-Type": AP_JSON})
    assert (response.status_code, response.json()) == (413, {"error": "payload too large"})

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: caught while reading
        for _ in range(20):
            yield b" " * 65536

    response = await client.post("/inbox", content=chunks(), headers={"Content-Type": AP_JSON})
    assert (response.status_code, response.json()) == (413, {"error": "payload too large"})


async def test_unknown_inboxes_are_404_and_get_is_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/nobody/inbox", content=b"{}")
    assert (response.status_code, response.json()) == (404, {"error": "no such inbox"})
    assert (await client.get("/inbox")).status_code == 405


async def test_garbage_never_causes_a_server_error(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    body = orjson.dumps(
        {"id": "http://127.0.0.1:9/a", "type": "Follow", "actor": "http://127.0.0.1:9/u"}
    )
    attempts: list[dict[str, str]] = [
        {"Signature": "garbage"},
        {"Signature": 'keyId="x",signature="%%%"'},
        {
            "Signature": 'keyId="not a url",headers="(request-target) host date digest",'
            'signature="AAAA"',
            "Date": "yesterday",
            "Digest": "SHA-256=!!",
        },
        {"Signature-Input": 'sig=("@method");keyid="x"', "Signature": "sig=:AAAA:"},
        {"Authorization": "Signature nonsense"},
        {"Content-Length": "abc"},
    ]
    with caplog.at_level(logging.WARNING):
        for headers in attempts:
            response = await client.post("/inbox", content=body, headers=headers)
            assert 400 <= response.status_code < 500, (headers, response.text)
            assert "error" in response.json()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await queued(services) == 0


# --- keys that change -----------------------------------------------------------------


async def test_a_rotated_key_is_refetched_once(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    (old_private, old_public), (new_private, new_public) = keypairs[0], keypairs[1]
    peer.actor("alice", old_public)
    key_id = peer.url("/users/alice#main-key")
    assert (await post(client, follow(peer, n=1), old_private, key_id)).status_code == 202
    services.key_refetches[key_id] -= 600  # the first fetch was a while ago

    peer.actor("alice", new_public)  # same key id, new key: Mastodon's key rotation
    response = await post(client, follow(peer, n=2), new_private, key_id)
    assert response.status_code == 202, response.text
    assert peer.hits["/users/alice"] == 2
    assert await queued(services) == 2


async def test_key_refetches_are_throttled(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    (old_private, old_public), (new_private, new_public) = keypairs[0], keypairs[1]
    peer.actor("alice", old_public)
    key_id = peer.url("/users/alice#main-key")
    assert (await post(client, follow(peer, n=1), old_private, key_id)).status_code == 202

    peer.actor("alice", new_public)
    for n in (2, 3):  # within five minutes of the first fetch: no new fetch
        response = await post(client, follow(peer, n=n), new_private, key_id)
        assert (response.status_code, response.json()) == (
            401,
            {"error": "signature does not verify"},
        )
    assert peer.hits["/users/alice"] == 1

    services.key_refetches[key_id] -= 301
    assert (await post(client, follow(peer, n=4), new_private, key_id)).status_code == 202
    assert peer.hits["/users/alice"] == 2
    assert await queued(services) == 2


# --- Delete of actors that are gone ---------------------------------------------------


def delete_self(peer: FakePeer, name: str) -> dict[str, Any]:
    actor = peer.url(f"/users/{name}")
    return {"id": f"{actor}#delete", "type": "Delete", "actor": actor, "object": actor}


async def test_delete_of_an_unknown_gone_actor_is_accepted_and_ignored(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    peer.documents["/users/ghost"] = (410, {"type": "Tombstone"})
    response = await post(
        client, delete_self(peer, "ghost"), keypairs[0][0], peer.url("/users/ghost#main-key")
    )
    assert response.status_code == 202
    assert await queued(services) == 0


async def test_delete_of_a_cached_actor_needs_its_cached_key(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    (private, public), (forger, _) = keypairs[0], keypairs[1]
    peer.actor("alice", public)
    key_id = peer.url("/users/alice#main-key")
    assert (await post(client, follow(peer), private, key_id)).status_code == 202
    peer.documents["/users/alice"] = (410, {"type": "Tombstone"})
    services.key_refetches[key_id] -= 600

    # Signed with some other key: cannot be verified any more, so dropped (202, not queued).
    forged = await post(client, delete_self(peer, "alice"), forger, key_id)
    assert forged.status_code == 202
    assert await queued(services) == 1

    # Signed with the key we have: queued for the worker to delete the account.
    real = await post(client, delete_self(peer, "alice"), private, key_id)
    assert real.status_code == 202
    assert await queued(services) == 2


# --- over a real socket ---------------------------------------------------------------


async def test_a_real_server_accepts_signed_posts_and_refuses_big_ones(
    cluster: rig.Cluster, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    private, public = keypairs[0]
    peer.actor("alice", public)
    async with rig.running_instance(cluster, workers=False) as instance:
        url = f"{instance.base_url}/users/collective/inbox"
        activity = {**follow(peer), "object": f"{instance.base_url}/users/collective"}
        body = orjson.dumps(activity)
        headers = sign_request(
            "POST",
            url,
            key_id=peer.url("/users/alice#main-key"),
            private_key=load_private_key(private),
            body=body,
            headers={"Content-Type": AP_JSON},
        )
        async with instance.client() as http:
            response = await http.post(url, content=body, headers=headers)
            assert response.status_code == 202, response.text
            big = await http.post(url, content=b" " * (2 * 1024 * 1024), headers=headers)
            assert (big.status_code, big.json()) == (413, {"error": "payload too large"})
        assert await queued(instance.services) == 1
