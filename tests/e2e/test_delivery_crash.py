"""``kill -9`` a real ``shoal worker`` in the middle of a fan-out: nothing may be lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core import accounts, delivery
from core.urls import Urls
from storage import activities, deliveries
from storage.pool import Pool, create_pool
from tests import rig
from tests.core.test_delivery import Inbox, keys_of, serve

pytestmark = pytest.mark.e2e

SHOAL = rig.REPO / ".venv" / "bin" / "shoal"
ACTIVITIES = 4
INBOXES_PER_HOST = 25  # x 2 hosts x 4 activities = 200 deliveries


@contextlib.asynccontextmanager
async def shoal_worker(database_url: str, log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {
        **os.environ,
        "SHOAL_QUEUE_LEASE": "2",
        "SHOAL_RETRY_SCALE": "0.001",
        # Few slots, so that the fan-out lasts long enough to be cut in the middle.
        "SHOAL_DELIVERY_CONCURRENCY": "8",
        "SHOAL_LOG_LEVEL": "warning",
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp"),
    }
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            str(SHOAL),
            "worker",
            "--database-url",
            database_url,
            "--dev",
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)


async def wait_until(condition: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def queue_state(pool: Pool) -> dict[tuple[str, int], tuple[str, int]]:
    async with pool.acquire() as con:
        records = await con.fetch("SELECT inbox_uri, activity_id, state, attempts FROM deliveries")
    return {(r["inbox_uri"], r["activity_id"]): (r["state"], r["attempts"]) for r in records}


async def test_kill_9_mid_fan_out_loses_nothing(cluster: rig.Cluster, tmp_path: Path) -> None:
    name = await cluster.create_database()
    database_url = cluster.url(name)
    pool = await create_pool(database_url)
    try:
        async with pool.acquire() as con:
            actor = await accounts.create_local_actor(
                con, Urls("http://localhost:8000"), username="alice"
            )
        async with (
            serve(Inbox(keys_of(actor), delay=0.05)) as one,
            serve(Inbox(keys_of(actor), delay=0.05)) as two,
        ):
            targets = [
                inbox.url(f"/users/u{i}/inbox")
                for inbox in (one, two)
                for i in range(INBOXES_PER_HOST)
            ]
            uris: dict[int, str] = {}
            async with pool.acquire() as con:
                for n in range(ACTIVITIES):
                    activity_id = await activities.next_id(con)
                    uri = f"{actor.uri}/activities/{activity_id}/create"
                    await delivery.enqueue_activity(
                        con,
                        actor_id=actor.id,
                        activity={
                            "id": uri,
                            "type": "Create",
                            "actor": actor.uri,
                            "object": f"n{n}",
                        },
                        inboxes=targets,
                        activity_id=activity_id,
                    )
                    uris[activity_id] = uri
            total = len(targets) * ACTIVITIES
            assert total == 200

            def received() -> Counter[tuple[str, str]]:
                return Counter(
                    (inbox.url(r.path), r.activity_id)
                    for inbox in (one, two)
                    for r in inbox.received
                )

            async def some_arrived() -> bool:
                return sum(received().values()) >= 40

            log = tmp_path / "worker.log"
            async with shoal_worker(database_url, log) as first:
                await wait_until(some_arrived, 30, "the first deliveries")
                first.send_signal(signal.SIGKILL)
                await asyncio.wait_for(first.wait(), 10)
            assert first.returncode == -signal.SIGKILL
            await asyncio.sleep(0.2)  # requests cut off by the kill have all landed by now

            at_kill = await queue_state(pool)
            states = Counter(state for state, _ in at_kill.values())
            assert 0 < states["done"] < total, states  # really cut in the middle
            # Claimed, maybe sent, not recorded: the only rows that may arrive twice.
            in_flight = {
                (inbox, uris[activity_id])
                for (inbox, activity_id), (state, attempts) in at_kill.items()
                if state == "queued" and attempts > 0
            }
            assert sum(received().values()) < total

            async def all_done() -> bool:
                async with pool.acquire() as con:
                    return (await deliveries.counts(con))["done"] == total

            async with shoal_worker(database_url, log) as second:
                await wait_until(all_done, 60, "every delivery to be done")
                second.send_signal(signal.SIGTERM)
                await asyncio.wait_for(second.wait(), 15)
            assert second.returncode == 0, log.read_text()

            assert not one.refused and not two.refused  # every request was signed right
            seen = received()
            expected = {(inbox, uri) for inbox in targets for uri in uris.values()}
            assert set(seen) == expected  # nothing lost
            duplicates = {key for key, count in seen.items() if count > 1}
            assert duplicates <= in_flight, duplicates - in_flight
            assert max(seen.values()) <= 2
            async with pool.acquire() as con:
                assert await deliveries.counts(con) == {"queued": 0, "done": total, "failed": 0}
    finally:
        await pool.close()
        await cluster.drop_database(name)
