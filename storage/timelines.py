"""Timelines: pages of statuses a member reads (home, public, hashtag, bookmarks, favourites).

Every query reads an index in id order and stops after about one page, whatever the size
of the table. The home timeline reads the member's feed (``home_feed``, kept by the
triggers of migration 0005), not every followed account's posts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import asyncpg

from storage import oauth, views
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


# The home feed (migration 0005) holds the ids; this reads it in id order and keeps what
# the viewer may see, stopping once the page is full. The accounts the viewer blocks,
# mutes or is blocked by are read once per page.
_HIDDEN = """hidden AS MATERIALIZED (
        SELECT target_id AS actor_id FROM blocks WHERE actor_id = $1
        UNION SELECT actor_id FROM blocks WHERE target_id = $1
        UNION SELECT target_id FROM mutes WHERE actor_id = $1
            AND (expires_at IS NULL OR expires_at > now()))"""
_FEED_PAGE = """SELECT s.id, s.reblog_of_id, s.xmin::text AS version, s.actor_id
    FROM home_feed h JOIN statuses s ON s.id = h.status_id
    WHERE h.owner_id = $1 AND h.status_id > $2 AND h.status_id < $3
      AND h.author_id NOT IN (SELECT actor_id FROM hidden)
      AND (s.reblog_of_id IS NULL OR s.actor_id = $1
           OR EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1
                        AND f.followee_id = s.actor_id AND f.show_reblogs))
      AND (s.actor_id = $1 OR s.visibility <> 'direct'
           OR EXISTS (SELECT 1 FROM status_mentions sm
                      WHERE sm.status_id = s.id AND sm.actor_id = $1))
      AND (s.actor_id = $1 OR s.in_reply_to_id IS NULL
           OR EXISTS (SELECT 1 FROM statuses p WHERE p.id = s.in_reply_to_id
                        AND (p.actor_id = $1 OR p.actor_id = s.actor_id
                             OR (p.actor_id NOT IN (SELECT actor_id FROM hidden)
                                 AND EXISTS (SELECT 1 FROM follows f
                                             WHERE f.follower_id = $1
                                               AND f.followee_id = p.actor_id
                                               AND f.state = 'accepted')))))
      AND (s.reblog_of_id IS NULL
           OR NOT EXISTS (SELECT 1 FROM statuses o WHERE o.id = s.reblog_of_id
                            AND o.actor_id IN (SELECT actor_id FROM hidden)))
    ORDER BY h.status_id {order} LIMIT $4"""


def _home_sql(order: str) -> str:
    """The page and the facts of its statuses and of the statuses they boost, in one
    statement: the facts' rows, each with its place on the page (null for an original
    only boosted there) and what it boosts, then the state of the token whose hash is $5
    (``oauth.token_state_sql``; nulls when $5 is null or the token is revoked). The
    page's own rows are taken as the feed read them; only the originals they boost are
    read again."""
    facts = views.facts_sql(
        source="rows s",
        where="true",
        more="s.place, s.reblog_of_id AS page_reblog_of_id, tok.version AS token_version,"
        " tok.stale AS token_stale",
        join="LEFT JOIN tok ON true",
    )
    return f"""WITH {_HIDDEN},
        page AS MATERIALIZED ({_FEED_PAGE.format(order=order)}),
        rows AS (
            SELECT id, version, actor_id, row_number() OVER (ORDER BY id {order}) AS place,
                   reblog_of_id
            FROM page
            UNION ALL
            SELECT o.id, o.xmin::text, o.actor_id, NULL, NULL FROM statuses o
            WHERE o.id IN (SELECT reblog_of_id FROM page)
              AND o.id NOT IN (SELECT id FROM page)),
        tok AS MATERIALIZED ({oauth.token_state_sql("$5::text")})
        {facts}"""


_HOME = {ascending: _home_sql("ASC" if ascending else "DESC") for ascending in (False, True)}


class StatusRef(NamedTuple):
    """A status on a page, by id: its row is read only when it must be rendered."""

    id: int
    reblog_of_id: int | None


_NO_ID, _LAST_ID = 0, (1 << 63) - 1


class HomePage(NamedTuple):
    refs: list[StatusRef]
    facts: dict[int, views.PageFact]
    # The state of the token asked about, as this page's snapshot saw it; None when it
    # was not asked about or the page is empty.
    token: oauth.TokenState | None


async def home(con: Conn, viewer_id: int, page: Page, token_hash: str | None = None) -> HomePage:
    """The viewer's own statuses and boosts and those of the accounts they follow (accepted,
    neither blocked nor muted), as far as the viewer may see them: a followed account's
    public, unlisted and private posts, and its direct ones only where the viewer is
    mentioned. Boosts respect the follow's ``show_reblogs`` and hide muted originals;
    replies to someone the viewer does not follow are left out, as on Mastodon.

    With the page come the facts of its statuses and of those they boost
    (``views.page_facts``), and the state of the token ``token_hash`` (to check a cached
    owner by), read by the same statement."""
    lower = max(page.since_id or _NO_ID, page.min_id or _NO_ID)
    upper = _LAST_ID if page.max_id is None else page.max_id
    records = await con.fetch(
        _HOME[page.ascending], viewer_id, lower, upper, page.limit, token_hash
    )
    width = views.PAGE_FACT_COLUMNS
    facts = {r[0]: views.PageFact(*r[:width]) for r in records}
    placed = sorted((r["place"], r[0]) for r in records if r["place"] is not None)
    by_id = {r[0]: r["page_reblog_of_id"] for r in records}
    refs = [StatusRef(status_id, by_id[status_id]) for _, status_id in placed]
    token = None
    if token_hash is not None and records:
        last = records[0]
        token = oauth.TokenState(last["token_version"], bool(last["token_stale"]))
    return HomePage(refs[::-1] if page.ascending else refs, facts, token)


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
    rows = [StatusRow(*r) for r in records]  # exactly the row's columns, in order
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
