"""Inbound activities applied by ``core.apply``: what each one leaves in the database.

Every test gets a fresh database and an app without background workers, so the replies
we send (an Accept…) stay queued as delivery rows to be read. The remote senders live
on a ``FakePeer`` on loopback, which also serves whatever has to be fetched (a Note
given only by URL, an actor that changed its name, the origin of a group's Announce).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core import accounts, social
from core.apply import Outcome, RetryLater, apply_activity
from core.services import Services
from federation import vocab
from federation.vocab import PUBLIC
from storage import actors, follows, statuses
from storage.actors import ActorRow
from storage.follows import FollowRow
from storage.statuses import StatusRow
from tests import rig
from tests.core.test_remote import FakePeer

_ids = itertools.count(1)


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    settings = rig.make_settings(database_url, workers=False)
    async with rig.app_client(settings) as (app, _):
        yield app.state.services


async def remote_actor(services: Services, peer: FakePeer, name: str, **extra: Any) -> ActorRow:
    """A remote actor we already know (a row), also served by the peer for refetches."""
    doc = peer.actor(name, None, **extra)
    async with services.pool.acquire() as con:
        return await actors.upsert_remote(
            con,
            {
                "uri": doc["id"],
                "type": doc["type"],
                "username": name,
                "domain": peer.domain,
                "display_name": doc["name"],
                "inbox_uri": doc["inbox"],
                "shared_inbox_uri": peer.url("/inbox"),
                "followers_uri": doc["followers"],
            },
        )


@pytest.fixture
async def alice(services: Services, peer: FakePeer) -> ActorRow:
    return await remote_actor(services, peer, "alice")


@pytest.fixture
async def bob(services: Services, peer: FakePeer) -> ActorRow:
    return await remote_actor(services, peer, "bob")


async def member(services: Services, name: str, *, locked: bool = False) -> ActorRow:
    _, actor = await accounts.create_user(
        services.pool, services.urls, username=name, password="correct horse"
    )
    if locked:
        async with services.pool.acquire() as con:
            actor = await actors.update_local_profile(
                con, actor.id, {"manually_approves_followers": True}
            )
    return actor


@pytest.fixture
async def lena(services: Services) -> ActorRow:
    return await member(services, "lena")


# --- building what peers send -----------------------------------------------------------


def act(type: str, actor: ActorRow, obj: Any, **extra: Any) -> dict[str, Any]:
    """An activity as a peer sends it, with a fresh id on the actor's server."""
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.uri}/activities/{next(_ids)}",
        "type": type,
        "actor": actor.uri,
        "object": obj,
        **extra,
    }


def note(author: ActorRow, content: str = "<p>Hello</p>", **extra: Any) -> dict[str, Any]:
    """A public Note by ``author`` with a fresh id on the author's server."""
    return {
        "id": f"{author.uri}/statuses/{next(_ids)}",
        "type": "Note",
        "attributedTo": author.uri,
        "content": content,
        "published": "2024-05-01T12:00:00Z",
        "to": [PUBLIC],
        "cc": [author.followers_uri],
        **extra,
    }


def create(author: ActorRow, obj: Any) -> dict[str, Any]:
    return act("Create", author, obj, to=[PUBLIC])


async def apply(services: Services, doc: dict[str, Any], sender: ActorRow) -> Outcome:
    return await apply_activity(services, vocab.parse_activity(doc), sender=sender)


# --- reading what happened ---------------------------------------------------------------


async def status(services: Services, uri: str) -> StatusRow | None:
    async with services.pool.acquire() as con:
        return await statuses.get_by_uri(con, uri)


async def stored(services: Services, uri: str) -> StatusRow:
    found = await status(services, uri)
    assert found is not None, f"{uri} was not stored"
    return found


async def follow_row(
    services: Services, follower: ActorRow, followee: ActorRow
) -> FollowRow | None:
    async with services.pool.acquire() as con:
        return await follows.get(con, follower.id, followee.id)


async def sent(services: Services, type: str) -> list[tuple[str, dict[str, Any]]]:
    """(inbox, payload) of every queued delivery of our activities of ``type``."""
    async with services.pool.acquire() as con:
        rows = await con.fetch(
            """SELECT d.inbox_uri, a.payload FROM deliveries d
               JOIN activities a ON a.id = d.activity_id WHERE a.type = $1 ORDER BY d.id""",
            type,
        )
    return [(r["inbox_uri"], r["payload"]) for r in rows]


async def count(services: Services, sql: str, *args: Any) -> int:
    async with services.pool.acquire() as con:
        return int(await con.fetchval(sql, *args))


async def local_status(
    services: Services, author: ActorRow, visibility: str = "public"
) -> StatusRow:
    """A post of a local member, stored as core.publish would."""
    async with services.pool.acquire() as con:
        status_id = await statuses.next_id(con)
        row = await statuses.insert(
            con,
            {
                "uri": services.urls.status(author.username, status_id),
                "actor_id": author.id,
                "local": True,
                "visibility": visibility,
                "content": "<p>Soup on Friday</p>",
            },
            id=status_id,
        )
    assert row is not None
    return row


async def notified(services: Services, member: ActorRow) -> list[tuple[str, int, int | None]]:
    """(type, from actor id, status id) of a member's notifications, oldest first."""
    async with services.pool.acquire() as con:
        rows = await con.fetch(
            """SELECT type, from_actor_id, status_id FROM notifications
               WHERE recipient_id = $1 ORDER BY id""",
            member.id,
        )
    return [(r["type"], r["from_actor_id"], r["status_id"]) for r in rows]


async def favourites(services: Services, row: StatusRow) -> int:
    async with services.pool.acquire() as con:
        return await follows.count_favourites(con, row.id)


# --- Follow ------------------------------------------------------------------------------


async def test_a_follow_of_a_member_is_accepted_and_answered(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    follow = act("Follow", alice, lena.uri)
    assert await apply(services, follow, alice) is Outcome.DONE

    row = await follow_row(services, alice, lena)
    assert row is not None and row.accepted and row.uri == follow["id"]
    [(inbox, accept)] = await sent(services, "Accept")
    assert inbox == alice.inbox_uri  # her own inbox: some servers take follows only there
    assert accept["actor"] == lena.uri and accept["id"].startswith(lena.uri)
    assert accept["object"] == {k: v for k, v in follow.items() if k != "@context"}
    assert await notified(services, lena) == [("follow", alice.id, None)]


async def test_a_follow_of_a_locked_member_waits_for_approval(
    services: Services, alice: ActorRow
) -> None:
    mara = await member(services, "mara", locked=True)
    assert await apply(services, act("Follow", alice, mara.uri), alice) is Outcome.DONE
    row = await follow_row(services, alice, mara)
    assert row is not None and row.state == "pending"
    assert await sent(services, "Accept") == []
    assert await notified(services, mara) == [("follow_request", alice.id, None)]


async def test_a_follow_of_an_unknown_or_remote_actor_is_ignored(
    services: Services, alice: ActorRow, bob: ActorRow
) -> None:
    nobody = services.urls.actor("nobody")
    assert await apply(services, act("Follow", alice, nobody), alice) is Outcome.IGNORED
    assert await apply(services, act("Follow", alice, bob.uri), alice) is Outcome.IGNORED
    assert await count(services, "SELECT count(*) FROM follows") == 0
    assert await sent(services, "Accept") == []


async def test_a_replayed_follow_keeps_one_row(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    follow = act("Follow", alice, lena.uri)
    await apply(services, follow, alice)
    await apply(services, follow, alice)
    again = act("Follow", alice, lena.uri)  # a new Follow of the same member
    assert await apply(services, again, alice) is Outcome.DONE
    assert await count(services, "SELECT count(*) FROM follows") == 1
    row = await follow_row(services, alice, lena)
    assert row is not None and row.accepted and row.uri == again["id"]
    assert await notified(services, lena) == [("follow", alice.id, None)]


# --- Undo(Follow) ------------------------------------------------------------------------


async def test_undo_follow_by_id_and_by_embedded_object(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    follow = act("Follow", alice, lena.uri)
    await apply(services, follow, alice)
    assert await apply(services, act("Undo", alice, follow["id"]), alice) is Outcome.DONE
    assert await follow_row(services, alice, lena) is None

    await apply(services, follow, alice)
    embedded = {k: v for k, v in follow.items() if k != "@context"}
    assert await apply(services, act("Undo", alice, embedded), alice) is Outcome.DONE
    assert await follow_row(services, alice, lena) is None

    # An embedded Follow whose id we never saw still ends the follow it describes.
    await apply(services, follow, alice)
    other_id = {**embedded, "id": f"{alice.uri}#follows/other"}
    assert await apply(services, act("Undo", alice, other_id), alice) is Outcome.DONE
    assert await follow_row(services, alice, lena) is None


async def test_undo_of_someone_elses_follow_is_ignored(
    services: Services, alice: ActorRow, bob: ActorRow, lena: ActorRow
) -> None:
    follow = act("Follow", alice, lena.uri)
    await apply(services, follow, alice)
    embedded = {k: v for k, v in follow.items() if k != "@context"}
    assert await apply(services, act("Undo", bob, follow["id"]), bob) is Outcome.IGNORED
    assert await apply(services, act("Undo", bob, embedded), bob) is Outcome.IGNORED
    row = await follow_row(services, alice, lena)
    assert row is not None and row.accepted


# --- Accept / Reject of our follows ------------------------------------------------------


async def test_accept_of_our_follow_by_id(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    ours = await social.follow(services, lena, alice)
    assert not ours.accepted
    assert await apply(services, act("Accept", alice, ours.uri), alice) is Outcome.DONE
    row = await follow_row(services, lena, alice)
    assert row is not None and row.accepted and row.accepted_at is not None


@pytest.mark.parametrize("follow_id", ["ours", "unknown"])
async def test_accept_embedding_our_follow_with_its_actor_as_an_object(
    services: Services, alice: ActorRow, lena: ActorRow, follow_id: str
) -> None:
    ours = await social.follow(services, lena, alice)
    # Fedify embeds the Follow, with its actor as an object rather than a URL.
    embedded = {
        "id": ours.uri if follow_id == "ours" else f"{alice.uri}#seen-as/1",
        "type": "Follow",
        "actor": {"id": lena.uri, "type": "Person", "inbox": lena.inbox_uri},
        "object": alice.uri,
    }
    assert await apply(services, act("Accept", alice, embedded), alice) is Outcome.DONE
    row = await follow_row(services, lena, alice)
    assert row is not None and row.accepted


async def test_accept_from_the_wrong_actor_is_ignored(
    services: Services, alice: ActorRow, bob: ActorRow, lena: ActorRow
) -> None:
    ours = await social.follow(services, lena, alice)
    embedded = {"id": ours.uri, "type": "Follow", "actor": lena.uri, "object": alice.uri}
    assert await apply(services, act("Accept", bob, ours.uri), bob) is Outcome.IGNORED
    assert await apply(services, act("Accept", bob, embedded), bob) is Outcome.IGNORED
    row = await follow_row(services, lena, alice)
    assert row is not None and row.state == "pending"


async def test_a_follower_cannot_accept_its_own_request(
    services: Services, alice: ActorRow
) -> None:
    mara = await member(services, "mara", locked=True)
    follow = act("Follow", alice, mara.uri)
    await apply(services, follow, alice)
    embedded = {k: v for k, v in follow.items() if k != "@context"}
    assert await apply(services, act("Accept", alice, follow["id"]), alice) is Outcome.IGNORED
    assert await apply(services, act("Accept", alice, embedded), alice) is Outcome.IGNORED
    row = await follow_row(services, alice, mara)
    assert row is not None and row.state == "pending"


async def test_reject_of_our_follow_removes_it(
    services: Services, alice: ActorRow, bob: ActorRow, lena: ActorRow
) -> None:
    ours = await social.follow(services, lena, alice)
    assert await apply(services, act("Reject", bob, ours.uri), bob) is Outcome.IGNORED
    assert await follow_row(services, lena, alice) is not None
    embedded = {"id": ours.uri, "type": "Follow", "actor": {"id": lena.uri}, "object": alice.uri}
    assert await apply(services, act("Reject", alice, embedded), alice) is Outcome.DONE
    assert await follow_row(services, lena, alice) is None


# --- Create ------------------------------------------------------------------------------


async def test_create_note_stores_sanitised_content_tags_and_mentions(
    services: Services, alice: ActorRow, bob: ActorRow, lena: ActorRow
) -> None:
    obj = note(
        alice,
        '<p>Hi <script>alert("pwned")</script><a href="javascript:x">there</a> #Coop</p>',
        tag=[
            {"type": "Mention", "href": lena.uri, "name": "@lena"},
            {"type": "Mention", "href": bob.uri, "name": "@bob"},
            {"type": "Hashtag", "name": "#Coop"},
            {"type": "Hashtag", "name": "#coop"},
            {"type": "Hashtag", "name": "#Housing"},
        ],
        summary="soup",
    )
    assert await apply(services, create(alice, obj), alice) is Outcome.DONE

    row = await stored(services, obj["id"])
    assert (row.actor_id, row.local, row.kind, row.visibility) == (
        alice.id,
        False,
        "note",
        "public",
    )
    assert "Hi" in row.content and "there" in row.content
    assert "script" not in row.content and "pwned" not in row.content
    assert "javascript" not in row.content
    assert row.spoiler_text == "soup"
    assert row.published_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    async with services.pool.acquire() as con:
        assert await statuses.mentioned_actor_ids(con, row.id) == [lena.id]  # local only
        assert await statuses.tags_of(con, row.id) == ["coop", "housing"]
    assert await notified(services, lena) == [("mention", alice.id, row.id)]


@pytest.mark.parametrize(
    ("to", "cc", "visibility"),
    [
        ([PUBLIC], ["followers"], "public"),
        (["followers"], ["as:Public"], "unlisted"),
        (["followers"], [], "private"),
        (["lena"], [], "direct"),
    ],
)
async def test_visibility_comes_from_addressing(
    services: Services,
    alice: ActorRow,
    lena: ActorRow,
    to: list[str],
    cc: list[str],
    visibility: str,
) -> None:
    names = {"followers": alice.followers_uri, "lena": lena.uri}
    obj = note(alice, to=[names.get(a, a) for a in to], cc=[names.get(a, a) for a in cc])
    await apply(services, create(alice, obj), alice)
    assert (await stored(services, obj["id"])).visibility == visibility


async def test_a_reply_is_linked_to_its_parent_whichever_arrives_first(
    services: Services, alice: ActorRow, bob: ActorRow
) -> None:
    parent = note(alice, "<p>Who has a ladder?</p>")
    early = note(bob, "<p>I do</p>", inReplyTo=parent["id"])
    await apply(services, create(bob, early), bob)
    orphan = await stored(services, early["id"])
    assert orphan.in_reply_to_id is None and orphan.in_reply_to_uri == parent["id"]

    await apply(services, create(alice, parent), alice)
    parent_row = await stored(services, parent["id"])
    assert (await stored(services, early["id"])).in_reply_to_id == parent_row.id

    late = note(alice, "<p>Thanks!</p>", inReplyTo=early["id"])
    await apply(services, create(alice, late), alice)
    assert (await stored(services, late["id"])).in_reply_to_id == orphan.id


async def test_ids_sort_by_published_time_not_arrival(services: Services, alice: ActorRow) -> None:
    newer = note(alice, published="2024-03-01T00:00:00Z")
    older = note(alice, published="2021-03-01T00:00:00+02:00")
    future = note(alice, published="2999-01-01T00:00:00Z")
    for obj in (newer, older, future):
        await apply(services, create(alice, obj), alice)
    newer_row, older_row = await stored(services, newer["id"]), await stored(services, older["id"])
    assert older_row.id < newer_row.id
    assert older_row.published_at == datetime(2021, 2, 28, 22, tzinfo=UTC)
    # A date in the future is taken as now: it cannot pin itself atop every timeline.
    future_row = await stored(services, future["id"])
    assert future_row.published_at <= datetime.now(UTC)
    assert future_row.id > newer_row.id


async def test_create_of_what_the_sender_did_not_write_is_ignored(
    services: Services, alice: ActorRow, bob: ActorRow
) -> None:
    bobs = note(bob)
    assert await apply(services, create(alice, bobs), alice) is Outcome.IGNORED
    assert await status(services, bobs["id"]) is None

    # No attributedTo, and an id on a server that is not the sender's: not hers to post.
    elsewhere = {**note(alice), "id": "http://127.0.0.1:9/statuses/1"}
    del elsewhere["attributedTo"]
    assert await apply(services, create(alice, elsewhere), alice) is Outcome.IGNORED
    claimed = {**note(alice), "id": "http://127.0.0.1:9/statuses/2"}  # attributed, still not
    assert await apply(services, create(alice, claimed), alice) is Outcome.IGNORED
    assert await count(services, "SELECT count(*) FROM statuses") == 0


@pytest.mark.parametrize("kind", ["Proposal", "Intent", "Tombstone", "Person"])
async def test_create_of_a_type_we_do_not_show_is_ignored(
    services: Services, alice: ActorRow, kind: str
) -> None:
    obj = note(alice, type=kind, inbox=f"{alice.uri}/inbox")
    assert await apply(services, create(alice, obj), alice) is Outcome.IGNORED
    assert await count(services, "SELECT count(*) FROM statuses") == 0


async def test_a_replayed_create_keeps_one_row(services: Services, alice: ActorRow) -> None:
    obj = note(alice, tag=[{"type": "Hashtag", "name": "#soup"}])
    activity = create(alice, obj)
    assert await apply(services, activity, alice) is Outcome.DONE
    first = await stored(services, obj["id"])
    assert await apply(services, activity, alice) is Outcome.DONE
    assert await apply(services, create(alice, obj), alice) is Outcome.DONE  # re-sent
    assert await stored(services, obj["id"]) == first
    assert await count(services, "SELECT count(*) FROM statuses") == 1
    async with services.pool.acquire() as con:
        assert await statuses.tags_of(con, first.id) == ["soup"]


async def test_create_given_as_a_url_is_fetched(
    services: Services, peer: FakePeer, alice: ActorRow
) -> None:
    obj = note(alice, "<p>fetched</p>")
    path = obj["id"].removeprefix(peer.base)
    peer.documents[path] = (200, obj)
    assert await apply(services, create(alice, obj["id"]), alice) is Outcome.DONE
    assert (await stored(services, obj["id"])).content == "<p>fetched</p>"
    assert peer.hits[path] == 1

    # A server that is down is tried again later; one that says "gone" is not.
    peer.documents["/down"] = (503, {})
    with pytest.raises(RetryLater):
        await apply(services, create(alice, peer.url("/down")), alice)
    peer.documents["/gone"] = (410, {})
    assert await apply(services, create(alice, peer.url("/gone")), alice) is Outcome.IGNORED


# --- Delete ------------------------------------------------------------------------------


async def tombstoned(services: Services, uri: str) -> bool:
    async with services.pool.acquire() as con:
        return await statuses.get_tombstone(con, uri) is not None


async def test_a_delete_before_its_create_keeps_the_post_away(
    services: Services, alice: ActorRow
) -> None:
    obj = note(alice)
    tombstone = {"id": obj["id"], "type": "Tombstone"}
    assert await apply(services, act("Delete", alice, tombstone), alice) is Outcome.DONE
    assert await tombstoned(services, obj["id"])
    assert await apply(services, create(alice, obj), alice) is Outcome.IGNORED
    assert await status(services, obj["id"]) is None


async def test_delete_by_the_author_removes_the_post(
    services: Services, alice: ActorRow, bob: ActorRow
) -> None:
    obj = note(alice)
    await apply(services, create(alice, obj), alice)
    assert await apply(services, act("Delete", bob, obj["id"]), bob) is Outcome.IGNORED
    assert await status(services, obj["id"]) is not None
    assert not await tombstoned(services, obj["id"])

    assert await apply(services, act("Delete", alice, obj["id"]), alice) is Outcome.DONE
    assert await status(services, obj["id"]) is None
    assert await tombstoned(services, obj["id"])
    assert await apply(services, create(alice, obj), alice) is Outcome.IGNORED  # a replay
    assert await status(services, obj["id"]) is None


async def test_a_delete_cannot_tombstone_another_servers_post(
    services: Services, alice: ActorRow
) -> None:
    elsewhere = "http://127.0.0.1:9/statuses/1"
    assert await apply(services, act("Delete", alice, elsewhere), alice) is Outcome.IGNORED
    assert not await tombstoned(services, elsewhere)


async def test_deleting_the_actor_removes_its_posts_and_follows(
    services: Services, alice: ActorRow, bob: ActorRow, lena: ActorRow
) -> None:
    await apply(services, act("Follow", alice, lena.uri), alice)
    await social.follow(services, lena, alice)
    posts = [note(alice), note(alice)]
    for obj in posts:
        await apply(services, create(alice, obj), alice)
    bobs = note(bob)
    await apply(services, create(bob, bobs), bob)
    await apply(services, act("Announce", alice, bobs["id"]), alice)

    assert await apply(services, act("Delete", alice, alice.uri), alice) is Outcome.DONE

    async with services.pool.acquire() as con:
        gone = await actors.get(con, alice.id)
        assert gone is not None and gone.deleted_at is not None
        assert await statuses.count_by_actor(con, alice.id) == 0
    assert await count(services, "SELECT count(*) FROM statuses WHERE actor_id = $1", alice.id) == 0
    assert await count(services, "SELECT count(*) FROM follows") == 0
    assert await status(services, bobs["id"]) is not None  # other people's posts stay


async def test_deleting_the_actor_removes_its_favourites(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    post = await local_status(services, lena)
    await apply(services, act("Like", alice, post.uri), alice)
    await apply(services, act("Delete", alice, alice.uri), alice)
    assert await favourites(services, post) == 0  # a gone account's like still counts


# --- Update ------------------------------------------------------------------------------


async def test_update_of_a_note_by_its_author_edits_it(
    services: Services, alice: ActorRow, bob: ActorRow
) -> None:
    obj = note(alice, "<p>Soup on Friday</p>", tag=[{"type": "Hashtag", "name": "#soup"}])
    await apply(services, create(alice, obj), alice)

    forged = {**obj, "content": "<p>Bob was here</p>"}
    assert await apply(services, act("Update", bob, forged), bob) is Outcome.IGNORED
    unchanged = await stored(services, obj["id"])
    assert unchanged.content == "<p>Soup on Friday</p>" and unchanged.edited_at is None

    edited = {
        **obj,
        "content": "<p>Soup on Saturday<script>x()</script></p>",
        "tag": [{"type": "Hashtag", "name": "#Saturday"}],
    }
    assert await apply(services, act("Update", alice, edited), alice) is Outcome.DONE
    row = await stored(services, obj["id"])
    assert row.content == "<p>Soup on Saturday</p>" and row.edited_at is not None
    async with services.pool.acquire() as con:
        assert await statuses.tags_of(con, row.id) == ["saturday"]


async def test_update_of_an_unknown_note_is_ignored(services: Services, alice: ActorRow) -> None:
    obj = note(alice)
    assert await apply(services, act("Update", alice, obj), alice) is Outcome.IGNORED
    assert await status(services, obj["id"]) is None


async def test_update_of_the_senders_actor_refetches_it(
    services: Services, peer: FakePeer, alice: ActorRow
) -> None:
    changed = peer.actor("alice", None, name="Alice Liddell", summary="<p>Wonderland</p>")
    embedded = {k: v for k, v in changed.items() if k != "@context"}
    assert await apply(services, act("Update", alice, embedded), alice) is Outcome.DONE
    assert peer.hits["/users/alice"] == 1
    async with services.pool.acquire() as con:
        row = await actors.get(con, alice.id)
    assert row is not None and row.display_name == "Alice Liddell"
    assert row.summary == "<p>Wonderland</p>"


# --- Announce ----------------------------------------------------------------------------


async def test_announce_of_a_known_status_is_a_boost_once(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    post = await local_status(services, lena)
    boost = act("Announce", alice, post.uri, to=[PUBLIC], published="2024-05-02T00:00:00Z")
    assert await apply(services, boost, alice) is Outcome.DONE
    row = await stored(services, boost["id"])
    assert (row.actor_id, row.reblog_of_id, row.visibility) == (alice.id, post.id, "public")
    assert row.content == ""
    assert await notified(services, lena) == [("reblog", alice.id, post.id)]

    again = act("Announce", alice, post.uri, to=[PUBLIC])
    assert await apply(services, boost, alice) is Outcome.IGNORED
    assert await apply(services, again, alice) is Outcome.IGNORED
    assert (
        await count(services, "SELECT count(*) FROM statuses WHERE reblog_of_id IS NOT NULL") == 1
    )

    undo = act("Undo", alice, {k: v for k, v in boost.items() if k != "@context"})
    assert await apply(services, undo, alice) is Outcome.DONE
    assert await status(services, boost["id"]) is None
    assert await status(services, post.uri) is not None


async def test_undo_announce_by_id_and_not_by_someone_else(
    services: Services, alice: ActorRow, bob: ActorRow, lena: ActorRow
) -> None:
    post = await local_status(services, lena)
    boost = act("Announce", alice, post.uri, to=[PUBLIC])
    await apply(services, boost, alice)
    assert await apply(services, act("Undo", bob, boost["id"]), bob) is Outcome.IGNORED
    assert await status(services, boost["id"]) is not None
    assert await apply(services, act("Undo", alice, boost["id"]), alice) is Outcome.DONE
    assert await status(services, boost["id"]) is None


async def test_announce_of_a_followers_only_post_is_ignored(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    # Mastodon refuses these too: a boost would show the post to the booster's followers.
    for visibility in ("private", "direct"):
        post = await local_status(services, lena, visibility)
        boost = act("Announce", alice, post.uri, to=[PUBLIC])
        assert await apply(services, boost, alice) is Outcome.IGNORED
        assert await status(services, boost["id"]) is None
    # Boosting one's own followers-only post reaches the same followers: allowed.
    own = note(alice, to=[alice.followers_uri], cc=[])
    await apply(services, create(alice, own), alice)
    self_boost = act("Announce", alice, own["id"], to=[alice.followers_uri])
    assert await apply(services, self_boost, alice) is Outcome.DONE
    assert (await stored(services, self_boost["id"])).visibility == "private"


async def test_a_boost_dated_in_the_future_sorts_as_now(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    post = await local_status(services, lena)
    boost = act("Announce", alice, post.uri, to=[PUBLIC], published="2999-01-01T00:00:00Z")
    assert await apply(services, boost, alice) is Outcome.DONE
    async with services.pool.acquire() as con:
        now_id = await statuses.next_id(con)
    assert (await stored(services, boost["id"])).id < now_id  # not pinned atop timelines


async def test_announce_of_an_unknown_post_fetches_it_from_its_origin(
    services: Services, peer: FakePeer, alice: ActorRow
) -> None:
    carol = peer.actor("carol", None)
    obj = {**note(alice), "id": peer.url("/notes/carol-1"), "attributedTo": carol["id"]}
    peer.documents["/notes/carol-1"] = (200, obj)
    boost = act("Announce", alice, obj["id"], to=[PUBLIC])
    assert await apply(services, boost, alice) is Outcome.DONE
    original = await stored(services, obj["id"])
    async with services.pool.acquire() as con:
        author = await actors.get(con, original.actor_id)
    assert author is not None and author.uri == carol["id"]
    assert (await stored(services, boost["id"])).reblog_of_id == original.id


async def test_a_group_announcing_a_create_stores_the_note_from_its_origin(
    services: Services, peer: FakePeer
) -> None:
    group = await remote_actor(services, peer, "garden", type="Group")
    carol = peer.actor("carol", None)
    original = {
        **note(group, "<p>Seedlings to share</p>"),
        "id": peer.url("/notes/seedlings"),
        "attributedTo": carol["id"],
        "audience": group.uri,
    }
    peer.documents["/notes/seedlings"] = (200, original)
    # The embedded copy is not trusted: what is stored is what the origin serves.
    forged = {**original, "content": "<p>forged</p>"}
    wrapped = {
        "id": peer.url("/creates/1"),
        "type": "Create",
        "actor": carol["id"],
        "object": forged,
    }
    announce = act("Announce", group, wrapped, to=[PUBLIC], audience=group.uri)

    assert await apply(services, announce, group) is Outcome.DONE
    row = await stored(services, original["id"])
    assert row.content == "<p>Seedlings to share</p>" and row.reblog_of_id is None
    assert row.audience == group.uri
    assert await status(services, announce["id"]) is None  # not a boost by the group
    assert peer.hits["/notes/seedlings"] == 1 and peer.hits["/users/carol"] == 1

    liked = {"id": peer.url("/likes/1"), "type": "Like", "actor": carol["id"], "object": row.uri}
    assert await apply(services, act("Announce", group, liked), group) is Outcome.IGNORED


# --- Like --------------------------------------------------------------------------------


async def test_like_of_a_local_status_is_a_favourite_once(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    post = await local_status(services, lena)
    like = act("Like", alice, post.uri)
    assert await apply(services, like, alice) is Outcome.DONE
    assert await favourites(services, post) == 1
    assert await notified(services, lena) == [("favourite", alice.id, post.id)]
    assert await apply(services, like, alice) is Outcome.IGNORED
    assert await apply(services, act("Like", alice, post.uri), alice) is Outcome.IGNORED
    assert await favourites(services, post) == 1
    assert len(await notified(services, lena)) == 1

    assert await apply(services, act("Undo", alice, like["id"]), alice) is Outcome.DONE
    assert await favourites(services, post) == 0


async def test_undo_like_embedded_and_not_by_someone_else(
    services: Services, alice: ActorRow, bob: ActorRow, lena: ActorRow
) -> None:
    post = await local_status(services, lena)
    like = act("Like", alice, post.uri)
    await apply(services, like, alice)
    assert await apply(services, act("Undo", bob, like["id"]), bob) is Outcome.IGNORED
    assert await favourites(services, post) == 1
    # Embedded with an id we never stored: the liked status says which favourite it was.
    embedded = {
        "id": f"{alice.uri}#likes/x",
        "type": "Like",
        "actor": alice.uri,
        "object": post.uri,
    }
    assert await apply(services, act("Undo", alice, embedded), alice) is Outcome.DONE
    assert await favourites(services, post) == 0


async def test_like_of_an_unknown_status_is_ignored(services: Services, alice: ActorRow) -> None:
    unknown = services.urls.status("lena", 1)
    assert await apply(services, act("Like", alice, unknown), alice) is Outcome.IGNORED
    assert await count(services, "SELECT count(*) FROM favourites") == 0


# --- what is not for us ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Flag", "Move", "Block", "Foo"])
async def test_unknown_activity_types_are_ignored(
    services: Services, alice: ActorRow, lena: ActorRow, kind: str
) -> None:
    post = await local_status(services, lena)
    assert await apply(services, act(kind, alice, post.uri), alice) is Outcome.IGNORED
    assert await count(services, "SELECT count(*) FROM statuses") == 1


async def test_an_activity_by_someone_other_than_its_sender_is_ignored(
    services: Services, alice: ActorRow, bob: ActorRow, lena: ActorRow
) -> None:
    follow = act("Follow", alice, lena.uri)
    assert await apply(services, follow, bob) is Outcome.IGNORED
    obj = note(alice)
    assert await apply(services, create(alice, obj), bob) is Outcome.IGNORED
    assert await count(services, "SELECT count(*) FROM follows") == 0
    assert await status(services, obj["id"]) is None


# --- Block -------------------------------------------------------------------------------


async def test_block_ends_follows_both_ways_and_undo_lifts_it(
    services: Services, alice: ActorRow, lena: ActorRow
) -> None:
    from storage import relations

    follow = act("Follow", alice, lena.uri)
    assert await apply(services, follow, alice) is Outcome.DONE
    block = act("Block", alice, lena.uri)
    assert await apply(services, block, alice) is Outcome.DONE
    async with services.pool.acquire() as con:
        assert await follows.get(con, alice.id, lena.id) is None
        assert await relations.get_block(con, alice.id, lena.id) is not None
    undo = act("Undo", alice, {k: v for k, v in block.items() if k != "@context"})
    assert await apply(services, undo, alice) is Outcome.DONE
    async with services.pool.acquire() as con:
        assert await relations.get_block(con, alice.id, lena.id) is None
