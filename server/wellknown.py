"""Discovery documents: WebFinger, host-meta and NodeInfo.

Browser-based clients read all of them from other origins, so every response here —
errors included — carries `Access-Control-Allow-Origin: *`.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import discovery
from core.errors import BadRequest
from federation.nodeinfo import NODEINFO_CONTENT_TYPE, WELL_KNOWN_CONTENT_TYPE
from federation.webfinger import (
    HOST_META_CONTENT_TYPE,
    HOST_META_JSON_CONTENT_TYPE,
    JRD_CONTENT_TYPE,
)
from server.templating import services_of, version

_CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
]
_CORS_NAMES = frozenset(name for name, _ in _CORS_HEADERS)


class _OpenCors:
    """Adds the CORS headers to whatever the route answers, and answers preflights.

    A route-level middleware sees error responses too: starlette renders the app's
    exception handlers inside the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            preflight = Response(status_code=204)
            preflight.raw_headers.extend(_CORS_HEADERS)
            preflight.headers["Access-Control-Allow-Headers"] = "*"
            preflight.headers["Access-Control-Max-Age"] = "86400"
            await preflight(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] not in _CORS_NAMES]
                message["headers"] = [*headers, *_CORS_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _json(document: Any, media_type: str) -> Response:
    return Response(orjson.dumps(document), media_type=media_type)


async def webfinger(request: Request) -> Response:
    resource = request.query_params.get("resource")
    if resource is None:
        raise BadRequest("the resource parameter is required")
    rels = request.query_params.getlist("rel")
    jrd = await discovery.webfinger(services_of(request), resource, rels=rels)
    return _json(jrd, JRD_CONTENT_TYPE)


async def host_meta(request: Request) -> Response:
    settings = services_of(request).settings
    if request.query_params.get("format") == "json":
        return _json(discovery.host_meta_json(settings), HOST_META_JSON_CONTENT_TYPE)
    return Response(discovery.host_meta_xml(settings), media_type=HOST_META_CONTENT_TYPE)


async def host_meta_json(request: Request) -> Response:
    settings = services_of(request).settings
    return _json(discovery.host_meta_json(settings), HOST_META_JSON_CONTENT_TYPE)


async def nodeinfo_links(request: Request) -> Response:
    return _json(discovery.nodeinfo_links(services_of(request).urls), WELL_KNOWN_CONTENT_TYPE)


async def nodeinfo(request: Request) -> Response:
    version_asked: str = request.path_params["version"]
    # Some crawlers ask for /nodeinfo/2.1.json; the document is the same.
    version_asked = version_asked.removesuffix(".json")
    document = await discovery.nodeinfo(
        services_of(request), version_asked, software_version=version()
    )
    return _json(document, NODEINFO_CONTENT_TYPE[version_asked])


def _route(path: str, endpoint: Any) -> Route:
    return Route(path, endpoint, methods=["GET", "OPTIONS"], middleware=[Middleware(_OpenCors)])


ROUTES: list[BaseRoute] = [
    _route("/.well-known/webfinger", webfinger),
    _route("/.well-known/host-meta", host_meta),
    _route("/.well-known/host-meta.json", host_meta_json),
    _route("/.well-known/nodeinfo", nodeinfo_links),
    _route("/nodeinfo/{version}", nodeinfo),
]
