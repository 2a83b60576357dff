"""The busiest GETs skip the middleware and the router (``server.hot``): they must answer
exactly as the full stack does, errors included, and leave browsers to the full stack."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from core.errors import NotFound
from server import hot
from server.app import HOT_GETS
from tests import api

ORIGIN = {"Origin": "https://elk.example"}


async def test_hot_gets_answer_as_the_full_stack_does(
    app_client: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = app_client
    services = app.state.services
    alice = await api.member(services, client, "alice")
    posted = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi"})
    assert posted.status_code == 200
    for path in HOT_GETS:
        fast = await client.get(path, headers=alice.headers, params={"limit": "5"})
        # With an Origin, the request takes the full stack (and gets CORS headers).
        full = await client.get(path, headers={**alice.headers, **ORIGIN}, params={"limit": "5"})
        assert fast.status_code == full.status_code == 200, (path, fast.text)
        assert fast.json() == full.json()
        assert full.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-origin" not in fast.headers
        assert fast.headers.get("link") == full.headers.get("link")
        assert fast.headers["content-type"] == full.headers["content-type"]
        # Refusals: the same status and Mastodon's error body.
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            refused = await client.get(path, headers=headers)
            refused_full = await client.get(path, headers={**headers, **ORIGIN})
            assert refused.status_code == refused_full.status_code == 401
            assert refused.json() == refused_full.json()
        bad = await client.get(path, headers=alice.headers, params={"max_id": "x"})
        assert bad.status_code == 400 and "max_id" in bad.json()["error"]
    home = await client.get("/api/v1/timelines/home", headers=alice.headers)
    assert [s["content"] for s in home.json()] == ["<p>hi</p>"]


async def test_an_unexpected_error_is_a_500_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("secret detail")

    async def missing(request: Request) -> Response:
        raise NotFound("Record not found")

    routes = [Route("/api/v1/broken", broken), Route("/api/v1/missing", missing)]
    app = Starlette(routes=routes)
    endpoints = hot.endpoints(app.routes, ["/api/v1/broken", "/api/v1/missing"])

    async def fast(scope: Any, receive: Any, send: Any) -> None:
        scope["app"] = app
        await hot.serve(endpoints[scope["path"]], scope, receive, send)

    transport = httpx.ASGITransport(app=fast)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with caplog.at_level(logging.ERROR):
            response = await client.get("/api/v1/broken")
        assert response.status_code == 500
        assert response.json() == {"error": "internal server error"}
        assert "secret" not in response.text
        assert any("secret detail" in str(r.exc_info) for r in caplog.records)
        missing_response = await client.get("/api/v1/missing")
        assert missing_response.status_code == 404
        assert missing_response.json() == {"error": "Record not found"}


def test_endpoints_are_the_routers_choice_and_only_plain_routes() -> None:
    async def first(request: Request) -> Response:
        return PlainTextResponse("first")

    async def second(request: Request) -> Response:
        return PlainTextResponse("second")

    routes = [
        Route("/a/{name}", first),
        Route("/a/b", second),  # shadowed by the route before it: not taken
        Route("/c", first, methods=["POST"]),  # not a GET: not taken
        Route("/d", second),
    ]
    assert hot.endpoints(routes, ["/a/b", "/c", "/d"]) == {"/d": second}
    with pytest.raises(ValueError, match="no route"):
        hot.endpoints(routes, ["/nowhere"])
