"""The delivery queue, the activities it carries and the hosts it goes to, on a real database."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from federation import keys
from storage import activities, actors, deliveries, domains
from storage.actors import ActorRow
from storage.errors import AlreadyExists
from storage.pool import create_pool

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
BASE = "http://local.test"


async def make_actor(con: Any, username: str = "alice") -> ActorRow:
    private_pem, public_pem = await asyncio.to_thread(keys.generate_rsa_keypair)
    uri = f"{BASE}/users/{username}"
    return await actors.insert_local(
        con,
        uri=uri,
        type="Person",
        username=username,
        display_name=username,
        summary="",
        url=f"{BASE}/@{username}",
        inbox_uri=f"{uri}/inbox",
        shared_inbox_uri=f"{BASE}/inbox",
        outbox_uri=f"{uri}/outbox",
        followers_uri=f"{uri}/followers",
        following_uri=f"{uri}/following",
        featured_uri=f"{uri}/collections/featured",
        public_key_pem=public_pem,
        private_key_pem=private_pem,
    )


async def add_activity(
    con: Any, actor: ActorRow, *, type: str = "Create", to: Any = (PUBLIC,), n: int = 0
) -> activities.ActivityRow:
    activity_id = await activities.next_id(con)
    uri = f"{actor.uri}/activities/{activity_id}/{type.lower()}"
    payload: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": uri,
        "type": type,
        "actor": actor.uri,
        "object": f"{actor.uri}/statuses/{n}",
        "to": list(to) if isinstance(to, tuple) else to,
        "cc": [actor.followers_uri],
    }
    return await activities.insert(
        con,
        id=activity_id,
        uri=uri,
        actor_id=actor.id,
        type=type,
        object_uri=payload["object"],
        payload=payload,
    )


# --- activities ------------------------------------------------------------


async def test_activity_round_trips_and_uri_is_unique(con: asyncpg.Connection) -> None:
    actor = await make_actor(con)
    row = await add_activity(con, actor)
    assert await activities.get(con, row.id) == row
    assert await activities.get_by_uri(con, row.uri) == row
    assert row.payload["id"] == row.uri
    with pytest.raises(AlreadyExists):
        await activities.insert(
            con, id=None, uri=row.uri, actor_id=actor.id, type="Create", object_uri=None, payload={}
        )


async def test_outbox_lists_only_public_creates_and_announces(con: asyncpg.Connection) -> None:
    actor = await make_actor(con)
    public = [await add_activity(con, actor, n=i) for i in range(5)]
    boost = await add_activity(con, actor, type="Announce", to=PUBLIC)  # a bare string
    await add_activity(con, actor, to=(actor.followers_uri,))  # followers only
    await add_activity(con, actor, type="Follow", to=PUBLIC)
    other = await make_actor(con, "bob")
    await add_activity(con, other)

    newest_first = [boost, *reversed(public)]
    assert await activities.count_public_by_actor(con, actor.id) == 6
    page = await activities.list_public_by_actor(con, actor.id, max_id=None, limit=4)
    assert [a.id for a in page] == [a.id for a in newest_first[:4]]
    rest = await activities.list_public_by_actor(con, actor.id, max_id=page[-1].id, limit=4)
    assert [a.id for a in rest] == [a.id for a in newest_first[4:]]


# --- enqueue ---------------------------------------------------------------


async def test_enqueue_dedupes_and_records_each_host(con: asyncpg.Connection) -> None:
    actor = await make_actor(con)
    activity = await add_activity(con, actor)
    inboxes = [
        "https://a.example/inbox",
        "https://a.example/inbox",
        "https://B.example:443/users/x/inbox",
        "http://c.example:8080/inbox",
        "https://[::1]:8443/inbox",
    ]
    assert await deliveries.enqueue(con, activity.id, inboxes) == 4
    assert await deliveries.enqueue(con, activity.id, inboxes[:2]) == 0  # already queued
    rows = await deliveries.list_for_activity(con, activity.id)
    assert sorted(r.domain for r in rows) == [
        "[::1]:8443",
        "a.example",
        "b.example",
        "c.example:8080",
    ]
    assert {r.state for r in rows} == {"queued"}
    assert await deliveries.pending_for_activity(con, activity.id) == 4
    with pytest.raises(ValueError):
        await deliveries.enqueue(con, activity.id, ["mailto:someone@example.org"])


async def test_enqueue_rolls_back_with_its_transaction(con: asyncpg.Connection) -> None:
    actor = await make_actor(con)

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with con.transaction():
            activity = await add_activity(con, actor)
            await deliveries.enqueue(con, activity.id, ["https://a.example/inbox"])
            raise Abort
    assert await activities.get(con, activity.id) is None
    assert await deliveries.counts(con) == {"queued": 0, "done": 0, "failed": 0}


# --- claiming --------------------------------------------------------------


async def test_concurrent_claims_never_share_a_row(database_url: str) -> None:
    pool = await create_pool(database_url, max_size=8)
    try:
        async with pool.acquire() as con:
            actor = await make_actor(con)
            activity = await add_activity(con, actor)
            inboxes = [f"https://h{i % 7}.example/inbox/{i}" for i in range(300)]
            await deliveries.enqueue(con, activity.id, inboxes)

        async def claimer() -> list[int]:
            got: list[int] = []
            while True:
                async with pool.acquire() as con:
                    jobs = await deliveries.claim_due(con, limit=7, lease_seconds=60)
                if not jobs:
                    return got
                got.extend(job.id for job in jobs)

        claimed = await asyncio.gather(*(claimer() for _ in range(6)))
        every = [job_id for ids in claimed for job_id in ids]
        assert len(every) == 300
        assert len(set(every)) == 300
        assert sum(1 for ids in claimed if ids) > 1  # they really did run side by side
    finally:
        await pool.close()


async def test_claim_leases_rows_and_carries_what_sending_needs(con: asyncpg.Connection) -> None:
    actor = await make_actor(con)
    activity = await add_activity(con, actor)
    await deliveries.enqueue(con, activity.id, ["https://a.example/inbox"])
    [job] = await deliveries.claim_due(con, limit=10, lease_seconds=30)
    assert job.attempt == 1
    assert job.key_id == actor.public_key_id
    assert job.private_key_pem == actor.private_key_pem
    assert orjson.loads(job.payload) == activity.payload
    assert not job.host_unavailable
    # Leased: nobody else gets it until the lease ends.
    assert await deliveries.claim_due(con, limit=10, lease_seconds=30) == []
    due_in = await deliveries.next_due_in(con)
    assert due_in is not None and 25 < due_in <= 30


async def test_expired_lease_is_claimed_again_and_stale_results_are_ignored(
    con: asyncpg.Connection,
) -> None:
    actor = await make_actor(con)
    activity = await add_activity(con, actor)
    await deliveries.enqueue(con, activity.id, ["https://a.example/inbox"])
    [first] = await deliveries.claim_due(con, limit=1, lease_seconds=0.05)
    await asyncio.sleep(0.1)  # the first worker "died": its lease ends
    [second] = await deliveries.claim_due(con, limit=1, lease_seconds=60)
    assert second.id == first.id and second.attempt == 2
    # The first worker wakes up late: its result must not land on the newer claim.
    assert await deliveries.mark_failed(con, first, status=400, error="late") is False
    assert await deliveries.mark_done(con, [second], status=202) == 1
    [row] = await deliveries.list_for_activity(con, activity.id)
    assert (row.state, row.last_status, row.attempts) == ("done", 202, 2)
    assert row.finished_at is not None
    assert await deliveries.mark_done(con, [second]) == 0  # done is final


async def test_retry_release_and_failure_are_recorded(con: asyncpg.Connection) -> None:
    actor = await make_actor(con)
    activity = await add_activity(con, actor)
    await deliveries.enqueue(
        con, activity.id, [f"https://{h}.example/inbox" for h in ("a", "b", "c")]
    )
    a, b, c = await deliveries.claim_due(con, limit=10, lease_seconds=60)
    applied = await deliveries.record(
        con,
        [
            deliveries.Outcome.retry(a, delay_seconds=3600, status=503, error="HTTP 503"),
            deliveries.Outcome.release(b),
            deliveries.Outcome.failed(c, status=410, error="HTTP 410"),
        ],
    )
    assert applied == 3
    rows = {r.id: r for r in await deliveries.list_for_activity(con, activity.id)}
    assert (rows[a.id].state, rows[a.id].last_status, rows[a.id].attempts) == ("queued", 503, 1)
    assert (rows[b.id].state, rows[b.id].attempts) == ("queued", 0)  # handed back untried
    assert (rows[c.id].state, rows[c.id].last_error) == ("failed", "HTTP 410")
    assert await deliveries.counts(con) == {"queued": 2, "done": 0, "failed": 1}
    # Only the released row is due now; the retried one waits an hour.
    [again] = await deliveries.claim_due(con, limit=10, lease_seconds=60)
    assert again.id == b.id and again.attempt == 1


async def test_notify_is_sent_at_commit(database_url: str, con: asyncpg.Connection) -> None:
    listener_con = await asyncpg.connect(database_url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener_con.add_listener(deliveries.CHANNEL, lambda *args: heard.put_nowait(args[2]))
    try:
        async with con.transaction():
            await deliveries.notify(con)
            await asyncio.sleep(0.1)
            assert heard.empty()
        assert await asyncio.wait_for(heard.get(), 5) == deliveries.CHANNEL
    finally:
        await listener_con.close()


# --- hosts -----------------------------------------------------------------


async def test_seven_distinct_failure_days_make_a_host_unavailable(
    con: asyncpg.Connection,
) -> None:
    start = date(2024, 3, 1)
    for i in range(6):
        assert await domains.record_failure(con, "down.example", start + timedelta(days=i)) is False
        # A second failure the same day counts once.
        assert await domains.record_failure(con, "down.example", start + timedelta(days=i)) is False
    assert len(await domains.failure_days(con, "down.example")) == 6
    assert not await domains.is_unavailable(con, "down.example")
    assert await domains.record_failure(con, "down.example", start + timedelta(days=9)) is True
    assert await domains.is_unavailable(con, "down.example")
    assert await domains.unavailable_domains(con) == ["down.example"]

    # Its deliveries are still queued, and come out marked so that the worker skips them.
    actor = await make_actor(con)
    activity = await add_activity(con, actor)
    await deliveries.enqueue(
        con, activity.id, ["https://down.example/inbox", "https://up.example/i"]
    )
    jobs = {j.domain: j for j in await deliveries.claim_due(con, limit=10, lease_seconds=60)}
    assert jobs["down.example"].host_unavailable and not jobs["up.example"].host_unavailable

    # A delivery that succeeds brings it back, and the count of days starts over.
    await domains.record_success(con, ["down.example"])
    assert not await domains.is_unavailable(con, "down.example")
    assert await domains.failure_days(con, "down.example") == []


async def test_a_signed_request_brings_a_host_back(con: asyncpg.Connection) -> None:
    for i in range(7):
        await domains.record_failure(con, "quiet.example", date(2024, 1, 1) + timedelta(days=i))
    assert await domains.is_unavailable(con, "quiet.example")
    await domains.mark_available(con, "quiet.example")
    assert not await domains.is_unavailable(con, "quiet.example")
    assert await domains.failure_days(con, "quiet.example") == []
    assert not await domains.is_unavailable(con, "never-seen.example")


async def test_failures_of_many_hosts_at_once(con: asyncpg.Connection) -> None:
    await domains.ensure(con, "b.example")
    day = date(2024, 5, 1)
    for i in range(6):
        await domains.record_failures(con, ["a.example", "b.example"], day + timedelta(days=i))
    down = await domains.record_failures(
        con, ["c.example", "b.example", "a.example", "a.example"], day + timedelta(days=6)
    )
    assert down == {"a.example", "b.example"}
    assert await domains.failure_days(con, "c.example") == [day + timedelta(days=6)]
