"""What members do to statuses once they exist: see them, favourite, boost, bookmark, pin,
and read a thread, its history and who reacted.

Each change is stored and federated in one transaction. Like Mastodon, a Like and its Undo
go to the status's author only; a boost (Announce) goes to the booster's followers and the
author; a pin (Add to the featured collection) goes to the pinner's followers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import ap_render, delivery, events, ratelimit, views
from core.errors import Forbidden, NotFound, Unprocessable
from core.ratelimit import RateState
from core.services import Services
from core.views import AccountView
from federation import vocab
from storage import actors, follows, statuses
from storage import interactions as store
from storage.actors import ActorRow
from storage.paging import Page
from storage.pool import Conn
from storage.statuses import StatusRow, next_id

POST_LIMIT, POST_WINDOW = 300, 3 * 3600.0  # Mastodon's: 300 statuses or boosts per 3 hours
NOT_FOUND = "Record not found"
NOT_ALLOWED = "This action is not allowed"
MAX_PINS = 5
REBLOG_VISIBILITIES = ("public", "unlisted", "private")
# Mastodon's thread limits: what an anonymous visitor and a member are shown.
ANCESTORS_LIMIT = {False: 40, True: 4096}
DESCENDANTS_LIMIT = {False: 60, True: 4096}


async def visible_status(services: Services, viewer: ActorRow | None, status_id: int) -> StatusRow:
    """The status if the viewer may see it; otherwise NotFound, as if it did not exist."""
    viewer_id = viewer.id if viewer else None
    async with services.pool.acquire() as con:
        status = await statuses.get(con, status_id)
        if status is None or not await store.visible_ids(con, [status_id], viewer_id):
            raise NotFound(NOT_FOUND)
    return status


async def visible_statuses(
    services: Services, viewer: ActorRow | None, status_ids: list[int]
) -> list[StatusRow]:
    """Those of the statuses the viewer may see, in the order given, once each."""
    viewer_id = viewer.id if viewer else None
    async with services.pool.acquire() as con:
        allowed = await store.visible_ids(con, status_ids, viewer_id)
        rows = await statuses.get_many(con, [i for i in status_ids if i in allowed])
    return [rows[i] for i in dict.fromkeys(status_ids) if i in rows]


async def author_view(services: Services, status: StatusRow) -> AccountView:
    async with services.pool.acquire() as con:
        return (await views.account_views(con, [await _author(con, status)]))[0]


async def _original(con: Conn, status: StatusRow) -> StatusRow:
    """What an action on a boost applies to: the boosted status."""
    if status.reblog_of_id is None:
        return status
    original = await statuses.get(con, status.reblog_of_id)
    if original is None:
        raise NotFound(NOT_FOUND)
    return original


async def _author(con: Conn, status: StatusRow) -> ActorRow:
    author = await actors.get(con, status.actor_id)
    assert author is not None  # statuses.actor_id is a foreign key
    return author


async def count_post(services: Services, author: ActorRow) -> RateState:
    """Count a post or a boost against the author's limit (raises RateLimited)."""
    return await ratelimit.hit(
        services, f"statuses:{author.id}", limit=POST_LIMIT, window=POST_WINDOW
    )


# Favourites


async def favourite(services: Services, actor: ActorRow, status: StatusRow) -> None:
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        target = await _original(con, status)
        if await store.blocking(con, actor.id, target.actor_id):
            raise Forbidden(NOT_ALLOWED)
        activity_id = await next_id(con)
        uri = urls.activity(actor.username, activity_id, "like")
        if not await follows.add_favourite(con, uri=uri, actor_id=actor.id, status_id=target.id):
            return
        author = await _author(con, target)
        if author.local:
            await events.notify(
                con,
                recipient_id=author.id,
                from_actor_id=actor.id,
                type="favourite",
                status_id=target.id,
            )
            return
        await delivery.enqueue_activity(
            con,
            actor_id=actor.id,
            activity=vocab.build_like(actor.uri, target.uri, id=uri),
            inboxes=[author.inbox_uri],
            object_uri=target.uri,
            activity_id=activity_id,
        )


async def unfavourite(services: Services, actor: ActorRow, status: StatusRow) -> None:
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        target = await _original(con, status)
        like_uri = await follows.favourite_uri(con, actor.id, target.id)
        if not await follows.remove_favourite(con, actor_id=actor.id, status_id=target.id):
            return
        author = await _author(con, target)
        if author.local or like_uri is None:
            return
        activity_id = await next_id(con)
        undo = vocab.build_undo(
            actor.uri,
            vocab.build_like(actor.uri, target.uri, id=like_uri),
            id=urls.activity(actor.username, activity_id, "undo"),
        )
        await delivery.enqueue_activity(
            con,
            actor_id=actor.id,
            activity=undo,
            inboxes=[author.inbox_uri],
            object_uri=like_uri,
            activity_id=activity_id,
        )


# Boosts


def reblog_visibility(raw: str | None, default: str = "public") -> str:
    visibility = raw or default
    if visibility not in REBLOG_VISIBILITIES:
        raise Unprocessable(f"visibility must be one of {', '.join(REBLOG_VISIBILITIES)}")
    return visibility


async def _announce_parts(
    con: Conn, actor: ActorRow, original: StatusRow, visibility: str
) -> tuple[ap_render.Addressing, list[str]]:
    """Addressing and inboxes of a boost: the booster's followers and the author."""
    author = await _author(con, original)
    followers = actor.followers_uri or f"{actor.uri}/followers"
    address = ap_render.addressing(visibility, followers, [author.uri])
    inboxes = await follows.follower_inboxes(con, actor.id)
    if not author.local:
        inboxes.append(author.delivery_inbox)
    return address, list(dict.fromkeys(inboxes))


async def reblog(
    services: Services, actor: ActorRow, status: StatusRow, visibility: str = "public"
) -> StatusRow:
    """Boost a status (the original, when given a boost); returns the boost. Boosting
    twice returns the first boost. Only the author may boost a followers-only status,
    and nobody a direct one (Mastodon answers 403)."""
    urls = services.urls
    async with services.pool.acquire() as con:
        original = await _original(con, status)
        existing = await statuses.get_reblog(con, actor.id, original.id)
        original_author = await _author(con, original)
        blocked = await store.blocking(con, actor.id, original.actor_id)
    if existing is not None:
        return existing
    if (
        blocked
        or original.visibility == "direct"
        or (original.visibility == "private" and original.actor_id != actor.id)
    ):
        raise Forbidden(NOT_ALLOWED)
    if original.visibility == "private":
        visibility = "private"
    await count_post(services, actor)
    async with services.pool.acquire() as con, con.transaction():
        existing = await statuses.get_reblog(con, actor.id, original.id)
        if existing is not None:
            return existing
        activity_id = await next_id(con)
        uri = urls.activity(actor.username, activity_id, "announce")
        boost = await statuses.insert(
            con,
            {
                "uri": uri,
                "actor_id": actor.id,
                "local": True,
                "visibility": visibility,
                "reblog_of_id": original.id,
            },
            id=activity_id,
        )
        assert boost is not None
        await events.status_created(con, boost)
        if original_author.local:
            await events.notify(
                con,
                recipient_id=original.actor_id,
                from_actor_id=actor.id,
                type="reblog",
                status_id=original.id,
            )
        address, inboxes = await _announce_parts(con, actor, original, visibility)
        announce = vocab.build_announce(
            actor.uri,
            original.uri,
            id=uri,
            to=address.to,
            cc=address.cc,
            published=boost.published_at,
        )
        await delivery.enqueue_activity(
            con,
            actor_id=actor.id,
            activity=announce,
            inboxes=inboxes,
            object_uri=original.uri,
            activity_id=activity_id,
        )
    return boost


async def unreblog(services: Services, actor: ActorRow, status: StatusRow) -> StatusRow:
    """Withdraw a boost; returns the status that was boosted."""
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        original = await _original(con, status)
        boost = await statuses.get_reblog(con, actor.id, original.id)
        if boost is None:
            return original
        await statuses.delete(con, boost.id)
        await events.status_deleted(con, boost.id, actor.id)
        address, inboxes = await _announce_parts(con, actor, original, boost.visibility)
        announce = vocab.build_announce(
            actor.uri,
            original.uri,
            id=boost.uri,
            to=address.to,
            cc=address.cc,
            published=boost.published_at,
        )
        activity_id = await next_id(con)
        undo = vocab.build_undo(
            actor.uri, announce, id=urls.activity(actor.username, activity_id, "undo")
        )
        await delivery.enqueue_activity(
            con,
            actor_id=actor.id,
            activity=undo,
            inboxes=inboxes,
            object_uri=boost.uri,
            activity_id=activity_id,
        )
    return original


# Bookmarks (private: nothing federates)


async def bookmark(services: Services, actor: ActorRow, status: StatusRow) -> None:
    async with services.pool.acquire() as con:
        target = await _original(con, status)
        await store.add_bookmark(con, actor.id, target.id)


async def unbookmark(services: Services, actor: ActorRow, status: StatusRow) -> None:
    async with services.pool.acquire() as con:
        target = await _original(con, status)
        await store.remove_bookmark(con, actor.id, target.id)


# Pins (featured posts)


async def pin(services: Services, actor: ActorRow, status: StatusRow) -> None:
    """Feature one's own status on one's profile (Mastodon's rules and messages: 422)."""
    if status.reblog_of_id is not None:
        raise Unprocessable("Validation failed: A boost cannot be pinned")
    if status.actor_id != actor.id:
        raise Unprocessable(
            "Validation failed: Post that belongs to another person cannot be pinned"
        )
    if status.visibility == "direct":
        raise Unprocessable(
            "Validation failed: Posts that are only visible to mentioned users cannot be pinned"
        )
    async with services.pool.acquire() as con, con.transaction():
        result = await store.add_pin(con, actor.id, status.id, maximum=MAX_PINS)
        if result == "full":
            raise Unprocessable(
                "Validation failed: You have already pinned the maximum number of posts"
            )
        if result == "added":
            await _federate_featured(services, con, actor, status, "Add")


async def unpin(services: Services, actor: ActorRow, status: StatusRow) -> None:
    async with services.pool.acquire() as con, con.transaction():
        if await store.remove_pin(con, actor.id, status.id):
            await _federate_featured(services, con, actor, status, "Remove")


async def _federate_featured(
    services: Services, con: Conn, actor: ActorRow, status: StatusRow, kind: str
) -> None:
    """Add/Remove the status to/from the actor's featured collection, as Mastodon does;
    only public and unlisted statuses are featured to other servers."""
    if status.visibility not in ("public", "unlisted"):
        return
    activity_id = await next_id(con)
    activity: dict[str, Any] = {
        "@context": vocab.context(),
        "id": services.urls.activity(actor.username, activity_id, kind),
        "type": kind,
        "actor": actor.uri,
        "object": status.uri,
        "target": actor.featured_uri or services.urls.featured(actor.username),
    }
    await delivery.enqueue_activity(
        con,
        actor_id=actor.id,
        activity=activity,
        inboxes=await follows.follower_inboxes(con, actor.id),
        object_uri=status.uri,
        activity_id=activity_id,
    )


# Reading around a status


@dataclass(frozen=True, slots=True)
class Thread:
    ancestors: list[StatusRow]
    descendants: list[StatusRow]


async def thread(services: Services, viewer: ActorRow | None, status: StatusRow) -> Thread:
    viewer_id = viewer.id if viewer else None
    member = viewer is not None
    async with services.pool.acquire() as con:
        target = await _original(con, status)
        up = await store.ancestor_ids(con, target.id, viewer_id, limit=ANCESTORS_LIMIT[member])
        down = await store.descendant_ids(
            con, target.id, viewer_id, limit=DESCENDANTS_LIMIT[member]
        )
        rows = await statuses.get_many(con, [*up, *down])
    return Thread(
        ancestors=[rows[i] for i in up if i in rows],
        descendants=[rows[i] for i in down if i in rows],
    )


async def reacted(
    services: Services, status: StatusRow, page: Page, *, favourites: bool
) -> tuple[list[int], list[AccountView]]:
    """Who favourited (or boosted) the status: page ids for the Link header, and actors."""
    async with services.pool.acquire() as con:
        target = await _original(con, status)
        query = store.favourited_by if favourites else store.reblogged_by
        pairs = await query(con, target.id, page)
        found = await actors.get_many(con, [a for _, a in pairs])
        accounts = await views.account_views(con, [found[a] for _, a in pairs if a in found])
    return [i for i, _ in pairs], accounts
