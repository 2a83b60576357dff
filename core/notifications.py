"""Reading notifications (they are created in ``core.events``), and read markers.

A page of notifications becomes views with a fixed number of queries: the accounts that
did something, then the statuses involved, as ``core.views`` loads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.errors import NotFound, Unprocessable
from core.services import Services
from core.views import AccountView, StatusView, account_views, load_status_views
from storage import actors, markers, notification_queries, statuses
from storage.actors import ActorRow, UserRow
from storage.markers import MarkerRow
from storage.notifications import NotificationRow
from storage.paging import Page
from storage.pool import Conn

NOT_FOUND = "Record not found"
# Every type Mastodon documents; a filter naming others simply matches nothing.
TYPES = (
    "mention",
    "status",
    "reblog",
    "follow",
    "follow_request",
    "favourite",
    "poll",
    "update",
    "admin.sign_up",
    "admin.report",
    "severed_relationships",
    "moderation_warning",
)
# The types that are about a status, and show it.
WITH_STATUS = frozenset({"mention", "status", "reblog", "favourite", "poll", "update"})
UNREAD_DEFAULT, UNREAD_MAX = 100, 1000


@dataclass(frozen=True, slots=True)
class NotificationView:
    row: NotificationRow
    account: AccountView
    status: StatusView | None


@dataclass(frozen=True, slots=True)
class Filter:
    """``types`` None: every type. ``account_id``: only from that account."""

    types: Sequence[str] | None = None
    exclude_types: Sequence[str] = ()
    account_id: int | None = None


async def _views(
    con: Conn, viewer: ActorRow, rows: Sequence[NotificationRow]
) -> list[NotificationView]:
    senders = await actors.get_many(con, list({r.from_actor_id for r in rows}))
    accounts = {v.actor.id: v for v in await account_views(con, list(senders.values()))}
    status_ids = [r.status_id for r in rows if r.status_id is not None and r.type in WITH_STATUS]
    found = await statuses.get_many(con, status_ids) if status_ids else {}
    loaded = await load_status_views(con, viewer, list(found.values())) if found else []
    shown = {v.status.id: v for v in loaded}
    views: list[NotificationView] = []
    for row in rows:
        account = accounts.get(row.from_actor_id)
        status = shown.get(row.status_id) if row.status_id is not None else None
        if account is None or (row.type in WITH_STATUS and status is None):
            continue  # what it was about is gone
        views.append(NotificationView(row, account, status))
    return views


async def page(
    services: Services, viewer: ActorRow, page: Page, wanted: Filter
) -> tuple[list[NotificationView], list[int]]:
    """A page of notifications and the ids its Link header pages by."""
    types = None if wanted.types is None else [t for t in wanted.types if t in TYPES]
    async with services.pool.acquire() as con:
        rows = await notification_queries.page(
            con,
            viewer.id,
            page,
            types=types,
            exclude_types=list(wanted.exclude_types),
            from_actor_id=wanted.account_id,
        )
        return await _views(con, viewer, rows), [r.id for r in rows]


async def get(services: Services, viewer: ActorRow, notification_id: int) -> NotificationView:
    async with services.pool.acquire() as con:
        row = await notification_queries.get(con, viewer.id, notification_id)
        found = await _views(con, viewer, [row]) if row is not None else []
    if not found:
        raise NotFound(NOT_FOUND)
    return found[0]


async def dismiss(services: Services, viewer: ActorRow, notification_id: int) -> None:
    async with services.pool.acquire() as con:
        if not await notification_queries.dismiss(con, viewer.id, notification_id):
            raise NotFound(NOT_FOUND)


async def clear(services: Services, viewer: ActorRow) -> None:
    async with services.pool.acquire() as con:
        await notification_queries.clear(con, viewer.id)


async def unread_count(
    services: Services, user: UserRow, viewer: ActorRow, *, limit: int, types: Sequence[str] | None
) -> int:
    """Notifications newer than the member's notifications marker, counted up to ``limit``."""
    async with services.pool.acquire() as con:
        marker = await markers.get(con, user.id, ["notifications"])
        return await notification_queries.unread_count(
            con,
            viewer.id,
            after_id=marker[0].last_read_id if marker else None,
            types=None if types is None else [t for t in types if t in TYPES],
            cap=max(1, min(limit, UNREAD_MAX)),
        )


# Read markers


async def get_markers(services: Services, user: UserRow, wanted: Sequence[str]) -> list[MarkerRow]:
    timelines = [t for t in wanted if t in markers.TIMELINES]
    if not timelines:
        return []
    async with services.pool.acquire() as con:
        return await markers.get(con, user.id, timelines)


async def save_markers(
    services: Services, user: UserRow, positions: Mapping[str, int]
) -> list[MarkerRow]:
    """Set the markers given (timeline → last read id), all or none."""
    unknown = set(positions) - set(markers.TIMELINES)
    if unknown:
        raise Unprocessable(f"unknown timeline: {', '.join(sorted(unknown))}")
    async with services.pool.acquire() as con, con.transaction():
        return [await markers.save(con, user.id, t, i) for t, i in sorted(positions.items())]
