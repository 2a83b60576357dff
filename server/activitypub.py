"""ActivityPub documents of ours: actors, statuses, activities and collections.

Each id answers JSON to ActivityPub clients and a page to browsers (content negotiation
on Accept), as Mastodon does.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core import ap_render, objects
from core.errors import BadRequest, Gone
from server.templating import render_page, services_of

AP_CONTENT_TYPE = "application/activity+json"


def wants_activity(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/activity+json" in accept or "application/ld+json" in accept


def activity_response(document: dict[str, Any], status: int = 200) -> Response:
    return Response(
        orjson.dumps(document),
        status_code=status,
        media_type=AP_CONTENT_TYPE,
        headers={"Vary": "Accept"},
    )


def _max_id(request: Request) -> int | None:
    raw = request.query_params.get("max_id")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise BadRequest("max_id must be a number")
    return int(raw)


def _page(request: Request) -> bool:
    return request.query_params.get("page") in ("true", "1")


async def actor(request: Request) -> Response:
    services = services_of(request)
    row = await objects.local_actor(services, request.path_params["username"])
    if wants_activity(request):
        return activity_response(ap_render.actor_document(row))
    return RedirectResponse(row.url or row.uri, status_code=302)


async def instance_actor(request: Request) -> Response:
    row = await objects.instance_actor(services_of(request))
    return activity_response(ap_render.actor_document(row))


async def profile(request: Request) -> Response:
    services = services_of(request)
    row = await objects.local_actor(services, request.path_params["username"])
    if wants_activity(request):
        return activity_response(ap_render.actor_document(row))
    return await render_page(request, "profile.html", {"actor": row})


async def status(request: Request) -> Response:
    services = services_of(request)
    username, status_id = request.path_params["username"], request.path_params["status_id"]
    try:
        view = await objects.status_view(services, username, status_id)
    except Gone:
        if wants_activity(request):
            uri = services.urls.status(username, status_id)
            return activity_response(objects.tombstone(uri), status=410)
        raise
    if wants_activity(request):
        return activity_response(view.document)
    return await render_page(request, "status.html", {"view": view})


async def activity(request: Request) -> Response:
    params = request.path_params
    document = await objects.activity_document(
        services_of(request), params["username"], params["activity_id"], params["kind"]
    )
    return activity_response(document)


async def outbox(request: Request) -> Response:
    document = await objects.outbox(
        services_of(request),
        request.path_params["username"],
        page=_page(request),
        max_id=_max_id(request),
    )
    return activity_response(document)


async def followers(request: Request) -> Response:
    return await _follow_collection(request, followers=True)


async def following(request: Request) -> Response:
    return await _follow_collection(request, followers=False)


async def _follow_collection(request: Request, *, followers: bool) -> Response:
    document = await objects.follow_collection(
        services_of(request),
        request.path_params["username"],
        followers=followers,
        page=_page(request),
        max_id=_max_id(request),
    )
    return activity_response(document)


async def featured(request: Request) -> Response:
    return activity_response(
        await objects.featured(services_of(request), request.path_params["username"])
    )


ROUTES: list[BaseRoute] = [
    Route("/actor", instance_actor),
    Route("/users/{username}", actor),
    Route("/users/{username}/outbox", outbox),
    Route("/users/{username}/followers", followers),
    Route("/users/{username}/following", following),
    Route("/users/{username}/collections/featured", featured),
    Route("/users/{username}/statuses/{status_id:int}", status),
    Route("/users/{username}/activities/{activity_id:int}/{kind}", activity),
    Route("/@{username}", profile),
    Route("/@{username}/{status_id:int}", status),
]
