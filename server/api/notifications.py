"""Notifications (v1, and v2's grouped form), follow requests and read markers.

Shoal does not group notifications yet: in the v2 API every notification is a group of
its own, with Mastodon's ``ungrouped-<id>`` key, which the API allows for any type.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core import follow_requests, notifications
from core.errors import BadRequest, NotFound, Unprocessable
from core.notifications import Filter, NotificationView
from core.urls import Urls
from server.api import entities
from server.api.accounts_read import count_param, member, relationship_entity
from server.api.auth import authenticate
from server.api.common import json, link_header, list_param, page_params, params
from server.templating import services_of
from storage.markers import MarkerRow

_UNGROUPED = "ungrouped-"


def _id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise NotFound(notifications.NOT_FOUND)
    return int(text)


def _filter(request: Request) -> Filter:
    q = request.query_params
    raw_account = q.get("account_id")
    if raw_account and (not raw_account.isdigit() or len(raw_account) > 19):
        raise BadRequest("account_id must be an id")
    types = list_param(q, "types")
    return Filter(
        types=types or None,
        exclude_types=list_param(q, "exclude_types"),
        account_id=int(raw_account) if raw_account else None,
    )


def notification_entity(view: NotificationView, urls: Urls) -> dict[str, Any]:
    row = view.row
    return {
        "id": str(row.id),
        "type": row.type,
        "group_key": f"{_UNGROUPED}{row.id}",
        "created_at": entities.iso(row.created_at),
        "account": entities.account(view.account, urls),
        "status": entities.status(view.status, urls) if view.status is not None else None,
    }


async def index(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "read:notifications"))
    page = page_params(request, default=40, maximum=80)
    found, ids = await notifications.page(services_of(request), viewer, page, _filter(request))
    urls = services_of(request).urls
    return json([notification_entity(v, urls) for v in found], headers=link_header(request, ids))


async def show(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "read:notifications"))
    services = services_of(request)
    found = await notifications.get(services, viewer, _id(request.path_params["id"]))
    return json(notification_entity(found, services.urls))


async def dismiss(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "write:notifications"))
    await notifications.dismiss(services_of(request), viewer, _id(request.path_params["id"]))
    return json({})


async def clear(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "write:notifications"))
    await notifications.clear(services_of(request), viewer)
    return json({})


async def unread_count(request: Request) -> Response:
    user, viewer = member(await authenticate(request, "read:notifications"))
    q = request.query_params
    limit = count_param(dict(q), "limit", notifications.UNREAD_DEFAULT, notifications.UNREAD_MAX)
    types = list_param(q, "types") or None
    count = await notifications.unread_count(
        services_of(request), user, viewer, limit=limit, types=types
    )
    return json({"count": count})


# v2: grouped notifications, one notification per group


def _group_id(request: Request) -> int:
    key = request.path_params["group_key"]
    return _id(key.removeprefix(_UNGROUPED) if key.startswith(_UNGROUPED) else "")


def _group(view: NotificationView) -> dict[str, Any]:
    row = view.row
    group: dict[str, Any] = {
        "group_key": f"{_UNGROUPED}{row.id}",
        "notifications_count": 1,
        "type": row.type,
        "most_recent_notification_id": str(row.id),
        "page_min_id": str(row.id),
        "page_max_id": str(row.id),
        "latest_page_notification_at": entities.iso(row.created_at),
        "sample_account_ids": [str(view.account.actor.id)],
    }
    if view.status is not None:
        group["status_id"] = str(view.status.status.id)
    return group


def _grouped(found: list[NotificationView], urls: Urls) -> dict[str, Any]:
    accounts = {v.account.actor.id: v.account for v in found}
    shown = {v.status.status.id: v.status for v in found if v.status is not None}
    return {
        "accounts": [entities.account(a, urls) for a in accounts.values()],
        "statuses": [entities.status(s, urls) for s in shown.values()],
        "notification_groups": [_group(v) for v in found],
    }


async def index_v2(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "read:notifications"))
    page = page_params(request, default=40, maximum=80)
    found, ids = await notifications.page(services_of(request), viewer, page, _filter(request))
    return json(_grouped(found, services_of(request).urls), headers=link_header(request, ids))


async def show_v2(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "read:notifications"))
    services = services_of(request)
    found = await notifications.get(services, viewer, _group_id(request))
    return json(_grouped([found], services.urls))


async def accounts_v2(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "read:notifications"))
    services = services_of(request)
    found = await notifications.get(services, viewer, _group_id(request))
    return json([entities.account(found.account, services.urls)])


async def dismiss_v2(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "write:notifications"))
    await notifications.dismiss(services_of(request), viewer, _group_id(request))
    return json({})


# Follow requests


async def requests_index(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "read:follows"))
    page = page_params(request, default=40, maximum=80)
    services = services_of(request)
    views, ids = await follow_requests.pending(services, viewer, page)
    return json(
        [entities.account(v, services.urls) for v in views], headers=link_header(request, ids)
    )


async def authorize(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "write:follows"))
    relation = await follow_requests.authorize(
        services_of(request), viewer, request.path_params["id"]
    )
    return json(relationship_entity(relation))


async def reject(request: Request) -> Response:
    _, viewer = member(await authenticate(request, "write:follows"))
    relation = await follow_requests.reject(services_of(request), viewer, request.path_params["id"])
    return json(relationship_entity(relation))


# Markers


def _markers(rows: list[MarkerRow]) -> dict[str, Any]:
    return {
        m.timeline: {
            "last_read_id": str(m.last_read_id),
            "version": m.version,
            "updated_at": entities.iso(m.updated_at),
        }
        for m in rows
    }


async def markers_get(request: Request) -> Response:
    user, _ = member(await authenticate(request, "read:statuses"))
    wanted = list_param(request.query_params, "timeline")
    return json(_markers(await notifications.get_markers(services_of(request), user, wanted)))


def _last_read(values: dict[str, Any], timeline: str) -> int | None:
    """``home[last_read_id]`` as a form sends it, or ``{"home": {"last_read_id": …}}``."""
    raw = values.get(f"{timeline}[last_read_id]")
    nested = values.get(timeline)
    if raw is None and isinstance(nested, dict):
        raw = nested.get("last_read_id")
    if raw is None:
        return None
    text = str(raw)
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise Unprocessable(f"{timeline}[last_read_id] must be an id")
    return int(text)


async def markers_post(request: Request) -> Response:
    user, _ = member(await authenticate(request, "write:statuses"))
    values = await params(request)
    positions = {
        t: i for t in ("home", "notifications") if (i := _last_read(values, t)) is not None
    }
    services = services_of(request)
    await notifications.save_markers(services, user, positions)
    saved = await notifications.get_markers(services, user, ["home", "notifications"])
    return json(_markers(saved))


_N, _N2 = "/api/v1/notifications", "/api/v2/notifications"

ROUTES: list[BaseRoute] = [
    Route(_N, index, methods=["GET"]),
    Route(f"{_N}/clear", clear, methods=["POST"]),
    Route(f"{_N}/unread_count", unread_count, methods=["GET"]),
    Route(f"{_N}/{{id}}", show, methods=["GET"]),
    Route(f"{_N}/{{id}}/dismiss", dismiss, methods=["POST"]),
    Route(_N2, index_v2, methods=["GET"]),
    Route(f"{_N2}/unread_count", unread_count, methods=["GET"]),
    Route(f"{_N2}/{{group_key}}", show_v2, methods=["GET"]),
    Route(f"{_N2}/{{group_key}}/accounts", accounts_v2, methods=["GET"]),
    Route(f"{_N2}/{{group_key}}/dismiss", dismiss_v2, methods=["POST"]),
    Route("/api/v1/follow_requests", requests_index, methods=["GET"]),
    Route("/api/v1/follow_requests/{id}/authorize", authorize, methods=["POST"]),
    Route("/api/v1/follow_requests/{id}/reject", reject, methods=["POST"]),
    Route("/api/v1/markers", markers_get, methods=["GET"]),
    Route("/api/v1/markers", markers_post, methods=["POST"]),
]
"""Routes of this area of the Mastodon client API."""
