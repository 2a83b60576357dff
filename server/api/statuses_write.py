"""Writing statuses: post, edit, delete, and the actions on one (favourite, boost,
bookmark, pin). Every action answers with the status as the caller now sees it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core import interactions, posting
from core.errors import Unprocessable
from core.services import Services
from server.api.auth import authenticate, rate_limit_headers
from server.api.common import bool_param, json, list_param, params, str_param
from server.api.statuses_read import render_one, services_of, status_id
from storage.actors import ActorRow
from storage.statuses import StatusRow

MAX_TEXT_PARAM = 100_000  # far above the character limit, which core reports precisely


def _id_param(values: Mapping[str, Any], name: str) -> str | None:
    """An id as apps send it: a string, or a number in a JSON body."""
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise Unprocessable(f"{name} must be an id")
    return str(raw)


def _has_poll(values: Mapping[str, Any]) -> bool:
    return any(
        (k == "poll" and v not in (None, "")) or k.startswith("poll[") for k, v in values.items()
    )


async def create(request: Request) -> Response:
    services = services_of(request)
    auth = await authenticate(request, "write:statuses")
    assert auth.user is not None and auth.actor is not None
    values = await params(request)
    post = posting.PostRequest(
        text=str_param(values, "status", maximum=MAX_TEXT_PARAM) or "",
        visibility=str_param(values, "visibility", maximum=20),
        spoiler_text=str_param(values, "spoiler_text", maximum=MAX_TEXT_PARAM) or "",
        sensitive=bool_param(values, "sensitive"),
        language=str_param(values, "language", maximum=20),
        in_reply_to_id=_id_param(values, "in_reply_to_id"),
        media_ids=[m for m in list_param(values, "media_ids") if m],
        poll=_has_poll(values),
        scheduled_at=str_param(values, "scheduled_at", maximum=100),
        idempotency_key=request.headers.get("idempotency-key"),
    )
    posted = await posting.post_status(
        services, user=auth.user, author=auth.actor, app_id=auth.app_id, request=post
    )
    headers = rate_limit_headers(posted.rate) if posted.rate is not None else {}
    return json(await render_one(services, auth.actor, posted.status), headers=headers)


async def edit(request: Request) -> Response:
    services = services_of(request)
    auth = await authenticate(request, "write:statuses")
    assert auth.actor is not None
    status = await interactions.visible_status(services, auth.actor, status_id(request))
    values = await params(request)
    sensitive = bool_param(values, "sensitive") if values.get("sensitive") is not None else None
    change = posting.EditRequest(
        text=str_param(values, "status", maximum=MAX_TEXT_PARAM) or "",
        spoiler_text=str_param(values, "spoiler_text", maximum=MAX_TEXT_PARAM) or "",
        sensitive=sensitive,
        language=str_param(values, "language", maximum=20),
        media_ids=[m for m in list_param(values, "media_ids") if m],
        poll=_has_poll(values),
    )
    updated = await posting.edit_status(services, auth.actor, status, change)
    return json(await render_one(services, auth.actor, updated))


async def delete(request: Request) -> Response:
    services = services_of(request)
    auth = await authenticate(request, "write:statuses")
    assert auth.actor is not None
    status = await interactions.visible_status(services, auth.actor, status_id(request))
    entity = await render_one(services, auth.actor, status)
    # What was typed comes back so that an app can offer "delete and redraft".
    entity["text"] = posting.source_text(status) if status.reblog_of_id is None else None
    await posting.delete_status(services, auth.actor, status)  # the author's only, else 403
    return json(entity)


Action = Callable[[Services, ActorRow, StatusRow], Awaitable[Any]]


def _action(scope: str, act: Action) -> Callable[[Request], Awaitable[Response]]:
    """A POST /api/v1/statuses/:id/<action> route: the status must be visible to the
    caller; the answer is the status afterwards, with the caller's flags."""

    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        auth = await authenticate(request, scope)
        assert auth.actor is not None
        status = await interactions.visible_status(services, auth.actor, status_id(request))
        result = await act(services, auth.actor, status)
        shown = result if isinstance(result, StatusRow) else status
        return json(await render_one(services, auth.actor, shown))

    return endpoint


async def reblog(request: Request) -> Response:
    services = services_of(request)
    auth = await authenticate(request, "write:statuses")
    assert auth.actor is not None
    status = await interactions.visible_status(services, auth.actor, status_id(request))
    values = await params(request)
    visibility = interactions.reblog_visibility(str_param(values, "visibility", maximum=20))
    boost = await interactions.reblog(services, auth.actor, status, visibility)
    return json(await render_one(services, auth.actor, boost))


ROUTES: list[BaseRoute] = [
    Route("/api/v1/statuses", create, methods=["POST"]),
    Route("/api/v1/statuses/{id}", edit, methods=["PUT"]),
    Route("/api/v1/statuses/{id}", delete, methods=["DELETE"]),
    Route(
        "/api/v1/statuses/{id}/favourite",
        _action("write:favourites", interactions.favourite),
        methods=["POST"],
    ),
    Route(
        "/api/v1/statuses/{id}/unfavourite",
        _action("write:favourites", interactions.unfavourite),
        methods=["POST"],
    ),
    Route("/api/v1/statuses/{id}/reblog", reblog, methods=["POST"]),
    Route(
        "/api/v1/statuses/{id}/unreblog",
        _action("write:statuses", interactions.unreblog),
        methods=["POST"],
    ),
    Route(
        "/api/v1/statuses/{id}/bookmark",
        _action("write:bookmarks", interactions.bookmark),
        methods=["POST"],
    ),
    Route(
        "/api/v1/statuses/{id}/unbookmark",
        _action("write:bookmarks", interactions.unbookmark),
        methods=["POST"],
    ),
    Route(
        "/api/v1/statuses/{id}/pin", _action("write:accounts", interactions.pin), methods=["POST"]
    ),
    Route(
        "/api/v1/statuses/{id}/unpin",
        _action("write:accounts", interactions.unpin),
        methods=["POST"],
    ),
]
