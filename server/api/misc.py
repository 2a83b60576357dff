"""What apps ask for when they start, for features Shoal does not have (yet).

Each answers like a Mastodon where the member has none of the thing: an empty list, with
the same authentication and scope Mastodon requires, never a 404 that would make an app
show an error. (Bookmarks and favourites are real: see ``timelines``.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.errors import NotFound
from server.api.auth import authenticate
from server.api.common import json

NOT_FOUND = "Record not found"
Endpoint = Callable[[Request], Awaitable[Response]]


def _empty(scope: str | None, *, user_required: bool = True) -> Endpoint:
    """An endpoint answering ``[]`` to a token with ``scope`` (None: to anyone)."""

    async def endpoint(request: Request) -> Response:
        if scope is not None:
            await authenticate(request, scope, user_required=user_required)
        return json([])

    return endpoint


def _missing(scope: str) -> Endpoint:
    """An endpoint for one record of a kind nobody has: always "not found"."""

    async def endpoint(request: Request) -> Response:
        await authenticate(request, scope)
        raise NotFound(NOT_FOUND)

    return endpoint


def _get(path: str, endpoint: Endpoint) -> Route:
    return Route(path, endpoint, methods=["GET"])


ROUTES: list[BaseRoute] = [
    # Filters (v2 and the older v1) are not kept yet.
    _get("/api/v2/filters", _empty("read:filters")),
    _get("/api/v2/filters/{id}", _missing("read:filters")),
    _get("/api/v1/filters", _empty("read:filters")),
    _get("/api/v1/filters/{id}", _missing("read:filters")),
    # Lists do not exist yet.
    _get("/api/v1/lists", _empty("read:lists")),
    _get("/api/v1/lists/{id}", _missing("read:lists")),
    _get("/api/v1/lists/{id}/accounts", _missing("read:lists")),
    # Direct conversations are not threaded into conversations yet.
    _get("/api/v1/conversations", _empty("read:statuses")),
    # Admins cannot publish announcements yet.
    _get("/api/v1/announcements", _empty("read")),
    # Trends are not computed: public, and empty, as on a Mastodon with trends disabled.
    _get("/api/v1/trends", _empty(None)),
    _get("/api/v1/trends/tags", _empty(None)),
    _get("/api/v1/trends/statuses", _empty(None)),
    _get("/api/v1/trends/links", _empty(None)),
    # No follow suggestions are made.
    _get("/api/v1/suggestions", _empty("read")),
    _get("/api/v2/suggestions", _empty("read")),
    # Hashtags cannot be followed or featured yet.
    _get("/api/v1/followed_tags", _empty("read:follows")),
    _get("/api/v1/featured_tags", _empty("read:accounts")),
    _get("/api/v1/featured_tags/suggestions", _empty("read:accounts")),
    # Endorsed (featured) accounts are not kept yet.
    _get("/api/v1/endorsements", _empty("read:accounts")),
    # Members cannot block whole domains yet (admins can, in the admin pages).
    _get("/api/v1/domain_blocks", _empty("read:blocks")),
    # Statuses cannot be scheduled yet.
    _get("/api/v1/scheduled_statuses", _empty("read:statuses")),
    _get("/api/v1/scheduled_statuses/{id}", _missing("read:statuses")),
    # Web Push is not sent yet: there is never a subscription, as Mastodon answers then.
    _get("/api/v1/push/subscription", _missing("push")),
]
"""Routes of this area of the Mastodon client API."""
