"""Batched reads behind the client API's entities: one query per kind of fact, for a whole
page of statuses or accounts at once (never one query per row).

The values are named tuples: a page builds a hundred of them, and a tuple is several
times cheaper to make than a frozen dataclass."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Final, NamedTuple

from storage.actors import ActorRow
from storage.pool import Conn
from storage.statuses import StatusRow

_A_FIELDS = tuple(f.name for f in dataclasses.fields(ActorRow))
_A_COLUMNS = ", ".join(f"a.{name}" for name in _A_FIELDS)
_S_FIELDS = tuple(f.name for f in dataclasses.fields(StatusRow))
_S_COLUMNS = ", ".join(f"s.{name}" for name in _S_FIELDS)


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


class AccountRecord(NamedTuple):
    actor: ActorRow
    counts: AccountCounts
    version: str  # the account's profile version, as ``page_facts`` gives it


async def accounts(con: Conn, actor_ids: Sequence[int]) -> dict[int, AccountRecord]:
    """Actors with their counters and row versions: ``actors.get_many`` and
    ``account_counts`` in one round trip."""
    rows = await con.fetch(
        f"""SELECT {_A_COLUMNS}, coalesce(s.profile_version, 0)::text AS a_version,
                  coalesce(s.followers_count, 0) AS s_followers,
                  coalesce(s.following_count, 0) AS s_following,
                  coalesce(s.statuses_count, 0) AS s_statuses, s.last_status_at AS s_last
           FROM actors a LEFT JOIN actor_stats s ON s.actor_id = a.id
           WHERE a.id = any($1::bigint[])""",
        list(set(actor_ids)),
    )
    width = len(_A_FIELDS)
    return {
        r["id"]: AccountRecord(
            ActorRow(*r[:width]),
            AccountCounts(r["s_followers"], r["s_following"], r["s_statuses"], r["s_last"]),
            r["a_version"],
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


class StatusExtras(NamedTuple):
    """What a status shows that only changes with the status itself."""

    tags: list[str]
    mention_ids: list[int]
    reply_author_id: int | None


class PageFact(NamedTuple):
    """What a page shows of a status that changes without the status changing, with what
    says whether a copy rendered earlier still holds: the version of its row (``xmin``,
    which every update of a row changes) and its author's profile version (moved on by
    every change to the actor's row: migration 0007). Flat, and made straight from the
    record: a page makes one per status."""

    id: int
    version: str
    actor_id: int
    author_version: str
    replies: int
    reblogs: int
    favourites: int
    favourited: bool
    reblogged: bool
    bookmarked: bool
    pinned: bool
    followers: int  # the author's counters
    following: int
    statuses: int
    last_status_at: datetime | None

    @property
    def counts(self) -> StatusCounts:
        return StatusCounts(self.replies, self.reblogs, self.favourites)

    @property
    def flags(self) -> ViewerFlags:
        return ViewerFlags(self.favourited, self.reblogged, self.bookmarked, self.pinned)

    @property
    def author_counts(self) -> AccountCounts:
        return AccountCounts(self.followers, self.following, self.statuses, self.last_status_at)


_EXTRAS = """ARRAY(SELECT g.tag FROM status_tags g WHERE g.status_id = s.id
                    ORDER BY g.tag) AS tags,
              ARRAY(SELECT m.actor_id FROM status_mentions m WHERE m.status_id = s.id
                    ORDER BY m.actor_id) AS mentions,
              (SELECT p.actor_id FROM statuses p WHERE p.id = s.in_reply_to_id) AS reply_author"""


def facts_sql(
    *,
    extras: bool = False,
    where: str = "s.id = any($2::bigint[])",
    more: str = "",
    join: str = "",
    source: str = "statuses s",
) -> str:
    """The page facts' statement ($1 the viewer) over the statuses ``where`` selects: the
    ``PageFact`` columns first, then the extras when asked for, then ``more`` (columns of
    what ``join`` adds). ``source`` may be rows read before instead of the table: ``s``
    with an ``id``, an ``actor_id`` and the row's ``version`` (its ``xmin`` as text)."""
    version = "s.xmin::text" if source == "statuses s" else "s.version"
    return f"""SELECT s.id, {version} AS version, s.actor_id,
              coalesce(c.profile_version, 0)::text AS author_version,
              coalesce(t.replies_count, 0) AS replies,
              coalesce(t.reblogs_count, 0) AS reblogs,
              coalesce(t.favourites_count, 0) AS favourites,
              -- (SELECT … LIMIT 1) rather than EXISTS: with EXISTS the planner hashes all
              -- of the viewer's favourites/bookmarks on every page. A probe is only made
              -- where it can find something: a status nobody favourited (by the counter
              -- the triggers of migration 0004 keep) is not the viewer's favourite, and
              -- only one's own statuses can be pinned. AND evaluates left to right.
              (coalesce(t.favourites_count, 0) > 0
               AND (SELECT true FROM favourites f
                    WHERE f.status_id = s.id AND f.actor_id = $1 LIMIT 1) IS NOT NULL)
                  AS favourited,
              (coalesce(t.reblogs_count, 0) > 0
               AND (SELECT true FROM statuses b
                    WHERE b.reblog_of_id = s.id AND b.actor_id = $1 LIMIT 1) IS NOT NULL)
                  AS reblogged,
              (SELECT true FROM bookmarks k
                WHERE k.status_id = s.id AND k.actor_id = $1 LIMIT 1) IS NOT NULL AS bookmarked,
              (s.actor_id = $1
               AND (SELECT true FROM pins p
                    WHERE p.status_id = s.id AND p.actor_id = $1 LIMIT 1) IS NOT NULL) AS pinned,
              coalesce(c.followers_count, 0) AS a_followers,
              coalesce(c.following_count, 0) AS a_following,
              coalesce(c.statuses_count, 0) AS a_statuses, c.last_status_at AS a_last
              {", " + _EXTRAS if extras else ""} {", " + more if more else ""}
           FROM {source}
           LEFT JOIN status_stats t ON t.status_id = s.id
           -- Probed per status (OFFSET 0 keeps the subquery from becoming a join that
           -- the planner would rather hash: every actor's counters, for one page).
           LEFT JOIN LATERAL (SELECT * FROM actor_stats c WHERE c.actor_id = s.actor_id
                              OFFSET 0) c ON true
           {join}
           WHERE {where}"""


_PAGE_FACTS, _ALL_FACTS = facts_sql(), facts_sql(extras=True)
PAGE_FACT_COLUMNS: Final = len(PageFact._fields)


async def page_facts(
    con: Conn, viewer_id: int | None, status_ids: Sequence[int]
) -> dict[int, PageFact]:
    """What a page shows of these statuses besides the rows and their ``status_extras``,
    in one round trip; a status that is gone is left out."""
    rows = await con.fetch(_PAGE_FACTS, viewer_id, list(set(status_ids)))
    return {r[0]: PageFact(*r) for r in rows}  # the columns are the fields, in order


class StatusDetails(NamedTuple):
    row: StatusRow
    version: str  # the row's ``xmin``, as ``page_facts`` gives it
    extras: StatusExtras


async def status_details(con: Conn, status_ids: Sequence[int]) -> dict[int, StatusDetails]:
    """Rows with their versions and extras, read in one statement: what is rendered from
    them is exactly what the version stands for."""
    rows = await con.fetch(
        f"""SELECT {_S_COLUMNS}, s.xmin::text AS s_version, {_EXTRAS}
            FROM statuses s WHERE s.id = any($1::bigint[])""",
        list(set(status_ids)),
    )
    width = len(_S_FIELDS)
    return {
        r["id"]: StatusDetails(
            StatusRow(*r[:width]),
            r["s_version"],
            StatusExtras(list(r["tags"]), list(r["mentions"]), r["reply_author"]),
        )
        for r in rows
    }


async def status_facts(
    con: Conn, viewer_id: int | None, status_ids: Sequence[int]
) -> dict[int, StatusFacts]:
    """Everything statuses show besides their rows and authors, in one round trip."""
    rows = await con.fetch(_ALL_FACTS, viewer_id, list(set(status_ids)))
    return {
        r["id"]: StatusFacts(
            StatusCounts(r["replies"], r["reblogs"], r["favourites"]),
            ViewerFlags(r["favourited"], r["reblogged"], r["bookmarked"], r["pinned"]),
            list(r["tags"]),
            list(r["mentions"]),
            r["reply_author"],
        )
        for r in rows
    }
