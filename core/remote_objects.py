"""Remote posts: turning a fetched or delivered object into a stored status."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from core import ap_render, events, remote
from core.services import Services
from federation import content, vocab
from storage import actors, statuses
from storage.actors import ActorRow
from storage.pool import Conn
from storage.statuses import StatusRow

# What we show as a status. Mastodon converts the same set; Event gets its own kind.
NOTE_TYPES = frozenset({"Note", "Article", "Page", "Question", "Event", "Image", "Video", "Audio"})


class NotStorable(Exception):
    """The object is not something we keep (wrong type, deleted, not the sender's…)."""


def same_origin(a: str, b: str) -> bool:
    return _origin(a) == _origin(b)


def _origin(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}".lower()


def _content_html(obj: vocab.APObject) -> str:
    body = obj.content
    if body is None and obj.content_map:
        body = next(iter(obj.content_map.values()))
    body_html = content.sanitize_html(body or "")
    if obj.type != "Note" and obj.name:
        # Mastodon's rendering of converted types: the name as a heading first.
        body_html = f"<p><strong>{html.escape(obj.name)}</strong></p>{body_html}"
    return body_html


async def store_object(
    services: Services, con: Conn, obj: vocab.APObject, author: ActorRow
) -> StatusRow | None:
    """Store a remote object by ``author``; returns the existing row for a known uri."""
    if obj.type not in NOTE_TYPES:
        raise NotStorable(f"{obj.type} is not shown as a status")
    if obj.attributed_to is not None and obj.attributed_to != author.uri:
        raise NotStorable("object is not attributed to its sender")
    if not same_origin(obj.id, author.uri):
        # Else anyone could claim another server's id (and block the real post's Create).
        raise NotStorable("object is not on its author's server")
    existing = await statuses.get_by_uri(con, obj.id)
    if existing is not None:
        return existing
    if await statuses.get_tombstone(con, obj.id) is not None:
        return None  # deleted before it arrived: stays deleted
    now = datetime.now(UTC)
    published = min(obj.published or now, now)
    parent = await statuses.get_by_uri(con, obj.in_reply_to) if obj.in_reply_to else None
    mentioned_ids = await _local_mentions(con, obj)
    status = await statuses.insert(
        con,
        {
            "uri": obj.id,
            "url": obj.url or obj.id,
            "actor_id": author.id,
            "local": False,
            "kind": "event" if obj.type == "Event" else "note",
            "visibility": ap_render.visibility_of(obj.to, obj.cc, author.followers_uri),
            "content": _content_html(obj),
            "spoiler_text": content.html_to_text(obj.summary or "")[:1000]
            if obj.type == "Note"
            else "",
            "sensitive": bool(obj.sensitive),
            "language": next(iter(obj.content_map), None) if obj.content_map else None,
            "in_reply_to_id": parent.id if parent else None,
            "in_reply_to_uri": obj.in_reply_to,
            "audience": obj.audience[0] if obj.audience else None,
            "data": _extra_data(obj),
            "published_at": published,
        },
        id_at=published,
    )
    if status is None:  # raced with another worker storing the same uri
        return await statuses.get_by_uri(con, obj.id)
    await statuses.add_mentions(con, status.id, mentioned_ids)
    await statuses.replace_tags(con, status.id, _hashtags(obj))
    await statuses.link_replies(con, status)
    await events.new_status(con, status, mentioned_ids)
    return status


async def update_object(con: Conn, existing: StatusRow, obj: vocab.APObject) -> StatusRow:
    updated = await statuses.update_content(
        con,
        existing.id,
        {
            "content": _content_html(obj),
            "spoiler_text": content.html_to_text(obj.summary or "")[:1000]
            if obj.type == "Note"
            else "",
            "sensitive": bool(obj.sensitive),
            "data": _extra_data(obj),
        },
    )
    await statuses.replace_tags(con, existing.id, _hashtags(obj))
    await statuses.add_mentions(con, existing.id, await _local_mentions(con, obj))
    return updated


async def _local_mentions(con: Conn, obj: vocab.APObject) -> list[int]:
    ids: list[int] = []
    for tag in obj.tags:
        if tag.type == "Mention" and tag.href:
            actor = await actors.get_by_uri(con, tag.href)
            if actor is not None and actor.local:
                ids.append(actor.id)
    return ids


def _hashtags(obj: vocab.APObject) -> list[str]:
    names = [t.name.lstrip("#").lower() for t in obj.tags if t.type == "Hashtag" and t.name]
    return [n for n in dict.fromkeys(names) if n][:50]


def _extra_data(obj: vocab.APObject) -> dict[str, Any]:
    data: dict[str, Any] = {"type": obj.type}
    if obj.name:
        data["name"] = obj.name
    if obj.type == "Event":
        data["start_time"] = obj.start_time.isoformat() if obj.start_time else None
        data["end_time"] = obj.end_time.isoformat() if obj.end_time else None
        data["location"] = obj.location
    if obj.attachments:
        data["attachments"] = [
            {"type": a.type, "url": a.url, "media_type": a.media_type, "name": a.name}
            for a in obj.attachments
        ]
    return data


async def resolve_status(services: Services, uri: str) -> StatusRow | None:
    """A status by uri: ours or stored, else fetched from its origin (with its author)."""
    async with services.pool.acquire() as con:
        found = await statuses.get_by_uri(con, uri)
        if found is not None:
            return found
        if await statuses.get_tombstone(con, uri) is not None:
            return None
    if uri.startswith(services.urls.base + "/"):
        return None  # ours, and not stored: it does not exist
    document = await remote.fetch_object(services, uri)
    obj = vocab.parse_object(document)
    if obj.attributed_to is None or not same_origin(obj.attributed_to, obj.id):
        raise NotStorable("object's author is on another origin")
    author = await remote.fetch_actor(services, obj.attributed_to)
    async with services.pool.acquire() as con, con.transaction():
        return await store_object(services, con, obj, author)
