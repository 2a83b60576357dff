"""Pages of statuses for a renderer that keeps what it rendered before.

A timeline page mostly shows statuses and accounts the web process has already turned
into entities. ``load_page`` asks the renderer (``Known``) which versions it holds, and
loads full views (rows, authors, mentioned accounts) only for the others; everything that
changes from one request to the next (counts, the viewer's flags, the author's counters)
comes with every item, from one query. A status's version is the ``xmin`` of its row,
which every update of that row changes; an account's is its profile version, which every
change to the actor's row moves on (``storage.views.page_facts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from core.views import AccountView, StatusView
from storage import views
from storage.actors import ActorRow
from storage.pool import Conn
from storage.views import PageFact


class Ref(Protocol):
    """A status on a page: a row, or just its ids (``storage.timelines.StatusRef``)."""

    @property
    def id(self) -> int: ...

    @property
    def reblog_of_id(self) -> int | None: ...


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
    # the item's own) and the author's, each with the version of the row it was made from
    # (which may be newer than ``fact``'s, never older).
    view: tuple[StatusView, str] | None
    author: tuple[AccountView, str] | None


async def load_page(
    con: Conn,
    viewer: ActorRow | None,
    rows: Sequence[Ref],
    known: Known,
    *,
    facts: dict[int, PageFact] | None = None,
) -> list[PageItem]:
    """Items for ``rows`` (in their order), without those whose status or boosted status
    is gone. ``facts``, when the query for the rows read them too, are those of the rows
    and of the statuses they boost. One round trip when everything is known (none with
    ``facts``), three at most."""
    viewer_id = viewer.id if viewer is not None else None
    if facts is None:
        boosted = [r.reblog_of_id for r in rows if r.reblog_of_id is not None]
        facts = await views.page_facts(con, viewer_id, [r.id for r in rows] + boosted)
    unknown = {i for i, f in facts.items() if not known.has_status(i, f.version)}
    details = await views.status_details(con, list(unknown)) if unknown else {}
    # Actors to load: the authors the renderer lacks, and the authors and mentioned
    # accounts of the statuses it must render.
    actor_ids = {
        f.actor_id for f in facts.values() if not known.has_account(f.actor_id, f.author_version)
    }
    for found in details.values():
        actor_ids.add(found.row.actor_id)
        actor_ids.update(found.extras.mention_ids)
    people = await views.accounts(con, list(actor_ids)) if actor_ids else {}

    def author_of(fact: PageFact) -> tuple[AccountView, str] | None:
        found = people.get(fact.actor_id)
        return (
            None if found is None else (AccountView(found.actor, fact.author_counts), found.version)
        )

    def item(status_id: int, reblog: PageItem | None) -> PageItem | None:
        fact = facts.get(status_id)
        if fact is None:
            return None
        view: tuple[StatusView, str] | None = None
        if status_id in unknown:
            found, author = details.get(status_id), author_of(fact)
            if found is None or author is None:
                return None
            view = (
                StatusView(
                    status=found.row,
                    author=author[0],
                    reblog=None,
                    mentions=[people[a].actor for a in found.extras.mention_ids if a in people],
                    tags=found.extras.tags,
                    counts=fact.counts,
                    flags=fact.flags,
                    in_reply_to_account_id=found.extras.reply_author_id,
                    viewer_is_author=viewer_id == fact.actor_id,
                ),
                found.version,
            )
        author = author_of(fact)
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
        page_item = item(row.id, reblog)
        if page_item is not None:
            items.append(page_item)
    return items
