"""Inbox endpoints: read the body with a size cap, hand it to ``core.inbound.receive``.

``POST /inbox`` is the shared inbox, ``POST /users/{username}/inbox`` a member's (or the
collective's) and ``POST /actor/inbox`` the instance actor's. A GET is answered 405 by
the router, since only POST is routed here.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core import inbound
from core.errors import BadRequest, PayloadTooLarge
from core.urls import INSTANCE_ACTOR_USERNAME
from server.templating import services_of

# Mastodon caps activities at 1 MB as well; anything bigger is not a real activity.
MAX_BODY: Final = 1024 * 1024
# Seconds a sender is asked to wait when the database is unavailable (it retries anyway).
RETRY_AFTER: Final = 30


async def read_capped(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.strip().isdigit():
            raise BadRequest("invalid Content-Length")
        if int(declared) > limit:
            raise PayloadTooLarge("payload too large")
    body = bytearray()
    async for chunk in request.stream():  # chunked uploads have no Content-Length
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge("payload too large")
    return bytes(body)


def signed_url(request: Request, scheme: str) -> str:
    """The URL as the sender signed it: our public scheme (a TLS proxy hides it from us),
    the Host it addressed, and the path and query exactly as they arrived."""
    scope = request.scope
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    raw_path = raw_path.partition(b"?")[0]  # some servers leave the query in raw_path
    host = request.headers.get("host") or services_of(request).settings.domain
    url = f"{scheme}://{host}{raw_path.decode('latin-1')}"
    query: bytes = scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url


async def _receive(request: Request, recipient: str | None) -> Response:
    services = services_of(request)
    body = await read_capped(request)
    try:
        await inbound.receive(
            services,
            method=request.method,
            url=signed_url(request, services.settings.scheme),
            headers=request.headers,
            body=body,
            recipient=recipient,
        )
    except inbound.Unavailable as exc:
        # Perhaps not queued: the sender keeps the activity and tries again (a replay of
        # one that was queued after all is a no-op).
        return JSONResponse(
            {"error": str(exc)}, status_code=503, headers={"Retry-After": str(RETRY_AFTER)}
        )
    return Response(status_code=202)


async def shared_inbox(request: Request) -> Response:
    return await _receive(request, None)


async def user_inbox(request: Request) -> Response:
    return await _receive(request, request.path_params["username"])


async def instance_inbox(request: Request) -> Response:
    return await _receive(request, INSTANCE_ACTOR_USERNAME)


ROUTES: list[BaseRoute] = [
    Route("/inbox", shared_inbox, methods=["POST"]),
    Route("/users/{username}/inbox", user_inbox, methods=["POST"]),
    Route("/actor/inbox", instance_inbox, methods=["POST"]),
]
