"""Notifications, follow requests and read markers as a Mastodon app uses them.

Notifications are made the way members make them: following through ``core.social``,
mentioning through ``core.publish``, favouriting through the API.
"""

from __future__ import annotations

from typing import Any

import pytest

from core import publish, social
from core.publish import Draft
from storage import actors, follows
from tests import api, rig
from tests.server.api.test_timelines import World, ids, links, remote_actor, world

__all__ = ["world"]  # the fixture, shared with the timeline tests

NOTIFICATION_FIELDS = {"id", "type", "group_key", "created_at", "account", "status"}


async def _lock(world: World, who: api.Member) -> None:
    async with world.services.pool.acquire() as con:
        await actors.update_local_profile(con, who.actor.id, {"manually_approves_followers": True})


async def _notified(world: World) -> dict[str, Any]:
    """alice is followed by bob, mentioned by carol, then favourited by bob."""
    alice, bob, carol = world.alice, world.bob, world.carol
    await social.follow(world.services, bob.actor, alice.actor)
    mention = await publish.publish_note(world.services, carol.actor, Draft("hi @alice"))
    post = await world.posted(alice, "my post")
    await world.act(bob, post["id"], "favourite")
    return {"mention": mention, "post": post}


async def test_follow_mention_and_favourite_notify(world: World) -> None:
    made = await _notified(world)
    found = await world.get("/api/v1/notifications", world.alice)
    assert found.status_code == 200, found.text
    shown = found.json()
    assert [n["type"] for n in shown] == ["favourite", "mention", "follow"]
    for n in shown:
        assert set(n) >= NOTIFICATION_FIELDS
        assert n["group_key"] == f"ungrouped-{n['id']}"
        assert n["created_at"].endswith("Z")
    favourite, mention, follow = shown
    assert favourite["account"]["username"] == "bob"
    assert favourite["status"]["id"] == made["post"]["id"]
    assert mention["account"]["username"] == "carol"
    assert mention["status"]["id"] == str(made["mention"].id)
    assert follow["status"] is None and follow["account"]["username"] == "bob"
    # Nobody notified bob or carol of anything.
    assert (await world.get("/api/v1/notifications", world.bob)).json() == []

    one = await world.get(f"/api/v1/notifications/{mention['id']}", world.alice)
    assert one.json() == mention
    other = await world.get(f"/api/v1/notifications/{mention['id']}", world.bob)
    assert other.status_code == 404 and other.json() == {"error": "Record not found"}


async def test_notification_filters(world: World) -> None:
    await _notified(world)
    get = world.get

    def types(response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        return [n["type"] for n in response.json()]

    path = "/api/v1/notifications"
    assert types(await get(path, world.alice, **{"types[]": "mention"})) == ["mention"]
    both = await world.client.get(
        path, headers=world.alice.headers, params=[("types[]", "mention"), ("types[]", "follow")]
    )
    assert types(both) == ["mention", "follow"]
    assert types(await get(path, world.alice, **{"exclude_types[]": "favourite"})) == [
        "mention",
        "follow",
    ]
    assert types(await get(path, world.alice, **{"types[]": "no_such_type"})) == []
    from_bob = await get(path, world.alice, account_id=world.bob.id)
    assert types(from_bob) == ["favourite", "follow"]
    bad = await get(path, world.alice, account_id="bob")
    assert bad.status_code == 400 and "account_id" in bad.json()["error"]

    page = await get(path, world.alice, limit=2)
    assert types(page) == ["favourite", "mention"]
    rest = await world.client.get(links(page)["next"], headers=world.alice.headers)
    assert types(rest) == ["follow"]


async def test_dismiss_and_clear(world: World) -> None:
    await _notified(world)
    alice = world.alice
    shown = ids(await world.get("/api/v1/notifications", alice))
    reader = await api.token(world.client, "alice", "alice long password", scopes="read")
    refused = await world.client.post(
        f"/api/v1/notifications/{shown[0]}/dismiss",
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert refused.status_code == 403

    dismissed = await world.client.post(
        f"/api/v1/notifications/{shown[0]}/dismiss", headers=alice.headers
    )
    assert dismissed.status_code == 200 and dismissed.json() == {}
    assert ids(await world.get("/api/v1/notifications", alice)) == shown[1:]
    again = await world.client.post(
        f"/api/v1/notifications/{shown[0]}/dismiss", headers=alice.headers
    )
    assert again.status_code == 404
    gone = await world.get(f"/api/v1/notifications/{shown[0]}", alice)
    assert gone.status_code == 404

    cleared = await world.client.post("/api/v1/notifications/clear", headers=alice.headers)
    assert cleared.status_code == 200 and cleared.json() == {}
    assert ids(await world.get("/api/v1/notifications", alice)) == []


async def test_grouped_notifications_and_unread_count(world: World) -> None:
    made = await _notified(world)
    alice = world.alice
    grouped = await world.get("/api/v2/notifications", alice)
    assert grouped.status_code == 200, grouped.text
    body = grouped.json()
    assert set(body) == {"accounts", "statuses", "notification_groups"}
    groups = body["notification_groups"]
    assert [g["type"] for g in groups] == ["favourite", "mention", "follow"]
    assert all(g["notifications_count"] == 1 for g in groups)
    assert groups[0]["status_id"] == made["post"]["id"] and "status_id" not in groups[2]
    assert {a["username"] for a in body["accounts"]} == {"bob", "carol"}
    assert {s["id"] for s in body["statuses"]} == {made["post"]["id"], str(made["mention"].id)}
    key = groups[1]["group_key"]
    one = await world.get(f"/api/v2/notifications/{key}", alice)
    assert one.json()["notification_groups"] == [groups[1]]
    who = await world.get(f"/api/v2/notifications/{key}/accounts", alice)
    assert [a["username"] for a in who.json()] == ["carol"]

    count = await world.get("/api/v1/notifications/unread_count", alice)
    assert count.json() == {"count": 3}
    newest = groups[0]["most_recent_notification_id"]
    marker = await world.client.post(
        "/api/v1/markers",
        headers=alice.headers,
        data={"notifications[last_read_id]": groups[1]["most_recent_notification_id"]},
    )
    assert marker.status_code == 200, marker.text
    assert (await world.get("/api/v2/notifications/unread_count", alice)).json() == {"count": 1}
    dismissed = await world.client.post(
        f"/api/v2/notifications/ungrouped-{newest}/dismiss", headers=alice.headers
    )
    assert dismissed.status_code == 200
    assert (await world.get("/api/v1/notifications/unread_count", alice)).json() == {"count": 0}
    bad_key = await world.get("/api/v2/notifications/favourite-1-2", alice)
    assert bad_key.status_code == 404


# --- follow requests --------------------------------------------------------------------


async def test_authorize_and_reject_follow_requests(world: World) -> None:
    alice, bob, carol = world.alice, world.bob, world.carol
    await _lock(world, alice)
    for who in (bob, carol):
        asked = await world.client.post(f"/api/v1/accounts/{alice.id}/follow", headers=who.headers)
        assert asked.json()["requested"] is True
    waiting = await world.get("/api/v1/follow_requests", alice)
    assert [a["username"] for a in waiting.json()] == ["carol", "bob"]
    kinds = [n["type"] for n in (await world.get("/api/v1/notifications", alice)).json()]
    assert kinds == ["follow_request", "follow_request"]
    first = await world.get("/api/v1/follow_requests", alice, limit=1)
    assert [a["username"] for a in first.json()] == ["carol"]
    rest = await world.client.get(links(first)["next"], headers=alice.headers)
    assert [a["username"] for a in rest.json()] == ["bob"]

    authorized = await world.client.post(
        f"/api/v1/follow_requests/{bob.id}/authorize", headers=alice.headers
    )
    assert authorized.status_code == 200, authorized.text
    relation = authorized.json()
    assert relation["id"] == bob.id
    assert relation["followed_by"] is True and relation["requested_by"] is False
    async with world.services.pool.acquire() as con:
        row = await follows.get(con, bob.actor.id, alice.actor.id)
    assert row is not None and row.accepted
    seen_by_bob = await world.get("/api/v1/accounts/relationships", bob, **{"id[]": alice.id})
    assert seen_by_bob.json()[0]["following"] is True
    shown = (await world.get("/api/v1/notifications", alice)).json()
    assert [(n["type"], n["account"]["username"]) for n in shown] == [
        ("follow", "bob"),
        ("follow_request", "carol"),
    ]

    rejected = await world.client.post(
        f"/api/v1/follow_requests/{carol.id}/reject", headers=alice.headers
    )
    assert rejected.status_code == 200
    assert rejected.json()["followed_by"] is False and rejected.json()["requested_by"] is False
    async with world.services.pool.acquire() as con:
        assert await follows.get(con, carol.actor.id, alice.actor.id) is None
    assert (await world.get("/api/v1/follow_requests", alice)).json() == []
    assert [n["type"] for n in (await world.get("/api/v1/notifications", alice)).json()] == [
        "follow"
    ]
    # Answered requests, unknown accounts and malformed ids are all "not found".
    for path in (f"{bob.id}/authorize", f"{carol.id}/reject", "123/authorize", "x/reject"):
        missing = await world.client.post(f"/api/v1/follow_requests/{path}", headers=alice.headers)
        assert missing.status_code == 404, path


async def _queued(world: World, kind: str) -> list[tuple[dict[str, Any], str]]:
    async with world.services.pool.acquire() as con:
        rows = await con.fetch(
            """SELECT a.payload, d.inbox_uri FROM activities a
               JOIN deliveries d ON d.activity_id = a.id WHERE a.type = $1 ORDER BY a.id""",
            kind,
        )
    return [(r["payload"], r["inbox_uri"]) for r in rows]


async def test_remote_requests_are_answered_with_their_own_follow(world: World) -> None:
    alice = world.alice
    await _lock(world, alice)
    dave = await remote_actor(world.services, "dave")
    erin = await remote_actor(world.services, "erin")
    async with world.services.pool.acquire() as con:
        for who in (dave, erin):
            await follows.upsert(
                con,
                uri=f"https://remote.example/follows/{who.username}",
                follower_id=who.id,
                followee_id=alice.actor.id,
                accepted=False,
            )
    ok = await world.client.post(
        f"/api/v1/follow_requests/{dave.id}/authorize", headers=alice.headers
    )
    assert ok.status_code == 200 and ok.json()["followed_by"] is True
    no = await world.client.post(f"/api/v1/follow_requests/{erin.id}/reject", headers=alice.headers)
    assert no.status_code == 200 and no.json()["followed_by"] is False

    for kind, who in (("Accept", dave), ("Reject", erin)):
        [(activity, inbox)] = await _queued(world, kind)
        assert inbox == who.inbox_uri
        assert activity["actor"] == alice.actor.uri
        assert activity["object"]["type"] == "Follow"
        assert activity["object"]["id"] == f"https://remote.example/follows/{who.username}"
        assert activity["object"]["actor"] == who.uri
        assert activity["object"]["object"] == alice.actor.uri


# --- markers ----------------------------------------------------------------------------


async def test_markers_round_trip(world: World) -> None:
    alice = world.alice
    wanted = [("timeline[]", "home"), ("timeline[]", "notifications")]
    empty = await world.client.get("/api/v1/markers", headers=alice.headers, params=wanted)
    assert empty.status_code == 200 and empty.json() == {}

    saved = await world.client.post(
        "/api/v1/markers", headers=alice.headers, data={"home[last_read_id]": "1234"}
    )
    assert saved.status_code == 200, saved.text
    home = saved.json()["home"]
    assert home["last_read_id"] == "1234" and home["version"] == 1
    assert home["updated_at"].endswith("Z")

    again = await world.client.post(
        "/api/v1/markers",
        headers=alice.headers,
        json={"home": {"last_read_id": "5678"}, "notifications": {"last_read_id": "42"}},
    )
    assert again.json()["home"]["last_read_id"] == "5678"
    assert again.json()["home"]["version"] == 2
    assert again.json()["notifications"] == {
        "last_read_id": "42",
        "version": 1,
        "updated_at": again.json()["notifications"]["updated_at"],
    }
    both = await world.client.get("/api/v1/markers", headers=alice.headers, params=wanted)
    assert both.json() == again.json()
    only_home = await world.get("/api/v1/markers", alice, **{"timeline[]": "home"})
    assert set(only_home.json()) == {"home"}
    # Markers are each member's own.
    assert (
        await world.client.get("/api/v1/markers", headers=world.bob.headers, params=wanted)
    ).json() == {}

    bad = await world.client.post(
        "/api/v1/markers", headers=alice.headers, data={"home[last_read_id]": "latest"}
    )
    assert bad.status_code == 422 and "last_read_id" in bad.json()["error"]
    assert (await world.get("/api/v1/markers")).status_code == 401


async def _follows_at(instance: rig.Instance, follower_uri: str, followee_uri: str) -> str | None:
    """The state of a follow as ``instance`` stores it, if it does."""
    async with instance.services.pool.acquire() as con:
        follower = await actors.get_by_uri(con, follower_uri)
        followee = await actors.get_by_uri(con, followee_uri)
        if follower is None or followee is None:
            return None
        row = await follows.get(con, follower.id, followee.id)
    return None if row is None else row.state


@pytest.mark.e2e
async def test_a_remote_request_authorized_is_accepted_there(cluster: rig.Cluster) -> None:
    async with (
        rig.running_instance(cluster) as a,
        rig.running_instance(cluster) as b,
        a.client() as client_a,
        b.client() as client_b,
    ):
        alice = await api.member(a.services, client_a, "alice")
        bob = await api.member(b.services, client_b, "bob")
        locked = await client_a.patch(
            "/api/v1/accounts/update_credentials", headers=alice.headers, data={"locked": "true"}
        )
        assert locked.status_code == 200, locked.text
        found = await client_b.get(
            "/api/v2/search",
            headers=bob.headers,
            params={"q": f"alice@{a.domain}", "resolve": "true", "type": "accounts"},
        )
        alice_at_b = found.json()["accounts"][0]["id"]
        asked = await client_b.post(f"/api/v1/accounts/{alice_at_b}/follow", headers=bob.headers)
        assert asked.json()["requested"] is True

        async def requested() -> list[Any]:
            waiting = await client_a.get("/api/v1/follow_requests", headers=alice.headers)
            return list(waiting.json())

        [request] = await rig.wait_for(requested, what="the Follow at A")
        assert request["acct"] == f"bob@{b.domain}"
        answer = await client_a.post(
            f"/api/v1/follow_requests/{request['id']}/authorize", headers=alice.headers
        )
        assert answer.json()["followed_by"] is True

        async def accepted_at_b() -> bool:
            return await _follows_at(b, bob.actor.uri, alice.actor.uri) == "accepted"

        await rig.wait_for(accepted_at_b, what="the Accept at B")
        kinds = await client_a.get("/api/v1/notifications", headers=alice.headers)
        assert [n["type"] for n in kinds.json()] == ["follow"]
