"""The delivery queue: one row per (activity, inbox), claimed by workers.

A worker claims due rows with ``FOR UPDATE SKIP LOCKED`` and, in the same statement,
pushes their ``next_attempt_at`` forward by a lease. A worker that dies mid-flight leaves
rows that simply come due again when the lease ends, so nothing is lost (``kill -9``
included) and several workers can share the table.

The lease's end (``DeliveryJob.lease_until``) is also the claim's token: every result is
written only where ``next_attempt_at`` still equals it, so a worker whose lease ran out
and whose row was claimed again cannot overwrite the newer claim's result. Delivery is
therefore at-least-once: a request that was sent but not recorded is sent again, and
receivers deduplicate by activity id.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from storage.pool import Conn, Pool, PoolError

CHANNEL: Final = "shoal_deliveries"
STATES: Final = ("queued", "done", "failed")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

OutcomeKind = Literal["done", "retry", "failed", "release"]


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """A claimed row with what it takes to send it."""

    id: int
    attempt: int  # 1 for the first try
    lease_until: datetime
    activity_id: int
    inbox_uri: str
    domain: str
    payload: str  # the activity's JSON text, sent as is
    key_id: str | None
    private_key_pem: str | None
    host_unavailable: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a claimed job: ``release`` hands it back untried, due at once."""

    job_id: int
    lease_until: datetime
    kind: OutcomeKind
    status: int | None = None
    error: str | None = None
    delay_seconds: float = 0.0

    @classmethod
    def done(cls, job: DeliveryJob, status: int | None = None) -> Outcome:
        return cls(job.id, job.lease_until, "done", status)

    @classmethod
    def retry(
        cls, job: DeliveryJob, *, delay_seconds: float, status: int | None, error: str | None
    ) -> Outcome:
        return cls(job.id, job.lease_until, "retry", status, error, delay_seconds)

    @classmethod
    def failed(cls, job: DeliveryJob, *, status: int | None, error: str | None) -> Outcome:
        return cls(job.id, job.lease_until, "failed", status, error)

    @classmethod
    def release(cls, job: DeliveryJob) -> Outcome:
        return cls(job.id, job.lease_until, "release")


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    activity_id: int
    inbox_uri: str
    domain: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


_ROW_COLUMNS = ", ".join(DeliveryRow.__dataclass_fields__)


def inbox_domain(url: str) -> str:
    """``host[:port]`` of an inbox URL (port only when not the scheme's default).

    Raises ``ValueError`` for anything but an absolute http(s) URL.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port  # raises ValueError for a bad port
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return host
    return f"{host}:{port}"


async def enqueue(con: Conn, activity_id: int, inboxes: Iterable[str]) -> int:
    """Queue ``activity_id`` for each distinct inbox; returns the number of new rows.

    Rows for an unavailable host are queued too: the worker skips them when they come
    due, so a host that comes back in the meantime still gets them.
    """
    unique = list(dict.fromkeys(inboxes))
    if not unique:
        return 0
    domains = [inbox_domain(url) for url in unique]
    status = await con.execute(
        """INSERT INTO deliveries (activity_id, inbox_uri, domain)
           SELECT $1, u.inbox, u.domain FROM unnest($2::text[], $3::text[]) AS u(inbox, domain)
           ON CONFLICT (activity_id, inbox_uri) DO NOTHING""",
        activity_id,
        unique,
        domains,
    )
    return int(status.rsplit(" ", 1)[-1])


async def notify(con: Conn) -> None:
    """Wake the workers; inside a transaction this fires at commit, and only then."""
    await con.execute("SELECT pg_notify($1, '')", CHANNEL)


async def claim_due(
    con: Conn, *, limit: int, lease_seconds: float, skip_domains: Sequence[str] = ()
) -> list[DeliveryJob]:
    """Claim up to ``limit`` due rows for ``lease_seconds``, oldest due first, leaving out
    the rows for ``skip_domains`` (hosts the worker already has enough queued for).

    One statement, so the claim commits (or not) as a whole, even on a bare connection.
    The payload comes back as JSON text: it is sent as is, never decoded here.
    """
    records = await con.fetch(
        """WITH due AS (
               SELECT id, next_attempt_at AS due_at FROM deliveries
               WHERE state = 'queued' AND next_attempt_at <= now()
                 AND domain <> all($3::text[])
               ORDER BY next_attempt_at LIMIT $1
               FOR UPDATE SKIP LOCKED),
           claimed AS (
               UPDATE deliveries AS d
               SET next_attempt_at = now() + $2 * interval '1 second', attempts = d.attempts + 1
               FROM due WHERE d.id = due.id
               RETURNING d.id, d.attempts, d.next_attempt_at, d.activity_id, d.inbox_uri,
                         d.domain, due.due_at)
           SELECT c.id, c.attempts, c.next_attempt_at, c.activity_id, c.inbox_uri, c.domain,
                  a.payload::text AS payload, ac.public_key_id, ac.private_key_pem,
                  coalesce(dm.unavailable, false) AS host_unavailable
           FROM claimed AS c
           JOIN activities AS a ON a.id = c.activity_id
           JOIN actors AS ac ON ac.id = a.actor_id
           LEFT JOIN domains AS dm ON dm.domain = c.domain
           ORDER BY c.due_at, c.id""",
        limit,
        lease_seconds,
        list(skip_domains),
    )
    return [DeliveryJob(*r) for r in records]


async def record(con: Conn, outcomes: Sequence[Outcome]) -> int:
    """Write many outcomes in one statement; returns how many still held their lease.

    An outcome whose lease was lost (the row was claimed again since) changes nothing.
    """
    if not outcomes:
        return 0
    status = await con.execute(
        """UPDATE deliveries AS d SET
               state = CASE WHEN u.kind IN ('done', 'failed') THEN u.kind ELSE 'queued' END,
               attempts = CASE WHEN u.kind = 'release' THEN d.attempts - 1 ELSE d.attempts END,
               next_attempt_at = CASE u.kind
                   WHEN 'retry' THEN now() + u.delay * interval '1 second'
                   WHEN 'release' THEN now()
                   ELSE d.next_attempt_at END,
               last_status = CASE WHEN u.kind = 'release' THEN d.last_status ELSE u.status END,
               last_error = CASE WHEN u.kind = 'release' THEN d.last_error ELSE u.error END,
               finished_at = CASE WHEN u.kind IN ('done', 'failed') THEN now() END
           FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::float8[], $5::int[],
                       $6::text[]) AS u(id, lease_until, kind, delay, status, error)
           WHERE d.id = u.id AND d.next_attempt_at = u.lease_until AND d.state = 'queued'""",
        [o.job_id for o in outcomes],
        [o.lease_until for o in outcomes],
        [o.kind for o in outcomes],
        [o.delay_seconds for o in outcomes],
        [o.status for o in outcomes],
        [o.error for o in outcomes],
    )
    return int(status.rsplit(" ", 1)[-1])


async def mark_done(con: Conn, jobs: Iterable[DeliveryJob], *, status: int | None = None) -> int:
    return await record(con, [Outcome.done(job, status) for job in jobs])


async def schedule_retry(
    con: Conn, job: DeliveryJob, *, delay_seconds: float, status: int | None, error: str | None
) -> bool:
    outcome = Outcome.retry(job, delay_seconds=delay_seconds, status=status, error=error)
    return await record(con, [outcome]) == 1


async def mark_failed(
    con: Conn, job: DeliveryJob, *, status: int | None, error: str | None
) -> bool:
    return await record(con, [Outcome.failed(job, status=status, error=error)]) == 1


async def next_due_in(con: Conn, *, skip_domains: Sequence[str] = ()) -> float | None:
    """Seconds until the earliest queued row comes due (<= 0: now); None when none queued."""
    value = await con.fetchval(
        """SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
           FROM deliveries WHERE state = 'queued' AND domain <> all($1::text[])""",
        list(skip_domains),
    )
    return None if value is None else float(value)


async def prune(con: Conn, *, older_than: float) -> int:
    """Delete deliveries finished (done or failed) more than ``older_than`` seconds ago."""
    status = await con.execute(
        """DELETE FROM deliveries
           WHERE state <> 'queued' AND finished_at < now() - make_interval(secs => $1)""",
        float(older_than),
    )
    return int(status.split()[-1])


async def counts(con: Conn) -> dict[str, int]:
    found = {
        r["state"]: r["n"]
        for r in await con.fetch("SELECT state, count(*) AS n FROM deliveries GROUP BY state")
    }
    return {state: int(found.get(state, 0)) for state in STATES}


async def pending_for_activity(con: Conn, activity_id: int) -> int:
    return int(
        await con.fetchval(
            "SELECT count(*) FROM deliveries WHERE activity_id = $1 AND state = 'queued'",
            activity_id,
        )
    )


async def list_for_activity(con: Conn, activity_id: int) -> list[DeliveryRow]:
    records = await con.fetch(
        f"SELECT {_ROW_COLUMNS} FROM deliveries WHERE activity_id = $1 ORDER BY id", activity_id
    )
    return [DeliveryRow(**dict(r)) for r in records]


class Listener:
    """One pool connection that LISTENs on ``CHANNEL`` and calls ``on_notify`` for each.

    The connection is checked on every ``ensure`` and pinged now and then, since a
    silently dead socket would otherwise go unnoticed; callers poll as a fallback anyway.
    """

    _PING_EVERY: Final = 30.0

    def __init__(self, pool: Pool, on_notify: Callable[[], None]) -> None:
        self._pool = pool
        self._on_notify = on_notify
        self._con: PoolConnectionProxy[Any] | None = None
        self._pinged = 0.0

    def _callback(self, *_: object) -> None:
        self._on_notify()

    async def ensure(self, *, within: float = 5.0) -> bool:
        """(Re)establish the LISTEN; True when a new one started (notifications may have
        been missed before it). Database errors are left to the caller (``PoolError``)."""
        if self._alive():
            assert self._con is not None
            if time.monotonic() - self._pinged < self._PING_EVERY:
                return False
            try:
                await self._con.fetchval("SELECT 1", timeout=within)
                self._pinged = time.monotonic()
                return False
            except PoolError:
                pass
        await self.close()
        con = await self._pool.acquire(timeout=within)
        try:
            await con.add_listener(CHANNEL, self._callback)
        except BaseException:
            await self._pool.release(con)
            raise
        self._con, self._pinged = con, time.monotonic()
        return True

    def _alive(self) -> bool:
        if self._con is None:
            return False
        try:
            return not self._con.is_closed()
        except asyncpg.InterfaceError:  # the pool took it back when the server closed it
            return False

    async def close(self) -> None:
        alive = self._alive()
        con, self._con = self._con, None
        if con is None:
            return
        with contextlib.suppress(*PoolError):
            if alive:
                await con.remove_listener(CHANNEL, self._callback)
            await self._pool.release(con, timeout=5.0)
