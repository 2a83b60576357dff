"""What the client API's instance endpoints count: known peers and weekly activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.pool import Conn


@dataclass(frozen=True, slots=True)
class Week:
    start: datetime  # Monday 00:00 UTC
    statuses: int
    logins: int
    registrations: int


async def known_domains(con: Conn) -> list[str]:
    """Every instance we have met (an actor fetched, a delivery tried), by name."""
    records = await con.fetch("SELECT domain FROM domains ORDER BY domain")
    return [r["domain"] for r in records]


async def count_domains(con: Conn) -> int:
    return int(await con.fetchval("SELECT count(*) FROM domains"))


async def weekly_activity(con: Conn, weeks: int) -> list[Week]:
    """The last ``weeks`` weeks, this one first: local statuses posted, members who used
    the API (a token issued or used that week; only a token's latest use is kept, so a
    member counts at most in the week of each token's creation and of its last use) and
    members who joined."""
    records = await con.fetch(
        """WITH weeks AS (
               SELECT generate_series(
                   date_trunc('week', now() AT TIME ZONE 'UTC')
                       - ($1::int - 1) * interval '1 week',
                   date_trunc('week', now() AT TIME ZONE 'UTC'),
                   interval '1 week') AT TIME ZONE 'UTC' AS start
           )
           SELECT w.start,
               (SELECT count(*) FROM statuses s
                WHERE s.local AND s.created_at >= w.start
                  AND s.created_at < w.start + interval '1 week') AS statuses,
               (SELECT count(DISTINCT t.user_id) FROM oauth_tokens t
                WHERE t.user_id IS NOT NULL
                  AND ((t.created_at >= w.start AND t.created_at < w.start + interval '1 week')
                       OR (t.last_used_at >= w.start
                           AND t.last_used_at < w.start + interval '1 week'))) AS logins,
               (SELECT count(*) FROM users u
                WHERE u.created_at >= w.start
                  AND u.created_at < w.start + interval '1 week') AS registrations
           FROM weeks w ORDER BY w.start DESC""",
        weeks,
    )
    return [
        Week(
            start=r["start"],
            statuses=int(r["statuses"]),
            logins=int(r["logins"]),
            registrations=int(r["registrations"]),
        )
        for r in records
    ]
