"""Keys that verify inbox requests, kept in memory: never past a refetch of their owner,
a self-Delete, or ``KEY_CACHE_SECONDS``. And ``domain_of``'s fast path."""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pytest

from core import apply, inbox_worker, remote
from core.apply import Outcome
from core.remote import RemoteError
from core.services import Services
from federation.keys import load_public_key
from storage import inbox
from tests.core.test_remote import FakePeer


async def swap_stored_key(services: Services, uri: str, pem: str) -> None:
    """Change the row behind the cache's back (as another process's refetch would)."""
    async with services.pool.acquire() as con:
        await con.execute("UPDATE actors SET public_key_pem = $2 WHERE uri = $1", uri, pem)


async def test_a_key_is_served_from_memory_until_its_owner_is_stored_again(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    (_, old), (_, new) = keypairs[:2]
    peer.actor("alice", old)
    uri, key_id = peer.url("/users/alice"), peer.url("/users/alice#main-key")
    owner, key = await remote.key_for(services, key_id)
    assert owner.uri == uri and key == load_public_key(old)

    await swap_stored_key(services, uri, new)
    _, key = await remote.key_for(services, key_id)
    assert key == load_public_key(old)  # no row read: from memory

    # A refetch of the owner in this process (an Update, a rotated key) drops it at once.
    peer.actor("alice", new)
    await remote.fetch_actor(services, uri, refresh=True)
    _, key = await remote.key_for(services, key_id)
    assert key == load_public_key(new)
    assert peer.hits["/users/alice"] == 2


async def test_a_cached_key_is_read_again_after_key_cache_seconds(
    services: Services,
    peer: FakePeer,
    keypairs: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (_, old), (_, new) = keypairs[:2]
    peer.actor("bob", old)
    uri, key_id = peer.url("/users/bob"), peer.url("/users/bob#main-key")
    monkeypatch.setattr(remote, "KEY_CACHE_SECONDS", 0.0)  # expired as soon as cached
    await remote.key_for(services, key_id)
    await swap_stored_key(services, uri, new)
    _, key = await remote.key_for(services, key_id)
    assert key == load_public_key(new)
    assert peer.hits["/users/bob"] == 1


async def test_a_row_read_before_a_refetch_is_not_cached(
    services: Services, peer: FakePeer, keypairs: list[tuple[str, str]]
) -> None:
    (_, old), (_, new) = keypairs[:2]
    peer.actor("carol", old)
    uri, key_id = peer.url("/users/carol"), peer.url("/users/carol#main-key")
    owner, key = await remote.key_for(services, key_id)
    cache = remote.key_cache(services)
    read_at = cache.generation
    cache.forget_owner(uri)  # a refetch finished while that row was being read
    cache.put(key_id, owner, key, generation=read_at)
    assert cache.get(key_id) is None

    await swap_stored_key(services, uri, new)
    _, key = await remote.key_for(services, key_id)
    assert key == load_public_key(new)


async def test_an_applied_self_delete_drops_the_actors_key(
    services: Services,
    peer: FakePeer,
    keypairs: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peer.actor("dave", keypairs[0][1])
    uri, key_id = peer.url("/users/dave"), peer.url("/users/dave#main-key")
    await remote.key_for(services, key_id)
    assert remote.key_cache(services).get(key_id) is not None

    async def applied(*_: object, **__: object) -> Outcome:
        return Outcome.DONE

    monkeypatch.setattr(apply, "apply_activity", applied)
    delete = {"id": f"{uri}#delete", "type": "Delete", "actor": uri, "object": uri}
    async with services.pool.acquire() as con:
        assert await inbox.record(con, delete["id"], uri, "Delete", delete)
    assert await inbox_worker.process_due(services) == 1
    assert remote.key_cache(services).get(key_id) is None


# --- domain_of ------------------------------------------------------------------------


def domain_by_urlsplit(uri: str) -> str | None:
    """What ``domain_of`` answered before its fast path (None for a RemoteError)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return host if port is None or port == default else f"{host}:{port}"


def domain_or_none(uri: str) -> str | None:
    try:
        return remote.domain_of(uri)
    except RemoteError:
        return None


@pytest.mark.parametrize(
    ("uri", "domain"),
    [
        ("https://Mastodon.Example/users/alice", "mastodon.example"),
        ("https://a.example:443/x", "a.example"),
        ("http://a.example:080/x", "a.example"),
        ("http://a.example:8080?q", "a.example:8080"),
        ("https://a.example:80#f", "a.example:80"),
        ("https://a.example:65536/x", None),
        ("https://a.example:/x", "a.example"),
        ("HTTPS://A.example/x", "a.example"),
        ("https://[::1]:8443/x", "[::1]:8443"),
        ("https://user@a.example/x", "a.example"),
        ("https://a.exa\tmple/x", "a.example"),  # urlsplit drops tabs
        ("https:///x", None),
    ],
)
def test_domain_of(uri: str, domain: str | None) -> None:
    assert domain_or_none(uri) == domain == domain_by_urlsplit(uri)


def test_domain_of_agrees_with_urlsplit_on_odd_urls() -> None:
    pieces = ["http", "https", "HTTP", ":", "//", "/", "0", "080", "443", "65536", "[", "]"]
    pieces += ["::1", "@", "?", "#", " ", "\t", "\n", "é", "\x00", "a", "B", "-", ".", "x.Ex"]
    rng = random.Random(7)
    for _ in range(20_000):
        uri = rng.choice(["http://", "https://", "HTTP://", ""]) + "".join(
            rng.choice(pieces) for _ in range(rng.randint(0, 7))
        )
        assert domain_or_none(uri) == domain_by_urlsplit(uri), repr(uri)
