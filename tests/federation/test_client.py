"""The outgoing HTTP client against real aiohttp servers on 127.0.0.1.

No test sends a packet anywhere but loopback: non-loopback addresses are only ever
given to the guard's pure functions or to a resolver whose lookups are faked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from federation.client import (
    AP_ACCEPT,
    AP_CONTENT_TYPE,
    BlockedDestination,
    ClientConfig,
    FetchError,
    HttpClient,
    parse_retry_after,
)
from federation.guard import GuardedResolver, check_url, is_public_address

UA = "Shoal/test (+http://127.0.0.1)"
AP_JSON = "application/activity+json"


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a random 127.0.0.1 port; yield its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def make_client(**overrides: Any) -> AsyncIterator[HttpClient]:
    config = ClientConfig(user_agent=UA, allow_private=True, **overrides)
    async with HttpClient(config) as client:
        yield client


def json_response(document: object, content_type: str = AP_JSON, status: int = 200):
    return web.Response(body=orjson.dumps(document), content_type=content_type, status=status)


@dataclass
class Seen:
    """What the test server saw: request headers (plus "body" for posts), client ports."""

    requests: list[dict[str, str]] = field(default_factory=list)
    peers: set[int | None] = field(default_factory=set)


def build_app(seen: Seen) -> web.Application:
    """Routes shared by most tests."""
    app = web.Application()

    async def doc(request: web.Request) -> web.StreamResponse:
        seen.requests.append(dict(request.headers))
        base = f"http://{request.host}"
        return json_response({"id": f"{base}/doc", "type": "Note"})

    async def redirect(request: web.Request) -> web.StreamResponse:
        seen.requests.append(dict(request.headers))
        hops = int(request.match_info["n"])
        target = "/doc" if hops <= 1 else f"/redirect/{hops - 1}"
        raise web.HTTPFound(target)

    async def status(request: web.Request) -> web.StreamResponse:
        return json_response({"error": "x"}, status=int(request.match_info["code"]))

    async def big(request: web.Request) -> web.StreamResponse:
        # Chunked, so no Content-Length warns the client in advance.
        response = web.StreamResponse(headers={"Content-Type": AP_JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'["' + b"x" * 4000)
        await response.write(b'"]')
        await response.write_eof()
        return response

    async def big_declared(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"[" + b"1," * 2000 + b"1]", content_type=AP_JSON)

    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<p>hi</p>", content_type="text/html")

    async def invalid(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"{not json", content_type=AP_JSON)

    async def other_origin(request: web.Request) -> web.StreamResponse:
        return json_response({"id": "http://127.0.0.2:9/doc", "type": "Note"})

    async def same_origin(request: web.Request) -> web.StreamResponse:
        return json_response({"id": f"http://{request.host}/canonical#main", "type": "Note"})

    async def no_id(request: web.Request) -> web.StreamResponse:
        return json_response({"type": "Note"})

    async def redirect_to(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.query["to"])

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1)
        return json_response({})

    async def inbox(request: web.Request) -> web.StreamResponse:
        seen.requests.append({**request.headers, "body": (await request.read()).decode()})
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.peers.add(peer[1] if peer else None)
        headers = {}
        if "retry" in request.query:
            headers["Retry-After"] = request.query["retry"]
        code = int(request.query.get("status", "202"))
        return web.Response(status=code, text=request.query.get("reply", ""), headers=headers)

    app.router.add_get("/doc", doc)
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/big", big)
    app.router.add_get("/big-declared", big_declared)
    app.router.add_get("/html", html)
    app.router.add_get("/invalid", invalid)
    app.router.add_get("/other-origin", other_origin)
    app.router.add_get("/same-origin", same_origin)
    app.router.add_get("/no-id", no_id)
    app.router.add_get("/redirect-to", redirect_to)
    app.router.add_get("/slow", slow)
    app.router.add_post("/inbox", inbox)
    return app


@pytest.fixture
async def app_base() -> AsyncIterator[tuple[Seen, str]]:
    seen = Seen()
    async with serve(build_app(seen)) as base:
        yield seen, base


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    async with make_client() as c:
        yield c


def recording_signer(calls: list[tuple[str, str, bytes | None]]):
    def sign(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> dict[str, str]:
        calls.append((method, url, body))
        return {**headers, "Signature": f"sig-for {method} {url}"}

    return sign


# --- GET ----------------------------------------------------------------------------


async def test_get_json_returns_document_and_sends_user_agent(app_base, client):
    app, base = app_base
    result = await client.get_json(f"{base}/doc")
    assert result.status == 200
    assert result.url == f"{base}/doc"
    assert result.document == {"id": f"{base}/doc", "type": "Note"}
    assert app.requests[-1]["User-Agent"] == UA
    assert app.requests[-1]["Accept"] == AP_ACCEPT


async def test_one_redirect_is_followed_to_the_final_url(app_base, client):
    _, base = app_base
    result = await client.get_json(f"{base}/redirect/1")
    assert result.url == f"{base}/doc"
    assert result.document["type"] == "Note"


async def test_three_redirects_allowed_four_refused(app_base, client):
    _, base = app_base
    assert (await client.get_json(f"{base}/redirect/3")).url == f"{base}/doc"
    with pytest.raises(FetchError) as caught:
        await client.get_json(f"{base}/redirect/4")
    assert caught.value.reason == "too many redirects"
    assert not caught.value.retryable


async def test_each_redirect_hop_is_checked_by_the_guard(app_base, client):
    _, base = app_base
    for bad in ("ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/doc", "file:///etc/passwd"):
        url = str(URL(f"{base}/redirect-to").with_query(to=bad))
        with pytest.raises(BlockedDestination):
            await client.get_json(url)


async def test_signer_is_called_for_every_hop_with_that_hops_url(app_base, client):
    app, base = app_base
    calls: list[tuple[str, str, bytes | None]] = []
    await client.get_json(f"{base}/redirect/2", sign=recording_signer(calls))
    urls = [f"{base}/redirect/2", f"{base}/redirect/1", f"{base}/doc"]
    assert calls == [("GET", url, None) for url in urls]
    assert [h["Signature"] for h in app.requests[-3:]] == [f"sig-for GET {u}" for u in urls]


async def test_body_over_the_cap_is_refused_while_streaming(app_base):
    _, base = app_base
    async with make_client(max_body=1000) as small:
        with pytest.raises(FetchError, match="response too large"):
            await small.get_json(f"{base}/big")
        # Also when Content-Length announces it.
        with pytest.raises(FetchError, match="response too large"):
            await small.get_json(f"{base}/big-declared")


async def test_invalid_json_and_wrong_content_type_are_errors(app_base, client):
    _, base = app_base
    with pytest.raises(FetchError, match="invalid JSON"):
        await client.get_json(f"{base}/invalid")
    with pytest.raises(FetchError, match="unexpected content type"):
        await client.get_json(f"{base}/html")


@pytest.mark.parametrize(
    ("code", "retryable"), [(404, False), (410, False), (401, False), (429, True), (503, True)]
)
async def test_non_2xx_raises_with_the_remote_status(app_base, client, code, retryable):
    _, base = app_base
    with pytest.raises(FetchError) as caught:
        await client.get_json(f"{base}/status/{code}")
    assert caught.value.status == code
    assert caught.value.retryable is retryable


async def test_get_object_checks_the_id_origin(app_base, client):
    _, base = app_base
    with pytest.raises(FetchError, match="id origin mismatch"):
        await client.get_object(f"{base}/other-origin", sign=None)
    with pytest.raises(FetchError, match="object has no id"):
        await client.get_object(f"{base}/no-id", sign=None)
    # A different id on the same origin is fine.
    result = await client.get_object(f"{base}/same-origin", sign=None)
    assert result.document["id"] == f"{base}/canonical#main"


async def test_timeout_is_a_retryable_fetch_error(app_base):
    _, base = app_base
    async with make_client(total_timeout=0.2) as hasty:
        with pytest.raises(FetchError) as caught:
            await hasty.get_json(f"{base}/slow")
    assert caught.value.reason == "timed out"
    assert caught.value.retryable


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_retryable(client):
    port = unused_port()
    with pytest.raises(FetchError) as get_error:
        await client.get_json(f"http://127.0.0.1:{port}/doc")
    with pytest.raises(FetchError) as post_error:
        await client.post(f"http://127.0.0.1:{port}/inbox", b"{}", sign=recording_signer([]))
    assert get_error.value.retryable and post_error.value.retryable
    assert not isinstance(post_error.value, BlockedDestination)


async def test_per_host_concurrency_is_bounded():
    app = web.Application()
    state = {"now": 0, "peak": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.02)
        state["now"] -= 1
        return json_response({})

    app.router.add_get("/", handler)
    async with serve(app) as base, make_client(per_host_concurrency=2) as limited:
        await asyncio.gather(*(limited.get_json(f"{base}/") for _ in range(8)))
        assert len(limited._slots) == 0  # nothing kept once idle
    assert state["peak"] == 2


# --- POST ---------------------------------------------------------------------------


async def test_post_signs_sends_and_reports_status(app_base, client):
    app, base = app_base
    calls: list[tuple[str, str, bytes | None]] = []
    body = b'{"type":"Create"}'
    result = await client.post(f"{base}/inbox?reply=ok", body, sign=recording_signer(calls))
    assert (result.status, result.retry_after, result.body_excerpt) == (202, None, "ok")
    assert calls == [("POST", f"{base}/inbox?reply=ok", body)]
    seen = app.requests[-1]
    assert seen["body"] == body.decode()
    assert seen["Content-Type"] == AP_CONTENT_TYPE
    assert seen["Signature"] == f"sig-for POST {base}/inbox?reply=ok"
    assert seen["User-Agent"] == UA


async def test_post_does_not_raise_for_http_errors_and_caps_the_excerpt(app_base, client):
    _, base = app_base
    url = str(URL(f"{base}/inbox").with_query(status="500", reply="e" * 2000))
    result = await client.post(url, b"{}", sign=recording_signer([]))
    assert result.status == 500
    assert result.body_excerpt == "e" * 500


async def test_post_parses_retry_after_seconds_and_http_date(app_base, client):
    _, base = app_base
    sign = recording_signer([])
    seconds = await client.post(f"{base}/inbox?status=429&retry=120", b"{}", sign=sign)
    assert seconds.retry_after == 120.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    dated = await client.post(
        str(URL(f"{base}/inbox").with_query(status="503", retry=later)), b"{}", sign=sign
    )
    assert dated.retry_after is not None and 290 <= dated.retry_after <= 300


def test_parse_retry_after_edge_cases():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Tue, 31 Dec 2024 00:00:00 GMT", now=now) == 0.0  # past
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after(None) is None


async def test_posts_reuse_one_keep_alive_connection(app_base, client):
    app, base = app_base
    for _ in range(5):
        assert (await client.post(f"{base}/inbox", b"{}", sign=recording_signer([]))).status == 202
    assert len(app.peers) == 1


# --- the guard ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "fc00::1",
        "fe80::1",
        "ff0e::1",
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:93.184.215.14"]
)
def test_public_addresses_are_allowed(address):
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",  # http outside development
        "ftp://example.com/",
        "https://127.0.0.1/",
        "https://10.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/latest/meta-data",
        "https://user:pw@example.com/",
    ],
)
def test_check_url_refuses_before_connecting(url):
    with pytest.raises(BlockedDestination):
        check_url(URL(url), allow_private=False)


def test_check_url_allows_public_https_and_everything_in_development():
    check_url(URL("https://example.com/users/a"), allow_private=False)
    check_url(URL("https://93.184.215.14:8443/"), allow_private=False)
    check_url(URL("http://10.0.0.1:8080/"), allow_private=True)


class FakeResolver(AbstractResolver):
    """Answers from a table instead of DNS, so no lookup leaves the machine."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=0, proto=0, flags=0)
            for a in self.answers
        ]

    async def close(self) -> None:
        pass


async def test_resolver_drops_private_answers_and_refuses_when_none_remain():
    mixed = GuardedResolver(FakeResolver(["10.0.0.1", "93.184.215.14", "::1", "fc00::1"]))
    assert [r["host"] for r in await mixed.resolve("rebind.test", 443)] == ["93.184.215.14"]
    private = GuardedResolver(FakeResolver(["127.0.0.1", "::ffff:127.0.0.1", "100.64.0.1"]))
    with pytest.raises(BlockedDestination):
        await private.resolve("rebind.test", 443)


async def test_guarded_client_refuses_loopback_by_name_literal_and_http(app_base):
    _, base = app_base
    port = URL(base).port
    async with HttpClient(ClientConfig(user_agent=UA)) as guarded:
        with pytest.raises(BlockedDestination):
            await guarded.get_json(f"{base}/doc")  # http
        with pytest.raises(BlockedDestination):
            await guarded.get_json(f"https://127.0.0.1:{port}/doc")
        # "localhost" resolves (from the hosts file) to loopback only: the resolver refuses.
        with pytest.raises(BlockedDestination):
            await guarded.get_json(f"https://localhost:{port}/doc")
        with pytest.raises(BlockedDestination):
            await guarded.post(f"https://localhost:{port}/inbox", b"{}", sign=recording_signer([]))
