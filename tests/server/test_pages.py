from __future__ import annotations

import httpx
import pytest

from core import accounts
from tests import rig


async def test_home_shows_collective_name_and_description(cluster: rig.Cluster) -> None:
    name = await cluster.create_database()
    settings = rig.make_settings(
        cluster.url(name),
        collective_name="Riverside Food Co-op",
        collective_description="We buy together.\n\nMeetings <every> Tuesday.",
    )
    try:
        async with rig.app_client(settings) as (_, client):
            response = await client.get("/")
            assert response.status_code == 200
            assert "text/html" in response.headers["content-type"]
            assert "<title>Riverside Food Co-op</title>" in response.text
            assert "<p>We buy together.</p>" in response.text
            # Escaped, never raw HTML from a setting.
            assert "Meetings &lt;every&gt; Tuesday." in response.text
            assert f"@collective@{settings.domain}" in response.text
    finally:
        await cluster.drop_database(name)


async def test_collective_set_changes_home_page(
    app_client: tuple[object, httpx.AsyncClient],
) -> None:
    app, client = app_client
    services = app.state.services  # type: ignore[attr-defined]
    await accounts.set_collective(
        services.pool, services.settings, services.urls, name="Tenants' Union", description="Hi"
    )
    response = await client.get("/")
    assert "Tenants&#39; Union" in response.text
    with pytest.raises(Exception, match="cannot be empty"):
        await accounts.set_collective(
            services.pool, services.settings, services.urls, name="  ", description=None
        )


async def test_unknown_page_is_404_page_and_api_json(client: httpx.AsyncClient) -> None:
    page = await client.get("/no/such/page")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    api = await client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.json() == {"error": "Record not found"}
