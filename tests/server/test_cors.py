from __future__ import annotations

import httpx


async def test_api_answers_cors_preflight_and_exposes_link(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/timelines/public",
        headers={
            "Origin": "https://elk.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    response = await client.get("/api/v1/instance", headers={"Origin": "https://elk.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Link" in response.headers["access-control-expose-headers"]
    # A native app sends no Origin, and needs no CORS headers (as with Mastodon).
    native = await client.get("/api/v1/instance")
    assert native.status_code == 200 and "access-control-allow-origin" not in native.headers


async def test_pages_are_not_cross_origin(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
