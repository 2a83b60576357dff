"""The delivery worker against real loopback inboxes that check every signature."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from aiohttp import web

from core import accounts, delivery
from core.services import Services
from core.urls import Urls
from federation import keys
from federation.client import ClientConfig, HttpClient
from federation.signatures import parse_request_signature, verify_signature
from storage import activities, deliveries, domains
from storage.actors import ActorRow
from storage.pool import create_pool
from tests import rig

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@dataclass
class Received:
    path: str
    activity_id: str
    at: float


@dataclass
class Inbox:
    """An inbox server on 127.0.0.1 that verifies signatures and answers as scripted."""

    public_keys: dict[str, str]
    # path -> answers to give in turn (status, headers); then 202.
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    port: int = 0
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        return sum(1 for r in self.received if r.path == path)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed = parse_request_signature(
                request.method,
                str(request.url),
                request.headers,
                body,
                now=datetime.now(UTC),
                max_skew=timedelta(minutes=5),
            )
            verify_signature(parsed, keys.load_public_key(self.public_keys[parsed.key_id]))
        except Exception as exc:
            self.refused.append(f"{request.path}: {exc!r}")
            return web.Response(status=401)
        self.received.append(Received(request.path, orjson.loads(body)["id"], time.monotonic()))
        if self.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), self.delay)
        answers = self.script.get(request.path)
        status, headers = answers.pop(0) if answers else (202, {})
        return web.Response(status=status, headers=headers)


@contextlib.asynccontextmanager
async def serve(inbox: Inbox, port: int = 0) -> AsyncIterator[Inbox]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", inbox.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    inbox.port = runner.addresses[0][1]
    try:
        yield inbox
    finally:
        inbox.closing.set()  # slow answers end now
        await runner.cleanup()


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    settings = rig.make_settings(
        database_url, workers=False, queue_lease=10.0, delivery_concurrency=8
    )
    pool = await create_pool(database_url)
    http = HttpClient(ClientConfig(user_agent="shoal-test", allow_private=True))
    await http.start()
    try:
        yield Services(settings=settings, pool=pool, urls=Urls(settings.base_url), http=http)
    finally:
        await http.close()
        await pool.close()


@contextlib.asynccontextmanager
async def worker(services: Services) -> AsyncIterator[asyncio.Task[None]]:
    services.stopping.clear()
    task = asyncio.create_task(delivery.run_worker(services))
    try:
        yield task
    finally:
        services.stopping.set()
        await asyncio.wait_for(task, 10)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def make_sender(services: Services, username: str = "alice") -> ActorRow:
    async with services.pool.acquire() as con:
        return await accounts.create_local_actor(con, services.urls, username=username)


def keys_of(actor: ActorRow) -> dict[str, str]:
    assert actor.public_key_id is not None and actor.public_key_pem is not None
    return {actor.public_key_id: actor.public_key_pem}


async def publish(services: Services, actor: ActorRow, inboxes: list[str], n: int = 1) -> int:
    async with services.pool.acquire() as con:
        activity_id = await activities.next_id(con)
        uri = f"{actor.uri}/activities/{activity_id}/create"
        activity = {
            "id": uri,
            "type": "Create",
            "actor": actor.uri,
            "object": {"id": f"{actor.uri}/statuses/{n}", "type": "Note", "content": "hi"},
            "to": [PUBLIC],
        }
        row = await delivery.enqueue_activity(
            con, actor_id=actor.id, activity=activity, inboxes=inboxes, activity_id=activity_id
        )
    assert row.id == activity_id and row.object_uri == f"{actor.uri}/statuses/{n}"
    return row.id


async def rows(services: Services, activity_id: int) -> dict[str, deliveries.DeliveryRow]:
    async with services.pool.acquire() as con:
        return {r.inbox_uri: r for r in await deliveries.list_for_activity(con, activity_id)}


def arrived(inbox: Inbox, path: str | None, count: int = 1) -> Callable[[], Awaitable[bool]]:
    """``count`` requests reached ``path`` (any path when None)."""

    async def check() -> bool:
        return sum(1 for r in inbox.received if path in (None, r.path)) >= count

    return check


def settled(services: Services, activity_id: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with services.pool.acquire() as con:
            return await deliveries.pending_for_activity(con, activity_id) == 0

    return check


# --- the schedule ----------------------------------------------------------


class _Extreme(random.Random):
    def __init__(self, high: bool) -> None:
        super().__init__()
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def test_sixteen_attempts_span_more_than_two_days() -> None:
    waits = range(1, delivery.MAX_ATTEMPTS)  # 15 waits between 16 attempts
    for rng in (_Extreme(False), _Extreme(True), random.Random(7)):
        total = sum(delivery.backoff(a, scale=1.0, rng=rng) for a in waits)
        assert 2 * 86_400 < total < 3 * 86_400
    delays = [delivery.backoff(a, scale=1.0, rng=_Extreme(False)) for a in waits]
    assert delays == sorted(delays) and delays[0] >= 15
    assert delivery.backoff(3, scale=0.001, rng=_Extreme(True)) == pytest.approx(
        delivery.backoff(3, scale=1.0, rng=_Extreme(True)) / 1000
    )
    jittered = {round(delivery.backoff(2, scale=1.0), 3) for _ in range(20)}
    assert len(jittered) > 1 and all(31 <= d <= 31 + 90 for d in jittered)


# --- enqueueing ------------------------------------------------------------


async def test_enqueue_activity_is_one_transaction(services: Services) -> None:
    actor = await make_sender(services)
    activity = {"id": f"{actor.uri}/activities/1", "type": "Create", "object": "x"}

    class Abort(Exception):
        pass

    async with services.pool.acquire() as con:
        with pytest.raises(Abort):
            async with con.transaction():
                await delivery.enqueue_activity(
                    con, actor_id=actor.id, activity=activity, inboxes=["https://a.example/i"]
                )
                raise Abort
        assert await activities.get_by_uri(con, activity["id"]) is None
        assert await deliveries.counts(con) == {"queued": 0, "done": 0, "failed": 0}

        inboxes = ["https://a.example/i", "https://a.example/i", "not a url", "https://b.example/i"]
        row = await delivery.enqueue_activity(
            con, actor_id=actor.id, activity=activity, inboxes=inboxes
        )
        assert row.object_uri == "x"
        assert len(await deliveries.list_for_activity(con, row.id)) == 2


# --- sending ---------------------------------------------------------------


async def test_activity_reaches_every_inbox_signed(services: Services) -> None:
    actor = await make_sender(services)
    async with serve(Inbox(keys_of(actor))) as one, serve(Inbox(keys_of(actor))) as two:
        targets = [one.url("/inbox"), one.url("/users/x/inbox"), two.url("/inbox")]
        async with worker(services):
            activity_id = await publish(services, actor, targets)
            await eventually(settled(services, activity_id))
        assert not one.refused and not two.refused
        assert sorted(r.path for r in one.received) == ["/inbox", "/users/x/inbox"]
        assert [r.path for r in two.received] == ["/inbox"]
        found = await rows(services, activity_id)
        assert {(r.state, r.last_status, r.attempts) for r in found.values()} == {("done", 202, 1)}
        async with services.pool.acquire() as con:
            assert await domains.failure_days(con, f"127.0.0.1:{one.port}") == []


async def test_notify_wakes_the_worker_at_once(services: Services) -> None:
    actor = await make_sender(services)
    async with serve(Inbox(keys_of(actor))) as inbox, worker(services):
        await asyncio.sleep(0.3)  # idle, between polls
        for n in range(4):
            started = time.monotonic()
            await publish(services, actor, [inbox.url(f"/inbox/{n}")], n=n)
            await eventually(arrived(inbox, f"/inbox/{n}"), within=5)
            # Polling alone would take up to a second; the NOTIFY at commit is much faster.
            assert time.monotonic() - started < 0.5
            await asyncio.sleep(0.37)


async def test_listening_resumes_after_the_connection_drops(services: Services) -> None:
    actor = await make_sender(services)
    async with serve(Inbox(keys_of(actor))) as inbox, worker(services):
        await asyncio.sleep(0.3)
        async with services.pool.acquire() as con:
            killed = await con.fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                   WHERE datname = current_database() AND query LIKE 'LISTEN%'"""
            )
        assert killed == 1
        await asyncio.sleep(1.5)  # the worker notices on its next look at the queue
        async with services.pool.acquire() as con:
            listening = await con.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND query LIKE 'LISTEN%'"""
            )
        assert listening == 1
        started = time.monotonic()
        await publish(services, actor, [inbox.url("/inbox")])
        await eventually(arrived(inbox, "/inbox"), within=5)
        assert time.monotonic() - started < 0.5


async def test_server_error_is_retried_until_it_succeeds(services: Services) -> None:
    actor = await make_sender(services)
    inbox = Inbox(keys_of(actor), script={"/inbox": [(500, {}), (503, {})]})
    async with serve(inbox), worker(services):
        activity_id = await publish(services, actor, [inbox.url("/inbox")])
        await eventually(settled(services, activity_id))
    [row] = (await rows(services, activity_id)).values()
    assert (row.state, row.attempts, row.last_status) == ("done", 3, 202)
    assert inbox.count("/inbox") == 3


async def test_retry_after_is_honoured(services: Services) -> None:
    actor = await make_sender(services)
    # 1500 s at the test's retry scale of 0.001 is 1.5 s, far above the backoff (~0.02 s).
    inbox = Inbox(keys_of(actor), script={"/inbox": [(429, {"Retry-After": "1500"})]})
    async with serve(inbox), worker(services):
        activity_id = await publish(services, actor, [inbox.url("/inbox")])
        await eventually(settled(services, activity_id))
    first, second = inbox.received
    assert 1.45 <= second.at - first.at < 4.0
    [row] = (await rows(services, activity_id)).values()
    assert (row.state, row.attempts) == ("done", 2)


async def test_client_errors_are_final(services: Services) -> None:
    actor = await make_sender(services)
    inbox = Inbox(keys_of(actor), script={"/gone": [(410, {})], "/missing": [(404, {})]})
    async with serve(inbox), worker(services):
        activity_id = await publish(services, actor, [inbox.url("/gone"), inbox.url("/missing")])
        await eventually(settled(services, activity_id))
        await asyncio.sleep(0.3)  # time for a retry that must not happen
    found = await rows(services, activity_id)
    assert (found[inbox.url("/gone")].state, found[inbox.url("/gone")].last_status) == (
        "failed",
        410,
    )
    assert found[inbox.url("/missing")].last_status == 404
    assert {r.state for r in found.values()} == {"failed"}
    assert inbox.count("/gone") == inbox.count("/missing") == 1


async def test_refused_connection_is_retried(services: Services) -> None:
    # A slower schedule than the default test one: attempt 2 comes 0.2-0.8 s after the first.
    services.settings = services.settings.replace(retry_scale=0.01)
    actor = await make_sender(services)
    port = rig.free_port()  # nothing listens there yet
    target = f"http://127.0.0.1:{port}/inbox"
    async with worker(services):
        activity_id = await publish(services, actor, [target])

        async def tried_twice() -> bool:
            row = (await rows(services, activity_id))[target]
            return row.attempts >= 2 and row.state == "queued"

        await eventually(tried_twice, within=10)
        row = (await rows(services, activity_id))[target]
        assert row.last_error == "connection failed" and row.last_status is None
        async with services.pool.acquire() as con:
            assert await domains.failure_days(con, f"127.0.0.1:{port}") != []
        async with serve(Inbox(keys_of(actor)), port=port) as inbox:
            await eventually(settled(services, activity_id), within=20)
    assert inbox.count("/inbox") == 1
    assert (await rows(services, activity_id))[target].state == "done"
    async with services.pool.acquire() as con:
        assert await domains.failure_days(con, f"127.0.0.1:{port}") == []


async def test_unavailable_host_is_skipped_until_it_is_back(services: Services) -> None:
    actor = await make_sender(services)
    async with serve(Inbox(keys_of(actor))) as inbox, worker(services):
        host = f"127.0.0.1:{inbox.port}"
        async with services.pool.acquire() as con:
            for day in range(7):
                await domains.record_failure(con, host, date(2024, 1, 1) + timedelta(days=day))
        skipped = await publish(services, actor, [inbox.url("/inbox")], n=1)
        await eventually(settled(services, skipped))
        [row] = (await rows(services, skipped)).values()
        assert (row.state, row.last_error) == ("failed", delivery.HOST_UNAVAILABLE)
        assert inbox.received == []

        async with services.pool.acquire() as con:
            await domains.mark_available(con, host)  # what the inbox does on a signed request
        delivered = await publish(services, actor, [inbox.url("/inbox")], n=2)
        await eventually(settled(services, delivered))
    [row] = (await rows(services, delivered)).values()
    assert row.state == "done" and inbox.count("/inbox") == 1


async def test_stop_returns_promptly_and_leaves_the_row_for_later(services: Services) -> None:
    actor = await make_sender(services)
    inbox = Inbox(keys_of(actor), delay=30.0)
    async with serve(inbox):
        async with worker(services) as task:
            activity_id = await publish(services, actor, [inbox.url("/slow")])
            await eventually(arrived(inbox, "/slow"), within=5)
            stopped = time.monotonic()
            services.stopping.set()
            await asyncio.wait_for(task, 5)
            assert time.monotonic() - stopped < 3.0
        [row] = (await rows(services, activity_id)).values()
        # The request was cut off: the row stays leased and will be sent again.
        assert (row.state, row.attempts) == ("queued", 1)
        assert row.next_attempt_at > datetime.now(UTC)


async def test_one_slow_host_does_not_hold_up_the_others(services: Services) -> None:
    actor = await make_sender(services)
    slow = Inbox(keys_of(actor), delay=2.0)
    async with serve(slow), serve(Inbox(keys_of(actor))) as fast, worker(services):
        # More rows for the slow host than the worker has slots (8), listed first.
        targets = [slow.url(f"/inbox/{i}") for i in range(10)]
        targets += [fast.url(f"/inbox/{i}") for i in range(20)]
        started = time.monotonic()
        activity_id = await publish(services, actor, targets)
        await eventually(arrived(fast, None, 20), within=10)
        assert time.monotonic() - started < 1.8  # before the first slow answer
        assert len(slow.received) == 4  # its share: half the slots
        slow.closing.set()  # the slow host catches up
        await eventually(settled(services, activity_id), within=20)
    assert len(slow.received) == 10


async def test_a_wide_fan_out_reaches_everyone_once(services: Services) -> None:
    services.settings = services.settings.replace(delivery_concurrency=32)
    actor = await make_sender(services)
    async with serve(Inbox(keys_of(actor))) as a, serve(Inbox(keys_of(actor))) as b:
        targets = [x.url(f"/inbox/{i}") for i in range(200) for x in (a, b)]
        activity_id = await publish(services, actor, targets)
        async with worker(services):
            await eventually(settled(services, activity_id), within=30)
    assert sorted(r.path for r in a.received) == sorted(f"/inbox/{i}" for i in range(200))
    assert len(b.received) == 200 and not a.refused and not b.refused
    async with services.pool.acquire() as con:
        assert await deliveries.counts(con) == {"queued": 0, "done": 400, "failed": 0}
