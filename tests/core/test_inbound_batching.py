"""The inbox's group commit: concurrent requests share one INSERT and one commit, and
each is answered only once its activity is committed (or refused on its own)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette

from core import inbox_commit
from core.errors import BadRequest
from core.inbox_commit import InboxBatcher, Unavailable
from core.services import Services
from core.settings import Settings
from federation.keys import generate_rsa_keypair, load_private_key
from federation.signatures import sign_request
from storage import actors, domains, inbox
from storage.inbox import NewItem
from tests import rig
from tests.core.test_remote import FakePeer

PEER = "https://peer.example"


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The activity ids of every ``record_many`` call, in order."""
    calls: list[list[str]] = []
    real = inbox.record_many

    async def counting(con: Any, items: Sequence[NewItem], **kwargs: Any) -> list[bool]:
        calls.append([i.activity_uri for i in items])
        return await real(con, items, **kwargs)

    monkeypatch.setattr(inbox, "record_many", counting)
    return calls


def activity(n: int, **extra: Any) -> NewItem:
    uri = f"{PEER}/activities/{n}"
    payload = {"id": uri, "type": "Like", "actor": f"{PEER}/users/a", **extra}
    return NewItem(uri, f"{PEER}/users/a", "Like", payload)


async def stored(services: Services, uri: str) -> bool:
    async with services.pool.acquire() as con:
        return await inbox.get_by_uri(con, uri) is not None


async def test_concurrent_requests_share_commits_and_are_answered_after_them(
    services: Services, statements: list[list[str]], database_url: str
) -> None:
    batcher = InboxBatcher(services.pool, lambda: None)
    other, one_at_a_time = await asyncpg.connect(database_url), asyncio.Lock()

    async def request(n: int) -> bool:
        item = activity(n % 40)  # every id twice: replays in flight together
        recorded = await batcher.record(item, domain="peer.example", size=500)
        # Answered: visible to any other session from now on.
        async with one_at_a_time:
            found = await other.fetchval(
                "SELECT count(*) FROM inbox_items WHERE activity_uri = $1", item.activity_uri
            )
        assert found == 1
        return recorded

    try:
        results = await asyncio.gather(*(request(n) for n in range(80)))
    finally:
        await other.close()
    assert sum(results) == 40  # each id recorded once; its twin answered as a replay
    assert len(statements) < 80 / 4  # shared commits, not one each
    assert sorted(uri for batch in statements for uri in batch) == sorted(
        activity(n % 40).activity_uri for n in range(80)
    )
    assert max(len(batch) for batch in statements) <= 100


async def test_an_idle_batcher_writes_a_lone_request_at_once(
    services: Services, statements: list[list[str]]
) -> None:
    batcher = InboxBatcher(services.pool, lambda: None)
    for n in range(3):
        assert await asyncio.wait_for(batcher.record(activity(n), domain=None, size=1), 5)
    assert statements == [[activity(n).activity_uri] for n in range(3)]


async def test_an_activity_the_database_refuses_fails_alone(
    services: Services, statements: list[list[str]]
) -> None:
    batcher = InboxBatcher(services.pool, lambda: None)
    good, also_good = activity(1), activity(3)
    # PostgreSQL's text cannot hold U+0000 (the inbox refuses such activities earlier).
    bad = dataclasses.replace(activity(2), type="Li\u0000ke")
    results = await asyncio.gather(
        *(batcher.record(i, domain=None, size=1) for i in (good, bad, also_good)),
        return_exceptions=True,
    )
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], BadRequest)
    assert results[1].message == "the activity cannot be stored"
    assert statements[0] == [good.activity_uri, bad.activity_uri, also_good.activity_uri]
    assert await stored(services, good.activity_uri)
    assert await stored(services, also_good.activity_uri)
    assert not await stored(services, bad.activity_uri)


class CountingPool:
    """The real pool, counting acquisitions."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.acquired = pool, 0

    def acquire(self) -> Any:
        self.acquired += 1
        return self.pool.acquire()


class FirstCommitHeld:
    """Stands in for ``record_many``: the first call waits until ``go_on`` is set, then
    raises ``error`` if there is one; every call after it goes straight through."""

    def __init__(self, error: Exception | None = None) -> None:
        self.real, self.error, self.calls = inbox.record_many, error, 0
        self.entered, self.go_on = asyncio.Event(), asyncio.Event()

    async def __call__(self, con: Any, items: Sequence[NewItem], **kwargs: Any) -> list[bool]:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.go_on.wait()
            if self.error is not None:
                raise self.error
        return await self.real(con, items, **kwargs)


async def test_a_burst_is_written_batch_after_batch_on_one_connection(
    services: Services, statements: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_commit, "BATCH_MAX_ITEMS", 10)
    held = FirstCommitHeld()  # the rest of the burst arrives while the first commits
    monkeypatch.setattr(inbox, "record_many", held)
    pool = CountingPool(services.pool)
    batcher = InboxBatcher(pool, lambda: None)  # type: ignore[arg-type]
    first = asyncio.ensure_future(batcher.record(activity(0), domain=None, size=1))
    await held.entered.wait()
    rest = [
        asyncio.ensure_future(batcher.record(activity(n), domain=None, size=1))
        for n in range(1, 30)
    ]
    held.go_on.set()
    assert all(await asyncio.wait_for(asyncio.gather(first, *rest), 5))
    assert [len(batch) for batch in statements] == [1, 10, 10, 9]
    assert pool.acquired == 1


async def test_a_batch_that_fails_gives_its_connection_back_and_the_next_one_is_written(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = FirstCommitHeld(ConnectionResetError(104, "Connection reset by peer"))
    monkeypatch.setattr(inbox, "record_many", held)
    pool = CountingPool(services.pool)
    batcher = InboxBatcher(pool, lambda: None)  # type: ignore[arg-type]
    first = asyncio.ensure_future(batcher.record(activity(1), domain=None, size=1))
    await held.entered.wait()
    second = asyncio.ensure_future(batcher.record(activity(2), domain=None, size=1))
    await asyncio.sleep(0)
    held.go_on.set()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(first, 5)
    assert await asyncio.wait_for(second, 5) is True
    assert pool.acquired == 2  # the second batch did not reuse the failed connection
    assert await stored(services, activity(2).activity_uri)
    assert not await stored(services, activity(1).activity_uri)


async def test_the_worker_is_woken_in_process_by_new_items_only(services: Services) -> None:
    batcher = InboxBatcher(services.pool, services.inbox_queued.set)
    services.inbox_queued.clear()
    assert await batcher.record(activity(1), domain=None, size=1)
    assert services.inbox_queued.is_set()
    services.inbox_queued.clear()
    assert not await batcher.record(activity(1), domain=None, size=1)  # a replay
    assert not services.inbox_queued.is_set()


async def test_signers_hosts_are_marked_available(services: Services) -> None:
    async with services.pool.acquire() as con:
        for day in range(1, 9):
            await domains.record_failure(con, "peer.example", date(2026, 1, day))
        assert await domains.is_unavailable(con, "peer.example")
    batcher = InboxBatcher(services.pool, lambda: None)
    await asyncio.gather(
        batcher.record(activity(1), domain="peer.example", size=1),
        batcher.record(activity(2), domain=None, size=1),
    )
    async with services.pool.acquire() as con:
        assert not await domains.is_unavailable(con, "peer.example")


async def test_waiters_are_not_left_hanging_when_the_writer_is_cancelled(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, never = asyncio.Event(), asyncio.Event()

    async def stuck(con: Any, items: Sequence[NewItem], **_: Any) -> list[bool]:
        entered.set()
        await never.wait()
        raise AssertionError("not reached")

    monkeypatch.setattr(inbox, "record_many", stuck)
    batcher = InboxBatcher(services.pool, lambda: None)
    first = asyncio.ensure_future(batcher.record(activity(1), domain=None, size=1))
    await entered.wait()
    second = asyncio.ensure_future(batcher.record(activity(2), domain=None, size=1))
    await asyncio.sleep(0)
    writer = batcher._writer
    assert writer is not None
    writer.cancel()  # as the event loop does when it shuts down
    for waiting in (first, second):
        with pytest.raises(Unavailable, match="stopping"):
            await asyncio.wait_for(waiting, 5)


async def test_requests_waiting_for_an_unreachable_database_are_answered(
    services: Services,
) -> None:
    class Unreachable:
        """A pool whose every acquire fails, as asyncpg's does when PostgreSQL is down."""

        attempts = 0

        def acquire(self) -> Any:
            Unreachable.attempts += 1
            raise ConnectionRefusedError(111, "Connection refused")

    batcher = InboxBatcher(Unreachable(), lambda: None)  # type: ignore[arg-type]
    results = await asyncio.wait_for(
        asyncio.gather(
            *(batcher.record(activity(n), domain=None, size=1) for n in range(3)),
            return_exceptions=True,
        ),
        5,
    )
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert Unreachable.attempts == 1  # one failed attempt answers all who wait for it


# --- over HTTP --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    async with rig.app_client(settings.replace(workers=False)) as pair:
        yield pair


async def post(
    client: httpx.AsyncClient, peer: FakePeer, private_pem: str, n: int
) -> httpx.Response:
    actor = peer.url("/users/alice")
    body = orjson.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}#follows/{n}",
            "type": "Follow",
            "actor": actor,
            "object": "http://localhost:8000/users/collective",
        }
    )
    headers = sign_request(
        "POST",
        "http://localhost:8000/inbox",
        key_id=f"{actor}#main-key",
        private_key=load_private_key(private_pem),
        body=body,
        headers={"Content-Type": "application/activity+json"},
    )
    return await client.post("/inbox", content=body, headers=headers)


async def test_a_database_outage_is_a_503_to_retry_not_a_500(
    app: tuple[Starlette, httpx.AsyncClient],
    peer: FakePeer,
    keypair: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = app[1]
    private, public = keypair
    peer.actor("alice", public)
    assert (await post(client, peer, private, 1)).status_code == 202

    async def refused(*_: object, **__: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    # While queueing (the key is known), and while looking a key up.
    monkeypatch.setattr(inbox, "record_many", refused)
    monkeypatch.setattr(actors, "get_by_key_id", refused)
    with caplog.at_level(logging.WARNING):
        for n in (2, 3):
            response = await post(client, peer, private, n)
            assert response.status_code == 503
            assert response.json() == {"error": "the database is unavailable; try again later"}
            assert int(response.headers["retry-after"]) > 0
            app[0].state.services.key_cache = None  # the second one looks the key up
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
