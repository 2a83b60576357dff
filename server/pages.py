"""Public web pages."""

from __future__ import annotations

import functools
import struct
import zlib

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


@functools.cache
def _placeholder_png() -> bytes:
    """A 1x1 grey PNG: the avatar and header of accounts that have none (apps need a URL)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\xb0")  # filter byte, one grey pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def placeholder_image(request: Request) -> Response:
    return Response(
        _placeholder_png(),
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


ROUTES = [
    Route("/", home),
    Route("/healthz", healthz),
    Route("/avatars/original/missing.png", placeholder_image),
    Route("/headers/original/missing.png", placeholder_image),
]
