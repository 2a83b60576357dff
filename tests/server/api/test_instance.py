"""The instance endpoints apps read before anyone logs in: public, and shaped as Mastodon
documents them (Mastodon.py parses `version` and `api_versions`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core import publish
from core.publish import Draft
from core.services import Services
from storage import domains
from tests import api, rig
from tests.server.api.test_accounts import assert_account

NoneType = type(None)
V1_FIELDS: dict[str, Any] = {
    "uri": str,
    "title": str,
    "short_description": str,
    "description": str,
    "email": str,
    "version": str,
    "urls": dict,
    "stats": dict,
    "thumbnail": (str, NoneType),
    "languages": list,
    "registrations": bool,
    "approval_required": bool,
    "invites_enabled": bool,
    "configuration": dict,
    "contact_account": (dict, NoneType),
    "rules": list,
}
V2_FIELDS: dict[str, Any] = {
    "domain": str,
    "title": str,
    "version": str,
    "source_url": str,
    "description": str,
    "usage": dict,
    "thumbnail": dict,
    "languages": list,
    "configuration": dict,
    "registrations": dict,
    "api_versions": dict,
    "contact": dict,
    "rules": list,
}
STATUSES_CONFIG = {"max_characters": 5000, "max_media_attachments": 4}
MEDIA_FIELDS = (
    "supported_mime_types",
    "image_size_limit",
    "image_matrix_limit",
    "video_size_limit",
    "video_frame_rate_limit",
    "video_matrix_limit",
)
POLL_FIELDS = ("max_options", "max_characters_per_option", "min_expiration", "max_expiration")


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    settings = rig.make_settings(database_url, workers=False, collective_name="Bread Co-op")
    async with rig.app_client(settings) as (started, client):
        yield started.state.services, client


def assert_fields(entity: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, kind in fields.items():
        assert name in entity, f"missing {name}"
        assert isinstance(entity[name], kind), f"{name} is {entity[name]!r}"


def mastodon_version(text: str) -> tuple[int, int, int]:
    """What Mastodon.py reads from `version`: the leading x.y.z."""
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", text)
    assert match, text
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


async def test_v1_instance(app: tuple[Services, httpx.AsyncClient]) -> None:
    services, client = app
    await api.member(services, client, "ada", role="admin")
    await api.member(services, client, "bea")
    response = await client.get("/api/v1/instance")  # no token
    assert response.status_code == 200
    instance = response.json()
    assert_fields(instance, V1_FIELDS)
    assert instance["uri"] == "localhost:8000" and instance["title"] == "Bread Co-op"
    assert mastodon_version(instance["version"]) >= (4, 0, 0)
    assert "Shoal" in instance["version"]
    assert instance["urls"] == {"streaming_api": "ws://localhost:8000"}
    assert instance["stats"] == {"user_count": 2, "status_count": 0, "domain_count": 0}
    assert instance["email"] == "ada@example.org"
    assert instance["registrations"] is False
    config = instance["configuration"]
    assert config["statuses"]["max_characters"] == 5000
    assert config["statuses"]["max_media_attachments"] == 4
    assert config["statuses"]["characters_reserved_per_url"] == 23
    assert all(name in config["media_attachments"] for name in MEDIA_FIELDS)
    assert all(name in config["polls"] for name in POLL_FIELDS)
    assert "max_featured_tags" in config["accounts"]
    assert_account(instance["contact_account"])
    assert instance["contact_account"]["username"] == "ada"
    # Mastodon.py asks with a trailing slash; it gets the same document, not a redirect.
    slashed = await client.get("/api/v1/instance/")
    assert slashed.status_code == 200 and slashed.json()["uri"] == "localhost:8000"


async def test_v1_instance_without_admin(app: tuple[Services, httpx.AsyncClient]) -> None:
    _, client = app
    instance = (await client.get("/api/v1/instance")).json()
    assert instance["contact_account"] is None and instance["email"] == ""
    assert instance["stats"]["user_count"] == 0


async def test_v2_instance(app: tuple[Services, httpx.AsyncClient]) -> None:
    services, client = app
    ada = await api.member(services, client, "ada", role="admin")
    await publish.publish_note(services, ada.actor, Draft(text="first post"))
    response = await client.get("/api/v2/instance/")
    assert response.status_code == 200
    instance = response.json()
    assert_fields(instance, V2_FIELDS)
    assert instance["domain"] == "localhost:8000" and instance["title"] == "Bread Co-op"
    assert mastodon_version(instance["version"]) >= (4, 3, 0)
    assert instance["api_versions"] == {"mastodon": 2}
    assert instance["usage"] == {"users": {"active_month": 1}}
    assert instance["thumbnail"]["url"].startswith("http://localhost:8000/")
    config = instance["configuration"]
    assert config["urls"]["streaming"] == "ws://localhost:8000"
    assert isinstance(config["vapid"]["public_key"], str) and config["vapid"]["public_key"]
    assert config["statuses"].items() >= STATUSES_CONFIG.items()
    assert all(name in config["media_attachments"] for name in MEDIA_FIELDS)
    assert all(name in config["polls"] for name in POLL_FIELDS)
    assert set(config["accounts"]) == {"max_featured_tags", "max_pinned_statuses"}
    assert config["translation"] == {"enabled": False}
    assert instance["registrations"] == {
        "enabled": False,
        "approval_required": False,
        "message": None,
        "url": None,
    }
    assert instance["contact"]["email"] == "ada@example.org"
    assert instance["contact"]["account"]["id"] == ada.id
    assert_account(instance["contact"]["account"])
    # The same vapid key every time: push subscriptions depend on it.
    again = (await client.get("/api/v2/instance")).json()
    assert again["configuration"]["vapid"] == config["vapid"]


async def test_peers_rules_blocks_and_emojis(app: tuple[Services, httpx.AsyncClient]) -> None:
    services, client = app
    assert (await client.get("/api/v1/instance/peers")).json() == []
    async with services.pool.acquire() as con:
        await domains.ensure(con, "b.example")
        await domains.ensure(con, "a.example")
    assert (await client.get("/api/v1/instance/peers")).json() == ["a.example", "b.example"]
    assert (await client.get("/api/v1/instance")).json()["stats"]["domain_count"] == 2
    for path in (
        "/api/v1/instance/rules",
        "/api/v1/instance/domain_blocks",
        "/api/v1/custom_emojis",
    ):
        response = await client.get(path)
        assert response.status_code == 200 and response.json() == [], path


async def test_weekly_activity_counts(app: tuple[Services, httpx.AsyncClient]) -> None:
    services, client = app
    ada = await api.member(services, client, "ada")
    await api.member(services, client, "bea")
    for text in ("one", "two", "three"):
        await publish.publish_note(services, ada.actor, Draft(text=text))
    async with services.pool.acquire() as con:
        # A member who joined three weeks ago and posted then.
        await con.execute(
            "UPDATE users SET created_at = now() - interval '21 days' WHERE actor_id = $1",
            ada.actor.id,
        )
        await con.execute(
            "UPDATE statuses SET created_at = now() - interval '21 days' WHERE content LIKE '%one%'"
        )
    response = await client.get("/api/v1/instance/activity")
    assert response.status_code == 200
    weeks = response.json()
    assert len(weeks) == 12
    for week in weeks:
        assert set(week) == {"week", "statuses", "logins", "registrations"}
        assert all(isinstance(v, str) and v.isdigit() for v in week.values())
    starts = [datetime.fromtimestamp(int(w["week"]), UTC) for w in weeks]
    assert starts == sorted(starts, reverse=True)
    assert all(s.weekday() == 0 and s.hour == 0 for s in starts)  # weeks start on Monday
    assert starts[0] <= datetime.now(UTC) < starts[0] + timedelta(weeks=1)
    this_week = weeks[0]
    assert this_week["statuses"] == "2" and this_week["registrations"] == "1"
    assert this_week["logins"] == "2"  # both got a token this week
    three_weeks_ago = weeks[3]
    assert three_weeks_ago["statuses"] == "1" and three_weeks_ago["registrations"] == "1"
    assert sum(int(w["statuses"]) for w in weeks) == 3
