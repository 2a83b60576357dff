"""WebFinger and host-meta: parsing what clients ask, what we serve, and the look-up."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from federation.client import ClientConfig, FetchError, HttpClient
from federation.webfinger import (
    AcctResource,
    UrlResource,
    WebFingerError,
    build_host_meta,
    build_host_meta_json,
    build_jrd,
    lookup,
    parse_resource,
)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("acct:alice@example.com", AcctResource("alice", "example.com")),
        ("alice@Example.COM", AcctResource("alice", "example.com")),
        ("@alice@example.com", AcctResource("alice", "example.com")),
        ("acct:@alice@example.com", AcctResource("alice", "example.com")),
        (" acct:bob_2@social.example.org ", AcctResource("bob_2", "social.example.org")),
        ("acct:food.coop@127.0.0.1:8080", AcctResource("food.coop", "127.0.0.1:8080")),
        ("acct:a%2Db@example.com", AcctResource("a-b", "example.com")),
        ("acct:x@[::1]:8080", AcctResource("x", "[::1]:8080")),
        ("acct:ana@bücher.example", AcctResource("ana", "xn--bcher-kva.example")),
        ("https://example.com/users/alice", UrlResource("https://example.com/users/alice")),
        ("http://127.0.0.1:8080/@alice", UrlResource("http://127.0.0.1:8080/@alice")),
    ],
)
def test_parse_resource_accepts_the_usual_forms(resource, expected):
    assert parse_resource(resource) == expected


@pytest.mark.parametrize(
    "resource",
    [
        "",
        "   ",
        "alice",
        "acct:alice",
        "acct:@example.com",
        "acct:alice@",
        "alice@exa mple.com",
        "al ice@example.com",
        "alice@example.com@other.org",
        "alice@-bad-.example",
        "alice@example.com:99999",
        "mailto:alice@example.com",
        "ftp://example.com/x",
        "https://",
        "acct:" + "a" * 2000 + "@example.com",
    ],
)
def test_parse_resource_rejects_malformed_input_with_a_reason(resource):
    with pytest.raises(WebFingerError) as caught:
        parse_resource(resource)
    assert caught.value.reason
    assert isinstance(caught.value, ValueError)  # the server maps it to 400


def test_acct_resource_renders_back_to_an_acct_uri():
    assert parse_resource("@alice@Example.com").acct == "acct:alice@example.com"  # type: ignore[union-attr]


def test_jrd_links_actor_profile_and_subscribe_template():
    jrd = build_jrd(
        subject="acct:alice@coop.example",
        aliases=["https://coop.example/users/alice", "https://coop.example/@alice"],
        actor_url="https://coop.example/users/alice",
        profile_url="https://coop.example/@alice",
    )
    assert jrd["subject"] == "acct:alice@coop.example"
    assert jrd["aliases"] == ["https://coop.example/users/alice", "https://coop.example/@alice"]
    by_rel = {link["rel"]: link for link in jrd["links"]}
    assert by_rel["self"] == {
        "rel": "self",
        "type": "application/activity+json",
        "href": "https://coop.example/users/alice",
    }
    assert by_rel["http://webfinger.net/rel/profile-page"]["type"] == "text/html"
    assert by_rel["http://webfinger.net/rel/profile-page"]["href"] == "https://coop.example/@alice"
    assert (
        by_rel["http://ostatus.org/schema/1.0/subscribe"]["template"]
        == "https://coop.example/authorize_interaction?uri={uri}"
    )
    orjson.dumps(jrd)  # serialisable as is


def test_jrd_subscribe_template_keeps_a_dev_port_and_scheme():
    jrd = build_jrd(
        subject="acct:a@127.0.0.1:8080",
        aliases=[],
        actor_url="http://127.0.0.1:8080/users/a",
        profile_url="http://127.0.0.1:8080/@a",
    )
    assert jrd["links"][2]["template"] == "http://127.0.0.1:8080/authorize_interaction?uri={uri}"


def test_host_meta_xml_points_to_webfinger():
    root = ET.fromstring(build_host_meta("coop.example", "https"))
    ns = "{http://docs.oasis-open.org/ns/xri/xrd-1.0}"
    assert root.tag == f"{ns}XRD"
    (link,) = root.findall(f"{ns}Link")
    assert link.get("rel") == "lrdd"
    assert link.get("template") == "https://coop.example/.well-known/webfinger?resource={uri}"
    assert build_host_meta_json("127.0.0.1:8080", "http") == {
        "links": [
            {
                "rel": "lrdd",
                "template": "http://127.0.0.1:8080/.well-known/webfinger?resource={uri}",
            }
        ]
    }
    with pytest.raises(ValueError):
        build_host_meta("coop.example", "javascript")


@contextlib.asynccontextmanager
async def webfinger_server(documents: dict[str, Any]) -> AsyncIterator[str]:
    """Serve `documents` keyed by the `resource` query; yields "127.0.0.1:PORT"."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resource = request.query.get("resource", "")
        domain = resource.rpartition("@")[2]
        key = resource.replace(domain, "HOST")
        if key not in documents:
            return web.Response(status=404)
        body = orjson.dumps(documents[key])
        return web.Response(body=body, content_type="application/jrd+json")

    app = web.Application()
    app.router.add_get("/.well-known/webfinger", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"{host}:{port}"
    finally:
        await runner.cleanup()


def jrd_for(links: list[dict[str, str]]) -> dict[str, Any]:
    return {"subject": "acct:x@HOST", "links": links}


async def test_lookup_returns_the_activitypub_self_link():
    documents = {
        "acct:alice@HOST": jrd_for(
            [
                {"rel": "http://webfinger.net/rel/profile-page", "href": "http://h/@alice"},
                {"rel": "self", "type": "text/html", "href": "http://h/wrong"},
                {"rel": "self", "type": "application/activity+json", "href": "http://h/u/alice"},
            ]
        ),
        "acct:bob@HOST": jrd_for(
            [
                {
                    "rel": "self",
                    "type": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
                    "href": "http://h/u/bob",
                }
            ]
        ),
        "acct:carol@HOST": jrd_for([{"rel": "self", "type": "text/html", "href": "http://h/"}]),
    }
    config = ClientConfig(user_agent="Shoal/test", allow_private=True)
    async with webfinger_server(documents) as host, HttpClient(config) as client:
        assert await lookup(client, f"alice@{host}", scheme="http") == "http://h/u/alice"
        assert await lookup(client, f"acct:bob@{host}", scheme="http") == "http://h/u/bob"
        with pytest.raises(FetchError, match="no ActivityPub actor link"):
            await lookup(client, f"carol@{host}", scheme="http")
        with pytest.raises(FetchError) as missing:
            await lookup(client, f"nobody@{host}", scheme="http")
        assert missing.value.status == 404
        with pytest.raises(WebFingerError):
            await lookup(client, "not an account", scheme="http")
        with pytest.raises(WebFingerError):
            await lookup(client, f"http://{host}/users/alice", scheme="http")
