"""The accounts API as a Mastodon app uses it: real tokens from /api/v1/apps and
/oauth/token, every documented field checked, and federation with a second real instance.

Most tests run one app in-process without background workers, so what we federate stays
queued as delivery rows to be read; the e2e tests at the end run two real servers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from core import delivery, publish
from core.publish import Draft
from core.services import Services
from federation import vocab
from storage import actors, follows, statuses
from storage.actors import ActorRow
from tests import api, rig

# --- Mastodon's documented entities -----------------------------------------------------

NoneType = type(None)
ACCOUNT_FIELDS: dict[str, Any] = {
    "id": str,
    "username": str,
    "acct": str,
    "url": str,
    "uri": str,
    "display_name": str,
    "note": str,
    "avatar": str,
    "avatar_static": str,
    "header": str,
    "header_static": str,
    "locked": bool,
    "fields": list,
    "emojis": list,
    "bot": bool,
    "group": bool,
    "discoverable": (bool, NoneType),
    "noindex": (bool, NoneType),
    "indexable": bool,
    "hide_collections": (bool, NoneType),
    "roles": list,
    "created_at": str,
    "last_status_at": (str, NoneType),
    "statuses_count": int,
    "followers_count": int,
    "following_count": int,
}
SOURCE_FIELDS: dict[str, Any] = {
    "note": str,
    "fields": list,
    "privacy": str,
    "sensitive": bool,
    "language": (str, NoneType),
    "follow_requests_count": int,
}
RELATIONSHIP_FIELDS: dict[str, Any] = {
    "id": str,
    "following": bool,
    "showing_reblogs": bool,
    "notifying": bool,
    "languages": (list, NoneType),
    "followed_by": bool,
    "blocking": bool,
    "blocked_by": bool,
    "muting": bool,
    "muting_notifications": bool,
    "requested": bool,
    "requested_by": bool,
    "domain_blocking": bool,
    "endorsed": bool,
    "note": str,
}
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_fields(entity: dict[str, Any], fields: dict[str, Any], what: str) -> None:
    for name, kind in fields.items():
        assert name in entity, f"{what} lacks {name}"
        assert isinstance(entity[name], kind), f"{what}.{name} is {entity[name]!r}"


def assert_account(entity: dict[str, Any]) -> None:
    """Every field Mastodon documents for Account, with its type."""
    assert_fields(entity, ACCOUNT_FIELDS, "Account")
    assert entity["id"].isdigit()
    assert DATETIME.match(entity["created_at"])
    if entity["last_status_at"] is not None:
        assert re.match(r"^\d{4}-\d\d-\d\d$", entity["last_status_at"])
    for field in entity["fields"]:
        assert set(field) >= {"name", "value", "verified_at"}
    assert entity["avatar"].startswith("http") and entity["header"].startswith("http")


def assert_credential_account(entity: dict[str, Any]) -> None:
    assert_account(entity)
    assert_fields(entity["source"], SOURCE_FIELDS, "Source")
    assert set(entity["role"]) >= {"id", "name", "permissions", "color", "highlighted"}


def assert_relationship(entity: dict[str, Any]) -> None:
    assert_fields(entity, RELATIONSHIP_FIELDS, "Relationship")


# --- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    settings = rig.make_settings(database_url, workers=False)
    async with rig.app_client(settings) as (started, client):
        yield started.state.services, client


async def remote_actor(services: Services, name: str, domain: str = "remote.example") -> ActorRow:
    async with services.pool.acquire() as con:
        return await actors.upsert_remote(
            con,
            {
                "uri": f"https://{domain}/users/{name}",
                "type": "Person",
                "username": name,
                "domain": domain,
                "display_name": name.capitalize(),
                "inbox_uri": f"https://{domain}/users/{name}/inbox",
                "shared_inbox_uri": f"https://{domain}/inbox",
                "followers_uri": f"https://{domain}/users/{name}/followers",
            },
        )


async def queued(services: Services, kind: str) -> list[tuple[dict[str, Any], str]]:
    """Activities of ``kind`` we queued, with the inbox each goes to."""
    async with services.pool.acquire() as con:
        rows = await con.fetch(
            """SELECT a.payload, d.inbox_uri FROM activities a
               JOIN deliveries d ON d.activity_id = a.id WHERE a.type = $1 ORDER BY a.id""",
            kind,
        )
    return [(r["payload"], r["inbox_uri"]) for r in rows]


async def follow_row(services: Services, follower: ActorRow, followee: ActorRow) -> Any:
    async with services.pool.acquire() as con:
        return await follows.get(con, follower.id, followee.id)


# --- credentials and profile ----------------------------------------------------------


async def test_verify_credentials_is_a_credential_account(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice", role="admin")
    response = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert response.status_code == 200, response.text
    me = response.json()
    assert_credential_account(me)
    assert me["id"] == alice.id and me["acct"] == "alice" and me["username"] == "alice"
    assert me["url"] == "http://localhost:8000/@alice"
    assert me["source"]["follow_requests_count"] == 0 and me["source"]["privacy"] == "public"
    assert me["role"]["name"] == "Admin"

    anonymous = await client.get("/api/v1/accounts/verify_credentials")
    assert anonymous.status_code == 401 and "error" in anonymous.json()


async def test_update_credentials_with_a_form(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        data={
            "display_name": "Alice A.",
            "note": "Food co-op <b>volunteer</b>. https://coop.example/alice #food",
            "locked": "true",
            "bot": "true",
            "discoverable": "false",
            "fields_attributes[0][name]": "Site",
            "fields_attributes[0][value]": "https://coop.example",
            "fields_attributes[1][name]": "Pronouns",
            "fields_attributes[1][value]": "she/her",
            "fields_attributes[2][name]": "",
            "fields_attributes[2][value]": "",
            "source[privacy]": "unlisted",
            "source[language]": "de",
            "source[sensitive]": "true",
        },
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert_credential_account(me)
    assert me["display_name"] == "Alice A."
    assert me["locked"] is True and me["bot"] is True and me["discoverable"] is False
    assert "&lt;b&gt;volunteer&lt;/b&gt;" in me["note"]
    assert 'href="https://coop.example/alice"' in me["note"]
    assert 'href="http://localhost:8000/tags/food"' in me["note"]
    assert me["source"]["note"] == "Food co-op <b>volunteer</b>. https://coop.example/alice #food"
    assert [f["name"] for f in me["fields"]] == ["Site", "Pronouns"]
    assert 'href="https://coop.example"' in me["fields"][0]["value"]
    assert me["fields"][1]["value"] == "she/her"
    assert me["source"]["fields"][0]["value"] == "https://coop.example"
    assert me["source"]["privacy"] == "unlisted" and me["source"]["language"] == "de"
    assert me["source"]["sensitive"] is True

    # A bot is a Service actor on the wire; the profile page of the API shows the same.
    async with services.pool.acquire() as con:
        row = await actors.get(con, alice.actor.id)
    assert row is not None and row.type == "Service" and row.manually_approves_followers
    public = (await client.get(f"/api/v1/accounts/{alice.id}")).json()
    assert public["display_name"] == "Alice A." and public["bot"] is True and "source" not in public

    preferences = await client.get("/api/v1/preferences", headers=alice.headers)
    assert preferences.json() == {
        "posting:default:visibility": "unlisted",
        "posting:default:sensitive": True,
        "posting:default:language": "de",
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }


async def test_update_credentials_with_json(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        json={
            "display_name": "Alice",
            "bot": False,
            "fields_attributes": [{"name": "Town", "value": "Ghent"}],
            "source": {"privacy": "private"},
        },
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["fields"][0]["name"] == "Town" and me["fields"][0]["value"] == "Ghent"
    assert me["source"]["privacy"] == "private" and me["bot"] is False
    # The object form Rails apps send, keyed by index, replaces the fields.
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        json={
            "fields_attributes": {
                "1": {"name": "B", "value": "2"},
                "0": {"name": "A", "value": "1"},
            }
        },
    )
    assert [f["name"] for f in response.json()["fields"]] == ["A", "B"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"display_name": "x" * 31}, "Display name is too long (maximum is 30 characters)"),
        ({"note": "x" * 501}, "Note is too long (maximum is 500 characters)"),
        (
            {f"fields_attributes[{i}][name]": f"n{i}" for i in range(5)},
            "Fields is too long (maximum is 4 fields)",
        ),
        ({"fields_attributes[0][name]": "n" * 256}, "Field name is too long"),
        ({"fields_attributes[0][value]": "v" * 2049}, "Field value is too long"),
        ({"source[privacy]": "everyone"}, "Privacy must be one of"),
        ({"locked": "perhaps"}, "locked must be true or false"),
    ],
)
async def test_update_credentials_refuses_bad_input(
    app: tuple[Services, Any], data: dict[str, str], reason: str
) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        data={"display_name": "Changed", **data},
    )
    assert response.status_code == 422, response.text
    assert reason in response.json()["error"]
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json()
    assert me["display_name"] == "alice" and me["fields"] == []  # nothing was stored


async def test_update_credentials_tells_remote_followers(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    bob = await remote_actor(services, "bob")
    async with services.pool.acquire() as con:
        await follows.upsert(
            con,
            uri="https://remote.example/f/1",
            follower_id=bob.id,
            followee_id=alice.actor.id,
            accepted=True,
        )
    response = await client.patch(
        "/api/v1/accounts/update_credentials", headers=alice.headers, data={"display_name": "Al"}
    )
    assert response.status_code == 200
    [(update, inbox)] = await queued(services, "Update")
    assert inbox == "https://remote.example/inbox"
    assert update["actor"] == alice.actor.uri and update["object"]["id"] == alice.actor.uri
    assert update["object"]["name"] == "Al"


# --- reading accounts ------------------------------------------------------------------


async def test_account_lookup_and_errors(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    bob = await remote_actor(services, "bob")
    shown = await client.get(f"/api/v1/accounts/{alice.id}")  # public: no token needed
    assert shown.status_code == 200
    assert_account(shown.json())
    for acct in ("alice", "@alice", "alice@localhost:8000", "ALICE"):
        found = await client.get("/api/v1/accounts/lookup", params={"acct": acct})
        assert found.status_code == 200 and found.json()["id"] == alice.id, acct
    remote = await client.get("/api/v1/accounts/lookup", params={"acct": "bob@remote.example"})
    assert remote.json()["id"] == str(bob.id) and remote.json()["acct"] == "bob@remote.example"
    assert_account(remote.json())

    for path in (
        "/api/v1/accounts/12345",
        "/api/v1/accounts/not-a-number",
        "/api/v1/accounts/99999999999999999999999",
        "/api/v1/accounts/9999999999999999999",
        "/api/v1/accounts/12345/statuses",
        "/api/v1/accounts/12345/followers",
        "/api/v1/accounts/12345/featured_tags",
    ):
        missing = await client.get(path)
        assert missing.status_code == 404, path
        assert missing.json() == {"error": "Record not found"}
    assert (
        await client.get("/api/v1/accounts/lookup", params={"acct": "nobody"})
    ).status_code == 404
    assert (await client.get("/api/v1/accounts/lookup")).status_code == 400

    many = await client.get(
        "/api/v1/accounts", params=[("id[]", str(bob.id)), ("id[]", "1"), ("id[]", alice.id)]
    )
    assert [a["id"] for a in many.json()] == [str(bob.id), alice.id]
    assert (await client.get(f"/api/v1/accounts/{alice.id}/featured_tags")).json() == []
    lists = await client.get(f"/api/v1/accounts/{alice.id}/lists", headers=alice.headers)
    assert lists.json() == []


async def test_account_statuses_respect_visibility_and_filters(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    bob = await api.member(services, client, "bob")
    carol = await api.member(services, client, "carol")
    follow = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert follow.json()["following"] is True

    async def post(text: str, visibility: str = "public", **extra: Any) -> str:
        row = await publish.publish_note(
            services, alice.actor, Draft(text=text, visibility=visibility, **extra)
        )
        return str(row.id)

    bobs = await publish.publish_note(services, bob.actor, Draft(text="bob's post"))
    public = await post("hello #food")
    unlisted = await post("quiet", "unlisted")
    private = await post("followers only", "private")
    direct = await post("@bob just you", "direct")
    reply_to_bob = await post("@bob a reply", in_reply_to=bobs)
    own = await publish.publish_note(services, alice.actor, Draft(text="thread 1"))
    thread = await post("thread 2", in_reply_to=own)
    async with services.pool.acquire() as con:
        boost_id = await statuses.next_id(con)
        await statuses.insert(
            con,
            {
                "uri": f"http://localhost:8000/users/alice/statuses/{boost_id}/activity",
                "actor_id": alice.actor.id,
                "local": True,
                "reblog_of_id": bobs.id,
            },
            id=boost_id,
        )
        await con.execute(
            "INSERT INTO pins (actor_id, status_id) VALUES ($1, $2)", alice.actor.id, int(public)
        )
    boost = str(boost_id)
    everyone = [boost, thread, str(own.id), reply_to_bob, unlisted, public]

    async def ids(headers: dict[str, str] | None = None, **query: str) -> list[str]:
        response = await client.get(
            f"/api/v1/accounts/{alice.id}/statuses", headers=headers or {}, params=query
        )
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()]

    assert await ids() == everyone
    assert await ids(carol.headers) == everyone
    assert await ids(bob.headers) == [
        boost,
        thread,
        str(own.id),
        reply_to_bob,
        direct,
        private,
        unlisted,
        public,
    ]
    assert len(await ids(alice.headers)) == 8
    assert await ids(exclude_replies="true") == [boost, thread, str(own.id), unlisted, public]
    assert await ids(exclude_reblogs="true") == everyone[1:]
    assert await ids(tagged="FOOD") == [public]
    assert await ids(pinned="true") == [public]
    assert await ids(only_media="true") == []

    # Paging: two at a time, following the Link header as apps do.
    first = await client.get(f"/api/v1/accounts/{alice.id}/statuses", params={"limit": "2"})
    assert [s["id"] for s in first.json()] == everyone[:2]
    next_url = first.links["next"]["url"]
    second = await client.get(next_url)
    assert [s["id"] for s in second.json()] == everyone[2:4]
    newer = await client.get(first.links["prev"]["url"])
    assert newer.json() == []
    since = await ids(min_id=public, limit="2")
    assert since == [reply_to_bob, unlisted]  # the page just after min_id, newest first

    entity = (
        await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=alice.headers)
    ).json()
    assert entity[0]["reblog"]["id"] == str(bobs.id)
    assert_account(entity[0]["account"])


async def test_followers_and_following_pages(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    fans = [await api.member(services, client, f"fan{i}") for i in range(3)]
    for fan in fans:
        response = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=fan.headers)
        assert response.status_code == 200
    page = await client.get(f"/api/v1/accounts/{alice.id}/followers", params={"limit": "2"})
    assert [a["id"] for a in page.json()] == [fans[2].id, fans[1].id]
    for account in page.json():
        assert_account(account)
    rest = await client.get(page.links["next"]["url"])
    assert [a["id"] for a in rest.json()] == [fans[0].id]
    following = await client.get(f"/api/v1/accounts/{fans[0].id}/following")
    assert [a["id"] for a in following.json()] == [alice.id]
    assert following.json()[0]["followers_count"] == 3


# --- follows, relationships -------------------------------------------------------------


async def test_follow_options_relationships_and_unfollow(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    bob = await api.member(services, client, "bob")
    response = await client.post(
        f"/api/v1/accounts/{bob.id}/follow",
        headers=alice.headers,
        json={"reblogs": False, "notify": True},
    )
    assert response.status_code == 200
    relation = response.json()
    assert_relationship(relation)
    assert relation["id"] == bob.id and relation["following"] is True
    assert relation["showing_reblogs"] is False and relation["notifying"] is True
    row = await follow_row(services, alice.actor, bob.actor)
    assert row.show_reblogs is False and row.notify is True

    # Following again changes the options of the same follow.
    again = await client.post(
        f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers, data={"reblogs": "true"}
    )
    assert again.json()["showing_reblogs"] is True and again.json()["notifying"] is False

    seen = await client.get(
        "/api/v1/accounts/relationships",
        headers=bob.headers,
        params=[("id[]", alice.id), ("id[]", "nope"), ("id[]", "424242"), ("id[]", bob.id)],
    )
    assert [r["id"] for r in seen.json()] == [alice.id, bob.id]
    assert seen.json()[0]["followed_by"] is True and seen.json()[0]["following"] is False
    single = await client.get(
        "/api/v1/accounts/relationships", headers=bob.headers, params={"id": alice.id}
    )
    assert [r["id"] for r in single.json()] == [alice.id]

    gone = await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=alice.headers)
    assert gone.json()["following"] is False
    assert await follow_row(services, alice.actor, bob.actor) is None


async def test_following_a_locked_account_is_a_request(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    bob = await api.member(services, client, "bob")
    await client.patch(
        "/api/v1/accounts/update_credentials", headers=alice.headers, data={"locked": "true"}
    )
    response = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert response.json()["requested"] is True and response.json()["following"] is False
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json()
    assert me["source"]["follow_requests_count"] == 1
    seen = await client.get(
        "/api/v1/accounts/relationships", headers=alice.headers, params={"id[]": bob.id}
    )
    assert seen.json()[0]["requested_by"] is True


async def test_follow_checks_scope_and_target(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    reader = await api.member(services, client, "reader", scopes="read")
    refused = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=reader.headers)
    assert refused.status_code == 403
    assert refused.json() == {"error": "This action is outside the authorized scopes"}
    assert await follow_row(services, reader.actor, alice.actor) is None
    assert (await client.post(f"/api/v1/accounts/{alice.id}/follow")).status_code == 401
    unknown = await client.post("/api/v1/accounts/31337/follow", headers=alice.headers)
    assert unknown.status_code == 404 and unknown.json() == {"error": "Record not found"}
    # A read-only token still reads.
    read = await client.get("/api/v1/accounts/verify_credentials", headers=reader.headers)
    assert read.status_code == 200


async def test_familiar_followers(app: tuple[Services, Any]) -> None:
    services, client = app
    alice, carol, dave, erin = [
        await api.member(services, client, n) for n in ("alice", "carol", "dave", "erin")
    ]
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{dave.id}/follow", headers=carol.headers)
    await client.post(f"/api/v1/accounts/{dave.id}/follow", headers=erin.headers)
    response = await client.get(
        "/api/v1/accounts/familiar_followers",
        headers=alice.headers,
        params=[("id[]", dave.id), ("id[]", erin.id)],
    )
    found = response.json()
    assert [f["id"] for f in found] == [dave.id, erin.id]
    assert [a["id"] for a in found[0]["accounts"]] == [carol.id]
    assert found[1]["accounts"] == []


# --- blocks and mutes ------------------------------------------------------------------


async def test_block_ends_follows_and_hides(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    bob = await api.member(services, client, "bob")
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await publish.publish_note(services, alice.actor, Draft(text="visible to bob until now"))

    blocked = await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    assert blocked.status_code == 200
    relation = blocked.json()
    assert_relationship(relation)
    assert relation["blocking"] is True
    assert relation["following"] is False and relation["followed_by"] is False
    assert await follow_row(services, alice.actor, bob.actor) is None
    assert await follow_row(services, bob.actor, alice.actor) is None

    seen = await client.get(
        "/api/v1/accounts/relationships", headers=bob.headers, params={"id[]": alice.id}
    )
    assert seen.json()[0]["blocked_by"] is True
    refused = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert refused.status_code == 403 and refused.json() == {"error": "This action is not allowed"}
    hidden = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=bob.headers)
    assert hidden.json() == []
    search = await client.get("/api/v1/accounts/search", headers=bob.headers, params={"q": "ali"})
    assert search.json() == []

    listed = await client.get("/api/v1/blocks", headers=alice.headers)
    assert [a["id"] for a in listed.json()] == [bob.id]
    assert 'rel="next"' in listed.headers["link"]
    assert (await client.get("/api/v1/blocks", headers=bob.headers)).json() == []

    unblocked = await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers)
    assert unblocked.json()["blocking"] is False
    assert (await client.get("/api/v1/blocks", headers=alice.headers)).json() == []
    # Nothing went out: both are ours.
    assert await queued(services, "Block") == []


async def test_blocking_a_remote_account_federates(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    bob = await remote_actor(services, "bob")
    async with services.pool.acquire() as con:
        await follows.upsert(
            con,
            uri="https://remote.example/f/1",
            follower_id=bob.id,
            followee_id=alice.actor.id,
            accepted=True,
        )
    response = await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    assert response.json()["blocking"] is True
    [(reject, reject_inbox)] = await queued(services, "Reject")
    assert reject["object"]["id"] == "https://remote.example/f/1"
    [(block, inbox)] = await queued(services, "Block")
    assert inbox == bob.inbox_uri == reject_inbox
    assert block["actor"] == alice.actor.uri and block["object"] == bob.uri

    await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers)
    [(undo, _)] = await queued(services, "Undo")
    assert undo["object"]["type"] == "Block" and undo["object"]["id"] == block["id"]


async def test_mute_and_unmute(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    bob = await api.member(services, client, "bob")
    carol = await api.member(services, client, "carol")
    muted = await client.post(
        f"/api/v1/accounts/{bob.id}/mute", headers=alice.headers, data={"notifications": "false"}
    )
    assert muted.json()["muting"] is True and muted.json()["muting_notifications"] is False
    timed = await client.post(
        f"/api/v1/accounts/{carol.id}/mute", headers=alice.headers, json={"duration": 3600}
    )
    assert timed.json()["muting"] is True and timed.json()["muting_notifications"] is True
    async with services.pool.acquire() as con:
        expires = await con.fetchval(
            "SELECT expires_at FROM mutes WHERE target_id = $1", carol.actor.id
        )
    assert 3500 < (expires - datetime.now(UTC)).total_seconds() <= 3600

    listed = await client.get("/api/v1/mutes", headers=alice.headers)
    assert [a["id"] for a in listed.json()] == [carol.id, bob.id]
    # An expired mute is no mute.
    async with services.pool.acquire() as con:
        await con.execute(
            "UPDATE mutes SET expires_at = now() - interval '1 minute' WHERE target_id = $1",
            carol.actor.id,
        )
    listed = await client.get("/api/v1/mutes", headers=alice.headers)
    assert [a["id"] for a in listed.json()] == [bob.id]

    unmuted = await client.post(f"/api/v1/accounts/{bob.id}/unmute", headers=alice.headers)
    assert unmuted.json()["muting"] is False
    assert (await client.get("/api/v1/mutes", headers=alice.headers)).json() == []
    bad = await client.post(
        f"/api/v1/accounts/{bob.id}/mute", headers=alice.headers, data={"duration": "soon"}
    )
    assert bad.status_code == 400


# --- search ----------------------------------------------------------------------------


async def test_search_known_accounts(app: tuple[Services, Any]) -> None:
    services, client = app
    alice = await api.member(services, client, "alice")
    alicia = await api.member(services, client, "alicia")
    await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alicia.headers,
        data={"display_name": "Garden Team"},
    )
    remote = await remote_actor(services, "alina")

    async def search(**query: str) -> list[str]:
        response = await client.get("/api/v1/accounts/search", headers=alice.headers, params=query)
        assert response.status_code == 200, response.text
        for account in response.json():
            assert_account(account)
        return [a["acct"] for a in response.json()]

    assert await search(q="ali") == ["alice", "alicia", "alina@remote.example"]
    assert await search(q="alice") == ["alice"]
    assert await search(q="garden") == ["alicia"]
    assert await search(q="team") == ["alicia"]
    assert await search(q="@alina@remote") == ["alina@remote.example"]
    assert await search(q="ali@localhost:8000") == ["alice", "alicia"]
    assert await search(q="ali", limit="1", offset="1") == ["alicia"]
    assert await search(q="a_%") == []
    assert await search(q="  ") == []
    await client.post(f"/api/v1/accounts/{remote.id}/follow", headers=alice.headers)
    # Pending (a remote account answers later) is not following yet.
    assert await search(q="ali", following="true") == []
    assert (await client.get("/api/v1/accounts/search", headers=alice.headers)).status_code == 400
    assert (await client.get("/api/v1/accounts/search", params={"q": "ali"})).status_code == 401


# --- two real instances -----------------------------------------------------------------


async def _accepted(instance: rig.Instance, follower: ActorRow, followee_uri: str) -> bool:
    async with instance.services.pool.acquire() as con:
        followee = await actors.get_by_uri(con, followee_uri)
        row = await follows.get(con, follower.id, followee.id) if followee else None
    return row is not None and row.accepted


@pytest.mark.e2e
async def test_follow_search_update_and_block_across_instances(cluster: rig.Cluster) -> None:
    async with (
        rig.running_instance(cluster) as a,
        rig.running_instance(cluster) as b,
        a.client() as client_a,
        b.client() as client_b,
    ):
        alice = await api.member(a.services, client_a, "alice")
        bob = await api.member(b.services, client_b, "bob")
        await client_b.patch(
            "/api/v1/accounts/update_credentials",
            headers=bob.headers,
            data={"locked": "true"},
        )

        # alice finds bob by WebFinger and asks to follow him.
        found = await client_a.get(
            "/api/v1/accounts/search",
            headers=alice.headers,
            params={"q": f"bob@{b.domain}", "resolve": "true"},
        )
        assert [x["acct"] for x in found.json()] == [f"bob@{b.domain}"]
        bob_id = found.json()[0]["id"]
        assert found.json()[0]["locked"] is True
        lookup = await client_a.get("/api/v1/accounts/lookup", params={"acct": f"bob@{b.domain}"})
        assert lookup.json()["id"] == bob_id
        asked = await client_a.post(f"/api/v1/accounts/{bob_id}/follow", headers=alice.headers)
        assert asked.json()["requested"] is True and asked.json()["following"] is False

        # bob's instance got the Follow as a request; bob accepts it there.
        async def request_arrived() -> bool:
            async with b.services.pool.acquire() as con:
                alice_at_b = await actors.get_by_uri(con, alice.actor.uri)
                row = await follows.get(con, alice_at_b.id, bob.actor.id) if alice_at_b else None
            return row is not None and not row.accepted

        await rig.wait_for(request_arrived, what="the Follow at B")
        me = await client_b.get("/api/v1/accounts/verify_credentials", headers=bob.headers)
        assert me.json()["source"]["follow_requests_count"] == 1
        await _accept_at(b, bob.actor, alice.actor.uri)
        await rig.wait_for(
            lambda: _relationship_is(client_a, alice, bob_id, "following"),
            what="following after the Accept",
        )

        # bob follows alice back, from his own instance; she is not locked.
        found_at_b = await client_b.get(
            "/api/v1/accounts/search",
            headers=bob.headers,
            params={"q": f"@alice@{a.domain}", "resolve": "true"},
        )
        alice_id_at_b = found_at_b.json()[0]["id"]
        await client_b.post(f"/api/v1/accounts/{alice_id_at_b}/follow", headers=bob.headers)
        await rig.wait_for(
            lambda: _relationship_is(client_b, bob, alice_id_at_b, "following"),
            what="bob following alice",
        )
        familiar = await client_a.get(
            "/api/v1/accounts/relationships", headers=alice.headers, params={"id[]": bob_id}
        )
        assert familiar.json()[0]["followed_by"] is True

        # alice renames herself: B refetches her profile on the Update.
        await client_a.patch(
            "/api/v1/accounts/update_credentials",
            headers=alice.headers,
            data={"display_name": "Alice of A"},
        )

        async def renamed_at_b() -> bool:
            shown = await client_b.get(f"/api/v1/accounts/{alice_id_at_b}")
            return bool(shown.json()["display_name"] == "Alice of A")

        await rig.wait_for(renamed_at_b, what="the Update at B")

        # alice blocks bob: the follows both ways end at B too.
        blocked = await client_a.post(f"/api/v1/accounts/{bob_id}/block", headers=alice.headers)
        relation = blocked.json()
        assert relation["blocking"] is True
        assert relation["following"] is False and relation["followed_by"] is False

        async def follows_gone_at_b() -> bool:
            shown = await client_b.get(
                "/api/v1/accounts/relationships",
                headers=bob.headers,
                params={"id[]": alice_id_at_b},
            )
            seen = shown.json()[0]
            return not seen["following"] and not seen["followed_by"]

        await rig.wait_for(follows_gone_at_b, what="the Undo(Follow) and Reject at B")


async def _accept_at(instance: rig.Instance, followee: ActorRow, follower_uri: str) -> None:
    """Accept a pending request as the follow-requests API will (not ours to route)."""
    async with instance.services.pool.acquire() as con, con.transaction():
        follower = await actors.get_by_uri(con, follower_uri)
        assert follower is not None
        row = await follows.get(con, follower.id, followee.id)
        assert row is not None
        await follows.accept(con, row.id)
        activity_id = await statuses.next_id(con)
        accept = vocab.build_accept(
            followee.uri,
            vocab.build_follow(follower.uri, followee.uri, id=row.uri),
            id=instance.services.urls.activity(followee.username, activity_id, "accept"),
        )
        await delivery.enqueue_activity(
            con,
            actor_id=followee.id,
            activity=accept,
            inboxes=[follower.inbox_uri],
            activity_id=activity_id,
        )


async def _relationship_is(
    client: httpx.AsyncClient, who: api.Member, target_id: str, flag: str
) -> bool:
    response = await client.get(
        "/api/v1/accounts/relationships", headers=who.headers, params={"id[]": target_id}
    )
    return bool(response.json() and response.json()[0][flag])
