"""Timelines: pages of statuses a member reads (home, public, hashtag, bookmarks, favourites).

Every query reads an index in id order and stops after about one page, whatever the size
of the table. The home timeline is the one that needs care: see ``home``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence

import asyncpg

from storage.paging import Page
from storage.pool import Conn
from storage.statuses import StatusRow

_FIELDS = tuple(f.name for f in dataclasses.fields(StatusRow))
_S_COLUMNS = ", ".join(f"s.{name}" for name in _FIELDS)


def _status(record: asyncpg.Record) -> StatusRow:
    return StatusRow(**{name: record[name] for name in _FIELDS})


def _hidden(viewer: str, actor: str) -> str:
    """SQL: ``actor`` is blocked or muted by ``viewer``, or blocks them (both are SQL terms)."""
    return f"""(EXISTS (SELECT 1 FROM blocks b
                        WHERE (b.actor_id = {viewer} AND b.target_id = {actor})
                           OR (b.actor_id = {actor} AND b.target_id = {viewer}))
               OR EXISTS (SELECT 1 FROM mutes m
                          WHERE m.actor_id = {viewer} AND m.target_id = {actor}
                            AND (m.expires_at IS NULL OR m.expires_at > now())))"""


# Home is read in windows of ids: first the last day below the page's upper bound,
# then windows 16 times wider, then the rest. In a window, each followed author's newest
# ids come from an index-only scan of statuses_actor (no heap): one index descent per
# followed author. The newest of those ids are the candidates; they are read from the heap
# and filtered in id order only until the page is full.
_ID_MS = 1 << 16  # ids are milliseconds << 16
_FIRST_WINDOW = 24 * 3600 * 1000 * _ID_MS
_WINDOW_GROWTH = 16
_NO_ID, _LAST_ID = 0, (1 << 63) - 1
_MAX_PASSES = 8
# Index entries a pass may read without a window (authors times batch).
_SMALL_READ = 4000


@functools.lru_cache(maxsize=256)
def _home_sql(ascending: bool, batch: int, want: int) -> str:
    """The home query for one direction and size ($1 viewer, $2/$3 the window, $4/$5 the
    whole range). The sizes are written in, and the viewer and the bounds are read through
    sub-selects: with nothing left for the estimates to depend on, PostgreSQL settles on
    one generic plan for the prepared statement instead of planning every call again
    (which costs more than running it)."""
    order = "ASC" if ascending else "DESC"
    return f"""
        WITH authors AS (
            SELECT f.followee_id AS actor_id, f.show_reblogs FROM follows f
            WHERE f.follower_id = (SELECT $1::bigint) AND f.state = 'accepted'
              AND f.followee_id NOT IN (
                  SELECT target_id FROM blocks WHERE actor_id = $1
                  UNION ALL SELECT actor_id FROM blocks WHERE target_id = $1
                  UNION ALL SELECT target_id FROM mutes WHERE actor_id = $1
                      AND (expires_at IS NULL OR expires_at > now()))
            UNION ALL
            SELECT $1::bigint, true
        ), plan AS (
            -- Few authors: reading a batch from each costs less than a second pass.
            SELECT count(*) * {batch} <= {_SMALL_READ} AS whole FROM authors
        ), candidates AS MATERIALIZED (
            SELECT c.id, a.show_reblogs FROM authors a CROSS JOIN LATERAL (
                SELECT s.id FROM statuses s
                WHERE s.actor_id = a.actor_id
                  AND s.id > (SELECT CASE WHEN whole THEN $4::bigint ELSE $2::bigint END
                              FROM plan)
                  AND s.id < (SELECT CASE WHEN whole THEN $5::bigint ELSE $3::bigint END
                              FROM plan)
                ORDER BY s.id {order} LIMIT {batch}
            ) c
            ORDER BY c.id {order} LIMIT {batch}
        ), span AS (
            SELECT count(*) AS candidates, min(id) AS lowest, max(id) AS highest,
                   (SELECT whole FROM plan) AS whole
            FROM candidates
        )
        SELECT span.*, kept.* FROM span LEFT JOIN LATERAL (
            -- In candidate order, so that reading stops once the page is full.
            SELECT s.* FROM (SELECT * FROM candidates ORDER BY id {order}) c
            CROSS JOIN LATERAL (
            SELECT {_S_COLUMNS} FROM statuses s
            WHERE s.id = c.id AND (c.show_reblogs OR s.reblog_of_id IS NULL)
              AND (s.actor_id = $1 OR s.visibility <> 'direct'
                   OR EXISTS (SELECT 1 FROM status_mentions sm
                              WHERE sm.status_id = s.id AND sm.actor_id = $1))
              AND (s.actor_id = $1 OR s.in_reply_to_id IS NULL
                   OR EXISTS (SELECT 1 FROM statuses p WHERE p.id = s.in_reply_to_id
                                AND (p.actor_id = $1 OR p.actor_id = s.actor_id
                                     OR p.actor_id IN (SELECT actor_id FROM authors))))
              AND (s.reblog_of_id IS NULL
                   OR NOT EXISTS (SELECT 1 FROM statuses o WHERE o.id = s.reblog_of_id
                                    AND {_hidden("$1", "o.actor_id")}))
            ) s
            ORDER BY c.id {order} LIMIT {want}
        ) kept ON true
        ORDER BY kept.id {order}"""


async def home(con: Conn, viewer_id: int, page: Page) -> list[StatusRow]:
    """The viewer's own statuses and boosts and those of the accounts they follow (accepted,
    neither blocked nor muted), as far as the viewer may see them: a followed account's
    public, unlisted and private posts, and its direct ones only where the viewer is
    mentioned. Boosts respect the follow's ``show_reblogs`` and hide muted originals;
    replies to someone the viewer does not follow are left out, as on Mastodon."""
    ascending = page.ascending
    # What is still to be read: ids strictly between lower and upper.
    lower = max(page.since_id or _NO_ID, page.min_id or _NO_ID)
    upper = _LAST_ID if page.max_id is None else page.max_id
    now = (int(time.time() * 1000) + 60_000) * _ID_MS
    window = _FIRST_WINDOW
    batch = page.limit * 2  # room for what the filters drop: one pass usually does
    found: list[StatusRow] = []
    for passes in range(_MAX_PASSES):
        last_pass = passes == _MAX_PASSES - 1
        if ascending:
            low, high = lower, upper if last_pass else min(upper, lower + window)
        else:
            low, high = (lower if last_pass else max(lower, min(upper, now) - window)), upper
        sql = _home_sql(ascending, batch, page.limit - len(found))
        records = await con.fetch(sql, viewer_id, low, high, lower, upper)
        found += [_status(r) for r in records if r["id"] is not None]
        span = records[0]
        if len(found) >= page.limit:
            break
        if span["candidates"] == batch:
            # The window holds more than one batch: go on after the last candidate.
            lower, upper = (span["highest"], upper) if ascending else (lower, span["lowest"])
            continue
        if span["whole"] or (high if ascending else low) == (upper if ascending else lower):
            break  # the whole range has been read
        lower, upper = (high, upper) if ascending else (lower, low)
        window *= _WINDOW_GROWTH
    return found[::-1] if ascending else found


def _origin_filter(local: bool, remote: bool) -> str:
    if local and not remote:
        return "s.local"
    if remote and not local:
        return "NOT s.local"
    return "true"


# A public timeline shows posts, not boosts, and of replies only an author's own threads.
_PUBLIC_POST = """s.visibility = 'public' AND s.reblog_of_id IS NULL
    AND (s.in_reply_to_uri IS NULL
         OR EXISTS (SELECT 1 FROM statuses p
                    WHERE p.id = s.in_reply_to_id AND p.actor_id = s.actor_id))"""
_WITH_MEDIA = "jsonb_array_length(coalesce(s.data -> 'attachments', '[]')) > 0"
# No index tells which posts carry media: only_media looks among this many of the newest
# matching posts (from the page's bound on), so that a rare match never scans the table.
MEDIA_SCAN = 2000


async def _public_page(
    con: Conn,
    page: Page,
    *,
    viewer_id: int | None,
    matching: str,
    args: Sequence[object],
    local: bool,
    remote: bool,
    only_media: bool,
) -> list[StatusRow]:
    """Public posts that also match ``matching`` (SQL over ``s``, parameters from $3)."""
    cond, values = page.where("s.id", 3 + len(args))
    order = page.order("s.id")
    scan = f"""SELECT {_S_COLUMNS} FROM statuses s
        WHERE {_PUBLIC_POST} AND {matching} AND {cond} AND {_origin_filter(local, remote)}
          AND ($1::bigint IS NULL OR NOT {_hidden("$1", "s.actor_id")})
        ORDER BY {order}"""
    if only_media:
        sql = f"""SELECT * FROM ({scan} LIMIT {MEDIA_SCAN}) s WHERE {_WITH_MEDIA}
                  ORDER BY {order} LIMIT $2"""
    else:
        sql = f"{scan} LIMIT $2"
    records = await con.fetch(sql, viewer_id, page.limit, *args, *values)
    rows = [_status(r) for r in records]
    return rows[::-1] if page.ascending else rows


async def public(
    con: Conn,
    page: Page,
    *,
    viewer_id: int | None,
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
) -> list[StatusRow]:
    """Public posts, newest first: all, only ours (``local``) or only others' (``remote``);
    for a viewer, without those of accounts they block or mute, or who block them."""
    return await _public_page(
        con,
        page,
        viewer_id=viewer_id,
        matching="true",
        args=(),
        local=local,
        remote=remote,
        only_media=only_media,
    )


async def tagged(
    con: Conn,
    page: Page,
    *,
    viewer_id: int | None,
    any_tags: Sequence[str],
    all_tags: Sequence[str] = (),
    none_tags: Sequence[str] = (),
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
) -> list[StatusRow]:
    """Public posts with any of ``any_tags``, all of ``all_tags`` and none of ``none_tags``."""
    matching = """s.id IN (SELECT t.status_id FROM status_tags t WHERE t.tag = any($3::text[]))
        AND NOT EXISTS (SELECT 1 FROM unnest($4::text[]) AS need(tag)
                        WHERE NOT EXISTS (SELECT 1 FROM status_tags t
                                          WHERE t.status_id = s.id AND t.tag = need.tag))
        AND NOT EXISTS (SELECT 1 FROM status_tags t
                        WHERE t.status_id = s.id AND t.tag = any($5::text[]))"""
    return await _public_page(
        con,
        page,
        viewer_id=viewer_id,
        matching=matching,
        args=(
            [t.lower() for t in any_tags],
            [t.lower() for t in all_tags],
            [t.lower() for t in none_tags],
        ),
        local=local,
        remote=remote,
        only_media=only_media,
    )


async def _marked(con: Conn, table: str, actor_id: int, page: Page) -> list[tuple[int, StatusRow]]:
    cond, values = page.where("k.id", 3)
    order = page.order("k.id")
    records = await con.fetch(
        f"""SELECT k.id AS mark_id, {_S_COLUMNS} FROM {table} k
            JOIN statuses s ON s.id = k.status_id
            WHERE k.actor_id = $1 AND {cond}
            ORDER BY {order} LIMIT $2""",
        actor_id,
        page.limit,
        *values,
    )
    marks = [(r["mark_id"], _status(r)) for r in records]
    return marks[::-1] if page.ascending else marks


async def bookmarks(con: Conn, actor_id: int, page: Page) -> list[tuple[int, StatusRow]]:
    """(bookmark id, status), newest bookmark first: Mastodon pages these by bookmark id."""
    return await _marked(con, "bookmarks", actor_id, page)


async def favourites(con: Conn, actor_id: int, page: Page) -> list[tuple[int, StatusRow]]:
    """(favourite id, status), newest favourite first, paged by favourite id."""
    return await _marked(con, "favourites", actor_id, page)
