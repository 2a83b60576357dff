"""Counts about the instance as a whole: what NodeInfo reports to the rest of the fediverse."""

from __future__ import annotations

from dataclasses import dataclass

from storage.pool import Conn


@dataclass(frozen=True, slots=True)
class Usage:
    users_total: int
    active_month: int
    active_halfyear: int
    local_posts: int


async def usage(con: Conn) -> Usage:
    """Members (users not disabled, actor not deleted), how many of them posted in the last
    30 and 180 days, and the local statuses that are not reblogs. One statement, so the
    numbers are read from the same snapshot."""
    record = await con.fetchrow(
        """WITH members AS (
               SELECT u.actor_id FROM users u JOIN actors a ON a.id = u.actor_id
               WHERE u.disabled_at IS NULL AND a.deleted_at IS NULL
           ),
           last_posted AS (
               SELECT s.actor_id, max(s.published_at) AS at
               FROM statuses s JOIN members m ON m.actor_id = s.actor_id
               WHERE s.local AND s.published_at > now() - interval '180 days'
               GROUP BY s.actor_id
           )
           SELECT
               (SELECT count(*) FROM members) AS users_total,
               (SELECT count(*) FROM last_posted WHERE at > now() - interval '30 days')
                   AS active_month,
               (SELECT count(*) FROM last_posted) AS active_halfyear,
               (SELECT count(*) FROM statuses WHERE local AND reblog_of_id IS NULL)
                   AS local_posts"""
    )
    assert record is not None
    return Usage(
        users_total=int(record["users_total"]),
        active_month=int(record["active_month"]),
        active_halfyear=int(record["active_halfyear"]),
        local_posts=int(record["local_posts"]),
    )


async def admin_actor_uris(con: Conn) -> list[str]:
    """Actor URIs of the admins who can still act, oldest account first."""
    records = await con.fetch(
        """SELECT a.uri FROM users u JOIN actors a ON a.id = u.actor_id
           WHERE u.role = 'admin' AND u.disabled_at IS NULL AND a.deleted_at IS NULL
           ORDER BY u.id"""
    )
    return [str(r["uri"]) for r in records]
