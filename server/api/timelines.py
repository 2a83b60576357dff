"""Timelines: home, public, hashtag and list; and the member's bookmarks and favourites,
which Mastodon pages the same way (by bookmark and favourite ids)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core import timelines
from core.errors import NotFound
from core.timelines import Origin, StatusPage, TagQuery
from server.api.auth import Auth, authenticate, checked_read, optional_auth
from server.api.common import bool_param, link_header, list_param, page_params
from server.api.rendered import PageRender, Rendered
from server.templating import services_of
from storage.actors import ActorRow


def _rendered(request: Request) -> PageRender:
    """A page of the app's ``Rendered`` entities (made on first use: it needs the URLs)."""
    state = request.app.state
    rendered: Rendered | None = getattr(state, "rendered", None)
    if rendered is None:
        rendered = state.rendered = Rendered(services_of(request).urls)
    return rendered.page()


def _render(request: Request, found: StatusPage, render: PageRender) -> Response:
    return Response(
        render.json(found.items),
        media_type="application/json",
        headers=link_header(request, found.cursors),
    )


def _member(actor: ActorRow | None) -> ActorRow:
    assert actor is not None  # authenticate() requires a member's token by default
    return actor


def _origin(request: Request) -> Origin:
    q = request.query_params
    return Origin(
        local=bool_param(q, "local"),
        remote=bool_param(q, "remote"),
        only_media=bool_param(q, "only_media"),
    )


async def home(request: Request) -> Response:
    page = page_params(request, default=20, maximum=40)
    render = _rendered(request)
    services = services_of(request)

    async def read(auth: Auth) -> StatusPage:
        return await timelines.home(services, _member(auth.actor), page, render, auth.check)

    found = await checked_read(request, "read:statuses", read)
    return _render(request, found, render)


async def public(request: Request) -> Response:
    auth = await optional_auth(request, "read:statuses")
    page = page_params(request, default=20, maximum=40)
    viewer = auth.actor if auth else None
    render = _rendered(request)
    found = await timelines.public(services_of(request), viewer, page, _origin(request), render)
    return _render(request, found, render)


async def tag(request: Request) -> Response:
    auth = await optional_auth(request, "read:statuses")
    page = page_params(request, default=20, maximum=40)
    q = request.query_params
    query = TagQuery(
        tag=request.path_params["hashtag"],
        any=list_param(q, "any"),
        all=list_param(q, "all"),
        none=list_param(q, "none"),
    )
    viewer = auth.actor if auth else None
    render = _rendered(request)
    found = await timelines.tagged(
        services_of(request), viewer, page, query, _origin(request), render
    )
    return _render(request, found, render)


async def list_timeline(request: Request) -> Response:
    # Shoal has no lists yet: no list id exists.
    await authenticate(request, "read:lists")
    raise NotFound("Record not found")


async def bookmarks(request: Request) -> Response:
    viewer = _member((await authenticate(request, "read:bookmarks")).actor)
    page = page_params(request, default=20, maximum=40)
    render = _rendered(request)
    found = await timelines.bookmarks(services_of(request), viewer, page, render)
    return _render(request, found, render)


async def favourites(request: Request) -> Response:
    viewer = _member((await authenticate(request, "read:favourites")).actor)
    page = page_params(request, default=20, maximum=40)
    render = _rendered(request)
    found = await timelines.favourites(services_of(request), viewer, page, render)
    return _render(request, found, render)


ROUTES: list[BaseRoute] = [
    Route("/api/v1/timelines/home", home, methods=["GET"]),
    Route("/api/v1/timelines/public", public, methods=["GET"]),
    Route("/api/v1/timelines/tag/{hashtag}", tag, methods=["GET"]),
    Route("/api/v1/timelines/list/{id}", list_timeline, methods=["GET"]),
    Route("/api/v1/bookmarks", bookmarks, methods=["GET"]),
    Route("/api/v1/favourites", favourites, methods=["GET"]),
]
"""Routes of this area of the Mastodon client API."""
