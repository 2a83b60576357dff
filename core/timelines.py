"""Timelines as a member reads them: home, public, hashtag, bookmarks and favourites.

Each page is read and turned into views on one connection, with a fixed number of queries
whatever its size. A page carries the ids its Link header pages by: the statuses' own ids,
or for bookmarks and favourites the ids of those marks, as Mastodon does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core import tokens
from core.errors import Unprocessable
from core.page_views import Known, PageItem, load_page
from core.services import Services
from core.tokens import TokenCheck
from storage import timelines
from storage.actors import ActorRow
from storage.paging import Page

MAX_TAGS = 4  # Mastodon's limit for any[], all[] and none[] each
_TAG = re.compile(r"^\w+$")


@dataclass(frozen=True, slots=True)
class StatusPage:
    items: list[PageItem]
    cursors: list[int]


@dataclass(frozen=True, slots=True)
class Origin:
    """Which public posts: ours (``local``), others' (``remote``), with media only."""

    local: bool = False
    remote: bool = False
    only_media: bool = False


async def home(
    services: Services, viewer: ActorRow, page: Page, known: Known, check: TokenCheck | None = None
) -> StatusPage:
    """The viewer's home page; with ``check``, the cached owner of the caller's token is
    confirmed by the page's own statement (``core.tokens``), or ``TokenChanged`` raised."""
    async with services.pool.acquire() as con:
        found = await timelines.home(con, viewer.id, page, check.key if check else None)
        if check is not None:
            await tokens.settle(services, con, check, found.token)
        items = await load_page(con, viewer, found.refs, known, facts=found.facts)
        return StatusPage(items, [r.id for r in found.refs])


async def public(
    services: Services, viewer: ActorRow | None, page: Page, origin: Origin, known: Known
) -> StatusPage:
    async with services.pool.acquire() as con:
        rows = await timelines.public(
            con,
            page,
            viewer_id=viewer.id if viewer else None,
            local=origin.local,
            remote=origin.remote,
            only_media=origin.only_media,
        )
        return StatusPage(await load_page(con, viewer, rows, known), [r.id for r in rows])


def hashtag_name(text: str) -> str:
    """A hashtag as written (with or without ``#``), normalised; Unprocessable if it is not
    one."""
    name = text.strip().removeprefix("#")
    if not name or len(name) > 100 or not _TAG.match(name):
        raise Unprocessable(f"{text!r} is not a hashtag")
    return name.lower()


@dataclass(frozen=True, slots=True)
class TagQuery:
    tag: str
    any: Sequence[str] = ()
    all: Sequence[str] = ()
    none: Sequence[str] = ()


async def tagged(
    services: Services,
    viewer: ActorRow | None,
    page: Page,
    query: TagQuery,
    origin: Origin,
    known: Known,
) -> StatusPage:
    groups = {"any": query.any, "all": query.all, "none": query.none}
    for name, values in groups.items():
        if len(values) > MAX_TAGS:
            raise Unprocessable(f"{name}[] takes at most {MAX_TAGS} hashtags")
    wanted = [hashtag_name(query.tag), *(hashtag_name(t) for t in query.any)]
    async with services.pool.acquire() as con:
        rows = await timelines.tagged(
            con,
            page,
            viewer_id=viewer.id if viewer else None,
            any_tags=wanted,
            all_tags=[hashtag_name(t) for t in query.all],
            none_tags=[hashtag_name(t) for t in query.none],
            local=origin.local,
            remote=origin.remote,
            only_media=origin.only_media,
        )
        return StatusPage(await load_page(con, viewer, rows, known), [r.id for r in rows])


async def bookmarks(services: Services, viewer: ActorRow, page: Page, known: Known) -> StatusPage:
    async with services.pool.acquire() as con:
        marks = await timelines.bookmarks(con, viewer.id, page)
        items = await load_page(con, viewer, [s for _, s in marks], known)
        return StatusPage(items, [m for m, _ in marks])


async def favourites(services: Services, viewer: ActorRow, page: Page, known: Known) -> StatusPage:
    async with services.pool.acquire() as con:
        marks = await timelines.favourites(con, viewer.id, page)
        items = await load_page(con, viewer, [s for _, s in marks], known)
        return StatusPage(items, [m for m, _ in marks])
