"""The inbox worker: applies queued activities through ``core.apply.apply_activity``.

It wakes on NOTIFY (``storage.inbox.wakeups``), at once when this very process queued
something (``services.inbox_queued``), and polls at least every second anyway,
claims a batch of due items and applies them one after the other in the order they
were received (a Create usually has to land before the Delete of the same object).
Transient failures are retried with Mastodon's backoff, ``attempt**4 + 15`` seconds
(scaled by ``settings.retry_scale``), 16 attempts in all; anything unexpected is logged
with its traceback and the item marked failed, and the loop carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

from core import apply, remote
from core.apply import Outcome, RetryLater
from core.remote import RemoteError
from core.services import Services
from federation.vocab import VocabError, parse_activity
from storage import inbox
from storage.inbox import InboxItem
from storage.pool import PoolError

log = logging.getLogger("shoal.inbox")

BATCH_SIZE: Final = 20
MAX_ATTEMPTS: Final = 16
POLL_SECONDS: Final = 1.0
_MAX_ERROR_CHARS: Final = 200


def retry_delay(attempt: int, scale: float) -> float:
    """Seconds before the next try after failed attempt number ``attempt`` (from 1)."""
    return (attempt**4 + 15) * scale


async def run_worker(services: Services) -> None:
    """Process the inbox queue until ``services.stopping`` is set."""
    async with inbox.wakeups(services.pool) as wake:
        while not services.stopping.is_set():
            # Before looking: what is queued during the batch wakes the next wait.
            wake.clear()
            services.inbox_queued.clear()
            try:
                claimed = await process_due(services)
            except PoolError as exc:
                log.warning("inbox worker: database unavailable (%s)", exc)
                claimed = 0
            if claimed == 0:
                await _wait(services, wake, POLL_SECONDS)


async def process_due(services: Services, *, limit: int = BATCH_SIZE) -> int:
    """Claim and apply one batch of due items; return how many were claimed."""
    lease = services.settings.queue_lease
    async with services.pool.acquire() as con:
        items = await inbox.claim_due(con, limit=limit, lease_seconds=lease)
    started = time.monotonic()
    for index, item in enumerate(items):
        # Stop early rather than let the lease run out under us: another worker would
        # then claim the rest and apply it a second time.
        if services.stopping.is_set() or time.monotonic() - started > lease / 2:
            async with services.pool.acquire() as con:
                await inbox.release(con, [i.id for i in items[index:]])
            break
        await process_item(services, item)
    return len(items)


async def process_item(services: Services, item: InboxItem) -> None:
    """Apply one claimed item and record what became of it."""
    try:
        activity = parse_activity(item.payload)
        sender = await remote.fetch_actor(services, item.actor_uri)
        # Looked up at call time so the dispatch table can be replaced (tests do).
        outcome = await apply.apply_activity(services, activity, sender=sender)
    except VocabError as exc:
        await _finish(services, item, "failed", f"invalid activity: {exc.reason}")
    except RetryLater as exc:
        await _retry(services, item, f"retry later: {exc}")
    except (OSError, TimeoutError) as exc:  # the database or a peer dropped out mid-way
        await _retry(services, item, _short(exc))
    except RemoteError as exc:
        if exc.retryable:
            await _retry(services, item, f"remote: {exc.reason}")
        else:
            # A sender whose account is gone has nothing more to say: not a failure.
            await _finish(
                services, item, "ignored" if exc.gone else "failed", f"remote: {exc.reason}"
            )
    except Exception as exc:
        log.exception("inbox item %s (%s %s) failed", item.id, item.type, item.activity_uri)
        await _finish(services, item, "failed", _short(exc))
    else:
        if activity.type == "Delete" and activity.object_id == item.actor_uri:
            # The account is gone: its key must not verify requests from memory either.
            remote.key_cache(services).forget_owner(item.actor_uri)
        await _finish(services, item, "done" if outcome is Outcome.DONE else "ignored", None)


async def _finish(services: Services, item: InboxItem, state: str, error: str | None) -> None:
    if error is not None:
        log.info("inbox item %s %s: %s", item.id, state, error)
    async with services.pool.acquire() as con:
        await inbox.mark(con, item.id, state, error)


async def _retry(services: Services, item: InboxItem, error: str) -> None:
    if item.attempts >= MAX_ATTEMPTS:
        await _finish(services, item, "failed", f"gave up after {item.attempts} attempts: {error}")
        return
    delay = retry_delay(item.attempts, services.settings.retry_scale)
    async with services.pool.acquire() as con:
        await inbox.schedule_retry(con, item.id, delay_seconds=delay, error=error)


def _short(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


async def _wait(services: Services, wake: asyncio.Event, seconds: float) -> None:
    """Sleep until a NOTIFY, an item queued here, a stop request or ``seconds`` pass."""
    waiters = [
        asyncio.ensure_future(wake.wait()),
        asyncio.ensure_future(services.inbox_queued.wait()),
        asyncio.ensure_future(services.stopping.wait()),
    ]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
