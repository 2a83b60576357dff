"""Reading our own objects as ActivityPub: actors, statuses, activities, collections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import ap_render
from core.errors import Gone, NotFound
from core.services import Services
from core.urls import INSTANCE_ACTOR_USERNAME
from federation import vocab
from storage import actors, follows, interactions, statuses, views
from storage.activities import count_public_by_actor, get_by_uri, list_public_by_actor
from storage.actors import ActorRow
from storage.statuses import StatusRow

PAGE_SIZE = 20
SHOWN_VISIBILITIES = ("public", "unlisted")


@dataclass(frozen=True, slots=True)
class StatusView:
    status: StatusRow
    author: ActorRow
    document: dict[str, Any]


async def local_actor(services: Services, username: str) -> ActorRow:
    async with services.pool.acquire() as con:
        actor = await actors.get_local(con, username)
    if actor is None or actor.deleted_at is not None:
        raise NotFound("Record not found")
    return actor


async def instance_actor(services: Services) -> ActorRow:
    return await local_actor(services, INSTANCE_ACTOR_USERNAME)


async def status_view(services: Services, username: str, status_id: int) -> StatusView:
    """A public or unlisted status of ours; a deleted one raises Gone."""
    author = await local_actor(services, username)
    uri = services.urls.status(author.username, status_id)
    async with services.pool.acquire() as con:
        status = await statuses.get(con, status_id)
        if status is None or status.actor_id != author.id or status.reblog_of_id is not None:
            if await statuses.get_tombstone(con, uri) is not None:
                raise Gone("This status has been deleted")
            raise NotFound("Record not found")
        if status.visibility not in SHOWN_VISIBILITIES:
            raise NotFound("Record not found")
        mentioned = await actors.get_many(con, await statuses.mentioned_actor_ids(con, status.id))
        tags = await statuses.tags_of(con, status.id)
    document = ap_render.note_document(
        status,
        author,
        mentioned=list(mentioned.values()),
        tags=tags,
        urls=services.urls,
        in_reply_to=status.in_reply_to_uri,
    )
    return StatusView(status=status, author=author, document=document)


def tombstone(uri: str) -> dict[str, Any]:
    return {"@context": vocab.context(), **vocab.build_tombstone(uri, None)}


async def activity_document(
    services: Services, username: str, activity_id: int, kind: str
) -> dict[str, Any]:
    author = await local_actor(services, username)
    uri = services.urls.activity(author.username, activity_id, kind)
    async with services.pool.acquire() as con:
        row = await get_by_uri(con, uri)
    if row is None or row.actor_id != author.id or not _is_public(row.payload):
        raise NotFound("Record not found")
    return dict(row.payload)


def _is_public(payload: dict[str, Any]) -> bool:
    to, cc = payload.get("to", []), payload.get("cc", [])
    return vocab.is_public(to if isinstance(to, list) else [to]) or vocab.is_public(
        cc if isinstance(cc, list) else [cc]
    )


async def outbox(
    services: Services, username: str, *, page: bool, max_id: int | None
) -> dict[str, Any]:
    author = await local_actor(services, username)
    base = author.outbox_uri or f"{author.uri}/outbox"
    async with services.pool.acquire() as con:
        if not page:
            total = await count_public_by_actor(con, author.id)
            return _collection(base, total)
        rows = await list_public_by_actor(con, author.id, max_id=max_id, limit=PAGE_SIZE)
    items = [{k: v for k, v in row.payload.items() if k != "@context"} for row in rows]
    next_page = f"{base}?page=true&max_id={rows[-1].id}" if len(rows) == PAGE_SIZE else None
    page_id = f"{base}?page=true" + (f"&max_id={max_id}" if max_id else "")
    return vocab.build_ordered_collection_page(page_id, base, items, next_page, None)


async def follow_collection(
    services: Services, username: str, *, followers: bool, page: bool, max_id: int | None
) -> dict[str, Any]:
    actor = await local_actor(services, username)
    base = (actor.followers_uri if followers else actor.following_uri) or (
        f"{actor.uri}/{'followers' if followers else 'following'}"
    )
    async with services.pool.acquire() as con:
        if not page:
            return _collection(base, await follows.count(con, actor.id, followers=followers))
        rows = await follows.page_uris(
            con, actor.id, followers=followers, before_id=max_id, limit=PAGE_SIZE
        )
    next_page = f"{base}?page=true&max_id={rows[-1][0]}" if len(rows) == PAGE_SIZE else None
    page_id = f"{base}?page=true" + (f"&max_id={max_id}" if max_id else "")
    return vocab.build_ordered_collection_page(page_id, base, [u for _, u in rows], next_page, None)


async def featured(services: Services, username: str) -> dict[str, Any]:
    """The member's pinned posts (Mastodon's featured collection), public ones only."""
    actor = await local_actor(services, username)
    base = actor.featured_uri or f"{actor.uri}/collections/featured"
    async with services.pool.acquire() as con:
        pinned = await interactions.pinned_status_ids(con, actor.id)
        rows = await statuses.get_many(con, pinned)
        shown = [rows[i] for i in pinned if i in rows and rows[i].visibility in SHOWN_VISIBILITIES]
        mention_ids = await views.mentions(con, [s.id for s in shown])
        mentioned = await actors.get_many(con, [a for ids in mention_ids.values() for a in ids])
        tag_map = await views.tags(con, [s.id for s in shown])
    items = []
    for status in shown:
        document = ap_render.note_document(
            status,
            actor,
            mentioned=[mentioned[a] for a in mention_ids.get(status.id, []) if a in mentioned],
            tags=tag_map.get(status.id, []),
            urls=services.urls,
            in_reply_to=status.in_reply_to_uri,
        )
        items.append({k: v for k, v in document.items() if k != "@context"})
    return {
        "@context": vocab.context(),
        "id": base,
        "type": "OrderedCollection",
        "totalItems": len(items),
        "orderedItems": items,
    }


def _collection(base: str, total: int) -> dict[str, Any]:
    return vocab.build_ordered_collection(base, total, f"{base}?page=true")
