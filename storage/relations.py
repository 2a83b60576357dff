"""How one actor stands towards others: follows seen from both sides, blocks and mutes;
the pages of accounts behind them, an actor's statuses as a viewer may see them, and
account search."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.actors import ActorRow
from storage.paging import Page
from storage.pool import Conn
from storage.statuses import StatusRow

_ACTOR_COLUMNS = ", ".join(f"a.{f.name}" for f in dataclasses.fields(ActorRow))
_STATUS_COLUMNS = ", ".join(f"s.{f.name}" for f in dataclasses.fields(StatusRow))


@dataclass(frozen=True, slots=True)
class Relation:
    """The viewer's relationship with one target, as Mastodon's Relationship shows it."""

    target_id: int
    following: bool
    requested: bool
    showing_reblogs: bool
    notifying: bool
    followed_by: bool
    requested_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool
    muting_notifications: bool


@dataclass(frozen=True, slots=True)
class BlockRow:
    id: int
    uri: str | None
    actor_id: int
    target_id: int
    created_at: datetime


_BLOCK_COLUMNS = ", ".join(f.name for f in dataclasses.fields(BlockRow))


def _block(record: asyncpg.Record | None) -> BlockRow | None:
    return None if record is None else BlockRow(**dict(record))


async def relations(con: Conn, viewer_id: int, target_ids: Sequence[int]) -> dict[int, Relation]:
    """The viewer's relationship with each target, in one query."""
    records = await con.fetch(
        """SELECT t.id,
              fo.state AS out_state, fo.show_reblogs, fo.notify,
              fi.state AS in_state,
              EXISTS (SELECT 1 FROM blocks b WHERE b.actor_id = $1 AND b.target_id = t.id)
                  AS blocking,
              EXISTS (SELECT 1 FROM blocks b WHERE b.actor_id = t.id AND b.target_id = $1)
                  AS blocked_by,
              m.hide_notifications
           FROM unnest($2::bigint[]) AS t(id)
           LEFT JOIN follows fo ON fo.follower_id = $1 AND fo.followee_id = t.id
           LEFT JOIN follows fi ON fi.follower_id = t.id AND fi.followee_id = $1
           LEFT JOIN mutes m ON m.actor_id = $1 AND m.target_id = t.id
                AND (m.expires_at IS NULL OR m.expires_at > now())""",
        viewer_id,
        list(set(target_ids)),
    )
    return {
        r["id"]: Relation(
            target_id=r["id"],
            following=r["out_state"] == "accepted",
            requested=r["out_state"] == "pending",
            showing_reblogs=bool(r["show_reblogs"]) if r["out_state"] else False,
            notifying=bool(r["notify"]) if r["out_state"] else False,
            followed_by=r["in_state"] == "accepted",
            requested_by=r["in_state"] == "pending",
            blocking=r["blocking"],
            blocked_by=r["blocked_by"],
            muting=r["hide_notifications"] is not None,
            muting_notifications=bool(r["hide_notifications"]),
        )
        for r in records
    }


async def either_blocks(con: Conn, a_id: int, b_id: int) -> bool:
    return bool(
        await con.fetchval(
            """SELECT EXISTS (SELECT 1 FROM blocks WHERE (actor_id = $1 AND target_id = $2)
                                                   OR (actor_id = $2 AND target_id = $1))""",
            a_id,
            b_id,
        )
    )


async def set_follow_options(
    con: Conn, follow_id: int, *, show_reblogs: bool, notify: bool
) -> None:
    await con.execute(
        "UPDATE follows SET show_reblogs = $2, notify = $3 WHERE id = $1",
        follow_id,
        show_reblogs,
        notify,
    )


async def count_follow_requests(con: Conn, actor_id: int) -> int:
    return int(
        await con.fetchval(
            "SELECT count(*) FROM follows WHERE followee_id = $1 AND state = 'pending'", actor_id
        )
    )


# Blocks and mutes


async def get_block(con: Conn, actor_id: int, target_id: int) -> BlockRow | None:
    return _block(
        await con.fetchrow(
            f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE actor_id = $1 AND target_id = $2",
            actor_id,
            target_id,
        )
    )


async def add_block(con: Conn, *, uri: str, actor_id: int, target_id: int) -> BlockRow | None:
    """Record a block; None when it exists already."""
    return _block(
        await con.fetchrow(
            f"""INSERT INTO blocks (uri, actor_id, target_id) VALUES ($1, $2, $3)
                ON CONFLICT (actor_id, target_id) DO NOTHING RETURNING {_BLOCK_COLUMNS}""",
            uri,
            actor_id,
            target_id,
        )
    )


async def remove_block(con: Conn, actor_id: int, target_id: int) -> BlockRow | None:
    return _block(
        await con.fetchrow(
            f"""DELETE FROM blocks WHERE actor_id = $1 AND target_id = $2
                RETURNING {_BLOCK_COLUMNS}""",
            actor_id,
            target_id,
        )
    )


async def set_mute(
    con: Conn,
    *,
    actor_id: int,
    target_id: int,
    hide_notifications: bool,
    expires_at: datetime | None,
) -> None:
    """Mute, or change an existing mute's options (muting again restarts its duration)."""
    await con.execute(
        """INSERT INTO mutes (actor_id, target_id, hide_notifications, expires_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (actor_id, target_id) DO UPDATE SET
               hide_notifications = excluded.hide_notifications,
               expires_at = excluded.expires_at""",
        actor_id,
        target_id,
        hide_notifications,
        expires_at,
    )


async def remove_mute(con: Conn, actor_id: int, target_id: int) -> bool:
    result = await con.execute(
        "DELETE FROM mutes WHERE actor_id = $1 AND target_id = $2", actor_id, target_id
    )
    return result.endswith(" 1")


# Pages of accounts: (cursor id, actor) with the row id of the block, mute or follow as
# the cursor, so that Link headers page through them as Mastodon does.


async def _actor_page(
    con: Conn, table: str, mine: str, other: str, extra: str, owner_id: int, page: Page
) -> list[tuple[int, ActorRow]]:
    where, values = page.where("x.id", 3)
    records = await con.fetch(
        f"""SELECT x.id AS cursor_id, {_ACTOR_COLUMNS}
            FROM {table} x JOIN actors a ON a.id = x.{other}
            WHERE x.{mine} = $1 AND a.deleted_at IS NULL AND {extra} AND {where}
            ORDER BY {page.order("x.id")} LIMIT $2""",
        owner_id,
        page.limit,
        *values,
    )
    found = [
        (r["cursor_id"], ActorRow(**{k: v for k, v in r.items() if k != "cursor_id"}))
        for r in records
    ]
    return list(reversed(found)) if page.ascending else found


async def follow_page(
    con: Conn, actor_id: int, page: Page, *, followers: bool
) -> list[tuple[int, ActorRow]]:
    """Accepted followers (or followed accounts) of ``actor_id``, newest follow first."""
    mine, other = ("followee_id", "follower_id") if followers else ("follower_id", "followee_id")
    return await _actor_page(con, "follows", mine, other, "x.state = 'accepted'", actor_id, page)


async def blocked_page(con: Conn, actor_id: int, page: Page) -> list[tuple[int, ActorRow]]:
    return await _actor_page(con, "blocks", "actor_id", "target_id", "true", actor_id, page)


async def muted_page(con: Conn, actor_id: int, page: Page) -> list[tuple[int, ActorRow]]:
    live = "(x.expires_at IS NULL OR x.expires_at > now())"
    return await _actor_page(con, "mutes", "actor_id", "target_id", live, actor_id, page)


async def familiar_followers(
    con: Conn, viewer_id: int, target_ids: Sequence[int]
) -> dict[int, list[int]]:
    """For each target: the accounts the viewer follows that follow the target."""
    records = await con.fetch(
        """SELECT theirs.followee_id AS target_id, theirs.follower_id AS familiar_id
           FROM follows mine
           JOIN follows theirs ON theirs.follower_id = mine.followee_id
           JOIN actors a ON a.id = theirs.follower_id
           WHERE mine.follower_id = $1 AND mine.state = 'accepted'
             AND theirs.state = 'accepted' AND theirs.followee_id = any($2::bigint[])
             AND a.deleted_at IS NULL
           ORDER BY theirs.followee_id, theirs.id DESC""",
        viewer_id,
        list(set(target_ids)),
    )
    found: dict[int, list[int]] = {}
    for r in records:
        found.setdefault(r["target_id"], []).append(r["familiar_id"])
    return found


# An actor's statuses, as a viewer may see them


@dataclass(frozen=True, slots=True)
class StatusFilter:
    pinned: bool = False
    exclude_replies: bool = False
    exclude_reblogs: bool = False
    tagged: str | None = None


async def account_statuses(
    con: Conn, author_id: int, viewer_id: int | None, page: Page, only: StatusFilter
) -> list[StatusRow]:
    """The author's statuses the viewer may read, newest first.

    Everyone sees public and unlisted ones; followers also see followers-only ones; a
    mentioned account sees what mentions it; the author sees everything.
    """
    where, values = page.where("s.id", 4)
    conditions = [
        """(s.visibility IN ('public', 'unlisted')
            OR s.actor_id = $2
            OR (s.visibility = 'private' AND EXISTS (
                SELECT 1 FROM follows f WHERE f.follower_id = $2 AND f.followee_id = s.actor_id
                                          AND f.state = 'accepted'))
            OR EXISTS (SELECT 1 FROM status_mentions m
                       WHERE m.status_id = s.id AND m.actor_id = $2))""",
        where,
    ]
    joins = ""
    if only.pinned:
        joins = "JOIN pins p ON p.status_id = s.id AND p.actor_id = s.actor_id"
    if only.exclude_reblogs:
        conditions.append("s.reblog_of_id IS NULL")
    if only.exclude_replies:
        # Like Mastodon, a thread of one's own is not "replies": replies to oneself stay.
        conditions.append(
            """(s.in_reply_to_uri IS NULL OR EXISTS (
                SELECT 1 FROM statuses parent
                WHERE parent.id = s.in_reply_to_id AND parent.actor_id = s.actor_id))"""
        )
    tag_param: list[str] = []
    if only.tagged is not None:
        tag_param = [only.tagged.lower()]
        conditions.append(
            f"""EXISTS (SELECT 1 FROM status_tags t
                       WHERE t.status_id = s.id AND t.tag = ${4 + len(values)})"""
        )
    records = await con.fetch(
        f"""SELECT {_STATUS_COLUMNS} FROM statuses s {joins}
            WHERE s.actor_id = $1 AND {" AND ".join(conditions)}
            ORDER BY {page.order("s.id")} LIMIT $3""",
        author_id,
        viewer_id,
        page.limit,
        *values,
        *tag_param,
    )
    rows = [StatusRow(**dict(r)) for r in records]
    return list(reversed(rows)) if page.ascending else rows


# Account search


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


async def search_accounts(
    con: Conn,
    *,
    username: str,
    domain: str | None,
    local_only: bool,
    viewer_id: int | None,
    following_only: bool,
    limit: int,
    offset: int,
) -> list[ActorRow]:
    """Known accounts whose username (or display name, or a word of it) starts with
    ``username``; with ``domain``, only remote accounts of a domain starting with it, and
    with ``local_only`` only ours.

    Exact usernames come first, then accounts the viewer follows, then local ones.
    Accounts the viewer blocks or is blocked by are left out, as on Mastodon.
    """
    prefix = _like_prefix(username.lower())
    records = await con.fetch(
        f"""SELECT {_ACTOR_COLUMNS},
               EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $3
                       AND f.followee_id = a.id AND f.state = 'accepted') AS followed
            FROM actors a
            WHERE a.deleted_at IS NULL
              AND NOT (a.local AND a.type = 'Application')
              AND (lower(a.username) LIKE $1
                   OR ($2::text IS NULL AND (lower(a.display_name) LIKE $1
                                             OR lower(a.display_name) LIKE '% ' || $1)))
              AND ($2::text IS NULL OR a.domain LIKE $7)
              AND (NOT $9::boolean OR a.local)
              AND ($3::bigint IS NULL OR NOT EXISTS (
                    SELECT 1 FROM blocks b WHERE (b.actor_id = $3 AND b.target_id = a.id)
                                              OR (b.actor_id = a.id AND b.target_id = $3)))
              AND (NOT $4::boolean OR EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $3
                                     AND f.followee_id = a.id AND f.state = 'accepted'))
            ORDER BY lower(a.username) = $8 DESC, followed DESC, a.local DESC,
                     lower(a.username), a.domain NULLS FIRST, a.id
            LIMIT $5 OFFSET $6""",
        prefix,
        domain,
        viewer_id,
        following_only,
        limit,
        offset,
        _like_prefix((domain or "").lower()),
        username.lower(),
        local_only,
    )
    return [ActorRow(**{k: v for k, v in r.items() if k != "followed"}) for r in records]


async def set_user_locale(con: Conn, user_id: int, locale: str) -> None:
    await con.execute("UPDATE users SET locale = $2 WHERE id = $1", user_id, locale)
