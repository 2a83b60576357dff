"""Parse untrusted ActivityStreams JSON into frozen values.

This is the trust boundary for what remote servers send. Each ``parse_*`` function
takes already-decoded JSON and returns a frozen dataclass, or raises
:class:`VocabError` whose ``reason`` is short and safe to show to the sender.

The spec lets most properties be a string, an object or an array, and real
servers use every form, so each is accepted. Hostile documents stay cheap:
embedded objects nest at most ``MAX_DEPTH`` levels and every list is read only
up to a fixed length. Optional values that are malformed become ``None`` (or
are skipped); only the values a document cannot do without raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeGuard
from urllib.parse import urlsplit

from federation.vocab_types import (
    ACTIVITY_TYPES,
    ACTOR_TYPES,
    PUBLIC,
    PUBLIC_ALIASES,
    Activity,
    Actor,
    APObject,
    Attachment,
    PublicKeyInfo,
    Tag,
    VocabError,
)

MAX_DEPTH: Final = 10  # Announce(Create(Note)) is 3; ten leaves room for odd relays
MAX_RECIPIENTS: Final = 5000
MAX_ITEMS: Final = 100  # tags, attachments, profile fields, url/icon/key alternatives
MAX_URL_LENGTH: Final = 2048
_MAX_PEM_LENGTH: Final = 16384
_MAX_DATE_LENGTH: Final = 64
_ATTACHMENT_TYPES: Final = frozenset({"Document", "Image", "Video", "Audio", "Link"})
# ``\s`` matches exactly the characters for which ``str.isspace()`` is true; one regex
# search replaces a Python-level loop over every character of every URL.
_WHITESPACE: Final = re.compile(r"\s")
# The usual URL, which ``_is_url`` would accept after ``urlsplit``: an ASCII host name or
# address, maybe a port from 1 to 9999, then anything but whitespace. Checked first since
# parsing an activity looks at a dozen URLs; anything else takes the long way.
_PLAIN_URL: Final = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[1-9][0-9]{0,3})?(?:[/?#]\S*)?")


def parse_any(doc: Any) -> Activity | Actor | APObject:
    """Parse a document whose kind is only known from its ``type``."""
    return _parse_any(doc, 0)


def parse_activity(doc: Any) -> Activity:
    """An activity; an embedded object is parsed by its own type, ``MAX_DEPTH`` deep at most."""
    return _parse_activity(doc, 0)


def parse_actor(doc: Any) -> Actor:
    """A Person, Group, Application, Service or Organization; it must have an inbox."""
    raw = _require_dict(doc)
    actor_id = _require_url(raw, "id", "actor")
    kind = _require_type(raw, "actor")
    if kind not in ACTOR_TYPES:
        raise VocabError("not an actor type")
    endpoints = raw.get("endpoints")
    return Actor(
        id=actor_id,
        type=kind,
        inbox=_require_url(raw, "inbox", "actor"),
        preferred_username=_str(raw.get("preferredUsername")),
        name=_str(raw.get("name")),
        summary=_str(raw.get("summary")),
        outbox=_ref(raw.get("outbox")),
        shared_inbox=_ref(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else None,
        followers=_ref(raw.get("followers")),
        following=_ref(raw.get("following")),
        featured=_ref(raw.get("featured")),
        url=_page_url(raw.get("url")),
        icon_url=_image_url(raw.get("icon")),
        image_url=_image_url(raw.get("image")),
        manually_approves_followers=raw.get("manuallyApprovesFollowers") is True,
        discoverable=raw.get("discoverable") is True,
        indexable=raw.get("indexable") is True,
        bot=kind in ("Service", "Application"),
        public_key=_public_key(raw.get("publicKey"), actor_id),
        fields=_profile_fields(raw.get("attachment")),
        published=_datetime(raw.get("published")),
        raw=raw,
    )


def parse_object(doc: Any) -> APObject:
    """Any other object (Note, Article, Event, Question, Tombstone…); it must have an id."""
    raw = _require_dict(doc)
    content = _str(raw.get("content"))
    content_map = _language_map(raw.get("contentMap"))
    if content is None and content_map:
        # Some servers send only contentMap; any language beats showing nothing.
        content = next(iter(content_map.values()))
    location = _first(raw.get("location"))
    return APObject(
        id=_require_url(raw, "id", "object"),
        type=_require_type(raw, "object"),
        attributed_to=_attributed_to(raw.get("attributedTo")),
        content=content,
        content_map=content_map,
        summary=_str(raw.get("summary")),
        name=_str(raw.get("name")),
        in_reply_to=_ref(raw.get("inReplyTo")),
        published=_datetime(raw.get("published")),
        updated=_datetime(raw.get("updated")),
        url=_page_url(raw.get("url")),
        to=_recipients(raw.get("to")),
        cc=_recipients(raw.get("cc")),
        audience=_recipients(raw.get("audience")),
        sensitive=raw.get("sensitive") is True,
        tags=_tags(raw.get("tag")),
        attachments=_attachments(raw.get("attachment")),
        start_time=_datetime(raw.get("startTime")),
        end_time=_datetime(raw.get("endTime")),
        timezone=_str(raw.get("timezone")),
        location=location if isinstance(location, dict) else None,
        quote=_quote(raw),
        raw=raw,
    )


def _parse_any(doc: Any, depth: int) -> Activity | Actor | APObject:
    kind = _require_type(_require_dict(doc), "object")
    if kind in ACTIVITY_TYPES:
        return _parse_activity(doc, depth)
    if kind in ACTOR_TYPES:
        return parse_actor(doc)
    return parse_object(doc)


def _parse_activity(doc: Any, depth: int) -> Activity:
    raw = _require_dict(doc)
    return Activity(
        id=_require_url(raw, "id", "activity"),
        type=_require_type(raw, "activity"),
        actor=_require_url(raw, "actor", "activity"),
        object=_embedded(raw.get("object"), depth),
        target=_ref(raw.get("target")),
        to=_recipients(raw.get("to")),
        cc=_recipients(raw.get("cc")),
        audience=_recipients(raw.get("audience")),
        published=_datetime(raw.get("published")),
        raw=raw,
    )


def _embedded(value: Any, depth: int) -> str | APObject | Activity | Actor | None:
    """An activity's object: a URL, or an embedded document parsed by its type."""
    value = _first(value)
    if value is None:
        return None
    if isinstance(value, dict):
        if "type" not in value and "id" in value:
            return _url_or_error(value["id"])  # {"id": …} is only a link
        if depth >= MAX_DEPTH:
            raise VocabError("object nested too deeply")
        return _parse_any(value, depth + 1)
    return _url_or_error(value)


def _url_or_error(value: Any) -> str:
    if not _is_url(value):
        raise VocabError("object must be a URL")
    return value


# --- values -------------------------------------------------------------------


def _require_dict(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise VocabError("document must be a JSON object")
    return doc


def _require_type(doc: Mapping[str, Any], what: str) -> str:
    kind = _first(doc.get("type"))  # JSON-LD allows several types; the first is the main one
    if not isinstance(kind, str) or not kind:
        raise VocabError(f"{what} has no type")
    return kind


def _require_url(doc: Mapping[str, Any], key: str, what: str) -> str:
    value = doc.get(key)
    if value is None:
        raise VocabError(f"{what} has no {key}")
    url = _ref(value)
    if url is None:
        raise VocabError(f"{key} must be a URL")
    return url


def _first(value: Any) -> Any:
    """Where the spec allows an array, the first element is the one that counts."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _items(value: Any, limit: int) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value[:limit]
    return [value]


def _is_url(value: Any) -> TypeGuard[str]:
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        return False
    if _PLAIN_URL.fullmatch(value) is not None:
        return True
    if _WHITESPACE.search(value) is not None:
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # e.g. an invalid port or a broken IPv6 literal
        return False


def _ref(value: Any) -> str | None:
    """A link to another document: a URL, or an object or Link carrying one."""
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("id") if "id" in value else value.get("href")
    return value if _is_url(value) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > _MAX_DATE_LENGTH:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # A date without an offset is read as UTC rather than dropped.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _recipients(value: Any) -> tuple[str, ...]:
    found: dict[str, None] = {}  # an ordered set: dedupe, keep order
    for item in _items(value, MAX_RECIPIENTS):
        if isinstance(item, str) and item in PUBLIC_ALIASES:
            found[PUBLIC] = None
        elif (url := _ref(item)) is not None:
            found[url] = None
    return tuple(found)


def _links(value: Any) -> list[tuple[str, str | None]]:
    """(href, mediaType) for each URL string or Link object in ``value``."""
    links: list[tuple[str, str | None]] = []
    for item in _items(value, MAX_ITEMS):
        if isinstance(item, dict):
            href, media_type = item.get("href"), _str(item.get("mediaType"))
        else:
            href, media_type = item, None
        if _is_url(href):
            links.append((href, media_type))
    return links


def _page_url(value: Any) -> str | None:
    """The human-facing URL: a text/html link when one is offered, else the first."""
    links = _links(value)
    for href, media_type in links:
        if media_type == "text/html":
            return href
    return links[0][0] if links else None


def _image_url(value: Any) -> str | None:
    """``icon``/``image``: a URL, an Image object, or a list of either."""
    for item in _items(value, MAX_ITEMS):
        if _is_url(item):
            return item
        if isinstance(item, dict):
            links = _links(item.get("url", item.get("href")))
            if links:
                return links[0][0]
    return None


def _attributed_to(value: Any) -> str | None:
    # PeerTube lists the author and its channel (a Group): the author is the one we want.
    items = _items(value, MAX_ITEMS)
    for item in items:
        is_group = isinstance(item, dict) and item.get("type") == "Group"
        if not is_group and (url := _ref(item)) is not None:
            return url
    return _ref(items[0]) if items else None


def _language_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    pairs = list(value.items())[:MAX_ITEMS]
    return {lang: text for lang, text in pairs if isinstance(text, str)}


def _tags(value: Any) -> tuple[Tag, ...]:
    tags: list[Tag] = []
    for item in _items(value, MAX_ITEMS):
        if not isinstance(item, dict):
            continue  # tags of unknown shapes are skipped, not fatal
        kind, name = _first(item.get("type")), _str(item.get("name"))
        if kind == "Mention" and (href := _ref(item.get("href"))) is not None:
            tags.append(Tag("Mention", href, name))
        elif kind == "Hashtag" and name:
            tags.append(Tag("Hashtag", _ref(item.get("href")), name))
        elif kind == "Emoji" and name and (icon := _image_url(item.get("icon"))) is not None:
            tags.append(Tag("Emoji", _ref(item.get("id")), name, icon))
    return tuple(tags)


def _attachments(value: Any) -> tuple[Attachment, ...]:
    attachments: list[Attachment] = []
    for item in _items(value, MAX_ITEMS):
        kind = _first(item.get("type")) if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in _ATTACHMENT_TYPES:
            continue
        links = _links(item.get("url", item.get("href")))
        if not links:
            continue
        # For media the file itself beats an HTML page about it.
        media_links = [link for link in links if link[1] != "text/html"] or links
        href, link_media_type = media_links[0]
        attachments.append(
            Attachment(
                type=kind,
                url=href,
                media_type=_str(item.get("mediaType")) or link_media_type,
                name=_str(item.get("name")),
                width=_int(item.get("width")),
                height=_int(item.get("height")),
                blurhash=_str(item.get("blurhash")),
            )
        )
    return tuple(attachments)


def _profile_fields(value: Any) -> tuple[tuple[str, str], ...]:
    fields: list[tuple[str, str]] = []
    for item in _items(value, MAX_ITEMS):
        if isinstance(item, dict) and item.get("type") == "PropertyValue":
            name, text = item.get("name"), item.get("value")
            if isinstance(name, str) and isinstance(text, str):
                fields.append((name, text))
    return tuple(fields)


def _public_key(value: Any, actor_id: str) -> PublicKeyInfo | None:
    # Only a key the actor owns may verify its signatures; others in a list are skipped.
    for item in _items(value, MAX_ITEMS):
        if not isinstance(item, dict):
            continue
        key_id, owner, pem = _ref(item.get("id")), _ref(item.get("owner")), item.get("publicKeyPem")
        if key_id is None or not isinstance(pem, str) or not pem or len(pem) > _MAX_PEM_LENGTH:
            continue
        if owner is None and key_id.partition("#")[0] == actor_id:
            owner = actor_id  # a fragment of the actor's own URL needs no owner to prove it
        if owner == actor_id:
            return PublicKeyInfo(key_id, owner, pem)
    return None


def _quote(doc: Mapping[str, Any]) -> str | None:
    # FEP-044f/FEP-e232 ``quote``, Fedibird/Akkoma ``quoteUrl``/``quoteUri``, Misskey's own.
    for key in ("quote", "quoteUrl", "quoteUri", "_misskey_quote"):
        if (url := _ref(doc.get(key))) is not None:
            return url
    return None
