"""NodeInfo: the documents we serve (2.0 and 2.1) and reading a peer's."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from federation.client import ClientConfig, FetchError, HttpClient
from federation.nodeinfo import (
    NODEINFO_CONTENT_TYPE,
    build_nodeinfo,
    build_well_known,
    fetch_nodeinfo,
    nodeinfo_path,
)

COUNTS: dict[str, Any] = {
    "software_version": "0.1.0",
    "repository": "https://git.example/shoal",
    "homepage": "https://shoal.example",
    "open_registrations": False,
    "users_total": 12,
    "active_month": 7,
    "active_halfyear": 9,
    "local_posts": 345,
    "metadata": {"nodeName": "Food co-op", "features": ["events", "mutual_aid"]},
}


def test_well_known_links_both_schema_versions():
    assert build_well_known("https://coop.example/") == {
        "links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": "https://coop.example/nodeinfo/2.0",
            },
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                "href": "https://coop.example/nodeinfo/2.1",
            },
        ]
    }
    assert nodeinfo_path("2.1") == "/nodeinfo/2.1"


def test_nodeinfo_2_0_document():
    document = build_nodeinfo("2.0", **COUNTS)
    assert document == {
        "version": "2.0",
        "software": {"name": "shoal", "version": "0.1.0"},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {
            "users": {"total": 12, "activeMonth": 7, "activeHalfyear": 9},
            "localPosts": 345,
        },
        "metadata": {"nodeName": "Food co-op", "features": ["events", "mutual_aid"]},
    }
    orjson.dumps(document)


def test_nodeinfo_2_1_adds_repository_and_homepage_only_when_known():
    document = build_nodeinfo("2.1", **COUNTS)
    assert document["version"] == "2.1"
    assert document["software"] == {
        "name": "shoal",
        "version": "0.1.0",
        "repository": "https://git.example/shoal",
        "homepage": "https://shoal.example",
    }
    bare = build_nodeinfo("2.1", **{**COUNTS, "repository": None, "homepage": None})
    assert bare["software"] == {"name": "shoal", "version": "0.1.0"}


def test_content_types_name_the_schema():
    assert NODEINFO_CONTENT_TYPE["2.1"] == (
        'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
    )
    assert NODEINFO_CONTENT_TYPE["2.0"].endswith('/ns/schema/2.0#"')


@contextlib.asynccontextmanager
async def peer(well_known: Any, documents: dict[str, Any]) -> AsyncIterator[str]:
    """A peer on 127.0.0.1; "{base}" in the discovery document becomes its base URL."""

    async def discovery(request: web.Request) -> web.StreamResponse:
        text = orjson.dumps(well_known).decode().replace("{base}", f"http://{request.host}")
        return web.Response(text=text, content_type="application/json")

    async def document(request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        if version not in documents:
            return web.Response(status=404)
        return web.Response(
            body=orjson.dumps(documents[version]),
            headers={"Content-Type": NODEINFO_CONTENT_TYPE.get(version, "application/json")},
        )

    app = web.Application()
    app.router.add_get("/.well-known/nodeinfo", discovery)
    app.router.add_get("/nodeinfo/{version}", document)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    async with HttpClient(ClientConfig(user_agent="Shoal/test", allow_private=True)) as c:
        yield c


async def test_fetch_nodeinfo_prefers_the_newest_version(client):
    ours = build_well_known("{base}")
    documents = {
        "2.0": {"software": {"name": "old", "version": "1"}},
        "2.1": build_nodeinfo("2.1", **COUNTS),
    }
    async with peer(ours, documents) as domain:
        summary = await fetch_nodeinfo(client, domain, scheme="http")
    assert (summary.software_name, summary.software_version) == ("shoal", "0.1.0")
    assert summary.raw["usage"]["localPosts"] == 345


async def test_fetch_nodeinfo_reads_a_foreign_2_0_only_peer(client):
    well_known = {
        "links": [
            {"rel": "http://example.com/other", "href": "{base}/nope"},
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": "{base}/nodeinfo/2.0",
            },
        ]
    }
    documents = {"2.0": {"version": "2.0", "software": {"name": "Mastodon", "version": "4.3.0"}}}
    async with peer(well_known, documents) as domain:
        summary = await fetch_nodeinfo(client, domain, scheme="http")
    assert (summary.software_name, summary.software_version) == ("mastodon", "4.3.0")


@pytest.mark.parametrize(
    ("well_known", "documents", "reason"),
    [
        ({"links": []}, {}, "no schema link"),
        ([], {}, "has no links"),
        (
            {
                "links": [
                    {
                        "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                        "href": "{base}/nodeinfo/2.0",
                    }
                ]
            },
            {"2.0": {"software": {"version": "1"}}},
            "no software name",
        ),
        (
            {
                "links": [
                    {
                        "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                        "href": "{base}/nodeinfo/2.1",
                    }
                ]
            },
            {},
            "404",
        ),
    ],
)
async def test_fetch_nodeinfo_errors_are_fetch_errors(client, well_known, documents, reason):
    async with peer(well_known, documents) as domain:
        with pytest.raises(FetchError, match=reason):
            await fetch_nodeinfo(client, domain, scheme="http")
