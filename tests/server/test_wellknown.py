"""Discovery over HTTP: WebFinger, host-meta and NodeInfo as other servers and apps read them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core import accounts
from core.services import Services
from server.templating import version
from tests import rig

DOMAIN = "localhost:8000"
BASE = f"http://{DOMAIN}"
ACTIVITY_JSON = "application/activity+json"
PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
APPLICATION_REL = "https://www.w3.org/ns/activitystreams#Application"


@pytest.fixture
async def instance(database_url: str) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    # Workers off: discovery needs none, and the app then starts without them.
    settings = rig.make_settings(
        database_url,
        workers=False,
        collective_name="Riverside Food Co-op",
        collective_description="We buy together.",
    )
    async with rig.app_client(settings) as (app, client):
        yield app.state.services, client


async def _member(services: Services, username: str, role: str = "member") -> None:
    await accounts.create_user(
        services.pool, services.urls, username=username, password="correct horse", role=role
    )


async def _finger(client: httpx.AsyncClient, resource: str) -> httpx.Response:
    return await client.get("/.well-known/webfinger", params={"resource": resource})


def _link(jrd: dict[str, Any], rel: str) -> dict[str, Any]:
    [link] = [link for link in jrd["links"] if link["rel"] == rel]
    found: dict[str, Any] = link
    return found


async def test_member_jrd_points_at_actor_and_profile(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    await _member(services, "alice")
    response = await _finger(client, f"acct:alice@{DOMAIN}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jrd+json")
    assert response.headers["access-control-allow-origin"] == "*"
    jrd = response.json()
    assert jrd["subject"] == f"acct:alice@{DOMAIN}"
    assert jrd["aliases"] == [f"{BASE}/users/alice", f"{BASE}/@alice"]
    assert _link(jrd, "self") == {
        "rel": "self",
        "type": ACTIVITY_JSON,
        "href": f"{BASE}/users/alice",
    }
    assert _link(jrd, PROFILE_PAGE)["href"] == f"{BASE}/@alice"


@pytest.mark.parametrize(
    "resource",
    [
        f"alice@{DOMAIN}",
        f"@alice@{DOMAIN}",
        f"acct:ALICE@{DOMAIN.upper()}",
        f"{BASE}/users/alice",
        f"{BASE}/users/Alice",
        f"{BASE}/@alice",
        f"https://{DOMAIN}/users/alice",
    ],
)
async def test_member_found_by_every_name_it_goes_by(
    instance: tuple[Services, httpx.AsyncClient], resource: str
) -> None:
    services, client = instance
    await _member(services, "alice")
    response = await _finger(client, resource)
    assert response.status_code == 200, response.text
    # The canonical subject, whatever form was asked for.
    assert response.json()["subject"] == f"acct:alice@{DOMAIN}"
    assert _link(response.json(), "self")["href"] == f"{BASE}/users/alice"


@pytest.mark.parametrize("resource", [f"acct:collective@{DOMAIN}", f"{BASE}/users/collective"])
async def test_collective_group_resolves(
    instance: tuple[Services, httpx.AsyncClient], resource: str
) -> None:
    _, client = instance
    response = await _finger(client, resource)
    assert response.status_code == 200
    jrd = response.json()
    assert jrd["subject"] == f"acct:collective@{DOMAIN}"
    assert _link(jrd, "self")["href"] == f"{BASE}/users/collective"
    assert _link(jrd, PROFILE_PAGE)["href"] == f"{BASE}/@collective"


@pytest.mark.parametrize(
    "resource",
    [
        f"acct:instance.actor@{DOMAIN}",
        f"acct:{DOMAIN}@{DOMAIN}",  # Mastodon's name for its instance actor
        f"{DOMAIN}@{DOMAIN}",
        f"{BASE}/actor",
    ],
)
async def test_instance_actor_resolves_under_both_accts(
    instance: tuple[Services, httpx.AsyncClient], resource: str
) -> None:
    _, client = instance
    response = await _finger(client, resource)
    assert response.status_code == 200, response.text
    jrd = response.json()
    assert jrd["subject"] == f"acct:instance.actor@{DOMAIN}"
    assert _link(jrd, "self") == {"rel": "self", "type": ACTIVITY_JSON, "href": f"{BASE}/actor"}
    assert f"{BASE}/actor" in jrd["aliases"]


@pytest.mark.parametrize(
    "resource",
    [
        f"acct:nobody@{DOMAIN}",
        "acct:alice@elsewhere.example",
        "https://elsewhere.example/users/alice",
        f"{BASE}/users/nobody",
        f"{BASE}/users/instance.actor",  # the instance actor's id is /actor, not this
        f"{BASE}/about",
        f"{BASE}/users/alice/outbox",
    ],
)
async def test_unknown_account_or_other_domain_is_404(
    instance: tuple[Services, httpx.AsyncClient], resource: str
) -> None:
    services, client = instance
    await _member(services, "alice")
    response = await _finger(client, resource)
    assert response.status_code == 404
    assert "error" in response.json()
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "the resource parameter is required"),
        ({"resource": ""}, "resource is empty"),
        ({"resource": "acct:alice"}, "resource must look like user@domain"),
        ({"resource": "mailto:alice@example.com"}, "unsupported resource scheme"),
        ({"resource": f"acct:al ice@{DOMAIN}"}, "invalid user name in resource"),
    ],
)
async def test_missing_or_malformed_resource_is_400_with_reason(
    instance: tuple[Services, httpx.AsyncClient], params: dict[str, str], reason: str
) -> None:
    _, client = instance
    response = await client.get("/.well-known/webfinger", params=params)
    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert response.headers["access-control-allow-origin"] == "*"


async def test_deleted_account_is_gone(instance: tuple[Services, httpx.AsyncClient]) -> None:
    services, client = instance
    await _member(services, "alice")
    async with services.pool.acquire() as con:
        await con.execute("UPDATE actors SET deleted_at = now() WHERE username = 'alice'")
    response = await _finger(client, f"acct:alice@{DOMAIN}")
    assert response.status_code == 410
    assert "error" in response.json()


async def test_rel_parameter_filters_links(instance: tuple[Services, httpx.AsyncClient]) -> None:
    _, client = instance
    response = await client.get(
        "/.well-known/webfinger", params={"resource": f"acct:collective@{DOMAIN}", "rel": "self"}
    )
    assert [link["rel"] for link in response.json()["links"]] == ["self"]


async def test_browser_preflight_is_answered(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    for path in ("/.well-known/webfinger", "/.well-known/nodeinfo", "/nodeinfo/2.1"):
        response = await client.options(
            path,
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"


async def test_host_meta_xml_and_json_point_at_webfinger(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    template = f"{BASE}/.well-known/webfinger?resource={{uri}}"
    xml = await client.get("/.well-known/host-meta")
    assert xml.status_code == 200
    assert xml.headers["content-type"].startswith("application/xrd+xml")
    assert xml.headers["access-control-allow-origin"] == "*"
    link = ET.fromstring(xml.text).find("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
    assert link is not None
    assert link.attrib == {"rel": "lrdd", "template": template}
    for path in ("/.well-known/host-meta?format=json", "/.well-known/host-meta.json"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.json() == {"links": [{"rel": "lrdd", "template": template}]}


@pytest.mark.parametrize("schema", ["2.0", "2.1"])
async def test_nodeinfo_discovery_link_resolves(
    instance: tuple[Services, httpx.AsyncClient], schema: str
) -> None:
    services, client = instance
    await _member(services, "ada", role="admin")
    well_known = await client.get("/.well-known/nodeinfo")
    assert well_known.status_code == 200
    assert well_known.headers["access-control-allow-origin"] == "*"
    links = {link["rel"]: link["href"] for link in well_known.json()["links"]}
    # FEP-2677: the instance actor is linked from here.
    assert links[APPLICATION_REL] == f"{BASE}/actor"
    href = links[f"http://nodeinfo.diaspora.software/ns/schema/{schema}"]
    assert href.startswith(BASE)
    response = await client.get(href.removeprefix(BASE))
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        f'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/{schema}#"'
    )
    assert response.headers["access-control-allow-origin"] == "*"
    document = response.json()
    assert document["version"] == schema
    assert document["software"]["name"] == "shoal"
    assert document["software"]["version"] == version()
    assert document["protocols"] == ["activitypub"]
    assert document["openRegistrations"] is False
    metadata = document["metadata"]
    assert metadata["nodeName"] == "Riverside Food Co-op"
    assert metadata["nodeDescription"] == "We buy together."
    assert metadata["federation"] == {"mode": "blocklist", "allowlistPublic": True}
    assert metadata["capabilities"] == {"posts": True, "events": False, "mutualAid": False}
    assert metadata["feps"] == ["fep-1b12", "fep-2677", "fep-67ff", "fep-f1d5"]
    assert metadata["collective"] == f"@collective@{DOMAIN}"
    assert metadata["staffAccounts"] == [f"{BASE}/users/ada"]


async def test_unknown_nodeinfo_version_is_404(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    response = await client.get("/nodeinfo/1.0")
    assert response.status_code == 404
    assert "error" in response.json()


async def _usage(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/nodeinfo/2.1")
    assert response.status_code == 200
    usage: dict[str, Any] = response.json()["usage"]
    return usage


async def _post(
    services: Services, username: str, days_ago: int, reblog_of: int | None = None
) -> int:
    async with services.pool.acquire() as con:
        status_id: int = await con.fetchval(
            """INSERT INTO statuses (uri, actor_id, local, reblog_of_id, published_at)
               SELECT a.uri || '/statuses/' || gen_random_uuid(), a.id, true, $2,
                      now() - make_interval(days => $3)
               FROM actors a WHERE a.username = $1 AND a.domain IS NULL
               RETURNING id""",
            username,
            reblog_of,
            days_ago,
        )
    return status_id


async def test_usage_counts_members_and_their_posts(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    # The collective and the instance actor are actors, not members.
    assert await _usage(client) == {
        "users": {"total": 0, "activeMonth": 0, "activeHalfyear": 0},
        "localPosts": 0,
    }
    for name in ("alice", "bob", "carol"):
        await _member(services, name)
    fresh = await _post(services, "alice", days_ago=1)
    await _post(services, "alice", days_ago=2)
    await _post(services, "bob", days_ago=100)
    await _post(services, "carol", days_ago=200)
    await _post(services, "carol", days_ago=3, reblog_of=fresh)  # a boost is not a post
    assert await _usage(client) == {
        "users": {"total": 3, "activeMonth": 2, "activeHalfyear": 3},
        "localPosts": 4,
    }
    async with services.pool.acquire() as con:
        await con.execute(
            """UPDATE users SET disabled_at = now()
               WHERE actor_id = (SELECT id FROM actors WHERE username = 'carol')"""
        )
    assert await _usage(client) == {
        "users": {"total": 2, "activeMonth": 1, "activeHalfyear": 2},
        "localPosts": 4,
    }
