"""The values ActivityStreams documents parse into, and the vocabulary's constants.

Kept apart from the parser so builders and callers can name the types without
pulling in parsing code; everything here is re-exported by ``federation.vocab``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

PUBLIC: Final = "https://www.w3.org/ns/activitystreams#Public"
# Compacted JSON-LD forms of PUBLIC that real servers send.
PUBLIC_ALIASES: Final = frozenset({PUBLIC, "as:Public", "Public"})

ACTOR_TYPES: Final = frozenset({"Person", "Group", "Application", "Service", "Organization"})
ACTIVITY_TYPES: Final = frozenset(
    {
        "Create", "Update", "Delete", "Follow", "Accept", "Reject", "TentativeAccept",
        "TentativeReject", "Undo", "Announce", "Like", "Dislike", "EmojiReact", "Add",
        "Remove", "Block", "Flag", "Move", "Join", "Leave", "Offer", "Invite", "View",
    }
)  # fmt: skip


class VocabError(ValueError):
    """A document that cannot be used; ``reason`` is safe to show to its sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Tag:
    """A Mention (href = actor), Hashtag (href = tag page) or Emoji (href = its id)."""

    type: str
    href: str | None
    name: str | None
    icon_url: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    type: str
    url: str
    media_type: str | None = None
    name: str | None = None
    width: int | None = None
    height: int | None = None
    blurhash: str | None = None


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    id: str
    owner: str
    pem: str


@dataclass(frozen=True, slots=True)
class APObject:
    """Any non-actor, non-activity object: Note, Article, Event, Tombstone…"""

    id: str
    type: str
    attributed_to: str | None = None
    content: str | None = None  # raw remote HTML: sanitise before showing it
    content_map: Mapping[str, str] = field(default_factory=dict)
    summary: str | None = None
    name: str | None = None
    in_reply_to: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    url: str | None = None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    sensitive: bool = False
    tags: tuple[Tag, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    start_time: datetime | None = None
    end_time: datetime | None = None
    timezone: str | None = None
    location: dict[str, Any] | None = None
    quote: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    type: str
    inbox: str
    preferred_username: str | None = None
    name: str | None = None
    summary: str | None = None
    outbox: str | None = None
    shared_inbox: str | None = None
    followers: str | None = None
    following: str | None = None
    featured: str | None = None
    url: str | None = None
    icon_url: str | None = None
    image_url: str | None = None
    manually_approves_followers: bool = False
    discoverable: bool = False
    indexable: bool = False
    bot: bool = False
    public_key: PublicKeyInfo | None = None
    fields: tuple[tuple[str, str], ...] = ()
    published: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Activity:
    id: str
    type: str
    actor: str
    object: str | APObject | Activity | Actor | None = None
    target: str | None = None  # only its URL: an embedded target stays in ``raw``
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    published: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def object_id(self) -> str | None:
        """The object's URL, whether it was sent embedded or as a link."""
        if self.object is None or isinstance(self.object, str):
            return self.object
        return self.object.id


def is_public(addresses: Iterable[str]) -> bool:
    return any(address in PUBLIC_ALIASES for address in addresses)
