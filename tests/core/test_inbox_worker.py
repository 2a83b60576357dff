"""The inbox worker: queued activities reach ``apply_activity`` in order, with retries.

``core.apply.apply_activity`` is replaced by a recorder, so these tests are about the
queue (claiming, ordering, backoff, giving up, surviving bugs), not about what applying
an activity does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from core import apply, inbox_worker, runtime
from core.apply import Outcome, RetryLater
from core.remote import RemoteError
from core.services import Services
from core.settings import Settings
from federation.vocab import Activity
from storage import actors, inbox
from storage.actors import ActorRow

PEER = "http://127.0.0.1:9"  # nothing listens there: the sender is always cached


@dataclass
class Recorder:
    """Stands in for apply_activity; ``behaviour`` decides each call's fate."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    behaviour: Callable[[Activity], Awaitable[Outcome]] | None = None

    async def __call__(
        self, services: Services, activity: Activity, *, sender: ActorRow
    ) -> Outcome:
        self.calls.append((activity.id, sender.uri))
        if self.behaviour is None:
            return Outcome.DONE
        return await self.behaviour(activity)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    started = await runtime.start(settings.replace(workers=False))
    try:
        yield started
    finally:
        started.stopping.set()
        await runtime.stop(started)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    fake = Recorder()
    monkeypatch.setattr(apply, "apply_activity", fake)
    return fake


@pytest.fixture
async def sender(services: Services) -> ActorRow:
    async with services.pool.acquire() as con:
        return await actors.upsert_remote(
            con,
            {
                "uri": f"{PEER}/users/alice",
                "type": "Person",
                "username": "alice",
                "domain": "127.0.0.1:9",
                "inbox_uri": f"{PEER}/users/alice/inbox",
            },
        )


async def queue(services: Services, n: int, type: str = "Like", actor: str = "alice") -> str:
    uri = f"{PEER}/activities/{n}"
    activity = {"id": uri, "type": type, "actor": f"{PEER}/users/{actor}", "object": f"{PEER}/n/1"}
    async with services.pool.acquire() as con:
        assert await inbox.record(con, uri, activity["actor"], type, activity)
    return uri


async def item(services: Services, uri: str) -> inbox.InboxItem:
    async with services.pool.acquire() as con:
        found = await inbox.get_by_uri(con, uri)
    assert found is not None
    return found


async def test_items_are_applied_in_received_order_and_marked(
    services: Services, recorder: Recorder, sender: ActorRow
) -> None:
    uris = [await queue(services, n) for n in range(5)]

    async def ignore_the_third(activity: Activity) -> Outcome:
        return Outcome.IGNORED if activity.id == uris[2] else Outcome.DONE

    recorder.behaviour = ignore_the_third
    assert await inbox_worker.process_due(services) == 5
    assert recorder.calls == [(uri, sender.uri) for uri in uris]
    states = [(await item(services, uri)).state for uri in uris]
    assert states == ["done", "done", "ignored", "done", "done"]
    assert await inbox_worker.process_due(services) == 0  # nothing left


async def test_retry_later_is_retried_with_backoff(
    services: Services, recorder: Recorder, sender: ActorRow
) -> None:
    uri = await queue(services, 1)
    failures = iter([True, True])

    async def flaky(activity: Activity) -> Outcome:
        if next(failures, False):
            raise RetryLater("peer timed out")
        return Outcome.DONE

    recorder.behaviour = flaky
    await inbox_worker.process_due(services)
    first = await item(services, uri)
    assert (first.state, first.attempts, first.last_error) == (
        "queued",
        1,
        "retry later: peer timed out",
    )
    # attempt**4 + 15 seconds, scaled by retry_scale (0.001 in tests): 16 ms, then 31 ms.
    assert first.next_attempt_at > first.received_at
    await asyncio.sleep(0.05)
    await inbox_worker.process_due(services)
    assert (await item(services, uri)).attempts == 2
    await asyncio.sleep(0.05)
    await inbox_worker.process_due(services)
    final = await item(services, uri)
    assert (final.state, final.attempts) == ("done", 3)
    assert len(recorder.calls) == 3


def test_backoff_follows_mastodon() -> None:
    assert [inbox_worker.retry_delay(n, 1.0) for n in (1, 2, 3, 16)] == [16, 31, 96, 65551]
    assert inbox_worker.retry_delay(2, 0.001) == pytest.approx(0.031)


async def test_the_sixteenth_failure_gives_up(
    services: Services, recorder: Recorder, sender: ActorRow
) -> None:
    uri = await queue(services, 1)
    async with services.pool.acquire() as con:
        await con.execute("UPDATE inbox_items SET attempts = 15 WHERE activity_uri = $1", uri)

    async def always(activity: Activity) -> Outcome:
        raise RemoteError("connection failed", retryable=True)

    recorder.behaviour = always
    await inbox_worker.process_due(services)
    final = await item(services, uri)
    assert final.state == "failed" and final.attempts == 16
    assert final.last_error is not None and "gave up after 16 attempts" in final.last_error


async def test_a_bug_is_logged_and_marked_failed_and_the_batch_goes_on(
    services: Services,
    recorder: Recorder,
    sender: ActorRow,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, fine = await queue(services, 1), await queue(services, 2)

    async def crash_on_first(activity: Activity) -> Outcome:
        if activity.id == broken:
            raise KeyError("oops")
        return Outcome.DONE

    recorder.behaviour = crash_on_first
    with caplog.at_level(logging.ERROR, logger="shoal.inbox"):
        await inbox_worker.process_due(services)
    failed = await item(services, broken)
    assert (failed.state, failed.last_error) == ("failed", "KeyError: 'oops'")
    assert (await item(services, fine)).state == "done"
    assert any(r.exc_info is not None for r in caplog.records)


async def test_unusable_items_fail_without_reaching_apply(
    services: Services, recorder: Recorder, sender: ActorRow
) -> None:
    unknown = await queue(services, 1, actor="ghost")  # sender not cached, its server is down
    async with services.pool.acquire() as con:
        await inbox.record(con, f"{PEER}/bad", f"{PEER}/users/alice", "Like", {"type": "Like"})
    await inbox_worker.process_due(services)
    assert recorder.calls == []
    bad = await item(services, f"{PEER}/bad")
    assert (bad.state, bad.last_error) == ("failed", "invalid activity: activity has no id")
    # A refused connection may be temporary: retried, not failed.
    ghost = await item(services, unknown)
    assert (ghost.state, ghost.last_error) == ("queued", "remote: connection failed")


async def test_the_running_worker_wakes_on_notify_and_stops_when_asked(
    services: Services, recorder: Recorder, sender: ActorRow
) -> None:
    task = asyncio.create_task(inbox_worker.run_worker(services))
    try:
        await asyncio.sleep(0.2)  # let it LISTEN and find the queue empty
        started = time.monotonic()
        uri = await queue(services, 1)
        while (await item(services, uri)).state == "queued":
            assert time.monotonic() - started < 5
            await asyncio.sleep(0.005)
        latency = time.monotonic() - started
        assert recorder.calls == [(uri, sender.uri)]
        # Woken by NOTIFY, not by the one-second poll.
        assert latency < 0.5, latency
    finally:
        services.stopping.set()
        await asyncio.wait_for(task, timeout=2)


async def test_items_of_a_stopping_worker_are_released(
    services: Services, recorder: Recorder, sender: ActorRow
) -> None:
    uris = [await queue(services, n) for n in range(3)]

    async def stop_after_first(activity: Activity) -> Outcome:
        services.stopping.set()
        return Outcome.DONE

    recorder.behaviour = stop_after_first
    assert await inbox_worker.process_due(services) == 3
    rest: list[Any] = [await item(services, uri) for uri in uris[1:]]
    assert [(i.state, i.attempts) for i in rest] == [("queued", 0), ("queued", 0)]
    services.stopping.clear()
    recorder.behaviour = None
    await inbox_worker.process_due(services)
    assert len(recorder.calls) == 3
