"""Mastodon API entities as Mastodon documents them, for checking what Shoal returns.

Each entity is its documented fields (docs.joinmastodon.org, "Entities"): the JSON type,
whether it may be null, whether the docs mark it optional (may be absent), and the
Mastodon version that added it. An entity must carry every field that the Mastodon
version Shoal claims to be (``LEVEL``) has; a field added later need not be there, but
is type-checked when it is. A field the docs mark optional may be absent, or null (which
Mastodon itself sends for some: ``application`` on one's own boost). Fields beyond the
documented ones are allowed: apps ignore them.

    check("Status", entity, signed_in=True)   # raises AssertionError listing every problem
    check("Status[]", timeline)               # an array of them
    problems("Account", entity)               # the list, for tests that want to look

``signed_in`` is for responses to a member's token: fields Mastodon adds only then
(``favourited``, ``bookmarked``… on a status, ``following`` on a tag) are then required.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

# The Mastodon version whose fields are required: the one Shoal's instance entities claim
# (server.api.instance.MASTODON_COMPATIBLE; a test keeps the two in step).
LEVEL = "4.3.0"

Version = tuple[int, ...]


def version(text: str) -> Version:
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True)
class Context:
    level: Version
    signed_in: bool
    gaps: frozenset[str]  # missing fields not to report (see KNOWN_GAPS)

    def tolerates(self, path: str) -> bool:
        bare = re.sub(r"\[\d*\]", "", path)
        return any(bare == gap or bare.endswith("." + gap) for gap in self.gaps)


# --- types --------------------------------------------------------------------------


class Type:
    """A JSON type; ``problems`` lists what is wrong with a value at ``path``."""

    def problems(self, value: Any, path: str, ctx: Context) -> list[str]:
        raise NotImplementedError


@dataclass(frozen=True)
class Scalar(Type):
    name: str
    test: Callable[[Any], bool]

    def problems(self, value: Any, path: str, ctx: Context) -> list[str]:
        if self.test(value):
            return []
        return [f"{path}: expected {self.name}, got {type(value).__name__} {value!r:.80}"]


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\dT.+", value):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


STRING = Scalar("String", lambda v: isinstance(v, str))
ID = Scalar("String (id)", lambda v: isinstance(v, str) and v != "")
# An absolute URL: http(s), ws(s), or another scheme with an authority.
URL = Scalar(
    "String (URL)", lambda v: isinstance(v, str) and bool(re.match(r"[a-z][a-z0-9+.-]*://.", v))
)
INTEGER = Scalar("Integer", _is_int)
NUMBER = Scalar("Number", lambda v: _is_int(v) or isinstance(v, float))
BOOLEAN = Scalar("Boolean", lambda v: isinstance(v, bool))
DATETIME = Scalar("String (Datetime)", _is_datetime)
DATE = Scalar("String (Date)", _is_date)
HASH = Scalar("Hash", lambda v: isinstance(v, dict))
INTEGER_STRING = Scalar(
    "String (cast from an integer)", lambda v: isinstance(v, str) and v.isdigit()
)
SIZE = Scalar("String (WxH)", lambda v: isinstance(v, str) and bool(re.fullmatch(r"\d+x\d+", v)))


@dataclass(frozen=True)
class Enum(Type):
    values: frozenset[str]

    def problems(self, value: Any, path: str, ctx: Context) -> list[str]:
        if isinstance(value, str) and value in self.values:
            return []
        return [f"{path}: expected one of {', '.join(sorted(self.values))}, got {value!r:.80}"]


def enum(*values: str) -> Enum:
    return Enum(frozenset(values))


@dataclass(frozen=True)
class ArrayOf(Type):
    item: Type

    def problems(self, value: Any, path: str, ctx: Context) -> list[str]:
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {type(value).__name__} {value!r:.80}"]
        found: list[str] = []
        for i, item in enumerate(value):
            found += self.item.problems(item, f"{path}[{i}]", ctx)
        return found


@dataclass(frozen=True)
class MapOf(Type):
    """A hash whose keys are free (e.g. markers by timeline) and values all one type."""

    item: Type

    def problems(self, value: Any, path: str, ctx: Context) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected a hash, got {type(value).__name__} {value!r:.80}"]
        found: list[str] = []
        for key, item in value.items():
            found += self.item.problems(item, f"{path}.{key}", ctx)
        return found


@dataclass(frozen=True)
class Field:
    type: Type
    since: str
    nullable: bool = False
    optional: bool = False  # the docs mark it optional: it may be absent
    signed_in: bool = False  # optional, but always there for a member's token


def req(type_: Type, since: str, *, null: bool = False) -> Field:
    """A field always present (from ``since`` on)."""
    return Field(type_, since, nullable=null)


def opt(type_: Type, since: str, *, null: bool = False) -> Field:
    """A field the docs mark optional."""
    return Field(type_, since, nullable=null, optional=True)


def mine(type_: Type, since: str) -> Field:
    """A field present when a member's token asked (``favourited``, ``following``…)."""
    return Field(type_, since, optional=True, signed_in=True)


@dataclass(frozen=True)
class Hash(Type):
    """A hash with documented fields: an entity, or a hash nested in one."""

    fields: Mapping[str, Field]
    name: str = "Hash"
    rules: tuple[Callable[[dict[str, Any], str], list[str]], ...] = field(default=())

    def problems(self, value: Any, path: str, ctx: Context) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected {self.name} (a hash), got {type(value).__name__}"]
        found: list[str] = []
        for key, spec in self.fields.items():
            where = f"{path}.{key}"
            if key not in value:
                required = version(spec.since) <= ctx.level and (
                    not spec.optional or (spec.signed_in and ctx.signed_in)
                )
                if required and not ctx.tolerates(where):
                    found.append(f"{where}: missing (Mastodon {spec.since})")
                continue
            if value[key] is None:
                # An optional field may be left out; null says the same to every client.
                if not (spec.nullable or (spec.optional and not spec.signed_in)):
                    found.append(f"{where}: null, but not nullable")
                continue
            found += spec.type.problems(value[key], where, ctx)
        for rule in self.rules:
            found += rule(value, path)
        return found


@dataclass(frozen=True)
class Ref(Type):
    """An entity by name, looked up when used (entities refer to each other)."""

    entity: str

    def problems(self, value: Any, path: str, ctx: Context) -> list[str]:
        return ENTITIES[self.entity].problems(value, path, ctx)


def entity(name: str, *parts: Mapping[str, Field], rules: tuple[Any, ...] = ()) -> Hash:
    fields: dict[str, Field] = {}
    for part in parts:
        fields.update(part)
    return Hash(fields, name, rules)


def array(item: Type | str) -> ArrayOf:
    return ArrayOf(Ref(item) if isinstance(item, str) else item)


# --- the entities -------------------------------------------------------------------

VISIBILITY = enum("public", "unlisted", "private", "direct")

FIELD = {
    "name": req(STRING, "2.4.0"),
    "value": req(STRING, "2.4.0"),
    "verified_at": req(DATETIME, "2.6.0", null=True),
}

CUSTOM_EMOJI = {
    "shortcode": req(STRING, "2.0.0"),
    "url": req(URL, "2.0.0"),
    "static_url": req(URL, "2.0.0"),
    "visible_in_picker": req(BOOLEAN, "2.0.0"),
    "category": req(STRING, "3.0.0", null=True),
}

ACCOUNT_ROLE = {
    "id": req(STRING, "4.1.0"),
    "name": req(STRING, "4.1.0"),
    "color": req(STRING, "4.1.0"),
}

ACCOUNT = {
    "id": req(ID, "0.1.0"),
    "username": req(STRING, "0.1.0"),
    "acct": req(STRING, "0.1.0"),
    "url": req(URL, "0.1.0", null=True),
    "uri": req(URL, "4.2.0"),
    "display_name": req(STRING, "0.1.0"),
    "note": req(STRING, "0.1.0"),
    "avatar": req(URL, "0.1.0"),
    "avatar_static": req(URL, "1.1.2"),
    "avatar_description": req(STRING, "4.6.0"),
    "header": req(URL, "0.1.0"),
    "header_static": req(URL, "1.1.2"),
    "header_description": req(STRING, "4.6.0"),
    "locked": req(BOOLEAN, "0.1.0"),
    "fields": req(array("Field"), "2.4.0"),
    "emojis": req(array("CustomEmoji"), "2.4.0"),
    "bot": req(BOOLEAN, "2.4.0"),
    "group": req(BOOLEAN, "3.1.0"),
    "discoverable": req(BOOLEAN, "3.1.0", null=True),
    "indexable": req(BOOLEAN, "4.3.0"),
    "noindex": opt(BOOLEAN, "4.0.0", null=True),
    "moved": opt(Ref("Account"), "2.1.0", null=True),
    "memorial": opt(BOOLEAN, "4.2.0"),
    "suspended": opt(BOOLEAN, "3.3.0"),
    "limited": opt(BOOLEAN, "3.5.3"),
    "created_at": req(DATETIME, "0.1.0"),
    "last_status_at": req(DATE, "3.0.0", null=True),
    "statuses_count": req(INTEGER, "0.1.0"),
    "followers_count": req(INTEGER, "0.1.0"),
    "following_count": req(INTEGER, "0.1.0"),
    "hide_collections": req(BOOLEAN, "4.3.0", null=True),
    "show_media": req(BOOLEAN, "4.6.0"),
    "show_media_replies": req(BOOLEAN, "4.6.0"),
    "show_featured": req(BOOLEAN, "4.6.0"),
    "roles": req(array("AccountRole"), "4.1.0", null=True),
    "feature_approval": req(HASH, "4.6.0"),
}

SOURCE = Hash(
    {
        "note": req(STRING, "1.5.0"),
        "fields": req(array("Field"), "2.4.0"),
        "privacy": req(VISIBILITY, "1.5.0"),
        "sensitive": req(BOOLEAN, "1.5.0"),
        "language": req(STRING, "2.4.2"),
        "follow_requests_count": req(INTEGER, "3.0.0"),
        "hide_collections": req(BOOLEAN, "4.1.0", null=True),
        "discoverable": req(BOOLEAN, "3.1.0", null=True),
        "indexable": req(BOOLEAN, "4.3.0"),
        "attribution_domains": req(array(STRING), "4.4.0"),
        "quote_policy": req(enum("public", "followers", "nobody"), "4.5.0"),
    },
    "Account.source",
)

ROLE = {
    "id": req(STRING, "4.0.0"),
    "name": req(STRING, "4.0.0"),
    "color": req(STRING, "4.0.0"),
    "permissions": req(INTEGER_STRING, "4.0.0"),
    "highlighted": req(BOOLEAN, "4.0.0"),
    "collection_limit": req(INTEGER, "4.6.0"),
}

MEDIA_ATTACHMENT = {
    "id": req(ID, "0.6.0"),
    "type": req(enum("unknown", "image", "gifv", "video", "audio"), "0.6.0"),
    "url": req(URL, "0.6.0", null=True),
    "preview_url": req(URL, "0.6.0", null=True),
    "remote_url": req(URL, "0.6.0", null=True),
    "meta": req(HASH, "1.5.0", null=True),
    "description": req(STRING, "2.0.0", null=True),
    "blurhash": req(STRING, "2.8.1", null=True),
}

POLL = {
    "id": req(ID, "2.8.0"),
    "expires_at": req(DATETIME, "2.8.0", null=True),
    "expired": req(BOOLEAN, "2.8.0"),
    "multiple": req(BOOLEAN, "2.8.0"),
    "votes_count": req(INTEGER, "2.8.0"),
    "voters_count": req(INTEGER, "2.8.0", null=True),
    "options": req(
        ArrayOf(
            Hash(
                {"title": req(STRING, "2.8.0"), "votes_count": req(INTEGER, "2.8.0", null=True)},
                "Poll::Option",
            )
        ),
        "2.8.0",
    ),
    "emojis": req(array("CustomEmoji"), "2.8.0"),
    "voted": mine(BOOLEAN, "2.8.0"),
    "own_votes": mine(array(INTEGER), "2.8.0"),
}

# Mastodon sends "" for the unknown ones of these URLs, so they are typed as strings.
PREVIEW_CARD = {
    "url": req(URL, "1.0.0"),
    "title": req(STRING, "1.0.0"),
    "description": req(STRING, "1.0.0"),
    "type": req(enum("link", "photo", "video", "rich"), "1.3.0"),
    "authors": req(array(HASH), "4.3.0"),
    "author_name": req(STRING, "1.3.0"),
    "author_url": req(STRING, "1.3.0"),
    "provider_name": req(STRING, "1.3.0"),
    "provider_url": req(STRING, "1.3.0"),
    "html": req(STRING, "1.3.0"),
    "width": req(INTEGER, "1.3.0"),
    "height": req(INTEGER, "1.3.0"),
    "image": req(URL, "1.0.0", null=True),
    "embed_url": req(STRING, "2.1.0"),
    "blurhash": req(STRING, "3.2.0", null=True),
}

FILTER_RESULT = {
    "filter": req(HASH, "4.0.0"),
    "keyword_matches": req(array(STRING), "4.0.0", null=True),
    "status_matches": req(array(STRING), "4.0.0", null=True),
}

STATUS_MENTION = {
    "id": req(ID, "0.6.0"),
    "username": req(STRING, "0.6.0"),
    "url": req(URL, "0.6.0"),
    "acct": req(STRING, "0.6.0"),
}

STATUS_TAG = {"name": req(STRING, "0.9.0"), "url": req(URL, "0.9.0")}

STATUS = {
    "id": req(ID, "0.1.0"),
    "uri": req(STRING, "0.1.0"),
    "created_at": req(DATETIME, "0.1.0"),
    "account": req(Ref("Account"), "0.1.0"),
    "content": req(STRING, "0.1.0"),
    "visibility": req(VISIBILITY, "0.9.9"),
    "sensitive": req(BOOLEAN, "0.9.9"),
    "spoiler_text": req(STRING, "1.0.0"),
    "media_attachments": req(array("MediaAttachment"), "0.6.0"),
    "application": opt(
        Hash(
            {"name": req(STRING, "0.9.9"), "website": req(URL, "0.9.9", null=True)},
            "Status.application",
        ),
        "0.9.9",
    ),
    "mentions": req(array("Status::Mention"), "0.6.0"),
    "tags": req(array("Status::Tag"), "0.6.0"),
    "emojis": req(array("CustomEmoji"), "2.0.0"),
    "reblogs_count": req(INTEGER, "0.1.0"),
    "favourites_count": req(INTEGER, "0.1.0"),
    "quotes_count": req(INTEGER, "4.5.0"),
    "replies_count": req(INTEGER, "2.5.0"),
    "url": req(URL, "0.1.0", null=True),
    "in_reply_to_id": req(ID, "0.1.0", null=True),
    "in_reply_to_account_id": req(ID, "0.1.0", null=True),
    "reblog": req(Ref("Status"), "0.1.0", null=True),
    "poll": req(Ref("Poll"), "2.8.0", null=True),
    "card": req(Ref("PreviewCard"), "2.6.0", null=True),
    "language": req(STRING, "1.4.0", null=True),
    "text": req(STRING, "2.9.0", null=True),
    "edited_at": req(DATETIME, "3.5.0", null=True),
    "quote": req(HASH, "4.4.0", null=True),
    "quote_approval": req(HASH, "4.5.0"),
    "favourited": mine(BOOLEAN, "0.1.0"),
    "reblogged": mine(BOOLEAN, "0.1.0"),
    "muted": mine(BOOLEAN, "1.4.0"),
    "bookmarked": mine(BOOLEAN, "3.1.0"),
    "pinned": opt(BOOLEAN, "1.6.0"),  # only on the member's own statuses
    "filtered": mine(array("FilterResult"), "4.0.0"),
    "tagged_collections": req(array(HASH), "4.6.0"),
}

RELATIONSHIP = {
    "id": req(ID, "0.6.0"),
    "following": req(BOOLEAN, "0.6.0"),
    "showing_reblogs": req(BOOLEAN, "2.1.0"),
    "notifying": req(BOOLEAN, "3.3.0"),
    "languages": req(array(STRING), "4.0.0", null=True),
    "followed_by": req(BOOLEAN, "0.6.0"),
    "blocking": req(BOOLEAN, "0.6.0"),
    "blocked_by": req(BOOLEAN, "2.8.0"),
    "muting": req(BOOLEAN, "1.1.0"),
    "muting_notifications": req(BOOLEAN, "2.1.0"),
    "muting_expires_at": req(DATETIME, "4.6.0", null=True),
    "requested": req(BOOLEAN, "0.9.9"),
    "requested_by": req(BOOLEAN, "4.1.0"),
    "domain_blocking": req(BOOLEAN, "1.4.0"),
    "endorsed": req(BOOLEAN, "2.5.0"),
    "note": req(STRING, "3.2.0"),
}

NOTIFICATION_TYPES = enum(
    *("mention", "status", "reblog", "follow", "follow_request", "favourite", "poll"),
    *("update", "admin.sign_up", "admin.report", "severed_relationships"),
    *("moderation_warning", "quote", "quoted_update", "added_to_collection"),
    "collection_update",
)
# "Status that was the object of the notification": there for these types.
WITH_STATUS = frozenset(
    {"mention", "status", "reblog", "favourite", "poll", "update", "quote", "quoted_update"}
)


def _notification_status(value: dict[str, Any], path: str) -> list[str]:
    if value.get("type") in WITH_STATUS and not value.get("status"):
        return [f"{path}.status: missing, but a {value['type']} notification has one"]
    return []


NOTIFICATION = {
    "id": req(ID, "0.9.9"),
    "type": req(NOTIFICATION_TYPES, "0.9.9"),
    "group_key": req(STRING, "4.3.0"),
    "created_at": req(DATETIME, "0.9.9"),
    "account": req(Ref("Account"), "0.9.9"),
    "status": opt(Ref("Status"), "0.9.9"),
    "report": opt(HASH, "4.0.0"),
    "event": opt(HASH, "4.3.0"),
    "moderation_warning": opt(HASH, "4.3.0"),
    "fallback": opt(HASH, "4.6.0"),
    "collection": opt(HASH, "4.6.0"),
}

APPLICATION = {
    "id": req(ID, "0.9.9"),
    "name": req(STRING, "0.9.9"),
    "website": opt(URL, "0.9.9", null=True),
    "scopes": req(array(STRING), "4.3.0"),
    "redirect_uris": req(array(STRING), "4.3.0"),
    "redirect_uri": req(STRING, "0.0.0"),  # deprecated in 4.3.0, still sent
    "vapid_key": req(STRING, "2.8.0"),  # deprecated in 4.3.0, still sent
}

CREDENTIAL_APPLICATION = {
    "client_id": req(STRING, "0.9.9"),
    "client_secret": req(STRING, "0.9.9"),
    "client_secret_expires_at": req(INTEGER, "4.4.0"),
}

TOKEN = {
    "access_token": req(STRING, "0.1.0"),
    "token_type": req(STRING, "0.1.0"),
    "scope": req(STRING, "0.1.0"),
    "created_at": req(NUMBER, "0.1.0"),
}

RULE = {
    "id": req(ID, "3.4.0"),
    "text": req(STRING, "3.4.0"),
    "hint": req(STRING, "4.3.0"),
    "translations": req(HASH, "4.4.0"),
}


STATUS_LIMITS = {
    "max_characters": req(INTEGER, "3.4.2"),
    "max_media_attachments": req(INTEGER, "3.4.2"),
    "characters_reserved_per_url": req(INTEGER, "3.4.2"),
}
MEDIA_LIMITS = {
    "supported_mime_types": req(array(STRING), "3.4.2"),
    "image_size_limit": req(INTEGER, "3.4.2"),
    "image_matrix_limit": req(INTEGER, "3.4.2"),
    "video_size_limit": req(INTEGER, "3.4.2"),
    "video_frame_rate_limit": req(INTEGER, "3.4.2"),
    "video_matrix_limit": req(INTEGER, "3.4.2"),
}
POLL_LIMITS = {
    "max_options": req(INTEGER, "3.4.2"),
    "max_characters_per_option": req(INTEGER, "3.4.2"),
    "min_expiration": req(INTEGER, "3.4.2"),
    "max_expiration": req(INTEGER, "3.4.2"),
}

INSTANCE_V1 = {
    "uri": req(STRING, "1.1.0"),
    "title": req(STRING, "1.1.0"),
    "short_description": req(STRING, "2.9.2"),
    "description": req(STRING, "1.1.0"),
    "email": req(STRING, "1.1.0"),
    "version": req(STRING, "1.3.0"),
    "urls": req(Hash({"streaming_api": req(URL, "1.4.2")}), "1.4.2"),
    "stats": req(
        Hash(
            {
                "user_count": req(INTEGER, "1.6.0"),
                "status_count": req(INTEGER, "1.6.0"),
                "domain_count": req(INTEGER, "1.6.0"),
            }
        ),
        "1.6.0",
    ),
    "thumbnail": req(URL, "1.6.1", null=True),
    "languages": req(array(STRING), "2.3.0"),
    "registrations": req(BOOLEAN, "2.7.2"),
    "approval_required": req(BOOLEAN, "2.9.2"),
    "invites_enabled": req(BOOLEAN, "3.1.4"),
    "configuration": req(
        Hash(
            {
                "accounts": req(Hash({"max_featured_tags": req(INTEGER, "4.0.0")}), "4.0.0"),
                "statuses": req(Hash(STATUS_LIMITS), "3.4.2"),
                "media_attachments": req(Hash(MEDIA_LIMITS), "3.4.2"),
                "polls": req(Hash(POLL_LIMITS), "3.4.2"),
            }
        ),
        "3.4.2",
    ),
    "contact_account": req(Ref("Account"), "2.3.0", null=True),
    "rules": req(array("Rule"), "3.4.0"),
}

FEED_ACCESS = Hash(
    {
        "local": req(enum("public", "authenticated", "disabled"), "4.5.0"),
        "remote": req(enum("public", "authenticated", "disabled"), "4.5.0"),
    }
)

INSTANCE = {
    "domain": req(STRING, "4.0.0"),
    "title": req(STRING, "4.0.0"),
    "version": req(STRING, "4.0.0"),
    "source_url": req(URL, "4.0.0"),
    "description": req(STRING, "4.0.0"),
    "wrapstodon": req(STRING, "4.6.0", null=True),
    "usage": req(
        Hash({"users": req(Hash({"active_month": req(INTEGER, "4.0.0")}), "4.0.0")}), "4.0.0"
    ),
    "thumbnail": req(
        Hash(
            {
                "url": req(URL, "4.0.0"),
                "description": req(STRING, "4.6.0"),
                "blurhash": opt(STRING, "4.0.0"),
                "versions": opt(MapOf(URL), "4.0.0"),
            }
        ),
        "4.0.0",
    ),
    "icon": req(array("InstanceIcon"), "4.3.0"),
    "languages": req(array(STRING), "4.0.0"),
    "configuration": req(
        Hash(
            {
                "urls": req(
                    Hash(
                        {
                            "streaming": req(URL, "4.0.0"),
                            "status": req(URL, "4.1.0", null=True),
                            "about": req(URL, "4.4.0"),
                            "privacy_policy": req(URL, "4.4.0", null=True),
                            "terms_of_service": req(URL, "4.4.0", null=True),
                        }
                    ),
                    "4.0.0",
                ),
                "vapid": req(Hash({"public_key": req(STRING, "4.3.0")}), "4.3.0"),
                "accounts": req(
                    Hash(
                        {
                            "max_featured_tags": req(INTEGER, "4.0.0"),
                            "max_pinned_statuses": req(INTEGER, "4.3.0"),
                            **{
                                key: req(INTEGER, "4.6.0")
                                for key in (
                                    "max_display_name_length",
                                    "max_note_length",
                                    "max_avatar_description_length",
                                    "max_header_description_length",
                                    "max_profile_fields",
                                    "profile_field_name_limit",
                                    "profile_field_value_limit",
                                )
                            },
                        }
                    ),
                    "4.0.0",
                ),
                "statuses": req(Hash(STATUS_LIMITS), "4.0.0"),
                "media_attachments": req(
                    Hash({**MEDIA_LIMITS, "description_limit": req(INTEGER, "4.4.0")}), "4.0.0"
                ),
                "polls": req(Hash(POLL_LIMITS), "4.0.0"),
                "translation": req(Hash({"enabled": req(BOOLEAN, "4.0.0")}), "4.0.0"),
                "timelines_access": req(
                    Hash(
                        {
                            "live_feeds": req(FEED_ACCESS, "4.5.0"),
                            "hashtag_feeds": req(FEED_ACCESS, "4.5.0"),
                            "trending_link_feeds": req(FEED_ACCESS, "4.5.0"),
                        }
                    ),
                    "4.5.0",
                ),
                "limited_federation": req(BOOLEAN, "4.4.0"),
            }
        ),
        "4.0.0",
    ),
    "registrations": req(
        Hash(
            {
                "enabled": req(BOOLEAN, "4.0.0"),
                "approval_required": req(BOOLEAN, "4.0.0"),
                "message": req(STRING, "4.0.0", null=True),
                "min_age": req(INTEGER, "4.4.0", null=True),
                "reason_required": req(BOOLEAN, "4.4.0", null=True),
                "url": req(URL, "4.2.0", null=True),
            }
        ),
        "4.0.0",
    ),
    "api_versions": req(Hash({"mastodon": req(INTEGER, "4.3.0")}), "4.3.0"),
    "contact": req(
        Hash(
            {
                "email": req(STRING, "4.0.0"),
                "account": req(Ref("Account"), "4.0.0", null=True),
            }
        ),
        "4.0.0",
    ),
    "rules": req(array("Rule"), "4.0.0"),
}

INSTANCE_ICON = {"src": req(URL, "4.3.0"), "size": req(SIZE, "4.3.0")}

TAG = {
    "id": req(ID, "4.3.1"),
    "name": req(STRING, "0.9.0"),
    "url": req(URL, "0.9.0"),
    "history": req(
        ArrayOf(
            Hash(
                {
                    "day": req(INTEGER_STRING, "2.4.1"),
                    "uses": req(INTEGER_STRING, "2.4.1"),
                    "accounts": req(INTEGER_STRING, "2.4.1"),
                },
                "Tag.history",
            )
        ),
        "2.4.1",
    ),
    "following": mine(BOOLEAN, "4.0.0"),
    "featuring": mine(BOOLEAN, "4.4.0"),
}

CONTEXT = {
    "ancestors": req(array("Status"), "0.6.0"),
    "descendants": req(array("Status"), "0.6.0"),
}

MARKER = {
    "last_read_id": req(ID, "3.0.0"),
    "version": req(INTEGER, "3.0.0"),
    "updated_at": req(DATETIME, "3.0.0"),
}

STATUS_SOURCE = {
    "id": req(ID, "3.5.0"),
    "text": req(STRING, "3.5.0"),
    "spoiler_text": req(STRING, "3.5.0"),
}

STATUS_EDIT = {
    "content": req(STRING, "3.5.0"),
    "spoiler_text": req(STRING, "3.5.0"),
    "sensitive": req(BOOLEAN, "3.5.0"),
    "created_at": req(DATETIME, "3.5.0"),
    "account": req(Ref("Account"), "3.5.0"),
    "poll": opt(HASH, "3.5.0"),
    "media_attachments": req(array("MediaAttachment"), "3.5.0"),
    "emojis": req(array("CustomEmoji"), "3.5.0"),
    "quote": opt(HASH, "4.4.0", null=True),
}

SEARCH = {
    "accounts": req(array("Account"), "1.1.0"),
    "statuses": req(array("Status"), "1.1.0"),
    "hashtags": req(array("Tag"), "2.4.1"),
}

ENTITIES: dict[str, Type] = {
    "Account": entity("Account", ACCOUNT),
    "CredentialAccount": entity(
        "CredentialAccount",
        ACCOUNT,
        {"source": req(SOURCE, "2.4.0"), "role": req(Ref("Role"), "4.0.0")},
    ),
    "Field": entity("Field", FIELD),
    "CustomEmoji": entity("CustomEmoji", CUSTOM_EMOJI),
    "AccountRole": entity("AccountRole", ACCOUNT_ROLE),
    "Role": entity("Role", ROLE),
    "Status": entity("Status", STATUS),
    "Status::Mention": entity("Status::Mention", STATUS_MENTION),
    "Status::Tag": entity("Status::Tag", STATUS_TAG),
    "MediaAttachment": entity("MediaAttachment", MEDIA_ATTACHMENT),
    "Poll": entity("Poll", POLL),
    "PreviewCard": entity("PreviewCard", PREVIEW_CARD),
    "FilterResult": entity("FilterResult", FILTER_RESULT),
    "Relationship": entity("Relationship", RELATIONSHIP),
    "Notification": entity("Notification", NOTIFICATION, rules=(_notification_status,)),
    "Application": entity("Application", APPLICATION),
    "CredentialApplication": entity("CredentialApplication", APPLICATION, CREDENTIAL_APPLICATION),
    "Token": entity("Token", TOKEN),
    "Rule": entity("Rule", RULE),
    "InstanceV1": entity("InstanceV1", INSTANCE_V1),
    "Instance": entity("Instance", INSTANCE),
    "InstanceIcon": entity("InstanceIcon", INSTANCE_ICON),
    "Tag": entity("Tag", TAG),
    "Context": entity("Context", CONTEXT),
    "Marker": entity("Marker", MARKER),
    # GET/POST /api/v1/markers: the markers by timeline name.
    "Markers": MapOf(Ref("Marker")),
    "StatusSource": entity("StatusSource", STATUS_SOURCE),
    "StatusEdit": entity("StatusEdit", STATUS_EDIT),
    "Search": entity("Search", SEARCH),
}


# Fields Shoal is known to lack, reported to whoever owns the endpoint; they are not
# reported again unless ``strict``. A strict test shows each one (xfail): when it starts
# passing, remove the entry here.
# Documented fields Shoal does not send yet (each one reported): none at the moment.
KNOWN_GAPS: frozenset[str] = frozenset()


def problems(
    name: str, value: Any, *, signed_in: bool = False, level: str = LEVEL, strict: bool = False
) -> list[str]:
    """What is wrong with ``value`` as the entity ``name`` ("Status", or "Status[]" for an
    array of them): each missing field and each value of the wrong type, with its path."""
    ctx = Context(version(level), signed_in, frozenset() if strict else KNOWN_GAPS)
    if name.endswith("[]"):
        return ArrayOf(Ref(name[:-2])).problems(value, name[:-2] + "[]", ctx)
    return ENTITIES[name].problems(value, name, ctx)


def check(
    name: str, value: Any, *, signed_in: bool = False, level: str = LEVEL, strict: bool = False
) -> None:
    """Fail, listing every problem, unless ``value`` is a documented ``name`` entity."""
    found = problems(name, value, signed_in=signed_in, level=level, strict=strict)
    if found:
        raise AssertionError(f"not a Mastodon {name} entity:\n  " + "\n  ".join(found))


# --- which entity an endpoint answers with ------------------------------------------

# (method, path pattern, entity): for checking whatever a real client received. None is
# an answer that is not a Mastodon entity (the OAuth server metadata of RFC 8414).
ENDPOINTS: list[tuple[str, str, str | None]] = [
    ("POST", r"/api/v1/apps", "CredentialApplication"),
    ("GET", r"/api/v1/apps/verify_credentials", "Application"),
    ("POST", r"/oauth/token", "Token"),
    ("GET", r"/\.well-known/oauth-authorization-server", None),
    ("GET", r"/api/v1/instance/?", "InstanceV1"),
    ("GET", r"/api/v2/instance/?", "Instance"),
    ("GET", r"/api/v1/accounts/verify_credentials", "CredentialAccount"),
    ("GET", r"/api/v1/accounts/relationships", "Relationship[]"),
    ("GET", r"/api/v1/accounts/(lookup|\d+)", "Account"),
    ("POST", r"/api/v1/accounts/\d+/(follow|unfollow|block|unblock|mute|unmute)", "Relationship"),
    ("POST", r"/api/v1/statuses", "Status"),
    ("GET", r"/api/v1/statuses/\d+", "Status"),
    ("PUT", r"/api/v1/statuses/\d+", "Status"),
    ("DELETE", r"/api/v1/statuses/\d+", "Status"),
    ("POST", r"/api/v1/statuses/\d+/(un)?(favourite|reblog|bookmark|pin|mute)", "Status"),
    ("GET", r"/api/v1/statuses/\d+/context", "Context"),
    ("GET", r"/api/v1/statuses/\d+/source", "StatusSource"),
    ("GET", r"/api/v1/statuses/\d+/history", "StatusEdit[]"),
    ("GET", r"/api/v1/statuses/\d+/(favourited|reblogged)_by", "Account[]"),
    ("GET", r"/api/v1/timelines/(home|public|tag/[^/]+)", "Status[]"),
    ("GET", r"/api/v1/(favourites|bookmarks)", "Status[]"),
    ("GET", r"/api/v1/notifications", "Notification[]"),
    ("GET", r"/api/v1/notifications/\d+", "Notification"),
    ("GET", r"/api/v2/search", "Search"),
    ("GET", r"/api/v1/markers", "Markers"),
    ("POST", r"/api/v1/markers", "Markers"),
]


class UnknownEndpoint(LookupError):
    pass


def entity_for(method: str, path: str) -> str | None:
    """The entity ``METHOD path`` answers with (None: not an entity); UnknownEndpoint if
    no schema is known for it, so that nothing a client received goes unchecked."""
    for known_method, pattern, name in ENDPOINTS:
        if method == known_method and re.fullmatch(pattern, path):
            return name
    raise UnknownEndpoint(f"no entity known for {method} {path}")
