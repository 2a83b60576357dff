"""Reading statuses: one or several, a thread, the edit history, the source, and who
favourited or boosted. Visibility is Mastodon's: what the viewer may not see is 404."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core import interactions, posting, views
from core.errors import NotFound
from core.services import Services
from server.api import entities
from server.api.auth import authenticate, optional_auth
from server.api.common import json, link_header, list_param, page_params
from storage.actors import ActorRow
from storage.statuses import StatusRow

MAX_MANY = 20  # GET /api/v1/statuses?id[]=… takes at most this many ids


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def status_id(request: Request) -> int:
    """The path's status id; anything that is not one is simply not found."""
    raw = request.path_params["id"]
    if not raw.isdigit() or len(raw) > 19:
        raise NotFound(interactions.NOT_FOUND)
    return int(raw)


async def render(
    services: Services, viewer: ActorRow | None, rows: list[StatusRow]
) -> list[dict[str, Any]]:
    found = await views.status_views(services, viewer, rows)
    return [entities.status(v, services.urls) for v in found]


async def render_one(services: Services, viewer: ActorRow | None, row: StatusRow) -> dict[str, Any]:
    rendered = await render(services, viewer, [row])
    if not rendered:
        raise NotFound(interactions.NOT_FOUND)
    return rendered[0]


async def _viewer(request: Request, scope: str) -> ActorRow | None:
    auth = await optional_auth(request, scope)
    return auth.actor if auth is not None else None


async def show(request: Request) -> Response:
    services = services_of(request)
    viewer = await _viewer(request, "read:statuses")
    status = await interactions.visible_status(services, viewer, status_id(request))
    return json(await render_one(services, viewer, status))


async def show_many(request: Request) -> Response:
    """GET /api/v1/statuses?id[]=…: those of the ids the viewer may see, in the order asked."""
    services = services_of(request)
    viewer = await _viewer(request, "read:statuses")
    ids = [int(i) for i in list_param(request.query_params, "id") if i.isdigit() and len(i) < 20]
    rows = await interactions.visible_statuses(services, viewer, ids[:MAX_MANY])
    return json(await render(services, viewer, rows))


async def context(request: Request) -> Response:
    services = services_of(request)
    viewer = await _viewer(request, "read:statuses")
    status = await interactions.visible_status(services, viewer, status_id(request))
    found = await interactions.thread(services, viewer, status)
    return json(
        {
            "ancestors": await render(services, viewer, found.ancestors),
            "descendants": await render(services, viewer, found.descendants),
        }
    )


async def history(request: Request) -> Response:
    services = services_of(request)
    viewer = await _viewer(request, "read:statuses")
    status = await interactions.visible_status(services, viewer, status_id(request))
    if status.reblog_of_id is not None:
        raise NotFound(interactions.NOT_FOUND)
    versions = await posting.history(services, status)
    author = await interactions.author_view(services, status)
    return json(
        [
            entities.status_edit(
                content=v.content,
                spoiler_text=v.spoiler_text,
                sensitive=v.sensitive,
                created_at=v.created_at,
                author=author,
                urls=services.urls,
            )
            for v in versions
        ]
    )


async def source(request: Request) -> Response:
    services = services_of(request)
    auth = await authenticate(request, "read:statuses")
    status = await interactions.visible_status(services, auth.actor, status_id(request))
    return json(entities.status_source(status, posting.source_text(status)))


async def _reacted(request: Request, *, favourites: bool) -> Response:
    services = services_of(request)
    viewer = await _viewer(request, "read:accounts")
    status = await interactions.visible_status(services, viewer, status_id(request))
    page = page_params(request, default=40, maximum=80)
    ids, found = await interactions.reacted(services, status, page, favourites=favourites)
    return json(
        [entities.account(a, services.urls) for a in found], headers=link_header(request, ids)
    )


async def favourited_by(request: Request) -> Response:
    return await _reacted(request, favourites=True)


async def reblogged_by(request: Request) -> Response:
    return await _reacted(request, favourites=False)


ROUTES: list[BaseRoute] = [
    Route("/api/v1/statuses", show_many, methods=["GET"]),
    Route("/api/v1/statuses/{id}", show, methods=["GET"]),
    Route("/api/v1/statuses/{id}/context", context, methods=["GET"]),
    Route("/api/v1/statuses/{id}/history", history, methods=["GET"]),
    Route("/api/v1/statuses/{id}/source", source, methods=["GET"]),
    Route("/api/v1/statuses/{id}/favourited_by", favourited_by, methods=["GET"]),
    Route("/api/v1/statuses/{id}/reblogged_by", reblogged_by, methods=["GET"]),
]
