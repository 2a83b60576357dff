"""Batched reads behind the client API's entities: one query per kind of fact, for a whole
page of statuses or accounts at once (never one query per row).

The values are named tuples: a page builds a hundred of them, and a tuple is several
times cheaper to make than a frozen dataclass."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from storage.actors import ActorRow
from storage.pool import Conn

_A_FIELDS = tuple(f.name for f in dataclasses.fields(ActorRow))
_A_COLUMNS = ", ".join(f"a.{name}" for name in _A_FIELDS)


class AccountCounts(NamedTuple):
    followers: int
    following: int
    statuses: int
    last_status_at: datetime | None


class StatusCounts(NamedTuple):
    replies: int
    reblogs: int
    favourites: int


class ViewerFlags(NamedTuple):
    favourited: bool
    reblogged: bool
    bookmarked: bool
    pinned: bool


async def account_counts(con: Conn, actor_ids: Sequence[int]) -> dict[int, AccountCounts]:
    # Counters kept by triggers (migration 0004): counting here cost a scan per author.
    rows = await con.fetch(
        """SELECT a.id, coalesce(s.followers_count, 0) AS followers,
                  coalesce(s.following_count, 0) AS following,
                  coalesce(s.statuses_count, 0) AS statuses, s.last_status_at AS last
           FROM unnest($1::bigint[]) AS a(id) LEFT JOIN actor_stats s ON s.actor_id = a.id""",
        list(set(actor_ids)),
    )
    return {
        r["id"]: AccountCounts(r["followers"], r["following"], r["statuses"], r["last"])
        for r in rows
    }


async def accounts(
    con: Conn, actor_ids: Sequence[int]
) -> dict[int, tuple[ActorRow, AccountCounts]]:
    """Actors with their counters: ``actors.get_many`` and ``account_counts`` in one round
    trip."""
    rows = await con.fetch(
        f"""SELECT {_A_COLUMNS},
                  coalesce(s.followers_count, 0) AS s_followers,
                  coalesce(s.following_count, 0) AS s_following,
                  coalesce(s.statuses_count, 0) AS s_statuses, s.last_status_at AS s_last
           FROM actors a LEFT JOIN actor_stats s ON s.actor_id = a.id
           WHERE a.id = any($1::bigint[])""",
        list(set(actor_ids)),
    )
    width = len(_A_FIELDS)
    return {
        r["id"]: (
            ActorRow(*r[:width]),
            AccountCounts(r["s_followers"], r["s_following"], r["s_statuses"], r["s_last"]),
        )
        for r in rows
    }


async def status_counts(con: Conn, status_ids: Sequence[int]) -> dict[int, StatusCounts]:
    rows = await con.fetch(
        """SELECT s.id, coalesce(t.replies_count, 0) AS replies,
                  coalesce(t.reblogs_count, 0) AS reblogs,
                  coalesce(t.favourites_count, 0) AS favourites
           FROM unnest($1::bigint[]) AS s(id) LEFT JOIN status_stats t ON t.status_id = s.id""",
        list(set(status_ids)),
    )
    return {r["id"]: StatusCounts(r["replies"], r["reblogs"], r["favourites"]) for r in rows}


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


class StatusFacts(NamedTuple):
    counts: StatusCounts
    flags: ViewerFlags
    tags: list[str]
    mention_ids: list[int]
    reply_author_id: int | None


class PageFact(NamedTuple):
    """A status's facts, with what says whether a copy rendered earlier still holds: the
    versions of its row and of its author's row (``xmin``, which every update of a row
    changes), and the author's counters."""

    facts: StatusFacts
    version: str
    actor_id: int
    author_version: str
    author_counts: AccountCounts


async def page_facts(
    con: Conn, viewer_id: int | None, status_ids: Sequence[int]
) -> dict[int, PageFact]:
    """Everything a page of statuses needs besides the rows themselves, in one round trip;
    a status that is gone is left out."""
    rows = await con.fetch(
        """SELECT s.id, s.xmin::text AS version, s.actor_id, a.xmin::text AS author_version,
              coalesce(t.replies_count, 0) AS replies,
              coalesce(t.reblogs_count, 0) AS reblogs,
              coalesce(t.favourites_count, 0) AS favourites,
              -- (SELECT … LIMIT 1) rather than EXISTS: with EXISTS the planner hashes all
              -- of the viewer's favourites/bookmarks on every page.
              (SELECT true FROM favourites f
                WHERE f.status_id = s.id AND f.actor_id = $1 LIMIT 1) IS NOT NULL AS favourited,
              (SELECT true FROM statuses b
                WHERE b.reblog_of_id = s.id AND b.actor_id = $1 LIMIT 1) IS NOT NULL AS reblogged,
              (SELECT true FROM bookmarks k
                WHERE k.status_id = s.id AND k.actor_id = $1 LIMIT 1) IS NOT NULL AS bookmarked,
              (SELECT true FROM pins p
                WHERE p.status_id = s.id AND p.actor_id = $1 LIMIT 1) IS NOT NULL AS pinned,
              ARRAY(SELECT g.tag FROM status_tags g WHERE g.status_id = s.id
                    ORDER BY g.tag) AS tags,
              ARRAY(SELECT m.actor_id FROM status_mentions m WHERE m.status_id = s.id
                    ORDER BY m.actor_id) AS mentions,
              (SELECT p.actor_id FROM statuses p WHERE p.id = s.in_reply_to_id) AS reply_author,
              coalesce(c.followers_count, 0) AS a_followers,
              coalesce(c.following_count, 0) AS a_following,
              coalesce(c.statuses_count, 0) AS a_statuses, c.last_status_at AS a_last
           FROM statuses s
           JOIN actors a ON a.id = s.actor_id
           LEFT JOIN status_stats t ON t.status_id = s.id
           LEFT JOIN actor_stats c ON c.actor_id = s.actor_id
           WHERE s.id = any($2::bigint[])""",
        viewer_id,
        list(set(status_ids)),
    )
    return {
        r["id"]: PageFact(
            StatusFacts(
                StatusCounts(r["replies"], r["reblogs"], r["favourites"]),
                ViewerFlags(r["favourited"], r["reblogged"], r["bookmarked"], r["pinned"]),
                list(r["tags"]),
                list(r["mentions"]),
                r["reply_author"],
            ),
            r["version"],
            r["actor_id"],
            r["author_version"],
            AccountCounts(r["a_followers"], r["a_following"], r["a_statuses"], r["a_last"]),
        )
        for r in rows
    }


async def status_facts(
    con: Conn, viewer_id: int | None, status_ids: Sequence[int]
) -> dict[int, StatusFacts]:
    """``page_facts`` without the versions."""
    found = await page_facts(con, viewer_id, status_ids)
    return {status_id: fact.facts for status_id, fact in found.items()}
