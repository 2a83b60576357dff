"""Our ids dereference: actors, statuses, activities and collections, as JSON and HTML."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from core import accounts, publish
from core.publish import Draft

AP = {"Accept": "application/activity+json"}
LD = {"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'}


@pytest.fixture
async def alice(app_client: tuple[Starlette, httpx.AsyncClient]) -> Any:
    services = app_client[0].state.services
    _, actor = await accounts.create_user(
        services.pool, services.urls, username="alice", password="a long password"
    )
    return actor


def path(uri: str) -> str:
    return uri.split("localhost:8000", 1)[1]


async def test_actor_json_and_html(client: httpx.AsyncClient, alice: Any) -> None:
    for headers in (AP, LD):
        response = await client.get("/users/alice", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/activity+json")
        doc = response.json()
        assert doc["id"] == alice.uri and doc["type"] == "Person"
        assert doc["preferredUsername"] == "alice"
        assert doc["publicKey"]["id"] == f"{alice.uri}#main-key"
        assert doc["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
        assert doc["endpoints"]["sharedInbox"] == "http://localhost:8000/inbox"
        for key in ("inbox", "outbox", "followers", "following", "featured"):
            assert doc[key].startswith(alice.uri)
    page = await client.get("/users/alice", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["location"] == alice.url
    profile = await client.get("/@alice")
    assert profile.status_code == 200 and "@alice@localhost:8000" in profile.text


async def test_group_and_instance_actor(client: httpx.AsyncClient) -> None:
    group = (await client.get("/users/collective", headers=AP)).json()
    assert group["type"] == "Group" and group["postingRestrictedToMods"] is False
    app = (await client.get("/actor", headers=AP)).json()
    assert app["type"] == "Application" and app["id"] == "http://localhost:8000/actor"


async def test_status_dereferences_then_tombstone(
    app_client: tuple[Starlette, httpx.AsyncClient], alice: Any
) -> None:
    app, client = app_client
    services = app.state.services
    status = await publish.publish_note(services, alice, Draft(text="Hello #coop"))
    response = await client.get(path(status.uri), headers=AP)
    assert response.status_code == 200
    note = response.json()
    assert note["id"] == status.uri and note["type"] == "Note"
    assert note["attributedTo"] == alice.uri
    assert "https://www.w3.org/ns/activitystreams#Public" in note["to"]
    assert {"type": "Hashtag", "href": "http://localhost:8000/tags/coop", "name": "#coop"} in note[
        "tag"
    ]
    html = await client.get(path(status.url))
    assert html.status_code == 200 and "Hello" in html.text
    outbox = (await client.get("/users/alice/outbox", headers=AP)).json()
    assert outbox["totalItems"] == 1
    page = (await client.get("/users/alice/outbox?page=true", headers=AP)).json()
    create = page["orderedItems"][0]
    assert create["type"] == "Create" and create["object"]["id"] == status.uri
    activity = await client.get(path(create["id"]), headers=AP)
    assert activity.status_code == 200 and activity.json()["id"] == create["id"]

    await publish.delete_status(services, alice, status)
    gone = await client.get(path(status.uri), headers=AP)
    assert gone.status_code == 410
    assert gone.json()["type"] == "Tombstone"
    assert (await client.get(path(status.url))).status_code == 410


async def test_private_status_not_served(
    app_client: tuple[Starlette, httpx.AsyncClient], alice: Any
) -> None:
    app, client = app_client
    status = await publish.publish_note(
        app.state.services, alice, Draft(text="followers only", visibility="private")
    )
    assert (await client.get(path(status.uri), headers=AP)).status_code == 404


async def test_collections_and_bad_input(client: httpx.AsyncClient, alice: Any) -> None:
    followers = (await client.get("/users/alice/followers", headers=AP)).json()
    assert followers["type"] == "OrderedCollection" and followers["totalItems"] == 0
    page = (await client.get("/users/alice/following?page=true", headers=AP)).json()
    assert page["type"] == "OrderedCollectionPage" and page["orderedItems"] == []
    bad = await client.get("/users/alice/outbox?page=true&max_id=abc", headers=AP)
    assert bad.status_code == 400 and bad.json() == {"error": "max_id must be a number"}
    assert (await client.get("/users/nobody", headers=AP)).status_code == 404
    assert (await client.get("/users/alice/statuses/123", headers=AP)).status_code == 404


async def test_featured_lists_pinned_public_posts(
    app_client: tuple[Starlette, httpx.AsyncClient], alice: Any
) -> None:
    from storage import interactions

    app, client = app_client
    services = app.state.services
    empty = (await client.get("/users/alice/collections/featured", headers=AP)).json()
    assert empty["totalItems"] == 0 and empty["orderedItems"] == []
    status = await publish.publish_note(services, alice, Draft(text="Our statutes"))
    async with services.pool.acquire() as con:
        await con.execute(
            "INSERT INTO pins (actor_id, status_id) VALUES ($1, $2)", alice.id, status.id
        )
        assert await interactions.pinned_status_ids(con, alice.id) == [status.id]
    featured = (await client.get("/users/alice/collections/featured", headers=AP)).json()
    assert featured["totalItems"] == 1
    assert featured["orderedItems"][0]["id"] == status.uri
