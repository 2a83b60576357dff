"""GET /api/v2/search: local accounts, hashtags and URLs, and resolving accounts and
statuses from a second real Shoal instance over loopback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import api, rig
from tests.server.api.test_timelines import World, world

__all__ = ["world"]  # the fixture, shared with the timeline tests

RESULT_KEYS = {"accounts", "statuses", "hashtags"}


async def search(
    client: httpx.AsyncClient, who: api.Member | None = None, **params: Any
) -> dict[str, Any]:
    response = await client.get("/api/v2/search", headers=who.headers if who else {}, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == RESULT_KEYS
    return body


async def test_local_accounts_and_hashtags(world: World) -> None:
    client = world.client
    await world.posted(world.bob, "#Garden party, #gardening tips")
    await world.posted(world.carol, "more #garden")
    found = await search(client, world.alice, q="ali")
    assert [a["acct"] for a in found["accounts"]] == ["alice"]
    assert found["statuses"] == []
    # The hashtag typed comes first, then those in use, the most used first.
    assert [t["name"] for t in found["hashtags"]] == ["ali"]
    tags = await search(client, world.alice, q="#gard", type="hashtags")
    assert [t["name"] for t in tags["hashtags"]] == ["gard", "garden", "gardening"]
    assert tags["accounts"] == []
    assert tags["hashtags"][1] == {
        "name": "garden",
        "url": "http://localhost:8000/tags/garden",
        "history": [],
        "following": False,
    }
    anonymous = await search(client, q="garden", type="hashtags", limit=2)
    assert [t["name"] for t in anonymous["hashtags"]] == ["garden", "gardening"]
    assert "following" not in anonymous["hashtags"][0]
    only_accounts = await search(client, world.alice, q="bo", type="accounts")
    assert [a["username"] for a in only_accounts["accounts"]] == ["bob"]
    assert only_accounts["hashtags"] == []
    assert (await search(client, world.alice, q="ali", offset=1))["accounts"] == []


async def test_statuses_are_found_by_url_only(world: World) -> None:
    client, alice = world.client, world.alice
    public = await world.posted(world.bob, "findable words")
    private = await world.posted(world.bob, "for followers", visibility="private")
    assert (await search(client, alice, q="findable"))["statuses"] == []
    by_uri = await search(client, q=public["uri"])  # no token: what is stored here
    assert [s["id"] for s in by_uri["statuses"]] == [public["id"]]
    assert by_uri["accounts"] == [] and by_uri["hashtags"] == []
    by_page = await search(client, alice, q=public["url"], type="statuses")
    assert [s["id"] for s in by_page["statuses"]] == [public["id"]]
    assert (await search(client, alice, q=public["url"], type="accounts"))["statuses"] == []
    assert (await search(client, alice, q=public["url"], account_id=alice.id))["statuses"] == []
    # A private post stays invisible to those who may not read it.
    assert (await search(client, alice, q=private["uri"]))["statuses"] == []
    mine = await search(client, world.bob, q=private["uri"])
    assert [s["id"] for s in mine["statuses"]] == [private["id"]]
    profile = await search(client, alice, q="http://localhost:8000/@bob")
    assert [a["username"] for a in profile["accounts"]] == ["bob"]
    actor = await search(client, alice, q=world.bob.actor.uri)
    assert [a["id"] for a in actor["accounts"]] == [world.bob.id]
    assert await search(client, alice, q="http://localhost:8000/@nobody/1") == {
        "accounts": [],
        "statuses": [],
        "hashtags": [],
    }


async def test_search_refuses_bad_params_and_anonymous_resolve(world: World) -> None:
    client = world.client

    async def status_of(who: api.Member | None, **params: Any) -> tuple[int, str]:
        response = await client.get(
            "/api/v2/search", headers=who.headers if who else {}, params=params
        )
        return response.status_code, response.json().get("error", "")

    code, error = await status_of(world.alice)
    assert code == 400 and "q" in error
    code, error = await status_of(world.alice, q="  ")
    assert code == 400 and "q" in error
    code, error = await status_of(world.alice, q="x", type="people")
    assert code == 400 and "type" in error
    code, error = await status_of(world.alice, q="x", limit="ten")
    assert code == 400 and "limit" in error
    code, error = await status_of(world.alice, q="x", account_id="bob")
    assert code == 400 and "account_id" in error
    code, error = await status_of(world.alice, q="x", resolve="maybe")
    assert code == 422 and "resolve" in error
    code, error = await status_of(None, q="bob@elsewhere.example", resolve="true")
    assert code == 401 and "authentication" in error
    code, error = await status_of(None, q="bob", offset="5")
    assert code == 401 and "authentication" in error
    writer = await api.token(client, "alice", "alice long password", scopes="write")
    refused = await client.get(
        "/api/v2/search", headers={"Authorization": f"Bearer {writer}"}, params={"q": "x"}
    )
    assert refused.status_code == 403


@pytest.mark.e2e
async def test_resolve_accounts_and_statuses_from_another_instance(cluster: rig.Cluster) -> None:
    async with (
        rig.running_instance(cluster) as a,
        rig.running_instance(cluster) as b,
        a.client() as client_a,
        b.client() as client_b,
    ):
        alice = await api.member(a.services, client_a, "alice")
        bob = await api.member(b.services, client_b, "bob")
        posted = await client_b.post(
            "/api/v1/statuses", headers=bob.headers, data={"status": "hello from #b"}
        )
        assert posted.status_code == 200, posted.text
        status = posted.json()
        acct = f"bob@{b.domain}"

        # Unknown here, and not resolved: nothing.
        assert (await search(client_a, alice, q=acct))["accounts"] == []
        assert (await search(client_a, alice, q=status["uri"]))["statuses"] == []

        found = await search(client_a, alice, q=f"@{acct}", resolve="true")
        assert [x["acct"] for x in found["accounts"]] == [acct]
        bob_here = found["accounts"][0]
        assert bob_here["url"].startswith(b.base_url)
        # Known from now on, with or without resolve, by name or by URL.
        assert [x["id"] for x in (await search(client_a, alice, q="bob"))["accounts"]] == [
            bob_here["id"]
        ]
        by_url = await search(client_a, alice, q=bob.actor.uri)
        assert [x["id"] for x in by_url["accounts"]] == [bob_here["id"]]

        resolved = await search(client_a, alice, q=status["url"], resolve="true")
        assert [s["uri"] for s in resolved["statuses"]] == [status["uri"]]
        shown = resolved["statuses"][0]
        assert shown["account"]["id"] == bob_here["id"]
        assert "hello from" in shown["content"]
        again = await search(client_a, alice, q=status["uri"])
        assert [s["id"] for s in again["statuses"]] == [shown["id"]]

        # A profile page URL resolves to its actor; a dead URL to nothing, quietly.
        carol = await api.member(b.services, client_b, "carol")
        profile = await search(client_a, alice, q=f"{b.base_url}/@carol", resolve="true")
        assert [x["acct"] for x in profile["accounts"]] == [f"carol@{b.domain}"]
        assert carol.actor.uri == profile["accounts"][0]["uri"]
        nothing = await search(client_a, alice, q=f"{b.base_url}/users/nobody", resolve="true")
        assert nothing == {"accounts": [], "statuses": [], "hashtags": []}
