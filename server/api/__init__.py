"""The Mastodon client API (/api/v1, /api/v2, /oauth): one module per area."""

from __future__ import annotations

from starlette.routing import BaseRoute

from server.api import (
    accounts,
    instance,
    misc,
    notifications,
    oauth,
    search,
    statuses,
    streaming,
    timelines,
)

ROUTES: list[BaseRoute] = [
    *oauth.ROUTES,
    *instance.ROUTES,
    *accounts.ROUTES,
    *statuses.ROUTES,
    *timelines.ROUTES,
    *notifications.ROUTES,
    *search.ROUTES,
    *streaming.ROUTES,
    *misc.ROUTES,
]
