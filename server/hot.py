"""The busiest GETs, answered straight from ``ShoalApp`` (no middleware, no router).

Mastodon apps poll a few endpoints over and over (the home timeline, notifications).
Through Starlette each request also passes three middleware layers, each wrapping
``send``, and the router; together that is a good part of a small request's cost. Here
such a request, when it is the same as through the stack, is answered by the route's own
endpoint with the same error handling (``server.errors``). It is the same only without
an ``Origin`` header: a browser's request needs CORS headers, and takes the full stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from core.errors import ShoalError
from server import errors

Endpoint = Callable[[Request], Awaitable[Response]]


def endpoints(routes: Sequence[BaseRoute], paths: Iterable[str]) -> dict[str, Endpoint]:
    """The endpoint the router would pick for a GET of each of ``paths``."""
    found: dict[str, Endpoint] = {}
    for path in paths:
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        for route in routes:
            match, child = route.matches(scope)
            if match is Match.NONE:
                continue
            # Only a plain route with no path parameters, and the first that matches.
            if match is Match.FULL and isinstance(route, Route) and not child["path_params"]:
                found[path] = route.endpoint
            break
        else:
            raise ValueError(f"no route for GET {path}")
    return found


async def serve(endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer as the stack would: ``scope["app"]`` must be set to the app."""
    request = Request(scope, receive, send)
    try:
        response = await endpoint(request)
    except ShoalError as exc:
        response = await errors.shoal_error(request, exc)
    except HTTPException as exc:
        response = await errors.http_error(request, exc)
    except Exception as exc:
        response = await errors.server_error(request, exc)
    await response(scope, receive, send)
