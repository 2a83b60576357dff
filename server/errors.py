"""Turn exceptions into responses in one place: JSON for APIs, a page for browsers."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import RateLimited, ShoalError
from server.templating import render_page

log = logging.getLogger("shoal.http")

_JSON_PREFIXES = (
    "/api/",
    "/oauth/token",
    "/oauth/revoke",
    "/.well-known/",
    "/nodeinfo/",
    "/healthz",
    "/inbox",
)


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(_JSON_PREFIXES) or path.endswith("/inbox"):
        return True
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


async def _render(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return await render_page(request, "error.html", {"status": status, "message": message}, status)


async def shoal_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShoalError)
    response = await _render(request, exc.status, exc.message)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "Record not found", 405: "Method not allowed"}
    message = messages.get(exc.status_code, str(exc.detail))
    response = await _render(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    # Never leak a traceback to the client; the log has it.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if wants_json(request):
        return JSONResponse({"error": "internal server error"}, status_code=500)
    return Response("internal server error", status_code=500, media_type="text/plain")


HANDLERS = {ShoalError: shoal_error, HTTPException: http_error, Exception: server_error}
