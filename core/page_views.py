"""Pages of statuses for a renderer that keeps what it rendered before.

A timeline page mostly shows statuses and accounts the web process has already turned
into entities. ``load_page`` asks the renderer (``Known``) which versions it holds, and
loads full views (rows, authors, mentioned accounts) only for the others; everything that
changes from one request to the next (counts, the viewer's flags, the author's counters)
comes with every item, from one query. A version is the ``xmin`` of a row, which every
update of that row changes (``storage.views.page_facts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from core.views import AccountView, StatusView
from storage import statuses, views
from storage.actors import ActorRow
from storage.pool import Conn
from storage.statuses import StatusRow
from storage.views import PageFact


class Known(Protocol):
    """What a renderer already holds, by id and version."""

    def has_status(self, status_id: int, version: str) -> bool: ...

    def has_account(self, actor_id: int, version: str) -> bool: ...


class PageItem(NamedTuple):
    status_id: int
    fact: PageFact
    viewer_is_author: bool
    reblog: PageItem | None
    # Only what the renderer lacks: the status's view (its ``reblog`` left out: that is
    # the item's own), and the author's view.
    view: StatusView | None
    author: AccountView | None


async def load_page(
    con: Conn, viewer: ActorRow | None, rows: Sequence[StatusRow], known: Known
) -> list[PageItem]:
    """Items for ``rows`` (in their order), without those whose status or boosted status
    is gone. Two round trips when everything is known, four at most."""
    boosted = [r.reblog_of_id for r in rows if r.reblog_of_id is not None]
    facts = await views.page_facts(
        con, viewer.id if viewer else None, [r.id for r in rows] + boosted
    )
    unknown = {i for i, f in facts.items() if not known.has_status(i, f.version)}
    by_id = {r.id: r for r in rows}
    missing_rows = [i for i in unknown if i not in by_id]
    if missing_rows:
        by_id.update(await statuses.get_many(con, missing_rows))
    # Actors to load: the authors the renderer lacks, and the authors and mentioned
    # accounts of the statuses it must render.
    actor_ids = {
        f.actor_id for f in facts.values() if not known.has_account(f.actor_id, f.author_version)
    }
    for i in unknown:
        actor_ids.add(facts[i].actor_id)
        actor_ids.update(facts[i].facts.mention_ids)
    people = (
        {a: row for a, (row, _) in (await views.accounts(con, list(actor_ids))).items()}
        if actor_ids
        else {}
    )
    viewer_id = viewer.id if viewer is not None else None

    def author_view(fact: PageFact) -> AccountView | None:
        actor = people.get(fact.actor_id)
        return None if actor is None else AccountView(actor, fact.author_counts)

    def item(status_id: int, reblog: PageItem | None) -> PageItem | None:
        fact = facts.get(status_id)
        if fact is None:
            return None
        view: StatusView | None = None
        if status_id in unknown:
            row, author = by_id.get(status_id), author_view(fact)
            if row is None or author is None:
                return None
            view = StatusView(
                status=row,
                author=author,
                reblog=None,
                mentions=[people[a] for a in fact.facts.mention_ids if a in people],
                tags=fact.facts.tags,
                counts=fact.facts.counts,
                flags=fact.facts.flags,
                in_reply_to_account_id=fact.facts.reply_author_id,
                viewer_is_author=viewer_id == fact.actor_id,
            )
        author = author_view(fact) if fact.actor_id in people else None
        if author is None and not known.has_account(fact.actor_id, fact.author_version):
            return None  # the author is gone
        return PageItem(status_id, fact, viewer_id == fact.actor_id, reblog, view, author)

    items: list[PageItem] = []
    for row in rows:
        reblog = None
        if row.reblog_of_id is not None:
            reblog = item(row.reblog_of_id, None)
            if reblog is None:
                continue  # the boosted status is gone: so is the boost
        found = item(row.id, reblog)
        if found is not None:
            items.append(found)
    return items
