"""The real Mastodon.py client logs in to a real Shoal server over loopback: the password
grant, the authorization-code flow through the consent page, and PKCE."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from mastodon import Mastodon, MastodonUnauthorizedError

from core import accounts
from tests import rig

pytestmark = pytest.mark.e2e

SCOPES = ["read", "write", "follow", "push"]
REDIRECT = "http://127.0.0.1/shoal-e2e-callback"
OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "a long password"


@pytest.fixture
async def instance(cluster: rig.Cluster) -> AsyncIterator[rig.Instance]:
    async with rig.running_instance(cluster, workers=False) as running:
        services = running.services
        await accounts.create_user(
            services.pool, services.urls, username="alice", password=PASSWORD,
            email="alice@example.org",
        )  # fmt: skip
        yield running


async def _register(instance: rig.Instance) -> Mastodon:
    client_id, client_secret = await asyncio.to_thread(
        Mastodon.create_app,
        "Shoal e2e",
        scopes=SCOPES,
        redirect_uris=[REDIRECT, OOB],
        api_base_url=instance.base_url,
    )
    return Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=instance.base_url,
        version_check_mode="none",
    )


async def _consent(url: str, *, username: str = "alice") -> httpx.Response:
    """What a member does in the browser: open the page, fill in the form, press Authorize."""
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(url)
        assert page.status_code == 200, page.text
        fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
        form = {name: html.unescape(value) for name, value in fields}
        form.update(username=username, password=PASSWORD, decision="authorize")
        [action] = re.findall(r'<form method="post" action="([^"]+)">', page.text)
        return await browser.post(page.url.join(action), data=form)


async def test_password_grant(instance: rig.Instance) -> None:
    api = await _register(instance)
    token = await asyncio.to_thread(
        api.log_in,
        username="alice@example.org",
        password=PASSWORD,
        scopes=SCOPES,
        allow_http=True,
    )
    assert token
    app = await asyncio.to_thread(api.app_verify_credentials)
    assert app["name"] == "Shoal e2e"
    await asyncio.to_thread(api.revoke_access_token, allow_http=True)
    revoked = Mastodon(access_token=token, api_base_url=instance.base_url)
    with pytest.raises(MastodonUnauthorizedError):
        await asyncio.to_thread(revoked.app_verify_credentials)


async def test_authorization_code_flow(instance: rig.Instance) -> None:
    api = await _register(instance)
    url = await asyncio.to_thread(
        api.auth_request_url,
        redirect_uris=REDIRECT,
        scopes=SCOPES,
        state="e2e-state",
        allow_http=True,
    )
    assert url.startswith(f"{instance.base_url}/oauth/authorize?")
    redirected = await _consent(url)
    assert redirected.status_code == 302
    sent = parse_qs(urlsplit(redirected.headers["location"]).query)
    assert sent["state"] == ["e2e-state"]
    await asyncio.to_thread(
        api.log_in, code=sent["code"][0], redirect_uri=REDIRECT, scopes=SCOPES, allow_http=True
    )
    app = await asyncio.to_thread(api.app_verify_credentials)
    assert app["name"] == "Shoal e2e" and app["scopes"] == SCOPES


async def test_authorization_code_flow_with_pkce(instance: rig.Instance) -> None:
    # Mastodon.py 2.x builds the authorization URL but sends no code_verifier, so the
    # public-client exchange is made with httpx and the token handed to Mastodon.py.
    api = await _register(instance)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    pkce = {"code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256"}
    url = await asyncio.to_thread(
        api.auth_request_url, redirect_uris=OOB, scopes=["read"], allow_http=True
    )
    shown = await _consent(f"{url}&{urlencode(pkce)}")
    assert shown.status_code == 200
    [code] = re.findall(r'readonly value="([^"]+)"', shown.text)
    async with instance.client() as client:
        exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}
        exchange.update(client_id=str(api.client_id), code_verifier="wrong" * 10)
        refused = await client.post("/oauth/token", data=exchange)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        granted = await client.post("/oauth/token", data={**exchange, "code_verifier": verifier})
        assert granted.status_code == 200, granted.text
        assert granted.json()["scope"] == "read"
    user_api = Mastodon(access_token=granted.json()["access_token"], api_base_url=instance.base_url)
    app = await asyncio.to_thread(user_api.app_verify_credentials)
    assert app["name"] == "Shoal e2e"
