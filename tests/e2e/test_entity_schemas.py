"""Every entity endpoint a Mastodon app uses, hit once with httpx: what it answers has
every field Mastodon documents for that entity (tests/schema.py), with the right types."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.api import instance as instance_api
from tests import api, schema

pytestmark = pytest.mark.e2e

OOB = "urn:ietf:wg:oauth:2.0:oob"


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, f"{response.request.url}: {response.text}"
    return response.json()


def test_schema_level_is_the_version_shoal_claims() -> None:
    # Fields Mastodon added up to the version Shoal's instance entities announce are
    # required; bump schema.LEVEL with the claim.
    assert instance_api.MASTODON_COMPATIBLE == schema.LEVEL
    assert instance_api.API_VERSION == 2  # Mastodon 4.3's API version


def test_schema_reports_missing_and_mistyped_fields() -> None:
    mention = {"id": "1", "username": "bob", "url": "https://a.example/@bob", "acct": "bob"}
    assert schema.problems("Status::Mention", mention) == []
    found = schema.problems("Status::Mention", {**mention, "id": 1, "url": None, "acct": None})
    assert "Status::Mention.id: expected String (id), got int 1" in found
    assert "Status::Mention.url: null, but not nullable" in found
    del mention["acct"]
    assert schema.problems("Status::Mention", mention) == [
        "Status::Mention.acct: missing (Mastodon 0.6.0)"
    ]
    with pytest.raises(AssertionError, match=r"Marker\[\]\[0\]\.version: expected Integer"):
        schema.check(
            "Marker[]", [{"last_read_id": "5", "version": "1", "updated_at": "2024-01-01T00:00Z"}]
        )
    # A field Mastodon added after LEVEL is not required, but is typed when present.
    assert schema.problems("Role", {"id": "1", "name": "", "color": "", "permissions": "0",
                                    "highlighted": False}) == []  # fmt: skip
    assert schema.problems("Role", {"id": "1", "name": "", "color": "", "permissions": "0",
                                    "highlighted": False, "collection_limit": "9"}) == [
        "Role.collection_limit: expected Integer, got str '9'"
    ]  # fmt: skip
    # Fields only sent to a member's token are required when one asked.
    assert any("favourited: missing" in p for p in schema.problems("Status", {}, signed_in=True))
    assert not any("favourited" in p for p in schema.problems("Status", {}))
    # Nested entities are checked too.
    notification = {"id": "1", "type": "mention", "group_key": "ungrouped-1",
                    "created_at": "2024-05-01T10:00:00.000Z", "account": {}}  # fmt: skip
    found = schema.problems("Notification", notification)
    assert "Notification.account.username: missing (Mastodon 0.1.0)" in found
    assert "Notification.status: missing, but a mention notification has one" in found


async def test_no_known_gaps(client: httpx.AsyncClient) -> None:
    schema.check("Instance", ok(await client.get("/api/v2/instance")), strict=True)


async def test_every_entity_endpoint(app_client: tuple[Starlette, httpx.AsyncClient]) -> None:
    app, client = app_client
    services = app.state.services
    alice = await api.member(services, client, "alice")
    bob = await api.member(services, client, "bob")
    a, b = alice.headers, bob.headers

    # Apps and tokens.
    created = ok(
        await client.post(
            "/api/v1/apps",
            data={"client_name": "schema", "redirect_uris": OOB, "scopes": "read write"},
        )
    )
    schema.check("CredentialApplication", created)
    schema.check("Application", ok(await client.get("/api/v1/apps/verify_credentials", headers=a)))
    grant = {
        "grant_type": "password",
        "username": "alice",
        "password": "alice long password",
        "client_id": created["client_id"],
        "client_secret": created["client_secret"],
        "scope": "read write",
    }
    schema.check("Token", ok(await client.post("/oauth/token", data=grant)))

    # The instance, before anyone logs in.
    schema.check("InstanceV1", ok(await client.get("/api/v1/instance")))
    schema.check("Instance", ok(await client.get("/api/v2/instance")))

    # Accounts.
    schema.check(
        "CredentialAccount",
        ok(await client.get("/api/v1/accounts/verify_credentials", headers=a)),
        signed_in=True,
    )
    schema.check("Account", ok(await client.get(f"/api/v1/accounts/{bob.id}")))
    schema.check("Account", ok(await client.get("/api/v1/accounts/lookup", params={"acct": "bob"})))
    relationship = ok(await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=a))
    schema.check("Relationship", relationship)
    assert relationship["following"] is True
    schema.check(
        "Relationship[]",
        ok(await client.get("/api/v1/accounts/relationships", params={"id[]": bob.id}, headers=a)),
    )

    # Statuses: a post with a content warning, a hashtag and a mention; its edit, source,
    # history; a reply and the thread.
    post = {"status": "Bread at 5, @alice #bakery", "spoiler_text": "food"}
    posted = ok(await client.post("/api/v1/statuses", data=post, headers=b))
    schema.check("Status", posted, signed_in=True)
    assert posted["spoiler_text"] == "food" and posted["mentions"] and posted["tags"]
    status_id = posted["id"]
    schema.check("Status", ok(await client.get(f"/api/v1/statuses/{status_id}")))
    schema.check(
        "Status", ok(await client.get(f"/api/v1/statuses/{status_id}", headers=a)), signed_in=True
    )
    edited = ok(
        await client.put(
            f"/api/v1/statuses/{status_id}",
            data={"status": "Bread at 6, @alice #bakery", "spoiler_text": "food"},
            headers=b,
        )
    )
    schema.check("Status", edited, signed_in=True)
    assert edited["edited_at"] is not None
    history = ok(await client.get(f"/api/v1/statuses/{status_id}/history", headers=b))
    schema.check("StatusEdit[]", history)
    assert len(history) == 2
    schema.check(
        "StatusSource", ok(await client.get(f"/api/v1/statuses/{status_id}/source", headers=b))
    )
    reply = {"status": "@bob I'll come", "in_reply_to_id": status_id}
    replied = ok(await client.post("/api/v1/statuses", data=reply, headers=a))
    schema.check("Status", replied, signed_in=True)
    context = ok(await client.get(f"/api/v1/statuses/{status_id}/context", headers=a))
    schema.check("Context", context, signed_in=True)
    assert [s["id"] for s in context["descendants"]] == [replied["id"]]

    # Favourite and boost: the status, then the boost wrapping it.
    schema.check(
        "Status",
        ok(await client.post(f"/api/v1/statuses/{status_id}/favourite", headers=a)),
        signed_in=True,
    )
    boost = ok(await client.post(f"/api/v1/statuses/{status_id}/reblog", headers=a))
    schema.check("Status", boost, signed_in=True)
    assert boost["reblog"]["id"] == status_id

    # Timelines.
    home = ok(await client.get("/api/v1/timelines/home", headers=a))
    schema.check("Status[]", home, signed_in=True)
    assert status_id in {s["id"] for s in home}
    schema.check("Status[]", ok(await client.get("/api/v1/timelines/public")))
    schema.check(
        "Status[]", ok(await client.get("/api/v1/timelines/tag/bakery", headers=a)), signed_in=True
    )

    # Notifications: alice was mentioned; bob was followed, favourited, boosted, replied to.
    for member in (alice, bob):
        found = ok(await client.get("/api/v1/notifications", headers=member.headers))
        schema.check("Notification[]", found, signed_in=True)
        assert found
        one = await client.get(f"/api/v1/notifications/{found[0]['id']}", headers=member.headers)
        schema.check("Notification", ok(one), signed_in=True)
    kinds = {n["type"] for n in ok(await client.get("/api/v1/notifications", headers=b))}
    assert {"follow", "favourite", "reblog", "mention"} <= kinds

    # Markers.
    saved = ok(
        await client.post("/api/v1/markers", data={"home[last_read_id]": status_id}, headers=a)
    )
    schema.check("Markers", saved)
    markers = ok(await client.get("/api/v1/markers", params={"timeline[]": "home"}, headers=a))
    schema.check("Markers", markers)
    assert markers["home"]["last_read_id"] == status_id

    # Search: an account, a status by its URL, a hashtag.
    for q in ("bob", posted["url"], "#bakery"):
        found = ok(await client.get("/api/v2/search", params={"q": q}, headers=a))
        schema.check("Search", found, signed_in=True)
        assert found["accounts"] or found["statuses"] or found["hashtags"], q
    anonymous = ok(await client.get("/api/v2/search", params={"q": "#bakery"}))
    schema.check("Search", anonymous)
