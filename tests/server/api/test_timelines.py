"""Timelines as a Mastodon app reads them: home (with Mastodon's visibility rules), public,
hashtag and list timelines, bookmarks and favourites, and paging through each by
following the Link header, with real tokens."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from core import oauth, passwords, social
from core.services import Services
from server.api import auth
from storage import actors, statuses
from storage.actors import ActorRow
from tests import api, rig

LINK = re.compile(r'<([^>]+)>; rel="(next|prev)"')


@dataclass
class World:
    services: Services
    client: httpx.AsyncClient
    alice: api.Member
    bob: api.Member
    carol: api.Member

    async def posted(self, who: api.Member, text: str, **data: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/statuses", headers=who.headers, data={"status": text, **data}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def act(self, who: api.Member, status_id: str, action: str, **data: Any) -> Any:
        response = await self.client.post(
            f"/api/v1/statuses/{status_id}/{action}", headers=who.headers, data=data
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def get(self, path: str, who: api.Member | None = None, **params: Any) -> httpx.Response:
        return await self.client.get(path, headers=who.headers if who else {}, params=params)

    async def follow(self, follower: api.Member, followee: api.Member) -> None:
        await social.follow(self.services, follower.actor, followee.actor)


@pytest.fixture
async def world(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    # Members log in for real; argon2 at its real cost would dominate the run.
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    settings = rig.make_settings(database_url, workers=False)
    async with rig.app_client(settings) as (app, client):
        services: Services = app.state.services
        members = [await api.member(services, client, n) for n in ("alice", "bob", "carol")]
        yield World(services, client, *members)


def links(response: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("link", ""))}


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()]


async def remote_actor(services: Services, name: str, domain: str = "remote.example") -> ActorRow:
    async with services.pool.acquire() as con:
        return await actors.upsert_remote(
            con,
            {
                "uri": f"https://{domain}/users/{name}",
                "type": "Person",
                "username": name,
                "domain": domain,
                "inbox_uri": f"https://{domain}/users/{name}/inbox",
            },
        )


async def remote_status(
    services: Services, author: ActorRow, n: int, **values: Any
) -> statuses.StatusRow:
    async with services.pool.acquire() as con:
        row = await statuses.insert(
            con,
            {
                "uri": f"{author.uri}/statuses/{n}",
                "url": f"https://{author.domain}/@{author.username}/{n}",
                "actor_id": author.id,
                "local": False,
                "content": f"<p>remote {n}</p>",
                **values,
            },
            id_at=datetime.now(UTC),  # said now: newer than what was posted before
        )
        assert row is not None
        if tags := values.get("data", {}).get("tags"):
            await statuses.replace_tags(con, row.id, tags)
        return row


# --- home -------------------------------------------------------------------------------


async def test_home_shows_own_and_followed_posts_and_boosts(world: World) -> None:
    alice, bob, carol = world.alice, world.bob, world.carol
    await world.follow(alice, bob)
    mine = await world.posted(alice, "my own")
    mine_direct = await world.posted(alice, "note to self", visibility="direct")
    public = await world.posted(bob, "bob public")
    unlisted = await world.posted(bob, "bob unlisted", visibility="unlisted")
    private = await world.posted(bob, "bob followers only", visibility="private")
    to_alice = await world.posted(bob, "@alice psst", visibility="direct")
    to_carol = await world.posted(bob, "@carol psst", visibility="direct")
    carols = await world.posted(carol, "carol public")
    await world.posted(carol, "carol private", visibility="private")
    boost = await world.act(bob, carols["id"], "reblog")
    reply_to_stranger = await world.posted(bob, "reply", in_reply_to_id=carols["id"])
    reply_to_alice = await world.posted(bob, "@alice reply", in_reply_to_id=mine["id"])

    home = await world.get("/api/v1/timelines/home", alice)
    expected = [reply_to_alice, boost, to_alice, private, unlisted, public, mine_direct, mine]
    assert ids(home) == [s["id"] for s in expected]
    shown = home.json()
    assert shown[1]["reblog"]["id"] == carols["id"]
    assert shown[1]["account"]["username"] == "bob"
    assert shown[1]["reblog"]["account"]["username"] == "carol"
    assert {s["visibility"] for s in shown} == {"public", "unlisted", "private", "direct"}
    assert to_carol["id"] not in ids(home) and reply_to_stranger["id"] not in ids(home)

    # carol follows nobody: her own posts only, never bob's private or direct ones.
    assert ids(await world.get("/api/v1/timelines/home", carol)) == [
        s["id"] for s in await _own(world, carol)
    ]


async def _own(world: World, who: api.Member) -> list[dict[str, Any]]:
    found = await world.get(f"/api/v1/accounts/{who.id}/statuses", who)
    return [s for s in found.json()]


async def test_home_leaves_out_hidden_boosts_and_muted_accounts(world: World) -> None:
    alice, bob, carol = world.alice, world.bob, world.carol
    follow = await world.client.post(
        f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers, data={"reblogs": "false"}
    )
    assert follow.status_code == 200, follow.text
    await world.follow(alice, carol)
    carols = await world.posted(carol, "carol")
    boost = await world.act(bob, carols["id"], "reblog")
    bobs = await world.posted(bob, "bob")
    assert ids(await world.get("/api/v1/timelines/home", alice)) == [bobs["id"], carols["id"]]
    assert boost["id"] not in ids(await world.get("/api/v1/timelines/home", alice))

    muted = await world.client.post(f"/api/v1/accounts/{carol.id}/mute", headers=alice.headers)
    assert muted.status_code == 200, muted.text
    assert ids(await world.get("/api/v1/timelines/home", alice)) == [bobs["id"]]


async def test_home_pages_by_max_id_min_id_and_since_id(world: World) -> None:
    alice, bob = world.alice, world.bob
    await world.follow(alice, bob)
    posted = []
    for n in range(7):
        posted.append(await world.posted(alice if n % 2 else bob, f"post {n}"))
    newest_first = [s["id"] for s in reversed(posted)]

    # Following the next links walks the whole timeline, newest first, once each.
    seen: list[str] = []
    response = await world.get("/api/v1/timelines/home", alice, limit=3)
    pages = 0
    while response.json():
        pages += 1
        seen += ids(response)
        next_url = links(response)["next"]
        assert "max_id=" in next_url and "limit=3" in next_url
        # At our public address, whatever Host the request came with.
        assert next_url.startswith(f"{world.services.settings.base_url}/api/v1/timelines/home?")
        response = await world.client.get(next_url, headers=alice.headers)
    assert seen == newest_first and pages == 3
    assert "link" not in response.headers  # an empty page has no links

    middle = newest_first[3]
    older = await world.get("/api/v1/timelines/home", alice, max_id=middle, limit=2)
    assert ids(older) == newest_first[4:6]
    # min_id: the page just newer than it; since_id: the newest ones newer than it.
    assert (
        ids(await world.get("/api/v1/timelines/home", alice, min_id=middle, limit=2))
        == (newest_first[1:3])
    )
    assert (
        ids(await world.get("/api/v1/timelines/home", alice, since_id=middle, limit=2))
        == (newest_first[0:2])
    )
    prev = links(older)["prev"]
    assert f"min_id={newest_first[4]}" in prev
    assert ids(await world.client.get(prev, headers=alice.headers)) == newest_first[2:4]


async def test_home_checks_token_scope_and_params(world: World) -> None:
    assert (await world.get("/api/v1/timelines/home")).status_code == 401
    writer = await api.token(world.client, "alice", "alice long password", scopes="write")
    refused = await world.client.get(
        "/api/v1/timelines/home", headers={"Authorization": f"Bearer {writer}"}
    )
    assert refused.status_code == 403 and "error" in refused.json()
    bad = await world.get("/api/v1/timelines/home", world.alice, max_id="abc")
    assert bad.status_code == 400 and "max_id" in bad.json()["error"]
    bad = await world.get("/api/v1/timelines/home", world.alice, limit="lots")
    assert bad.status_code == 400 and "limit" in bad.json()["error"]
    for n in range(3):
        await world.posted(world.alice, f"p{n}")
    # Mastodon caps limit at 40; 0 still gives at least one.
    assert len(ids(await world.get("/api/v1/timelines/home", world.alice, limit=500))) == 3
    assert len(ids(await world.get("/api/v1/timelines/home", world.alice, limit=0))) >= 1


async def test_home_confirms_a_cached_token_owner_by_its_own_statement(world: World) -> None:
    """The home page reuses the owner of a token in use and checks it in the page's own
    statement: every change to the token, the member or their actor is still seen on
    the very next request, with a page (bob's) and without one (carol's)."""
    alice, bob, carol = world.alice, world.bob, world.carol
    await world.posted(alice, "alice's post")
    await world.posted(bob, "bob's post")
    home = "/api/v1/timelines/home"
    for who in (alice, bob, carol):
        assert (await world.get(home, who)).status_code == 200  # the owner is cached now
    cached = world.services.token_owners
    assert len(cached) == 3

    async def sql(statement: str, *args: object) -> None:
        async with world.services.pool.acquire() as con:
            await con.execute(statement, *args)

    # A changed actor: answered, from the current row (the cached owner was replaced).
    await sql("UPDATE actors SET display_name = 'Alice Renamed' WHERE id = $1", alice.actor.id)
    assert ids(await world.get(home, alice)) != []
    assert {o.actor.display_name for o in cached.values() if o.actor} >= {"Alice Renamed"}
    # A revoked token, on a page and on an empty one: 401, as from a token never cached.
    await sql("UPDATE oauth_tokens SET revoked_at = now() WHERE user_id IN "
              "(SELECT id FROM users WHERE actor_id = any($1::bigint[]))",
              [alice.actor.id, carol.actor.id])  # fmt: skip
    for who in (alice, carol):
        revoked = await world.get(home, who)
        assert revoked.status_code == 401 and revoked.json() == {"error": auth.INVALID_TOKEN}
    # A disabled member: 403.
    await sql("UPDATE users SET disabled_at = now() WHERE actor_id = $1", bob.actor.id)
    disabled = await world.get(home, bob)
    assert disabled.status_code == 403 and disabled.json() == {"error": oauth.DISABLED}


# --- public and hashtag timelines -------------------------------------------------------


async def test_public_timelines_local_remote_and_media(world: World) -> None:
    services = world.services
    dave = await remote_actor(services, "dave")
    local_post = await world.posted(world.bob, "hello public")
    await world.posted(world.bob, "quiet", visibility="unlisted")
    await world.posted(world.bob, "friends", visibility="private")
    remote = await remote_status(services, dave, 1)
    media = await remote_status(
        services,
        dave,
        2,
        data={"attachments": [{"type": "Image", "url": "https://remote.example/a.png"}]},
    )
    await remote_status(services, dave, 3, visibility="unlisted")
    await world.act(world.alice, local_post["id"], "reblog")  # boosts are not shown

    everything = await world.get("/api/v1/timelines/public")  # no token needed
    assert ids(everything) == [str(media.id), str(remote.id), local_post["id"]]
    assert everything.json()[0]["account"]["acct"] == "dave@remote.example"
    assert ids(await world.get("/api/v1/timelines/public", local="true")) == [local_post["id"]]
    assert ids(await world.get("/api/v1/timelines/public", remote="true")) == [
        str(media.id),
        str(remote.id),
    ]
    assert ids(await world.get("/api/v1/timelines/public", only_media="true")) == [str(media.id)]
    signed_in = await world.get("/api/v1/timelines/public", world.carol, limit=1)
    assert ids(signed_in) == [str(media.id)] and "next" in links(signed_in)

    bad = await world.get("/api/v1/timelines/public", local="perhaps")
    assert bad.status_code == 422 and "local" in bad.json()["error"]


async def test_hashtag_timeline_any_all_none(world: World) -> None:
    garden = await world.posted(world.alice, "seedlings #Garden")
    both = await world.posted(world.bob, "tomatoes #garden #food")
    food = await world.posted(world.carol, "soup #food")
    await world.posted(world.carol, "secret #garden", visibility="private")
    dave = await remote_actor(world.services, "dave")
    remote = await remote_status(world.services, dave, 1, data={"tags": ["garden"]})

    path = "/api/v1/timelines/tag/garden"
    assert ids(await world.get(path)) == [remote_id := str(remote.id), both["id"], garden["id"]]
    assert ids(await world.get("/api/v1/timelines/tag/GARDEN", local="true")) == [
        both["id"],
        garden["id"],
    ]
    assert ids(await world.get(path, remote="true")) == [remote_id]
    assert ids(await world.get(path, **{"any[]": "food"})) == [
        remote_id,
        food["id"],
        both["id"],
        garden["id"],
    ]
    assert ids(await world.get(path, **{"all[]": "food"})) == [both["id"]]
    assert ids(await world.get(path, **{"none[]": "food"})) == [remote_id, garden["id"]]
    tagged = (await world.get(path, limit=1)).json()[0]
    assert tagged["tags"] == [{"name": "garden", "url": "http://localhost:8000/tags/garden"}]
    assert ids(await world.get("/api/v1/timelines/tag/nothing")) == []
    bad = await world.get("/api/v1/timelines/tag/no-such-thing")
    assert bad.status_code == 422 and "hashtag" in bad.json()["error"]


async def test_list_timeline_is_not_found(world: World) -> None:
    found = await world.get("/api/v1/timelines/list/1", world.alice)
    assert found.status_code == 404 and found.json() == {"error": "Record not found"}
    assert (await world.get("/api/v1/timelines/list/1")).status_code == 401


# --- bookmarks and favourites -----------------------------------------------------------


async def test_bookmarks_and_favourites_page_by_when_they_were_made(world: World) -> None:
    alice = world.alice
    first = await world.posted(world.bob, "first")
    second = await world.posted(world.bob, "second")
    third = await world.posted(world.carol, "third")
    # Marked in another order than posted: the lists follow the marking.
    for status in (second, first, third):
        await world.act(alice, status["id"], "bookmark")
    for status in (third, first):
        await world.act(alice, status["id"], "favourite")

    marks = await world.get("/api/v1/bookmarks", alice, limit=2)
    assert ids(marks) == [third["id"], first["id"]]
    assert all(s["bookmarked"] for s in marks.json())
    rest = await world.client.get(links(marks)["next"], headers=alice.headers)
    assert ids(rest) == [second["id"]]
    favourites = await world.get("/api/v1/favourites", alice)
    assert ids(favourites) == [first["id"], third["id"]]
    assert all(s["favourited"] for s in favourites.json())
    assert ids(await world.get("/api/v1/favourites", world.bob)) == []
    assert (await world.get("/api/v1/bookmarks")).status_code == 401


# --- rendered once per version ----------------------------------------------------------


async def test_pages_equal_the_statuses_read_one_by_one_through_changes(world: World) -> None:
    """Pages reuse the entities rendered for earlier pages (``server.api.rendered``): each
    status on a page must equal ``GET /api/v1/statuses/:id``, cold, warm and after every
    kind of change: counts, the viewer's flags, an edit, a profile, an author's counters."""
    alice, bob, carol = world.alice, world.bob, world.carol
    await world.follow(alice, bob)
    await world.follow(alice, carol)
    first = await world.posted(bob, "hello @carol, see you at the #coop")
    await world.posted(carol, "on my way", in_reply_to_id=first["id"])
    mine = await world.posted(alice, "my own")
    await world.act(carol, first["id"], "reblog")
    await world.act(alice, mine["id"], "pin")

    async def page() -> list[dict[str, Any]]:
        response = await world.get("/api/v1/timelines/home", alice)
        assert response.status_code == 200, response.text
        entities: list[dict[str, Any]] = response.json()
        for entity in entities:
            alone = await world.get(f"/api/v1/statuses/{entity['id']}", alice)
            assert entity == alone.json()
        return entities

    cold = await page()
    assert len(cold) == 4 and await page() == cold
    await world.act(alice, first["id"], "favourite")
    await world.act(alice, first["id"], "bookmark")
    edited = await world.client.put(
        f"/api/v1/statuses/{first['id']}", headers=bob.headers, data={"status": "edited"}
    )
    assert edited.status_code == 200, edited.text
    renamed = await world.client.patch(
        "/api/v1/accounts/update_credentials", headers=bob.headers, data={"display_name": "Bob B"}
    )
    assert renamed.status_code == 200, renamed.text
    await world.posted(bob, "one more")
    after = {s["id"]: s for s in await page()}
    changed = after[first["id"]]
    assert changed["favourited"] and changed["bookmarked"] and changed["favourites_count"] == 1
    assert "edited" in changed["content"] and changed["edited_at"] is not None
    assert changed["account"]["display_name"] == "Bob B"
    assert changed["account"]["statuses_count"] == 2
    boosts = [s for s in after.values() if s["reblog"] is not None]
    assert [b["reblog"]["content"] for b in boosts] == [changed["content"]]


async def test_finished_statuses_are_not_shared_between_viewers(world: World) -> None:
    """A finished status is kept by what it was made from, the viewer's flags included:
    one viewer's favourite, bookmark or own pin never shows on another's page."""
    alice, bob, carol = world.alice, world.bob, world.carol
    await world.follow(alice, bob)
    await world.follow(carol, bob)
    post = await world.posted(bob, "for everyone")
    other = await world.posted(bob, "not pinned")
    await world.act(bob, post["id"], "pin")
    await world.act(alice, post["id"], "favourite")
    await world.act(alice, post["id"], "bookmark")
    await world.act(alice, post["id"], "reblog")

    async def seen(path: str, viewer: api.Member | None, wanted: str = post["id"]) -> Any:
        response = await world.get(path, viewer)
        assert response.status_code == 200, response.text
        [status] = [s for s in response.json() if s["id"] == wanted]
        return status

    expected = {
        "alice": (True, True, True),
        "carol": (False, False, False),
        "bob": (False, False, False),
    }
    for _ in range(2):  # the second time, from what the first pages left
        for viewer in (alice, carol, bob):
            for path in ("/api/v1/timelines/home", "/api/v1/timelines/public"):
                status = await seen(path, viewer)
                flags = (status["favourited"], status["bookmarked"], status["reblogged"])
                name = viewer.actor.username
                assert flags == expected[name], (name, path)
                assert status.get("pinned") is (True if viewer is bob else None)
                unpinned = await seen(path, viewer, other["id"])
                assert unpinned.get("pinned") is (False if viewer is bob else None)
        anonymous = await seen("/api/v1/timelines/public", None)
        assert "pinned" not in anonymous and anonymous["favourited"] is False
