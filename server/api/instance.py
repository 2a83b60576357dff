"""The instance as Mastodon apps read it: /api/v1/instance, /api/v2/instance and friends.

All of it is public. Mastodon closes these in its allowlist mode and official apps then
cannot even start a login (mastodon #23434); whatever our federation policy, apps may
always read them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core import instance_info, publish
from core.instance_info import InstanceFacts
from server.api import entities
from server.api.common import json
from server.templating import services_of, version

# Mastodon.py and others parse `version` as Mastodon's; the API level we speak is 4.3's.
MASTODON_COMPATIBLE = "4.3.0"
API_VERSION = 2
MAX_PINNED_STATUSES = 5
MAX_FEATURED_TAGS = 0  # featured tags are not kept yet
IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]


def version_string() -> str:
    return f"{MASTODON_COMPATIBLE} (compatible; Shoal {version()})"


def _streaming_url(request: Request) -> str:
    settings = services_of(request).settings
    return f"{'wss' if settings.scheme == 'https' else 'ws'}://{settings.domain}"


def _thumbnail(request: Request, facts: InstanceFacts) -> str:
    return facts.thumbnail or services_of(request).urls.base + entities.MISSING_HEADER


def _statuses() -> dict[str, int]:
    return {
        "max_characters": publish.MAX_CHARS,
        "max_media_attachments": 4,
        "characters_reserved_per_url": 23,
    }


def _media() -> dict[str, Any]:
    return {
        "supported_mime_types": IMAGE_TYPES,
        "image_size_limit": 16 * 1024 * 1024,
        "image_matrix_limit": 33_177_600,
        "video_size_limit": 99 * 1024 * 1024,
        "video_frame_rate_limit": 120,
        "video_matrix_limit": 8_294_400,
    }


def _polls() -> dict[str, int]:
    return {
        "max_options": 4,
        "max_characters_per_option": 50,
        "min_expiration": 300,
        "max_expiration": 2_629_746,
    }


def _contact(request: Request, facts: InstanceFacts) -> dict[str, Any] | None:
    if facts.contact is None:
        return None
    return entities.account(facts.contact, services_of(request).urls)


async def instance_v1(request: Request) -> Response:
    facts = await instance_info.facts(services_of(request))
    return json(
        {
            "uri": facts.domain,
            "title": facts.title,
            "short_description": facts.description,
            "description": facts.description_html,
            "email": facts.email,
            "version": version_string(),
            "urls": {"streaming_api": _streaming_url(request)},
            "stats": {
                "user_count": facts.user_count,
                "status_count": facts.status_count,
                "domain_count": facts.domain_count,
            },
            "thumbnail": _thumbnail(request, facts),
            "languages": facts.languages,
            # Admins create members; there is no sign-up page (yet).
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": {
                "accounts": {"max_featured_tags": MAX_FEATURED_TAGS},
                "statuses": _statuses(),
                "media_attachments": _media(),
                "polls": _polls(),
            },
            "contact_account": _contact(request, facts),
            "rules": [],
        }
    )


async def instance_v2(request: Request) -> Response:
    services = services_of(request)
    facts = await instance_info.facts(services)
    return json(
        {
            "domain": facts.domain,
            "title": facts.title,
            "version": version_string(),
            # No public repository is configured: the instance itself is the entry point.
            "source_url": services.urls.base + "/",
            "description": facts.description,
            "usage": {"users": {"active_month": facts.active_month}},
            "thumbnail": {"url": _thumbnail(request, facts)},
            "icon": [],
            "languages": facts.languages,
            "configuration": {
                # No status page is configured (Mastodon 4.1: null then).
                "urls": {"streaming": _streaming_url(request), "status": None},
                "vapid": {"public_key": facts.vapid_public_key},
                "accounts": {
                    "max_featured_tags": MAX_FEATURED_TAGS,
                    "max_pinned_statuses": MAX_PINNED_STATUSES,
                },
                "statuses": _statuses(),
                "media_attachments": _media(),
                "polls": _polls(),
                "translation": {"enabled": False},
            },
            "registrations": {
                "enabled": False,
                "approval_required": False,
                "message": None,
                "url": None,
            },
            "api_versions": {"mastodon": API_VERSION},
            "contact": {"email": facts.email, "account": _contact(request, facts)},
            "rules": [],
        }
    )


async def peers(request: Request) -> Response:
    return json(await instance_info.peers(services_of(request)))


async def activity(request: Request) -> Response:
    weeks = await instance_info.activity(services_of(request))
    return json(
        [
            {
                "week": str(int(w.start.timestamp())),
                "statuses": str(w.statuses),
                "logins": str(w.logins),
                "registrations": str(w.registrations),
            }
            for w in weeks
        ]
    )


async def rules(request: Request) -> Response:
    # Admins cannot write rules yet; until they can, there are none.
    return json([])


async def domain_blocks(request: Request) -> Response:
    # Federation policy (allowlist/blocklist) comes later; until then nothing is blocked,
    # and once it exists this list stays public (Mastodon's allowlist mode hides it).
    return json([])


async def custom_emojis(request: Request) -> Response:
    return json([])


def _both(path: str, endpoint: Any) -> list[BaseRoute]:
    # Mastodon.py asks for "/api/v1/instance/" with the slash: answer it, don't redirect.
    return [Route(path, endpoint, methods=["GET"]), Route(path + "/", endpoint, methods=["GET"])]


ROUTES: list[BaseRoute] = [
    *_both("/api/v1/instance", instance_v1),
    *_both("/api/v2/instance", instance_v2),
    *_both("/api/v1/instance/peers", peers),
    *_both("/api/v1/instance/activity", activity),
    *_both("/api/v1/instance/rules", rules),
    *_both("/api/v1/instance/domain_blocks", domain_blocks),
    *_both("/api/v1/custom_emojis", custom_emojis),
]
"""Routes of this area of the Mastodon client API."""
