"""Build outgoing ActivityStreams documents as plain dicts ready for orjson.

Ids are passed in: the caller owns the URL layout. Top-level documents carry
``@context``; a document embedded in another (the Note in a Create, the Follow
in an Accept) has it removed, since only the outermost context applies.
Optional values that are ``None`` are left out rather than sent as null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from federation.vocab_types import PUBLIC, Attachment, Tag

AS_CONTEXT: Final = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT: Final = "https://w3id.org/security/v1"
# The Mastodon-style extension terms Shoal emits, defined so JSON-LD processors keep them.
EXTENSION_TERMS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "featured": MappingProxyType({"@id": "toot:featured", "@type": "@id"}),
        "Emoji": "toot:Emoji",
        "blurhash": "toot:blurhash",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
    }
)
CONTEXT: Final = (AS_CONTEXT, SECURITY_CONTEXT, EXTENSION_TERMS)

Document = dict[str, Any]


def context() -> list[Any]:
    """A fresh, JSON-ready copy of ``CONTEXT`` (callers may change what they get)."""
    terms = {
        term: dict(value) if isinstance(value, Mapping) else value
        for term, value in EXTENSION_TERMS.items()
    }
    return [AS_CONTEXT, SECURITY_CONTEXT, terms]


def format_datetime(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, the form every peer parses; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_actor(
    *,
    id: str,
    type: str,
    username: str,
    name: str,
    summary_html: str,
    url: str,
    inbox: str,
    outbox: str,
    shared_inbox: str,
    followers: str,
    following: str,
    featured: str,
    public_key_pem: str,
    manually_approves_followers: bool,
    discoverable: bool,
    published: datetime,
    icon_url: str | None = None,
    image_url: str | None = None,
    fields: Sequence[tuple[str, str]] = (),
    indexable: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Document:
    """A Person, Group, Application… document; ``extra`` keys are added last."""
    doc: Document = {
        "@context": context(),
        "id": id,
        "type": type,
        "preferredUsername": username,
        "name": name,
        "summary": summary_html,
        "url": url,
        "inbox": inbox,
        "outbox": outbox,
        "followers": followers,
        "following": following,
        "featured": featured,
        "endpoints": {"sharedInbox": shared_inbox},
        "manuallyApprovesFollowers": manually_approves_followers,
        "discoverable": discoverable,
        "indexable": indexable,
        "published": format_datetime(published),
        # "#main-key" is the key id Mastodon uses; peers cache keys by this id.
        "publicKey": {"id": f"{id}#main-key", "owner": id, "publicKeyPem": public_key_pem},
        "attachment": [
            {"type": "PropertyValue", "name": field_name, "value": value}
            for field_name, value in fields
        ],
    }
    if icon_url is not None:
        doc["icon"] = {"type": "Image", "url": icon_url}
    if image_url is not None:
        doc["image"] = {"type": "Image", "url": image_url}
    if extra:
        doc.update(extra)
    return doc


def build_note(
    *,
    id: str,
    attributed_to: str,
    content_html: str,
    published: datetime,
    to: Sequence[str],
    cc: Sequence[str],
    url: str | None = None,
    summary: str | None = None,
    sensitive: bool = False,
    in_reply_to: str | None = None,
    tags: Sequence[Tag | Mapping[str, Any]] = (),
    attachments: Sequence[Attachment] = (),
    audience: str | None = None,
    updated: datetime | None = None,
    language: str | None = None,
    source_text: str | None = None,
) -> Document:
    doc: Document = {
        "@context": context(),
        "id": id,
        "type": "Note",
        "attributedTo": attributed_to,
        "content": content_html,
        "published": format_datetime(published),
        "to": list(to),
        "cc": list(cc),
        "sensitive": sensitive,
        "tag": [_tag_doc(tag) for tag in tags],
        "attachment": [_attachment_doc(attachment) for attachment in attachments],
    }
    optional = {
        "url": url,
        "summary": summary,
        "inReplyTo": in_reply_to,
        "audience": audience,
        "updated": format_datetime(updated) if updated is not None else None,
        "contentMap": {language: content_html} if language else None,
        # The text as written, so a later edit starts from it rather than from HTML.
        "source": {"content": source_text, "mediaType": "text/plain"}
        if source_text is not None
        else None,
    }
    doc.update((key, value) for key, value in optional.items() if value is not None)
    return doc


def build_create(actor: str, obj: Mapping[str, Any], *, id: str) -> Document:
    """Create(obj), addressed like the object (as Mastodon expects)."""
    body = _embed(obj)
    doc: Document = {"@context": context(), "id": id, "type": "Create", "actor": actor}
    doc.update(_addressing(body, ("published", "to", "cc", "audience")))
    doc["object"] = body
    return doc


def build_update(
    actor: str,
    obj: Mapping[str, Any],
    *,
    id: str,
    to: Sequence[str] | None = None,
    cc: Sequence[str] | None = None,
) -> Document:
    """Update(obj); addressed like the object unless told, else public (an actor update)."""
    body = _embed(obj)
    return {
        "@context": context(),
        "id": id,
        "type": "Update",
        "actor": actor,
        "to": list(to) if to is not None else list(body.get("to", [PUBLIC])),
        "cc": list(cc) if cc is not None else list(body.get("cc", [])),
        "object": body,
    }


def build_delete(
    actor: str, object_id: str, *, id: str, to: Sequence[str], cc: Sequence[str]
) -> Document:
    return {
        "@context": context(),
        "id": id,
        "type": "Delete",
        "actor": actor,
        "to": list(to),
        "cc": list(cc),
        "object": {"id": object_id, "type": "Tombstone"},
    }


def build_follow(actor: str, object: str, *, id: str) -> Document:
    return {"@context": context(), "id": id, "type": "Follow", "actor": actor, "object": object}


def build_accept(actor: str, follow_activity: Mapping[str, Any] | str, *, id: str) -> Document:
    """Accept a Follow (or a Join): the activity embedded, or only its id."""
    return _response("Accept", actor, follow_activity, id)


def build_reject(actor: str, follow_activity: Mapping[str, Any] | str, *, id: str) -> Document:
    return _response("Reject", actor, follow_activity, id)


def build_undo(actor: str, activity: Mapping[str, Any], *, id: str) -> Document:
    """Undo an activity, addressed like it so the same inboxes hear of it."""
    body = _embed(activity)
    doc: Document = {"@context": context(), "id": id, "type": "Undo", "actor": actor}
    doc.update(_addressing(body, ("to", "cc")))
    doc["object"] = body
    return doc


def build_announce(
    actor: str,
    object_id_or_obj: str | Mapping[str, Any],
    *,
    id: str,
    to: Sequence[str],
    cc: Sequence[str],
    published: datetime,
    audience: str | None = None,
) -> Document:
    """A boost (object id) or a FEP-1b12 group announce (embedded activity)."""
    doc: Document = {
        "@context": context(),
        "id": id,
        "type": "Announce",
        "actor": actor,
        "published": format_datetime(published),
        "to": list(to),
        "cc": list(cc),
        "object": object_id_or_obj
        if isinstance(object_id_or_obj, str)
        else _embed(object_id_or_obj),
    }
    if audience is not None:
        doc["audience"] = audience
    return doc


def build_like(actor: str, object_id: str, *, id: str) -> Document:
    return {"@context": context(), "id": id, "type": "Like", "actor": actor, "object": object_id}


def build_tombstone(id: str, deleted: datetime | None) -> Document:
    doc: Document = {"@context": context(), "id": id, "type": "Tombstone"}
    if deleted is not None:
        doc["deleted"] = format_datetime(deleted)
    return doc


def build_ordered_collection(
    id: str, total_items: int, first: str | None, last: str | None = None
) -> Document:
    doc: Document = {
        "@context": context(),
        "id": id,
        "type": "OrderedCollection",
        "totalItems": total_items,
    }
    if first is not None:
        doc["first"] = first
    if last is not None:
        doc["last"] = last
    return doc


def build_ordered_collection_page(
    id: str, part_of: str, items: Sequence[Any], next: str | None, prev: str | None
) -> Document:
    doc: Document = {
        "@context": context(),
        "id": id,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "orderedItems": [_embed(item) if isinstance(item, Mapping) else item for item in items],
    }
    if next is not None:
        doc["next"] = next
    if prev is not None:
        doc["prev"] = prev
    return doc


def _embed(doc: Mapping[str, Any]) -> Document:
    return {key: value for key, value in doc.items() if key != "@context"}


def _addressing(body: Mapping[str, Any], keys: Sequence[str]) -> Document:
    """The object's addressing for its activity; lists copied, not shared with it."""
    return {
        key: list(value) if isinstance(value, list) else value
        for key in keys
        if (value := body.get(key)) is not None
    }


def _response(kind: str, actor: str, activity: Mapping[str, Any] | str, id: str) -> Document:
    doc: Document = {"@context": context(), "id": id, "type": kind, "actor": actor}
    if isinstance(activity, str):
        doc["object"] = activity
        return doc
    body = _embed(activity)
    if isinstance(body.get("actor"), str):
        doc["to"] = [body["actor"]]  # tell the one who asked
    doc["object"] = body
    return doc


def _tag_doc(tag: Tag | Mapping[str, Any]) -> Document:
    if not isinstance(tag, Tag):
        return dict(tag)
    if tag.type == "Emoji":
        emoji: Document = {
            "type": "Emoji",
            "name": tag.name,
            "icon": {"type": "Image", "url": tag.icon_url},
        }
        if tag.href is not None:
            emoji["id"] = tag.href
        return emoji
    doc: Document = {"type": tag.type, "name": tag.name}
    if tag.href is not None:
        doc["href"] = tag.href
    return doc


def _attachment_doc(attachment: Attachment) -> Document:
    doc: Document = {
        "type": attachment.type,
        "mediaType": attachment.media_type,
        "url": attachment.url,
        "name": attachment.name,
        "width": attachment.width,
        "height": attachment.height,
        "blurhash": attachment.blurhash,
    }
    return {key: value for key, value in doc.items() if value is not None}
