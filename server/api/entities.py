"""Mastodon API entities, field for field as Mastodon documents them.

Apps crash on a missing field, so every documented field is always present (null where
Mastodon allows null). Ids are strings; times are ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.urls import Urls
from core.views import AccountView, StatusView
from storage.actors import ActorRow, UserRow
from storage.statuses import StatusRow
from storage.views import AccountCounts

MISSING_AVATAR = "/avatars/original/missing.png"
MISSING_HEADER = "/headers/original/missing.png"


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # isoformat is several times cheaper than strftime, and this runs per field per row.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _acct(actor: ActorRow) -> str:
    return actor.username if actor.local else f"{actor.username}@{actor.domain}"


def account(view: AccountView, urls: Urls) -> dict[str, Any]:
    actor, counts = view.actor, view.counts
    avatar = actor.icon_url or urls.base + MISSING_AVATAR
    header = actor.image_url or urls.base + MISSING_HEADER
    created = actor.published_at or actor.created_at
    return {
        "id": str(actor.id),
        "username": actor.username,
        "acct": _acct(actor),
        "url": actor.url or actor.uri,
        "uri": actor.uri,
        "display_name": actor.display_name,
        "note": actor.summary,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "locked": actor.manually_approves_followers,
        "fields": [
            {"name": f.get("name", ""), "value": f.get("value", ""), "verified_at": None}
            for f in actor.fields
        ],
        "emojis": [],
        "bot": actor.type in ("Service", "Application"),
        "group": actor.type == "Group",
        "discoverable": actor.discoverable,
        "indexable": actor.discoverable,
        "noindex": not actor.discoverable,
        "hide_collections": False,
        "roles": [],
        # Mastodon gives the creation day at midnight UTC.
        "created_at": iso(created.replace(hour=0, minute=0, second=0, microsecond=0)),
        **account_counters(counts),
    }


def account_counters(counts: AccountCounts) -> dict[str, Any]:
    """The fields of an account entity that its counters give."""
    return {
        "last_status_at": counts.last_status_at.date().isoformat()
        if counts.last_status_at
        else None,
        "statuses_count": counts.statuses,
        "followers_count": counts.followers,
        "following_count": counts.following,
    }


ROLE_IDS = {"member": "-99", "moderator": "2", "admin": "3"}
ROLE_PERMISSIONS = {"member": "0", "moderator": "1308", "admin": "1"}


def credential_account(
    view: AccountView,
    user: UserRow,
    urls: Urls,
    *,
    follow_requests: int,
    privacy: str = "public",
    sensitive: bool = False,
) -> dict[str, Any]:
    entity = account(view, urls)
    actor = view.actor
    entity["source"] = {
        "privacy": privacy,
        "sensitive": sensitive,
        "language": user.locale,
        "note": actor.summary_source or "",
        "fields": [
            {
                "name": f.get("name", ""),
                "value": f.get("source", f.get("value", "")),
                "verified_at": None,
            }
            for f in actor.fields
        ],
        "follow_requests_count": follow_requests,
        "hide_collections": False,
        "discoverable": actor.discoverable,
        "indexable": actor.discoverable,
        "attribution_domains": [],
    }
    entity["role"] = {
        "id": ROLE_IDS[user.role],
        "name": "" if user.role == "member" else user.role.capitalize(),
        "permissions": ROLE_PERMISSIONS[user.role],
        "color": "",
        "highlighted": user.role != "member",
    }
    return entity


def mention(actor: ActorRow) -> dict[str, Any]:
    return {
        "id": str(actor.id),
        "username": actor.username,
        "url": actor.url or actor.uri,
        "acct": _acct(actor),
    }


def tag(name: str, urls: Urls) -> dict[str, Any]:
    return {"name": name, "url": urls.tag(name)}


def application(row: StatusRow) -> dict[str, Any] | None:
    """The app a status of ours was posted with ({name, website}); None for others'."""
    app = row.data.get("application") if row.local else None
    if not isinstance(app, dict) or not isinstance(app.get("name"), str):
        return None
    return {"name": app["name"], "website": app.get("website")}


def status(view: StatusView, urls: Urls) -> dict[str, Any]:
    row = view.status
    reblog = status(view.reblog, urls) if view.reblog is not None else None
    entity: dict[str, Any] = {
        "id": str(row.id),
        "uri": row.uri,
        "url": row.url if row.reblog_of_id is None else None,
        "created_at": iso(row.published_at),
        "account": account(view.author, urls),
        "content": row.content,
        "visibility": row.visibility,
        "sensitive": row.sensitive,
        "spoiler_text": row.spoiler_text,
        "media_attachments": [],
        "application": application(row),
        "mentions": [mention(a) for a in view.mentions],
        "tags": [tag(t, urls) for t in view.tags],
        "emojis": [],
        "reblogs_count": view.counts.reblogs,
        "favourites_count": view.counts.favourites,
        "replies_count": view.counts.replies,
        "in_reply_to_id": str(row.in_reply_to_id) if row.in_reply_to_id else None,
        "in_reply_to_account_id": str(view.in_reply_to_account_id)
        if view.in_reply_to_account_id
        else None,
        "reblog": reblog,
        "poll": None,
        "card": None,
        "language": row.language,
        "text": None,
        "edited_at": iso(row.edited_at),
        "favourited": view.flags.favourited,
        "reblogged": view.flags.reblogged,
        "muted": False,
        "bookmarked": view.flags.bookmarked,
        "filtered": [],
    }
    if view.viewer_is_author:
        entity["pinned"] = view.flags.pinned
    return entity


def status_edit(
    *,
    content: str,
    spoiler_text: str,
    sensitive: bool,
    created_at: datetime,
    author: AccountView,
    urls: Urls,
) -> dict[str, Any]:
    """One version of a status (Mastodon's StatusEdit)."""
    return {
        "content": content,
        "spoiler_text": spoiler_text,
        "sensitive": sensitive,
        "created_at": iso(created_at),
        "account": account(author, urls),
        # No "poll" key: Mastodon leaves it out of a version that had no poll.
        "media_attachments": [],
        "emojis": [],
    }


def status_source(row: StatusRow, text: str) -> dict[str, Any]:
    return {"id": str(row.id), "text": text, "spoiler_text": row.spoiler_text}


def relationship(
    target_id: int,
    *,
    following: bool,
    requested: bool,
    followed_by: bool,
    showing_reblogs: bool = True,
    notifying: bool = False,
    blocking: bool = False,
    blocked_by: bool = False,
    muting: bool = False,
    muting_notifications: bool = False,
    requested_by: bool = False,
    endorsed: bool = False,
    note: str = "",
) -> dict[str, Any]:
    return {
        "id": str(target_id),
        "following": following,
        "showing_reblogs": showing_reblogs if following or requested else False,
        "notifying": notifying,
        "languages": None,
        "followed_by": followed_by,
        "blocking": blocking,
        "blocked_by": blocked_by,
        "muting": muting,
        "muting_notifications": muting_notifications,
        "requested": requested,
        "requested_by": requested_by,
        "domain_blocking": False,
        "endorsed": endorsed,
        "note": note,
    }
