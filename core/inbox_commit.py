"""The inbox's group commit: verified activities of many requests stored by one statement.

``InboxBatcher.record`` is what ``core.inbound`` calls once a request's activity is
verified; the request is answered when its activity is committed (or found to be a
replay).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from core.errors import BadRequest
from storage import inbox
from storage.pool import Conn, Pool

log = logging.getLogger("shoal.inbound")

# One group commit stores at most this many activities, and past the first at most this
# many bytes of them; the rest wait for the next one.
BATCH_MAX_ITEMS: Final = 100
BATCH_MAX_BYTES: Final = 4 * 1024 * 1024


class Unavailable(Exception):
    """The database could not be reached, or the process is stopping: the activity may
    not be queued, and the sender should try again later (503; a replay is harmless)."""


@dataclass(slots=True)  # not frozen: one per inbox POST, and a frozen init costs more
class _Waiter:
    item: inbox.NewItem
    domain: str | None  # the signer's host, known to be up; None for a local signer
    size: int
    answer: asyncio.Future[bool]


class InboxBatcher:
    """Queues verified activities for many requests at once: a group commit.

    A request adds its activity and waits. One writer task at a time takes everything
    waiting once it holds a connection (up to ``BATCH_MAX_ITEMS``), stores it with one
    statement (one commit, one NOTIFY: ``storage.inbox.record_many``) and answers each
    request: recorded, or a replay. It carries on, on the same connection, while requests
    wait and ends when none does, so nothing sleeps: an idle server stores the first
    activity at once, a busy one shares each commit among the requests that arrived
    during the previous one. A request is only answered after the commit, so its 202
    still means the activity is durably queued, and it is applied once since the queue
    dedupes by activity id. (A second writer, overlapping commits, was measured slower,
    twice: more, smaller commits whose fsyncs did not overlap.)
    """

    def __init__(self, pool: Pool, on_queued: Callable[[], None]) -> None:
        self._pool = pool
        self._on_queued = on_queued  # called after a commit that queued something new
        self._waiting: list[_Waiter] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, item: inbox.NewItem, *, domain: str | None, size: int) -> bool:
        """Queue ``item``; False when its id was seen before. Raises ``BadRequest`` when
        the database refuses its values, ``PoolError`` or ``Unavailable`` when the
        database cannot be reached."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.add(item, domain=domain, size=size, answer=answer)
        return await answer

    def add(
        self, item: inbox.NewItem, *, domain: str | None, size: int, answer: asyncio.Future[bool]
    ) -> None:
        """``record`` without waiting: ``answer`` gets its outcome (or exception).

        ``domain`` is the signer's host, marked available by the same statement.
        """
        self._waiting.append(_Waiter(item, domain, size, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_while_waiting(), name="shoal-inbox")
        # A request cancelled meanwhile leaves its activity to be queued all the same: the
        # sender will retry it, and the retry is a replay.

    async def _write_while_waiting(self) -> None:
        try:
            while self._waiting:
                await self._write_on_one_connection()
        finally:
            self._writer = None
            # Only left when the task was cancelled (shutdown): nobody may wait forever.
            left, self._waiting = self._waiting, []
            _fail(left, Unavailable("the server is stopping"))

    def _take(self) -> list[_Waiter]:
        count = size = 0
        for waiter in self._waiting:
            if count == BATCH_MAX_ITEMS or (count and size + waiter.size > BATCH_MAX_BYTES):
                break
            count += 1
            size += waiter.size
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        return batch

    async def _write_on_one_connection(self) -> None:
        """Commit batch after batch on one connection while requests wait.

        Giving the connection back between batches let the event loop run everything
        queued meanwhile (the answered requests' 202s, new requests, verification passes)
        before the next batch could even ask for it again: measured on the inbox
        benchmark, no commit was in flight half of the time. Kept, the next batch starts
        one turn of the loop after the last ended. A batch that fails gives the connection
        back (it may be broken); the requests still waiting get a fresh one.
        """
        batch: list[_Waiter] = []
        try:
            async with self._pool.acquire() as con:
                while self._waiting:
                    # One turn of the event loop first: the requests the last commit
                    # answered send their 202s before this batch goes to the database,
                    # and those whose verification is already scheduled join it.
                    await asyncio.sleep(0)
                    batch = self._take()
                    outcomes = await _record(con, batch)
                    for waiter, outcome in zip(batch, outcomes, strict=True):
                        _settle(waiter, outcome)
                    batch = []
                    if any(outcome is True for outcome in outcomes):
                        self._on_queued()
        except asyncio.CancelledError:
            _fail(batch, Unavailable("the server is stopping"))
            raise
        except Exception as exc:  # PoolError: 503 to retry; anything else a bug (500, logged)
            # No batch means no connection: those waiting would only wait for it in vain.
            _fail(batch or self._take(), exc)


async def _record(con: Conn, batch: Sequence[_Waiter]) -> list[bool | Exception]:
    """``record_many``, except that an item whose values the database refuses fails
    alone (400), not the requests that happened to share its batch. A server that signs
    valid requests is up, whatever delivery concluded: the signers' hosts are marked
    available with the same statement."""
    items = [w.item for w in batch]
    hosts = {w.domain for w in batch if w.domain is not None}
    try:
        return list(await inbox.record_many(con, items, available=hosts))
    except inbox.Unstorable as exc:
        if len(batch) == 1:
            log.info("inbox: cannot store %s: %s", items[0].activity_uri, exc)
            return [BadRequest("the activity cannot be stored")]
    outcomes: list[bool | Exception] = []
    for waiter in batch:
        outcomes.extend(await _record(con, [waiter]))
    return outcomes


def _settle(waiter: _Waiter, outcome: bool | Exception) -> None:
    if waiter.answer.done():  # its request was cancelled
        return
    if isinstance(outcome, Exception):
        waiter.answer.set_exception(outcome)
    else:
        waiter.answer.set_result(outcome)


def _fail(waiters: Sequence[_Waiter], exc: Exception) -> None:
    for waiter in waiters:
        _settle(waiter, exc)
