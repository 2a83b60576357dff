"""What the client API shows of statuses and accounts, loaded a page at a time.

``status_views`` turns a page of rows into everything the entities need with a fixed
number of queries, whatever the page size: authors, boosted originals, counts, the
viewer's own flags, mentions and tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.services import Services
from storage import statuses, views
from storage.actors import ActorRow
from storage.pool import Conn
from storage.statuses import StatusRow
from storage.views import AccountCounts, StatusCounts, ViewerFlags

NO_ACCOUNT_COUNTS = AccountCounts(0, 0, 0, None)


@dataclass(frozen=True, slots=True)
class AccountView:
    actor: ActorRow
    counts: AccountCounts


@dataclass(frozen=True, slots=True)
class StatusView:
    status: StatusRow
    author: AccountView
    reblog: StatusView | None
    mentions: list[ActorRow]
    tags: list[str]
    counts: StatusCounts
    flags: ViewerFlags
    in_reply_to_account_id: int | None
    # Only the author sees whether a status of theirs is pinned.
    viewer_is_author: bool


async def account_views(con: Conn, actor_rows: Sequence[ActorRow]) -> list[AccountView]:
    counts = await views.account_counts(con, [a.id for a in actor_rows])
    return [AccountView(a, counts.get(a.id, NO_ACCOUNT_COUNTS)) for a in actor_rows]


async def account_view(services: Services, actor: ActorRow) -> AccountView:
    async with services.pool.acquire() as con:
        return (await account_views(con, [actor]))[0]


async def status_views(
    services: Services, viewer: ActorRow | None, rows: Sequence[StatusRow]
) -> list[StatusView]:
    if not rows:
        return []
    async with services.pool.acquire() as con:
        return await load_status_views(con, viewer, rows)


async def load_status_views(
    con: Conn, viewer: ActorRow | None, rows: Sequence[StatusRow]
) -> list[StatusView]:
    reblog_ids = [r.reblog_of_id for r in rows if r.reblog_of_id is not None]
    originals = await statuses.get_many(con, reblog_ids) if reblog_ids else {}
    every = [*rows, *originals.values()]
    # A fixed number of round trips per page: facts, then every actor, then their counters.
    facts = await views.status_facts(con, viewer.id if viewer else None, [s.id for s in every])
    author_ids = {s.actor_id for s in every}
    mention_ids = {a for f in facts.values() for a in f.mention_ids}
    people_counts = await views.accounts(con, list(author_ids | mention_ids))
    people = {actor_id: found.actor for actor_id, found in people_counts.items()}
    author_counts = {actor_id: found.counts for actor_id, found in people_counts.items()}

    def build(row: StatusRow) -> StatusView | None:
        author = people.get(row.actor_id)
        fact = facts.get(row.id)
        if author is None or fact is None:
            return None
        reblog = None
        if row.reblog_of_id is not None:
            original = originals.get(row.reblog_of_id)
            reblog = build(original) if original is not None else None
            if reblog is None:
                return None  # the boosted status is gone: so is the boost
        return StatusView(
            status=row,
            author=AccountView(author, author_counts.get(author.id, NO_ACCOUNT_COUNTS)),
            reblog=reblog,
            mentions=[people[a] for a in fact.mention_ids if a in people],
            tags=fact.tags,
            counts=fact.counts,
            flags=fact.flags,
            in_reply_to_account_id=fact.reply_author_id,
            viewer_is_author=viewer is not None and viewer.id == row.actor_id,
        )

    built = [build(r) for r in rows]
    return [v for v in built if v is not None]
