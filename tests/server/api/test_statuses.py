"""/api/v1/statuses as Mastodon apps use it: posting, reading with visibility rules,
editing, deleting, and favourites, boosts, bookmarks and pins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from core import interactions, passwords, social
from core.services import Services
from federation.vocab import PUBLIC
from storage import actors, statuses
from tests import api, rig

# Every field Mastodon documents on a Status (`pinned` only for the author's own).
STATUS_FIELDS = {
    "id", "uri", "url", "created_at", "account", "content", "visibility", "sensitive",
    "spoiler_text", "media_attachments", "application", "mentions", "tags", "emojis",
    "reblogs_count", "favourites_count", "replies_count", "in_reply_to_id",
    "in_reply_to_account_id", "reblog", "poll", "card", "language", "text", "edited_at",
    "favourited", "reblogged", "muted", "bookmarked", "filtered",
}  # fmt: skip


@dataclass
class World:
    services: Services
    client: httpx.AsyncClient
    alice: api.Member
    bob: api.Member
    carol: api.Member

    async def post(self, who: api.Member, **data: Any) -> httpx.Response:
        return await self.client.post("/api/v1/statuses", headers=who.headers, data=data)

    async def posted(self, who: api.Member, text: str, **data: Any) -> dict[str, Any]:
        response = await self.post(who, status=text, **data)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get(self, path: str, who: api.Member | None = None) -> httpx.Response:
        return await self.client.get(path, headers=who.headers if who else {})

    async def act(self, who: api.Member, status_id: str, action: str, **data: Any) -> Any:
        return await self.client.post(
            f"/api/v1/statuses/{status_id}/{action}", headers=who.headers, data=data
        )

    async def count(self, sql: str, *args: Any) -> int:
        async with self.services.pool.acquire() as con:
            return int(await con.fetchval(sql, *args))


@pytest.fixture
async def world(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    # Three members log in per test: argon2 at its real cost would dominate the run.
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    settings = rig.make_settings(database_url, workers=False)
    async with rig.app_client(settings) as (app, client):
        services: Services = app.state.services
        members = [await api.member(services, client, n) for n in ("alice", "bob", "carol")]
        yield World(services, client, *members)


async def _follow(world: World, follower: api.Member, followee: api.Member) -> None:
    await social.follow(world.services, follower.actor, followee.actor)


# Posting


async def test_post_returns_a_complete_status_entity(world: World) -> None:
    response = await world.post(
        world.alice, status="Potluck at #garden, bring bowls", spoiler_text="food", language="en"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert STATUS_FIELDS | {"pinned"} <= set(body)
    assert isinstance(body["id"], str) and body["id"].isdigit()
    assert body["account"]["id"] == world.alice.id and body["account"]["username"] == "alice"
    assert "Potluck at" in body["content"] and body["content"].startswith("<p>")
    assert body["visibility"] == "public" and body["language"] == "en"
    assert body["spoiler_text"] == "food" and body["sensitive"] is True
    assert body["tags"] == [{"name": "garden", "url": "http://localhost:8000/tags/garden"}]
    assert body["application"] == {"name": "tests", "website": None}
    assert body["created_at"].endswith("Z") and body["edited_at"] is None
    assert body["reblog"] is None and body["poll"] is None and body["card"] is None
    assert body["favourited"] is False and body["pinned"] is False
    assert (body["favourites_count"], body["reblogs_count"], body["replies_count"]) == (0, 0, 0)
    assert response.headers["X-RateLimit-Limit"] == "300"
    assert response.headers["X-RateLimit-Remaining"] == "299"
    assert response.headers["X-RateLimit-Reset"].endswith("Z")
    # Another member sees the same status, without the author-only `pinned`.
    seen = (await world.get(f"/api/v1/statuses/{body['id']}", world.bob)).json()
    assert set(seen) >= STATUS_FIELDS and "pinned" not in seen
    assert seen["id"] == body["id"] and seen["application"] == body["application"]


async def test_post_accepts_json_and_replies(world: World) -> None:
    parent = await world.posted(world.bob, "Who has a ladder?")
    response = await world.client.post(
        "/api/v1/statuses",
        headers=world.alice.headers,
        json={"status": "@bob I do", "in_reply_to_id": parent["id"], "visibility": "unlisted"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["in_reply_to_id"] == parent["id"]
    assert body["in_reply_to_account_id"] == world.bob.id
    assert body["visibility"] == "unlisted"
    assert [m["acct"] for m in body["mentions"]] == ["bob"]
    again = (await world.get(f"/api/v1/statuses/{parent['id']}", world.bob)).json()
    assert again["replies_count"] == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"status": "   "}, "Text can't be blank"),
        ({}, "Text can't be blank"),
        ({"status": "x" * 5001}, "character limit of 5000"),
        ({"status": "x" * 4990, "spoiler_text": "y" * 20}, "character limit of 5000"),
        ({"status": "hello", "visibility": "everyone"}, "Visibility"),
        ({"status": "hello", "language": "english"}, "Language"),
        ({"status": "hello", "language": "xx"}, "Language"),
        ({"status": "hello", "media_ids[]": "123"}, "Media 123 not found"),
        ({"status": "hello", "poll[options][]": "a", "poll[expires_in]": "60"}, "Polls"),
        ({"status": "hello", "scheduled_at": "2030-01-01T00:00:00Z"}, "Scheduled"),
        ({"status": "hello", "sensitive": "perhaps"}, "sensitive"),
    ],
)
async def test_invalid_posts_are_refused_and_store_nothing(
    world: World, data: dict[str, str], reason: str
) -> None:
    response = await world.post(world.alice, **data)
    assert response.status_code == 422, response.text
    assert reason in response.json()["error"]
    assert await world.count("SELECT count(*) FROM statuses") == 0
    assert await world.count("SELECT count(*) FROM activities") == 0


async def test_reply_to_an_invisible_or_unknown_status_is_404(world: World) -> None:
    secret = await world.posted(world.bob, "for my followers", visibility="private")
    for target in (secret["id"], "999999", "nope"):
        response = await world.post(world.alice, status="hi", in_reply_to_id=target)
        assert response.status_code == 404
        assert response.json()["error"] == (
            "The post you are trying to reply to does not appear to exist."
        )
    assert (
        await world.count("SELECT count(*) FROM statuses WHERE actor_id = $1", world.alice.actor.id)
        == 0
    )


async def test_idempotency_key_returns_the_same_status(world: World) -> None:
    key = {"Idempotency-Key": "7b1f5c"}
    first = await world.client.post(
        "/api/v1/statuses", headers={**world.alice.headers, **key}, data={"status": "once"}
    )
    second = await world.client.post(
        "/api/v1/statuses", headers={**world.alice.headers, **key}, data={"status": "once"}
    )
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert await world.count("SELECT count(*) FROM statuses") == 1
    # The key is the member's own: another member with the same key posts anew.
    other = await world.client.post(
        "/api/v1/statuses", headers={**world.bob.headers, **key}, data={"status": "once"}
    )
    assert other.json()["id"] != first.json()["id"]
    fresh = await world.client.post(
        "/api/v1/statuses",
        headers={**world.alice.headers, "Idempotency-Key": "another"},
        data={"status": "once"},
    )
    assert fresh.json()["id"] != first.json()["id"]
    assert await world.count("SELECT count(*) FROM statuses") == 3


async def test_concurrent_requests_with_one_key_post_once(world: World) -> None:
    headers = {**world.alice.headers, "Idempotency-Key": "same-tap-twice"}
    responses = await asyncio.gather(
        *(
            world.client.post("/api/v1/statuses", headers=headers, data={"status": "tap"})
            for _ in range(3)
        )
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await world.count("SELECT count(*) FROM statuses") == 1


async def test_a_refused_post_does_not_use_up_its_idempotency_key(world: World) -> None:
    headers = {**world.alice.headers, "Idempotency-Key": "k1"}
    refused = await world.client.post("/api/v1/statuses", headers=headers, data={"status": ""})
    assert refused.status_code == 422
    accepted = await world.client.post("/api/v1/statuses", headers=headers, data={"status": "ok"})
    assert accepted.status_code == 200


async def test_posting_is_rate_limited(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interactions, "POST_LIMIT", 2)
    for n in range(2):
        assert (await world.post(world.alice, status=f"post {n}")).status_code == 200
    limited = await world.post(world.alice, status="one too many")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert await world.count("SELECT count(*) FROM statuses") == 2


async def test_scopes_and_tokens(world: World) -> None:
    reader = await api.token(world.client, "alice", "alice long password", scopes="read")
    headers = {"Authorization": f"Bearer {reader}"}
    refused = await world.client.post("/api/v1/statuses", headers=headers, data={"status": "x"})
    assert refused.status_code == 403
    assert refused.json() == {"error": "This action is outside the authorized scopes"}
    anonymous = await world.client.post("/api/v1/statuses", data={"status": "x"})
    assert anonymous.status_code == 401
    assert await world.count("SELECT count(*) FROM statuses") == 0
    post = await world.posted(world.alice, "readable")
    fav = await world.client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=headers)
    assert fav.status_code == 403
    assert (await world.get(f"/api/v1/statuses/{post['id']}")).status_code == 200


# Reading


async def test_unknown_and_malformed_ids_are_404(world: World) -> None:
    for path in ("/api/v1/statuses/123456", "/api/v1/statuses/abc", "/api/v1/statuses/1e3"):
        response = await world.get(path, world.alice)
        assert response.status_code == 404
        assert response.json() == {"error": "Record not found"}
    for action in ("favourite", "reblog", "bookmark", "pin"):
        response = await world.act(world.alice, "abc", action)
        assert response.status_code == 404
    gone = await world.client.delete("/api/v1/statuses/42", headers=world.alice.headers)
    assert gone.status_code == 404


async def test_visibility_rules(world: World) -> None:
    await _follow(world, world.bob, world.alice)  # bob follows alice; carol does not
    private = await world.posted(world.alice, "followers only", visibility="private")
    direct = await world.posted(world.alice, "@bob just you", visibility="direct")
    unlisted = await world.posted(world.alice, "quiet", visibility="unlisted")

    def path(s: dict[str, Any]) -> str:
        return f"/api/v1/statuses/{s['id']}"

    assert (await world.get(path(unlisted))).status_code == 200
    assert (await world.get(path(private), world.bob)).status_code == 200
    assert (await world.get(path(private), world.alice)).status_code == 200
    assert (await world.get(path(private), world.carol)).status_code == 404
    assert (await world.get(path(private))).status_code == 404
    assert (await world.get(path(direct), world.bob)).status_code == 200
    assert (await world.get(path(direct), world.carol)).status_code == 404
    # What carol cannot see, she cannot act on, nor read around.
    for action in ("favourite", "reblog", "bookmark"):
        assert (await world.act(world.carol, private["id"], action)).status_code == 404
    for sub in ("context", "history", "source", "favourited_by", "reblogged_by"):
        assert (await world.get(f"{path(direct)}/{sub}", world.carol)).status_code == 404
    many = await world.get(
        f"/api/v1/statuses?id[]={private['id']}&id[]={unlisted['id']}&id[]=1", world.carol
    )
    assert [s["id"] for s in many.json()] == [unlisted["id"]]


async def test_context_shows_what_the_viewer_may_see(world: World) -> None:
    await _follow(world, world.bob, world.alice)
    root = await world.posted(world.alice, "Tool library opens")
    reply = await world.posted(world.bob, "great", in_reply_to_id=root["id"])
    deeper = await world.posted(world.alice, "thanks", in_reply_to_id=reply["id"])
    hidden = await world.posted(
        world.alice, "followers: key is under the mat", in_reply_to_id=root["id"],
        visibility="private",
    )  # fmt: skip
    for_bob = (await world.get(f"/api/v1/statuses/{reply['id']}/context", world.bob)).json()
    assert [s["id"] for s in for_bob["ancestors"]] == [root["id"]]
    assert [s["id"] for s in for_bob["descendants"]] == [deeper["id"]]
    whole = (await world.get(f"/api/v1/statuses/{root['id']}/context", world.bob)).json()
    assert whole["ancestors"] == []
    assert [s["id"] for s in whole["descendants"]] == [reply["id"], deeper["id"], hidden["id"]]
    for_carol = (await world.get(f"/api/v1/statuses/{root['id']}/context", world.carol)).json()
    assert [s["id"] for s in for_carol["descendants"]] == [reply["id"], deeper["id"]]
    anonymous = (await world.get(f"/api/v1/statuses/{deeper['id']}/context")).json()
    assert [s["id"] for s in anonymous["ancestors"]] == [root["id"], reply["id"]]


# Editing and deleting


async def test_edit_keeps_history_and_federates_an_update(world: World) -> None:
    post = await world.posted(world.alice, "Meeting at 6", spoiler_text="admin")
    edited = await world.client.put(
        f"/api/v1/statuses/{post['id']}",
        headers=world.alice.headers,
        data={"status": "Meeting at 7 #moved", "language": "de"},
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["id"] == post["id"] and "Meeting at 7" in body["content"]
    assert body["edited_at"] is not None and body["spoiler_text"] == "" and body["language"] == "de"
    assert [t["name"] for t in body["tags"]] == ["moved"]
    history = (await world.get(f"/api/v1/statuses/{post['id']}/history", world.bob)).json()
    assert [("Meeting at 6" in h["content"], h["spoiler_text"]) for h in history] == [
        (True, "admin"),
        (False, ""),
    ]
    assert history[0]["created_at"] == post["created_at"]
    assert history[1]["created_at"] == body["edited_at"]
    # Mastodon leaves `poll` out of a version that has none.
    assert set(history[0]) == {
        "content", "spoiler_text", "sensitive", "created_at", "account", "media_attachments",
        "emojis",
    }  # fmt: skip
    assert history[0]["account"]["id"] == world.alice.id
    source = (await world.get(f"/api/v1/statuses/{post['id']}/source", world.alice)).json()
    assert source == {"id": post["id"], "text": "Meeting at 7 #moved", "spoiler_text": ""}
    async with world.services.pool.acquire() as con:
        update = await con.fetchval(
            "SELECT payload FROM activities WHERE type = 'Update' AND object_uri = $1", post["uri"]
        )
    assert update["object"]["id"] == post["uri"] and "Meeting at 7" in update["object"]["content"]
    assert update["object"]["updated"]


async def test_history_of_an_unedited_status_is_its_one_version(world: World) -> None:
    post = await world.posted(world.alice, "first and only")
    history = (await world.get(f"/api/v1/statuses/{post['id']}/history")).json()
    assert len(history) == 1 and history[0]["created_at"] == post["created_at"]


async def test_only_the_author_edits_and_invalid_edits_change_nothing(world: World) -> None:
    post = await world.posted(world.alice, "mine")
    other = await world.client.put(
        f"/api/v1/statuses/{post['id']}", headers=world.bob.headers, data={"status": "yours"}
    )
    assert other.status_code == 403
    blank = await world.client.put(
        f"/api/v1/statuses/{post['id']}", headers=world.alice.headers, data={"status": ""}
    )
    assert blank.status_code == 422
    again = (await world.get(f"/api/v1/statuses/{post['id']}")).json()
    assert again["edited_at"] is None and "mine" in again["content"]
    assert await world.count("SELECT count(*) FROM status_edits") == 0


async def test_delete_returns_the_source_for_redrafting(world: World) -> None:
    post = await world.posted(world.alice, "Typo in thsi post", spoiler_text="cw")
    refused = await world.client.delete(f"/api/v1/statuses/{post['id']}", headers=world.bob.headers)
    assert refused.status_code == 403
    response = await world.client.delete(
        f"/api/v1/statuses/{post['id']}", headers=world.alice.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == post["id"] and body["text"] == "Typo in thsi post"
    assert body["spoiler_text"] == "cw" and set(body) >= STATUS_FIELDS
    assert (await world.get(f"/api/v1/statuses/{post['id']}", world.alice)).status_code == 404
    assert await world.count("SELECT count(*) FROM activities WHERE type = 'Delete'") == 1


# Favourites, boosts, bookmarks, pins


async def test_favourite_and_unfavourite(world: World) -> None:
    post = await world.posted(world.alice, "Compost workshop")
    fav = await world.act(world.bob, post["id"], "favourite")
    assert fav.status_code == 200
    assert fav.json()["favourited"] is True and fav.json()["favourites_count"] == 1
    assert (await world.act(world.bob, post["id"], "favourite")).json()["favourites_count"] == 1
    await world.act(world.carol, post["id"], "favourite")
    who = await world.get(f"/api/v1/statuses/{post['id']}/favourited_by?limit=1")
    assert [a["username"] for a in who.json()] == ["carol"]
    assert 'rel="next"' in who.headers["Link"]
    older = await world.client.get(who.links["next"]["url"])
    assert [a["username"] for a in older.json()] == ["bob"]
    assert (
        await world.count(
            "SELECT count(*) FROM notifications WHERE recipient_id = $1 AND type = 'favourite'",
            world.alice.actor.id,
        )
        == 2
    )
    undone = await world.act(world.bob, post["id"], "unfavourite")
    assert undone.json()["favourited"] is False and undone.json()["favourites_count"] == 1


async def test_actions_on_a_remote_status_are_sent_to_its_author(world: World) -> None:
    async with world.services.pool.acquire() as con:
        dana = await actors.upsert_remote(
            con,
            {
                "uri": "https://elsewhere.example/users/dana",
                "type": "Person",
                "username": "dana",
                "domain": "elsewhere.example",
                "inbox_uri": "https://elsewhere.example/users/dana/inbox",
                "shared_inbox_uri": "https://elsewhere.example/inbox",
                "followers_uri": "https://elsewhere.example/users/dana/followers",
            },
        )
        note = await statuses.insert(
            con,
            {
                "uri": "https://elsewhere.example/notes/1",
                "actor_id": dana.id,
                "local": False,
                "content": "<p>Bike repair?</p>",
            },
        )
    assert note is not None
    await world.act(world.alice, str(note.id), "favourite")
    await world.act(world.alice, str(note.id), "reblog")
    await world.act(world.alice, str(note.id), "unfavourite")
    await world.act(world.alice, str(note.id), "unreblog")
    async with world.services.pool.acquire() as con:
        sent = await con.fetch(
            """SELECT a.type, a.payload, d.inbox_uri FROM activities a
               JOIN deliveries d ON d.activity_id = a.id ORDER BY a.id"""
        )
    assert [(r["type"], r["inbox_uri"]) for r in sent] == [
        ("Like", "https://elsewhere.example/users/dana/inbox"),
        ("Announce", "https://elsewhere.example/inbox"),
        ("Undo", "https://elsewhere.example/users/dana/inbox"),
        ("Undo", "https://elsewhere.example/inbox"),
    ]
    like, announce, undo_like, undo_announce = (r["payload"] for r in sent)
    assert like["object"] == note.uri and like["actor"] == world.alice.actor.uri
    assert announce["object"] == note.uri and announce["to"] == [PUBLIC]
    assert dana.uri in announce["cc"]
    assert undo_like["object"]["id"] == like["id"]
    assert undo_announce["object"]["id"] == announce["id"]


async def test_reblog_and_unreblog(world: World) -> None:
    post = await world.posted(world.alice, "Repair cafe Saturday")
    boost = await world.act(world.bob, post["id"], "reblog", visibility="unlisted")
    assert boost.status_code == 200, boost.text
    body = boost.json()
    assert body["id"] != post["id"] and body["visibility"] == "unlisted"
    assert body["account"]["id"] == world.bob.id and body["content"] == ""
    assert body["reblog"]["id"] == post["id"] and body["reblog"]["reblogged"] is True
    assert body["reblog"]["reblogs_count"] == 1
    twice = await world.act(world.bob, post["id"], "reblog")
    assert twice.json()["id"] == body["id"]
    # Acting on the boost acts on the original.
    await world.act(world.carol, body["id"], "favourite")
    assert (await world.get(f"/api/v1/statuses/{post['id']}")).json()["favourites_count"] == 1
    who = (await world.get(f"/api/v1/statuses/{post['id']}/reblogged_by")).json()
    assert [a["username"] for a in who] == ["bob"]
    assert (
        await world.count(
            "SELECT count(*) FROM notifications WHERE recipient_id = $1 AND type = 'reblog'",
            world.alice.actor.id,
        )
        == 1
    )
    undone = await world.act(world.bob, post["id"], "unreblog")
    assert undone.status_code == 200
    assert undone.json()["id"] == post["id"] and undone.json()["reblogged"] is False
    assert undone.json()["reblogs_count"] == 0
    assert (await world.get(f"/api/v1/statuses/{body['id']}")).status_code == 404


async def test_reblog_rules(world: World) -> None:
    await _follow(world, world.bob, world.alice)
    private = await world.posted(world.alice, "followers only", visibility="private")
    refused = await world.act(world.bob, private["id"], "reblog")
    assert refused.status_code == 403
    assert refused.json() == {"error": "This action is not allowed"}
    own = await world.act(world.alice, private["id"], "reblog")
    assert own.status_code == 200 and own.json()["visibility"] == "private"
    public = await world.posted(world.alice, "for all")
    bad = await world.act(world.bob, public["id"], "reblog", visibility="direct")
    assert bad.status_code == 422
    assert await world.count("SELECT count(*) FROM statuses WHERE reblog_of_id IS NOT NULL") == 1


async def test_bookmark_and_unbookmark(world: World) -> None:
    post = await world.posted(world.alice, "Recipe: lentil soup")
    marked = await world.act(world.bob, post["id"], "bookmark")
    assert marked.status_code == 200 and marked.json()["bookmarked"] is True
    assert (await world.get(f"/api/v1/statuses/{post['id']}", world.alice)).json()[
        "bookmarked"
    ] is False
    unmarked = await world.act(world.bob, post["id"], "unbookmark")
    assert unmarked.json()["bookmarked"] is False


async def test_pin_rules(world: World) -> None:
    posts = [await world.posted(world.alice, f"pin me {n}") for n in range(6)]
    for post in posts[:5]:
        pinned = await world.act(world.alice, post["id"], "pin")
        assert pinned.status_code == 200 and pinned.json()["pinned"] is True
    full = await world.act(world.alice, posts[5]["id"], "pin")
    assert full.status_code == 422
    assert "maximum number" in full.json()["error"]
    others = await world.act(world.bob, posts[5]["id"], "pin")
    assert others.status_code == 422
    direct = await world.posted(world.alice, "@bob psst", visibility="direct")
    assert (await world.act(world.alice, direct["id"], "pin")).status_code == 422
    unpinned = await world.act(world.alice, posts[0]["id"], "unpin")
    assert unpinned.status_code == 200 and unpinned.json()["pinned"] is False
    assert (await world.act(world.alice, posts[5]["id"], "pin")).json()["pinned"] is True
    assert await world.count("SELECT count(*) FROM pins") == 5
