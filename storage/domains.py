"""Remote instances we know of, and whether deliveries to them are worth trying.

A host that failed deliveries on ``UNAVAILABLE_AFTER_DAYS`` distinct days, with no success
in between, is unavailable: its deliveries are skipped until one succeeds or it sends us a
valid signed request (``mark_available``).

Several workers may update the same rows at once; every multi-row write takes its row
locks in domain order so that two of them never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Final

from storage.pool import Conn

UNAVAILABLE_AFTER_DAYS: Final = 7
# last_success_at is refreshed at most this often when nothing else changes, so that a
# busy host does not cost one row update per delivered batch.
_SUCCESS_REFRESH: Final = "1 minute"


async def ensure(con: Conn, domain: str) -> None:
    await con.execute(
        "INSERT INTO domains (domain) VALUES ($1) ON CONFLICT (domain) DO NOTHING", domain
    )


async def record_success(con: Conn, domains: Sequence[str]) -> None:
    """Deliveries to these hosts succeeded: forget their failures, make them available."""
    if not domains:
        return
    await con.execute(
        f"""UPDATE domains SET failure_days = '{{}}', unavailable = false, last_success_at = now()
            WHERE domain IN (
                SELECT domain FROM domains
                WHERE domain = any($1::text[])
                  AND (unavailable OR failure_days <> '{{}}' OR last_success_at IS NULL
                       OR last_success_at < now() - interval '{_SUCCESS_REFRESH}')
                ORDER BY domain FOR UPDATE)""",
        sorted(set(domains)),
    )


async def record_failures(con: Conn, domains: Iterable[str], day: date) -> set[str]:
    """Note that deliveries to these hosts failed on ``day``; return those now unavailable.

    A day counts once however many deliveries failed on it.
    """
    names = sorted(set(domains))
    if not names:
        return set()
    days = "ARRAY(SELECT DISTINCT d FROM unnest(domains.failure_days || $2::date) AS d ORDER BY d)"
    records = await con.fetch(
        f"""INSERT INTO domains (domain, failure_days, last_failure_at)
            SELECT name, ARRAY[$2::date], now() FROM unnest($1::text[]) AS name
            ON CONFLICT (domain) DO UPDATE SET
                failure_days = {days},
                last_failure_at = now(),
                unavailable = domains.unavailable OR cardinality({days}) >= $3
            RETURNING domain, unavailable""",
        names,
        day,
        UNAVAILABLE_AFTER_DAYS,
    )
    return {r["domain"] for r in records if r["unavailable"]}


async def record_failure(con: Conn, domain: str, day: date) -> bool:
    """One host's ``record_failures``; True when the host is now unavailable."""
    return domain in await record_failures(con, [domain], day)


async def mark_available(con: Conn, domain: str) -> None:
    """The host showed signs of life (a valid signed request): deliver to it again."""
    await mark_all_available(con, [domain])


async def mark_all_available(con: Conn, domains: Iterable[str]) -> None:
    """``mark_available`` for several hosts in one statement; the usual case (every host
    already available) only reads: no row is locked or written. (The inbox does the same
    within ``inbox.record_many``.)"""
    names = sorted(set(domains))
    if not names:
        return
    await con.execute(mark_available_sql("$1"), names)


def mark_available_sql(hosts: str) -> str:
    """The UPDATE of ``mark_all_available`` for the host names in the text[] parameter
    ``hosts`` (``$1``…), for a statement that does it along with something else."""
    return f"""UPDATE domains SET failure_days = '{{}}', unavailable = false
        WHERE domain IN (
            SELECT domain FROM domains
            WHERE domain = any({hosts}::text[]) AND (unavailable OR failure_days <> '{{}}')
            ORDER BY domain FOR UPDATE)"""


async def is_unavailable(con: Conn, domain: str) -> bool:
    return bool(
        await con.fetchval(
            "SELECT coalesce((SELECT unavailable FROM domains WHERE domain = $1), false)", domain
        )
    )


async def unavailable_domains(con: Conn) -> list[str]:
    records = await con.fetch("SELECT domain FROM domains WHERE unavailable ORDER BY domain")
    return [r["domain"] for r in records]


async def failure_days(con: Conn, domain: str) -> list[date]:
    """The distinct days on which deliveries to ``domain`` failed since its last success."""
    value = await con.fetchval("SELECT failure_days FROM domains WHERE domain = $1", domain)
    return list(value or [])
