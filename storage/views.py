"""Batched reads behind the client API's entities: one query per kind of fact, for a whole
page of statuses or accounts at once (never one query per row)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.pool import Conn


@dataclass(frozen=True, slots=True)
class AccountCounts:
    followers: int
    following: int
    statuses: int
    last_status_at: datetime | None


@dataclass(frozen=True, slots=True)
class StatusCounts:
    replies: int
    reblogs: int
    favourites: int


@dataclass(frozen=True, slots=True)
class ViewerFlags:
    favourited: bool
    reblogged: bool
    bookmarked: bool
    pinned: bool


async def account_counts(con: Conn, actor_ids: Sequence[int]) -> dict[int, AccountCounts]:
    rows = await con.fetch(
        """SELECT a.id,
              (SELECT count(*) FROM follows f
                WHERE f.followee_id = a.id AND f.state = 'accepted') AS followers,
              (SELECT count(*) FROM follows f
                WHERE f.follower_id = a.id AND f.state = 'accepted') AS following,
              (SELECT count(*) FROM statuses s WHERE s.actor_id = a.id) AS statuses,
              (SELECT max(s.published_at) FROM statuses s WHERE s.actor_id = a.id) AS last
           FROM unnest($1::bigint[]) AS a(id)""",
        list(set(actor_ids)),
    )
    return {
        r["id"]: AccountCounts(r["followers"], r["following"], r["statuses"], r["last"])
        for r in rows
    }


async def status_counts(con: Conn, status_ids: Sequence[int]) -> dict[int, StatusCounts]:
    rows = await con.fetch(
        """SELECT s.id,
              (SELECT count(*) FROM statuses r WHERE r.in_reply_to_id = s.id) AS replies,
              (SELECT count(*) FROM statuses b WHERE b.reblog_of_id = s.id) AS reblogs,
              (SELECT count(*) FROM favourites f WHERE f.status_id = s.id) AS favourites
           FROM unnest($1::bigint[]) AS s(id)""",
        list(set(status_ids)),
    )
    return {r["id"]: StatusCounts(r["replies"], r["reblogs"], r["favourites"]) for r in rows}


async def viewer_flags(
    con: Conn, viewer_id: int, status_ids: Sequence[int]
) -> dict[int, ViewerFlags]:
    rows = await con.fetch(
        """SELECT s.id,
              EXISTS (SELECT 1 FROM favourites f
                      WHERE f.status_id = s.id AND f.actor_id = $1) AS favourited,
              EXISTS (SELECT 1 FROM statuses b
                      WHERE b.reblog_of_id = s.id AND b.actor_id = $1) AS reblogged,
              EXISTS (SELECT 1 FROM bookmarks k
                      WHERE k.status_id = s.id AND k.actor_id = $1) AS bookmarked,
              EXISTS (SELECT 1 FROM pins p WHERE p.status_id = s.id AND p.actor_id = $1) AS pinned
           FROM unnest($2::bigint[]) AS s(id)""",
        viewer_id,
        list(set(status_ids)),
    )
    return {
        r["id"]: ViewerFlags(r["favourited"], r["reblogged"], r["bookmarked"], r["pinned"])
        for r in rows
    }


async def mentions(con: Conn, status_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = await con.fetch(
        """SELECT status_id, actor_id FROM status_mentions
           WHERE status_id = any($1::bigint[]) ORDER BY status_id, actor_id""",
        list(set(status_ids)),
    )
    found: dict[int, list[int]] = {}
    for r in rows:
        found.setdefault(r["status_id"], []).append(r["actor_id"])
    return found


async def tags(con: Conn, status_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = await con.fetch(
        """SELECT status_id, tag FROM status_tags
           WHERE status_id = any($1::bigint[]) ORDER BY status_id, tag""",
        list(set(status_ids)),
    )
    found: dict[int, list[str]] = {}
    for r in rows:
        found.setdefault(r["status_id"], []).append(r["tag"])
    return found


async def reply_authors(con: Conn, status_ids: Sequence[int]) -> dict[int, int]:
    """For replies among ``status_ids``: the author id of the status replied to."""
    rows = await con.fetch(
        """SELECT s.id, p.actor_id FROM statuses s JOIN statuses p ON p.id = s.in_reply_to_id
           WHERE s.id = any($1::bigint[])""",
        list(set(status_ids)),
    )
    return {r["id"]: r["actor_id"] for r in rows}
