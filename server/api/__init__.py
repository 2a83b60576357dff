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

# The router tries routes in order: what apps poll most comes first. (No two areas have
# paths in common, so the order changes nothing else.)
ROUTES: list[BaseRoute] = [
    *timelines.ROUTES,
    *notifications.ROUTES,
    *oauth.ROUTES,
    *instance.ROUTES,
    *accounts.ROUTES,
    *statuses.ROUTES,
    *search.ROUTES,
    *streaming.ROUTES,
    *misc.ROUTES,
]
