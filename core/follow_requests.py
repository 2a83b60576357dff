"""A locked account answers the requests to follow it: authorize or reject.

A remote requester is told with an ``Accept`` or ``Reject`` of its own ``Follow`` (the id
it sent, kept as the follow row's uri), delivered to its own inbox as Mastodon does. The
``follow_request`` notification goes away once answered; an authorized request becomes
a ``follow`` notification, as on Mastodon.
"""

from __future__ import annotations

from core import delivery, events
from core.account_actions import NOT_FOUND, load_account, parse_id, relationship
from core.errors import NotFound
from core.services import Services
from core.views import AccountView, account_views
from federation import vocab
from storage import actors, follows, notification_queries
from storage.actors import ActorRow
from storage.follows import FollowRow
from storage.paging import Page
from storage.pool import Conn
from storage.relations import Relation
from storage.statuses import next_id


async def pending(
    services: Services, viewer: ActorRow, page: Page
) -> tuple[list[AccountView], list[int]]:
    """Who asks to follow the viewer, newest request first, and the request ids to page by."""
    async with services.pool.acquire() as con:
        found = await notification_queries.follow_requests(con, viewer.id, page)
        known = await actors.get_many(con, [a for _, a in found])
        views = await account_views(con, [known[a] for _, a in found if a in known])
    return views, [f for f, _ in found]


async def authorize(services: Services, viewer: ActorRow, id_text: str) -> Relation:
    requester_id = parse_id(id_text)
    async with services.pool.acquire() as con, con.transaction():
        row, requester = await _pending(con, requester_id, viewer)
        await follows.accept(con, row.id)
        if not requester.local:
            await _answer(services, con, viewer, requester, row, "Accept")
        await notification_queries.dismiss_from(con, viewer.id, requester.id, "follow_request")
        await events.notify(con, recipient_id=viewer.id, from_actor_id=requester.id, type="follow")
    return await relationship(services, viewer, requester_id)


async def reject(services: Services, viewer: ActorRow, id_text: str) -> Relation:
    requester_id = parse_id(id_text)
    async with services.pool.acquire() as con, con.transaction():
        row, requester = await _pending(con, requester_id, viewer)
        await follows.delete(con, row.follower_id, row.followee_id)
        if not requester.local:
            await _answer(services, con, viewer, requester, row, "Reject")
        await notification_queries.dismiss_from(con, viewer.id, requester.id, "follow_request")
    return await relationship(services, viewer, requester_id)


async def _pending(con: Conn, requester_id: int, viewer: ActorRow) -> tuple[FollowRow, ActorRow]:
    row = await follows.get(con, requester_id, viewer.id)
    if row is None or row.accepted:
        raise NotFound(NOT_FOUND)
    return row, await load_account(con, requester_id)


async def _answer(
    services: Services,
    con: Conn,
    viewer: ActorRow,
    requester: ActorRow,
    row: FollowRow,
    kind: str,
) -> None:
    follow = vocab.build_follow(requester.uri, viewer.uri, id=row.uri)
    original = {k: v for k, v in follow.items() if k != "@context"}
    activity_id = await next_id(con)
    uri = services.urls.activity(viewer.username, activity_id, kind)
    build = vocab.build_accept if kind == "Accept" else vocab.build_reject
    await delivery.enqueue_activity(
        con,
        actor_id=viewer.id,
        activity=build(viewer.uri, original, id=uri),
        inboxes=[requester.inbox_uri],
        object_uri=row.uri,
        activity_id=activity_id,
    )
