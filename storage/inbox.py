"""The inbox queue: verified activities waiting to be applied, deduplicated by their id.

A worker claims due rows with ``FOR UPDATE SKIP LOCKED`` and pushes ``next_attempt_at``
forward as a lease (counting the attempt), so a worker that dies mid-batch leaves rows
that simply come due again. Recording new rows NOTIFYs ``CHANNEL`` (once per statement),
which ``wakeups`` turns into an ``asyncio.Event`` for the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import orjson

from storage import domains
from storage.pool import Conn, Pool, PoolError

CHANNEL: Final = "shoal_inbox"
STATES: Final = ("queued", "done", "ignored", "failed")
# Final states a worker may set; "queued" rows only move through ``schedule_retry``.
_FINAL_STATES: Final = frozenset({"done", "ignored", "failed"})
_MAX_ERROR_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    activity_uri: str
    actor_uri: str
    type: str
    payload: dict[str, Any]
    state: str
    attempts: int  # claims so far, this one included once claimed
    next_attempt_at: datetime
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None


_COLUMNS = ", ".join(f.name for f in dataclasses.fields(InboxItem))


def _item(record: asyncpg.Record) -> InboxItem:
    return InboxItem(**dict(record))


@dataclass(slots=True)  # not frozen: one per inbox POST, and a frozen init costs more
class NewItem:
    """An activity to queue, as ``record_many`` takes it."""

    activity_uri: str
    actor_uri: str
    type: str
    payload: dict[str, Any]
    # ``payload`` as it was received, when that is known to be valid JSON (the inbox
    # decoded it): stored as it is, rather than encoded again.
    payload_json: bytes | None = None


class Unstorable(Exception):
    """The database refused the values themselves (a NUL character in a string, a value
    past a size limit): storing the same activity again would fail again."""


# SQLSTATE classes 22 (data exception) and 54 (program limit exceeded): caused by a row's
# values, not by the state of the database.
_VALUE_ERRORS: Final = (asyncpg.DataError, asyncpg.ProgramLimitExceededError)

# The batch travels as four text arrays, one per column: asyncpg encodes them without a
# Python call per element, and PostgreSQL checks each payload's syntax as it stores it
# (the column is json: kept as received, not rebuilt as jsonb).
_RECORD_MANY: Final = f"""
    WITH added AS (
        INSERT INTO inbox_items (activity_uri, actor_uri, type, payload)
        SELECT activity_uri, actor_uri, type, payload::json
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
            AS item(activity_uri, actor_uri, type, payload)
        ON CONFLICT (activity_uri) DO NOTHING
        RETURNING activity_uri),
    -- The signers' hosts are up: clear what delivery concluded (``domains.mark_all_available``
    -- in the same round trip). Only rows with something to clear are locked or written.
    marked AS ({domains.mark_available_sql("$6")}),
    uris AS (SELECT array_agg(activity_uri) AS added FROM added)
    -- One NOTIFY, and only when something was added: the row is filtered out otherwise.
    SELECT added, pg_notify($5, '') FROM uris WHERE added IS NOT NULL"""


async def record(
    con: Conn, activity_uri: str, actor_uri: str, type: str, payload: dict[str, Any]
) -> bool:
    """Queue one activity; False when its id was seen before (a replay is a no-op).

    A new row also NOTIFYs the workers; inside a transaction the notification leaves at
    commit, so a worker never wakes up before the row is visible.
    """
    [recorded] = await record_many(con, [NewItem(activity_uri, actor_uri, type, payload)])
    return recorded


async def record_many(
    con: Conn, items: Sequence[NewItem], *, available: Iterable[str] = ()
) -> list[bool]:
    """Queue several activities with one statement: for each, False when its id was seen
    before (including earlier in ``items``). One NOTIFY for all of them, at commit. The
    hosts in ``available`` (whose servers signed the items) are marked available.

    On a connection outside a transaction the statement is its own transaction: when this
    returns, the rows are committed. Raises ``Unstorable`` when the database refuses the
    values (one bad item fails them all: the caller can retry them one by one).
    """
    if not items:
        return []
    first: dict[str, int] = {}  # activity id -> index of its first item
    for n, item in enumerate(items):
        first.setdefault(item.activity_uri, n)
    batch = [items[n] for n in first.values()]
    try:
        added = await con.fetchval(
            _RECORD_MANY,
            [i.activity_uri for i in batch],
            [i.actor_uri for i in batch],
            [i.type for i in batch],
            [_payload_text(i) for i in batch],
            CHANNEL,
            sorted(set(available)),
        )
    except _VALUE_ERRORS as exc:
        raise Unstorable(str(exc)) from exc
    recorded = set(added or ())
    return [
        first[item.activity_uri] == n and item.activity_uri in recorded
        for n, item in enumerate(items)
    ]


def _payload_text(item: NewItem) -> str:
    if item.payload_json is not None:
        return item.payload_json.decode()  # UTF-8: the inbox decoded it as JSON
    return orjson.dumps(item.payload).decode()


async def get_by_uri(con: Conn, activity_uri: str) -> InboxItem | None:
    found = await con.fetchrow(
        f"SELECT {_COLUMNS} FROM inbox_items WHERE activity_uri = $1", activity_uri
    )
    return None if found is None else _item(found)


async def claim_due(con: Conn, *, limit: int, lease_seconds: float) -> list[InboxItem]:
    """Reserve up to ``limit`` due rows for ``lease_seconds``, oldest received first."""
    records = await con.fetch(
        f"""WITH due AS (
                SELECT id FROM inbox_items
                WHERE state = 'queued' AND next_attempt_at <= now()
                ORDER BY id
                LIMIT $1
                FOR UPDATE SKIP LOCKED)
            UPDATE inbox_items i
            SET next_attempt_at = now() + make_interval(secs => $2), attempts = attempts + 1
            FROM due WHERE i.id = due.id
            RETURNING {", ".join("i." + f.name for f in dataclasses.fields(InboxItem))}""",
        limit,
        lease_seconds,
    )
    # UPDATE … RETURNING has no defined order; ids grow with reception time.
    return sorted((_item(r) for r in records), key=lambda item: item.id)


async def release(con: Conn, ids: Sequence[int]) -> None:
    """Give claimed rows back unprocessed: due now, and the claim not counted."""
    await con.execute(
        """UPDATE inbox_items
           SET next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
           WHERE id = any($1::bigint[]) AND state = 'queued'""",
        list(ids),
    )


async def mark(con: Conn, id: int, state: str, error: str | None = None) -> None:
    """Finish a row as done, ignored or failed."""
    if state not in _FINAL_STATES:
        raise ValueError(f"cannot mark an inbox item {state!r}")
    await con.execute(
        """UPDATE inbox_items SET state = $2, last_error = $3, processed_at = now()
           WHERE id = $1""",
        id,
        state,
        None if error is None else error[:_MAX_ERROR_CHARS],
    )


async def schedule_retry(con: Conn, id: int, *, delay_seconds: float, error: str) -> None:
    await con.execute(
        """UPDATE inbox_items
           SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
           WHERE id = $1 AND state = 'queued'""",
        id,
        delay_seconds,
        error[:_MAX_ERROR_CHARS],
    )


async def prune(con: Conn, *, older_than: float) -> int:
    """Delete items finished more than ``older_than`` seconds ago. Their ids no longer
    dedupe: a replay after that is queued (and applied) again."""
    status = await con.execute(
        """DELETE FROM inbox_items
           WHERE state <> 'queued' AND processed_at < now() - make_interval(secs => $1)""",
        float(older_than),
    )
    return int(status.split()[-1])


async def counts(con: Conn) -> dict[str, int]:
    """How many rows are in each state (every state present, zero included)."""
    records = await con.fetch("SELECT state, count(*) AS n FROM inbox_items GROUP BY state")
    found = {r["state"]: int(r["n"]) for r in records}
    return {state: found.get(state, 0) for state in STATES}


@contextlib.asynccontextmanager
async def wakeups(pool: Pool) -> AsyncIterator[asyncio.Event]:
    """Hold one pool connection LISTENing on ``CHANNEL``; the event is set on each NOTIFY.

    The caller clears the event before looking for work. If the connection breaks the
    event simply stops firing: workers poll as well, so nothing is lost but latency.
    """
    event = asyncio.Event()

    def on_notify(*_: object) -> None:
        event.set()

    async with pool.acquire() as con:
        await con.add_listener(CHANNEL, on_notify)
        try:
            yield event
        finally:
            with contextlib.suppress(*PoolError):
                await con.remove_listener(CHANNEL, on_notify)
