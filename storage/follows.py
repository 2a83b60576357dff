"""Follows between actors, and favourites (likes)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.pool import Conn


@dataclass(frozen=True, slots=True)
class FollowRow:
    id: int
    uri: str
    follower_id: int
    followee_id: int
    state: str
    show_reblogs: bool
    notify: bool
    created_at: datetime
    accepted_at: datetime | None

    @property
    def accepted(self) -> bool:
        return self.state == "accepted"


_COLUMNS = ", ".join(f.name for f in dataclasses.fields(FollowRow))


def _row(record: asyncpg.Record | None) -> FollowRow | None:
    return None if record is None else FollowRow(**dict(record))


async def upsert(
    con: Conn, *, uri: str, follower_id: int, followee_id: int, accepted: bool
) -> FollowRow:
    """Record a follow; following again refreshes the activity id and keeps an acceptance."""
    record = await con.fetchrow(
        f"""INSERT INTO follows (uri, follower_id, followee_id, state, accepted_at)
            VALUES ($1, $2, $3, CASE WHEN $4 THEN 'accepted' ELSE 'pending' END,
                    CASE WHEN $4 THEN now() END)
            ON CONFLICT (follower_id, followee_id) DO UPDATE SET uri = excluded.uri,
                state = CASE WHEN follows.state = 'accepted' OR $4 THEN 'accepted'
                             ELSE 'pending' END,
                accepted_at = coalesce(follows.accepted_at, excluded.accepted_at)
            RETURNING {_COLUMNS}""",
        uri,
        follower_id,
        followee_id,
        accepted,
    )
    row = _row(record)
    assert row is not None
    return row


async def get(con: Conn, follower_id: int, followee_id: int) -> FollowRow | None:
    return _row(
        await con.fetchrow(
            f"SELECT {_COLUMNS} FROM follows WHERE follower_id = $1 AND followee_id = $2",
            follower_id,
            followee_id,
        )
    )


async def get_by_uri(con: Conn, uri: str) -> FollowRow | None:
    return _row(await con.fetchrow(f"SELECT {_COLUMNS} FROM follows WHERE uri = $1", uri))


async def accept(con: Conn, follow_id: int) -> FollowRow | None:
    return _row(
        await con.fetchrow(
            f"""UPDATE follows SET state = 'accepted', accepted_at = coalesce(accepted_at, now())
                WHERE id = $1 RETURNING {_COLUMNS}""",
            follow_id,
        )
    )


async def delete(con: Conn, follower_id: int, followee_id: int) -> FollowRow | None:
    return _row(
        await con.fetchrow(
            f"""DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2
                RETURNING {_COLUMNS}""",
            follower_id,
            followee_id,
        )
    )


async def delete_involving(con: Conn, actor_id: int) -> None:
    """An actor is gone: its follows both ways, its favourites and what it notified go too."""
    await con.execute("DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1", actor_id)
    await con.execute("DELETE FROM favourites WHERE actor_id = $1", actor_id)
    await con.execute("DELETE FROM notifications WHERE from_actor_id = $1", actor_id)


async def follower_inboxes(con: Conn, followee_id: int) -> list[str]:
    """Distinct delivery inboxes (shared inbox preferred) of remote accepted followers."""
    rows = await con.fetch(
        """SELECT DISTINCT coalesce(a.shared_inbox_uri, a.inbox_uri) AS inbox
           FROM follows f JOIN actors a ON a.id = f.follower_id
           WHERE f.followee_id = $1 AND f.state = 'accepted' AND NOT a.local
                 AND a.deleted_at IS NULL""",
        followee_id,
    )
    return [r["inbox"] for r in rows]


async def local_follower_ids(con: Conn, followee_id: int) -> list[int]:
    rows = await con.fetch(
        """SELECT f.follower_id FROM follows f JOIN actors a ON a.id = f.follower_id
           WHERE f.followee_id = $1 AND f.state = 'accepted' AND a.local""",
        followee_id,
    )
    return [r["follower_id"] for r in rows]


async def count(con: Conn, actor_id: int, *, followers: bool) -> int:
    column = "followee_id" if followers else "follower_id"
    return int(
        await con.fetchval(
            f"SELECT count(*) FROM follows WHERE {column} = $1 AND state = 'accepted'", actor_id
        )
    )


async def page_uris(
    con: Conn, actor_id: int, *, followers: bool, before_id: int | None, limit: int
) -> list[tuple[int, str]]:
    """(follow id, other actor's uri), newest first, for the collections."""
    mine, other = ("followee_id", "follower_id") if followers else ("follower_id", "followee_id")
    rows = await con.fetch(
        f"""SELECT f.id, a.uri FROM follows f JOIN actors a ON a.id = f.{other}
            WHERE f.{mine} = $1 AND f.state = 'accepted' AND ($2::bigint IS NULL OR f.id < $2)
            ORDER BY f.id DESC LIMIT $3""",
        actor_id,
        before_id,
        limit,
    )
    return [(r["id"], r["uri"]) for r in rows]


# Favourites


async def add_favourite(con: Conn, *, uri: str | None, actor_id: int, status_id: int) -> bool:
    result = await con.execute(
        """INSERT INTO favourites (uri, actor_id, status_id) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""",
        uri,
        actor_id,
        status_id,
    )
    return result.endswith(" 1")


async def remove_favourite(
    con: Conn, *, actor_id: int, uri: str | None = None, status_id: int | None = None
) -> bool:
    result = await con.execute(
        """DELETE FROM favourites WHERE actor_id = $1
           AND (($2::text IS NOT NULL AND uri = $2)
                OR ($3::bigint IS NOT NULL AND status_id = $3))""",
        actor_id,
        uri,
        status_id,
    )
    return result.endswith(" 1")


async def favourite_uri(con: Conn, actor_id: int, status_id: int) -> str | None:
    value = await con.fetchval(
        "SELECT uri FROM favourites WHERE actor_id = $1 AND status_id = $2", actor_id, status_id
    )
    return None if value is None else str(value)


async def count_favourites(con: Conn, status_id: int) -> int:
    return int(
        await con.fetchval("SELECT count(*) FROM favourites WHERE status_id = $1", status_id)
    )


async def notifying_follower_ids(con: Conn, followee_id: int) -> list[int]:
    """Local followers who asked to be notified of every post (Mastodon's bell)."""
    rows = await con.fetch(
        """SELECT f.follower_id FROM follows f JOIN actors a ON a.id = f.follower_id
           WHERE f.followee_id = $1 AND f.state = 'accepted' AND f.notify AND a.local""",
        followee_id,
    )
    return [r["follower_id"] for r in rows]
