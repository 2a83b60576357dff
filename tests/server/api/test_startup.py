"""What Mastodon apps ask for when they start: every call answers, with the JSON type
Mastodon gives and its authentication rules, even for features Shoal does not have."""

from __future__ import annotations

import pytest

from tests import api
from tests.server.api.test_timelines import World, world

__all__ = ["world"]  # the fixture, shared with the timeline tests

# Member-only lists that are empty because Shoal lacks the feature, or has none yet.
MEMBER_LISTS = [
    "/api/v2/filters",
    "/api/v1/filters",
    "/api/v1/lists",
    "/api/v1/conversations",
    "/api/v1/announcements",
    "/api/v1/suggestions",
    "/api/v2/suggestions",
    "/api/v1/followed_tags",
    "/api/v1/featured_tags",
    "/api/v1/endorsements",
    "/api/v1/domain_blocks",
    "/api/v1/scheduled_statuses",
    "/api/v1/bookmarks",
    "/api/v1/favourites",
    "/api/v1/follow_requests",
    "/api/v1/notifications",
    "/api/v1/timelines/home",
]
PUBLIC_LISTS = [
    "/api/v1/trends",
    "/api/v1/trends/tags",
    "/api/v1/trends/statuses",
    "/api/v1/trends/links",
    "/api/v1/timelines/public",
    "/api/v1/timelines/tag/shoal",
]


async def test_every_start_up_list_answers_with_a_list(world: World) -> None:
    for path in MEMBER_LISTS + PUBLIC_LISTS:
        response = await world.get(path, world.alice)
        assert response.status_code == 200, f"{path}: {response.text}"
        assert response.headers["content-type"].startswith("application/json"), path
        assert response.json() == [], path
    markers = await world.get("/api/v1/markers", world.alice, **{"timeline[]": "home"})
    assert markers.status_code == 200 and markers.json() == {}
    grouped = await world.get("/api/v2/notifications", world.alice)
    assert grouped.json() == {"accounts": [], "statuses": [], "notification_groups": []}
    count = await world.get("/api/v1/notifications/unread_count", world.alice)
    assert count.json() == {"count": 0}


@pytest.mark.parametrize("path", MEMBER_LISTS)
async def test_member_lists_need_a_token(world: World, path: str) -> None:
    response = await world.get(path)
    assert response.status_code == 401, path
    assert response.json() == {"error": "The access token is invalid"}


async def test_public_lists_need_no_token(world: World) -> None:
    for path in PUBLIC_LISTS:
        response = await world.get(path)
        assert response.status_code == 200 and response.json() == [], path


async def test_scopes_are_checked(world: World) -> None:
    writer = await api.token(world.client, "alice", "alice long password", scopes="write")
    headers = {"Authorization": f"Bearer {writer}"}
    for path in ("/api/v2/filters", "/api/v1/lists", "/api/v1/domain_blocks", "/api/v1/bookmarks"):
        response = await world.client.get(path, headers=headers)
        assert response.status_code == 403, path
        assert response.json() == {"error": "This action is outside the authorized scopes"}
    # The read scope covers every read:* scope, as on Mastodon.
    reader = await api.token(world.client, "alice", "alice long password", scopes="read")
    for path in MEMBER_LISTS:
        response = await world.client.get(path, headers={"Authorization": f"Bearer {reader}"})
        assert response.status_code == 200, path


async def test_records_nobody_has_are_not_found(world: World) -> None:
    for path in (
        "/api/v1/push/subscription",
        "/api/v1/lists/1",
        "/api/v2/filters/1",
        "/api/v1/filters/1",
        "/api/v1/scheduled_statuses/1",
        "/api/v1/notifications/1",
        "/api/v1/timelines/list/1",
    ):
        response = await world.get(path, world.alice)
        assert response.status_code == 404, path
        assert response.json() == {"error": "Record not found"}, path
