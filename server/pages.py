"""Public web pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core import accounts
from core.errors import NotFound
from server.templating import render_page, services_of
from storage import pool as db


async def home(request: Request) -> Response:
    services = services_of(request)
    collective = await accounts.get_collective(services.pool, services.settings)
    if collective is None:
        raise NotFound("this instance has no collective yet")
    users = await accounts.count_users(services.pool)
    paragraphs = [p.strip() for p in collective.description.split("\n\n") if p.strip()]
    return await render_page(
        request,
        "home.html",
        {
            "paragraphs": paragraphs,
            "description_text": collective.description[:300],
            "member_count": users,
        },
    )


async def healthz(request: Request) -> Response:
    services = services_of(request)
    if await db.ping(services.pool):
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)


ROUTES = [Route("/", home), Route("/healthz", healthz)]
