"""OAuth 2 as Mastodon apps drive it: registration, the consent page, the token grants,
revocation, scopes on API routes, and the limits on guessing passwords."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core import accounts, ratelimit
from core.errors import RateLimited
from core.ratelimit import RateState
from core.services import Services
from server.api.auth import authenticate, optional_auth, rate_limit_headers
from tests import rig

REDIRECT = "https://app.example/callback"
OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "correct horse battery"
INVALID = {"error": "The access token is invalid"}


async def _scoped(request: Request) -> Response:
    """A stand-in API route: requires the scope named in the query."""
    q = request.query_params
    if "optional" in q:
        maybe = await optional_auth(request, q.get("scope"))
        return JSONResponse({"user": maybe.actor.username if maybe and maybe.actor else None})
    auth = await authenticate(request, q.get("scope"), user_required="app_ok" not in q)
    return JSONResponse({"user": auth.actor.username if auth.actor else None})


@pytest.fixture
async def instance(database_url: str) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    settings = rig.make_settings(database_url, workers=False)
    async with rig.app_client(settings) as (app, client):
        app.router.routes.insert(0, Route("/api/v1/test/scoped", _scoped, methods=["GET", "POST"]))
        services: Services = app.state.services
        await accounts.create_user(
            services.pool, services.urls, username="alice", password=PASSWORD,
            email="alice@example.org",
        )  # fmt: skip
        yield services, client


async def _register(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    data = {"client_name": "Test App", "redirect_uris": f"{REDIRECT}\n{OOB}"}
    data.update({"scopes": "read write follow push", **extra})
    response = await client.post("/api/v1/apps", data=data)
    assert response.status_code == 200, response.text
    app: dict[str, Any] = response.json()
    return app


async def _password_token(
    client: httpx.AsyncClient, app: dict[str, Any], scope: str = "read", **extra: str
) -> httpx.Response:
    data = {"grant_type": "password", "client_id": app["client_id"], "scope": scope}
    data.update({"client_secret": app["client_secret"], "username": "alice", "password": PASSWORD})
    data.update(extra)
    return await client.post("/oauth/token", data=data)


async def _token(client: httpx.AsyncClient, app: dict[str, Any], scope: str = "read") -> str:
    response = await _password_token(client, app, scope)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _consent_form(
    client: httpx.AsyncClient, app: dict[str, Any], **query: str
) -> dict[str, str]:
    """GET the consent page and return its form's hidden fields."""
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT}
    params.update({"scope": "read write", "state": "xyz", **query})
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    return {name: html.unescape(value) for name, value in fields}


async def _approve(
    client: httpx.AsyncClient, app: dict[str, Any], password: str = PASSWORD, **query: str
) -> httpx.Response:
    form = await _consent_form(client, app, **query)
    form.update(username="alice", password=password, decision="authorize")
    return await client.post("/oauth/authorize", data=form)


def _code_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


async def _exchange(client: httpx.AsyncClient, app: dict[str, Any], **data: str) -> httpx.Response:
    body = {"grant_type": "authorization_code", "client_id": app["client_id"]}
    body.update({"redirect_uri": REDIRECT, **data})
    return await client.post("/oauth/token", data=body)


async def _count(services: Services, table: str) -> int:
    async with services.pool.acquire() as con:
        return int(await con.fetchval(f"SELECT count(*) FROM {table}"))


# --- applications -----------------------------------------------------------------


async def test_register_app_returns_mastodon_application(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    app = await _register(client, website="https://app.example")
    assert app["name"] == "Test App" and app["website"] == "https://app.example"
    assert app["scopes"] == ["read", "write", "follow", "push"]
    assert app["redirect_uris"] == [REDIRECT, OOB]
    assert app["redirect_uri"] == f"{REDIRECT}\n{OOB}"
    assert app["client_secret_expires_at"] == 0 and isinstance(app["id"], str)
    assert len(app["client_id"]) >= 32 and len(app["client_secret"]) >= 32
    point = base64.urlsafe_b64decode(app["vapid_key"])
    assert len(point) == 65 and point[0] == 4  # an uncompressed P-256 public key
    response = await client.post(
        "/api/v1/apps", json={"client_name": "Other", "redirect_uris": [OOB], "scopes": "read"}
    )
    other = response.json()
    assert other["redirect_uris"] == [OOB] and other["scopes"] == ["read"]
    assert other["vapid_key"] == app["vapid_key"]  # one key pair per instance


@pytest.mark.parametrize(
    "data",
    [
        {"client_name": "X", "redirect_uris": OOB, "scopes": "read bogus"},
        {"client_name": "X", "redirect_uris": OOB, "scopes": "read:everything"},
        {"redirect_uris": OOB},
        {"client_name": "X"},
        {"client_name": "X", "redirect_uris": "not a uri"},
        {"client_name": "X", "redirect_uris": "javascript:alert(1)"},
        {"client_name": "X", "redirect_uris": "https://app.example/cb#frag"},
        {"client_name": "X", "redirect_uris": "http://[::1"},
        {"client_name": "X", "redirect_uris": OOB, "website": "ftp://app.example"},
        {"client_name": "X" * 61, "redirect_uris": OOB},
    ],
)
async def test_register_app_refuses_bad_input(
    instance: tuple[Services, httpx.AsyncClient], data: dict[str, str]
) -> None:
    services, client = instance
    response = await client.post("/api/v1/apps", data=data)
    assert response.status_code == 422
    assert isinstance(response.json()["error"], str)
    assert await _count(services, "oauth_apps") == 0


async def test_verify_app_credentials_without_secrets(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    app = await _register(client)
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials", **creds})
    assert response.status_code == 200 and response.json()["scope"] == "read"
    for token in (response.json()["access_token"], await _token(client, app)):
        verified = await client.get(
            "/api/v1/apps/verify_credentials", headers={"Authorization": f"Bearer {token}"}
        )
        assert verified.status_code == 200
        body = verified.json()
        assert body["name"] == "Test App" and body["vapid_key"] == app["vapid_key"]
        assert "client_secret" not in body
    missing = await client.get("/api/v1/apps/verify_credentials")
    assert missing.status_code == 401 and missing.json() == INVALID


async def test_server_metadata_and_cors(instance: tuple[Services, httpx.AsyncClient]) -> None:
    _, client = instance
    document = await client.get(
        "/.well-known/oauth-authorization-server", headers={"Origin": "https://elk.example"}
    )
    assert document.headers["access-control-allow-origin"] == "*"
    meta = document.json()
    base = "http://localhost:8000"
    assert meta["issuer"] == f"{base}/"
    assert meta["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert meta["app_registration_endpoint"] == f"{base}/api/v1/apps"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "password", "client_credentials"} <= set(
        meta["grant_types_supported"]
    )
    assert {"read", "write:statuses", "follow", "push", "profile"} <= set(meta["scopes_supported"])
    preflight = await client.options(
        "/oauth/token",
        headers={
            "Origin": "https://elk.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.is_success
    assert preflight.headers["access-control-allow-origin"] in ("*", "https://elk.example")


# --- the consent page -------------------------------------------------------------


async def test_authorize_page_has_login_form_and_csrf_cookie(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    app = await _register(client)
    page = await client.get(
        "/oauth/authorize",
        params={"response_type": "code", "client_id": app["client_id"],
                "redirect_uri": REDIRECT, "scope": "read write:statuses", "state": "s1"},
    )  # fmt: skip
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for text in ("Test App", "read", "write:statuses", 'name="password"', "Authorize", "Deny"):
        assert text in page.text
    cookie = page.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    token = client.cookies["shoal_oauth_csrf"]
    assert f'name="csrf_token" value="{token}"' in page.text
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"client_id": "nope", "redirect_uri": REDIRECT}, 400),
        ({"redirect_uri": "https://evil.example/cb"}, 400),
    ],
)
async def test_authorize_page_refuses_unknown_app_or_redirect(
    instance: tuple[Services, httpx.AsyncClient], query: dict[str, str], status: int
) -> None:
    _, client = instance
    app = await _register(client)
    params = {"response_type": "code", "client_id": app["client_id"], **query}
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == status and "location" not in page.headers
    assert "text/html" in page.headers["content-type"]


async def test_authorize_errors_go_back_to_the_app(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    app = await _register(client, scopes="read")
    base = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT}
    for query, error in (
        ({"scope": "read write", "state": "s2"}, "invalid_scope"),
        ({"scope": "read", "state": "s2", "code_challenge": "x" * 43}, "invalid_request"),
        ({"response_type": "token", "state": "s2"}, "unsupported_response_type"),
    ):
        response = await client.get("/oauth/authorize", params={**base, **query})
        assert response.status_code == 302
        sent = parse_qs(urlsplit(response.headers["location"]).query)
        assert sent["error"] == [error] and sent["state"] == ["s2"]


async def test_consent_without_matching_csrf_token_is_refused(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    app = await _register(client)
    form = await _consent_form(client, app)
    form.update(username="alice", password=PASSWORD, decision="authorize")
    real = form["csrf_token"]
    attempts = [
        ({**form, "csrf_token": real[:-2] + "xx"}, real),
        ({k: v for k, v in form.items() if k != "csrf_token"}, real),
        (form, None),
        ({**form, "csrf_token": "a.1.b"}, "a.1.b"),  # planted by another site, unsigned
    ]
    client.cookies.clear()
    for data, cookie in attempts:
        headers = {"Cookie": f"shoal_oauth_csrf={cookie}"} if cookie else {}
        response = await client.post("/oauth/authorize", data=data, headers=headers)
        assert response.status_code == 403 and "location" not in response.headers
    assert await _count(services, "oauth_codes") == 0


async def test_wrong_password_shows_the_form_again(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    app = await _register(client)
    response = await _approve(client, app, password="wrong password")
    assert response.status_code == 401 and "location" not in response.headers
    assert "Invalid username, email or password" in response.text
    assert 'name="csrf_token"' in response.text
    assert await _count(services, "oauth_codes") == 0


async def test_consent_redirects_with_code_and_state(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    app = await _register(client)
    response = await _approve(client, app, state="opaque state/+")
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    assert parse_qs(urlsplit(location).query)["state"] == ["opaque state/+"]
    token = await _exchange(
        client, app, code=_code_of(response), client_secret=app["client_secret"]
    )
    assert token.status_code == 200 and token.json()["scope"] == "read write"
    assert token.json()["token_type"] == "Bearer"
    assert isinstance(token.json()["created_at"], int)


async def test_deny_redirects_with_access_denied(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    app = await _register(client)
    form = await _consent_form(client, app)
    response = await client.post("/oauth/authorize", data={**form, "decision": "deny"})
    assert response.status_code == 302
    sent = parse_qs(urlsplit(response.headers["location"]).query)
    assert sent == {"error": ["access_denied"], "state": ["xyz"]}
    assert await _count(services, "oauth_codes") == 0


async def test_oob_shows_the_code_on_a_page(instance: tuple[Services, httpx.AsyncClient]) -> None:
    _, client = instance
    app = await _register(client)
    response = await _approve(client, app, redirect_uri=OOB)
    assert response.status_code == 200
    [code] = re.findall(r'readonly value="([^"]+)"', response.text)
    token = await _exchange(
        client, app, code=code, redirect_uri=OOB, client_secret=app["client_secret"]
    )
    assert token.status_code == 200


# --- the authorization-code grant -------------------------------------------------


async def test_code_exchange_with_pkce(instance: tuple[Services, httpx.AsyncClient]) -> None:
    _, client = instance
    app = await _register(client)
    verifier, challenge = _pkce()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    code = _code_of(await _approve(client, app, **pkce))
    for wrong in ({"code_verifier": _pkce()[0]}, {"client_secret": app["client_secret"]}):
        refused = await _exchange(client, app, code=code, **wrong)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # A public client: the verifier alone redeems the code.
    granted = await _exchange(client, app, code=code, code_verifier=verifier)
    assert granted.status_code == 200, granted.text
    token = granted.json()["access_token"]
    verified = await client.get(
        "/api/v1/apps/verify_credentials", headers={"Authorization": f"Bearer {token}"}
    )
    assert verified.status_code == 200
    again = await _exchange(client, app, code=code, code_verifier=verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_code_refused_when_expired_misdirected_or_unauthenticated(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    app = await _register(client)
    secret = app["client_secret"]
    code = _code_of(await _approve(client, app))
    mismatch = await _exchange(client, app, code=code, client_secret=secret, redirect_uri=OOB)
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_grant"
    no_secret = await _exchange(client, app, code=code)
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"
    bad_secret = await _exchange(client, app, code=code, client_secret="nope")
    assert bad_secret.status_code == 401
    other = await _register(client)
    stolen = await _exchange(client, other, code=code, client_secret=other["client_secret"])
    assert stolen.status_code == 400
    async with services.pool.acquire() as con:
        await con.execute("UPDATE oauth_codes SET expires_at = now() - interval '1 second'")
    expired = await _exchange(client, app, code=code, client_secret=secret)
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    assert "error_description" in expired.json()
    assert await _count(services, "oauth_tokens") == 0


# --- password and client_credentials grants ---------------------------------------


async def test_password_grant_echoes_the_requested_scopes(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    app = await _register(client)
    for scope in ("write follow read push", "read:statuses write:statuses read"):
        response = await _password_token(client, app, scope)
        assert response.status_code == 200, response.text
        assert response.json()["scope"] == scope
    by_email = await _password_token(client, app, username="ALICE@example.org")
    assert by_email.status_code == 200
    as_json = await client.post(
        "/oauth/token",
        json={"grant_type": "password", "client_id": app["client_id"],
              "client_secret": app["client_secret"], "username": "alice", "password": PASSWORD},
    )  # fmt: skip
    assert as_json.status_code == 200 and as_json.json()["scope"] == "read"
    wrong = await _password_token(client, app, password="wrong password")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    too_much = await _password_token(client, app, "admin:read")
    assert too_much.status_code == 400 and too_much.json()["error"] == "invalid_scope"
    unknown = await client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "client_id": app["client_id"]}
    )
    assert unknown.json()["error"] == "unsupported_grant_type"
    assert (await client.post("/oauth/token", data={})).json()["error"] == "invalid_request"


async def test_login_attempts_are_rate_limited(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    app = await _register(client)
    for _ in range(5):
        assert (await _password_token(client, app, password="guess guess")).status_code == 400
    limited = await _password_token(client, app)  # even the right password, for now
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    page = await _approve(client, app)  # the consent form shares the limit
    assert page.status_code == 429 and "retry-after" in page.headers


# --- using and revoking tokens ----------------------------------------------------


async def test_scopes_are_enforced_on_api_routes(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    _, client = instance
    app = await _register(client)

    async def call(token: str | None, **query: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await client.get("/api/v1/test/scoped", params=query, headers=headers)

    read = await _token(client, app, "read")
    denied = await call(read, scope="write:statuses")
    assert denied.status_code == 403
    assert denied.json() == {"error": "This action is outside the authorized scopes"}
    assert (await call(read, scope="read:statuses")).json() == {"user": "alice"}
    follow = await _token(client, app, "follow")
    assert (await call(follow, scope="write:follows")).status_code == 200
    assert (await call(follow, scope="read:statuses")).status_code == 403
    assert (await call(None, scope="read")).json() == INVALID
    assert (await call("made-up-token", scope="read")).status_code == 401
    assert (await call(None, optional="1")).json() == {"user": None}
    assert (await call("made-up-token", optional="1")).status_code == 401
    by_param = await client.get("/api/v1/test/scoped", params={"access_token": read})
    assert by_param.json() == {"user": "alice"}
    by_form = await client.post("/api/v1/test/scoped", data={"access_token": read})
    assert by_form.json() == {"user": "alice"}
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    app_only = (
        await client.post("/oauth/token", data={"grant_type": "client_credentials", **creds})
    ).json()["access_token"]
    refused = await call(app_only, scope="read")
    assert refused.status_code == 422
    assert refused.json() == {"error": "This method requires an authenticated user"}
    assert (await call(app_only, scope="read", app_ok="1")).json() == {"user": None}


async def test_disabled_member_cannot_use_or_get_tokens(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    app = await _register(client)
    token = await _token(client, app)
    headers = {"Authorization": f"Bearer {token}"}
    # Used once first: the owner of a token in use is reused while its rows are unchanged.
    assert (await client.get("/api/v1/apps/verify_credentials", headers=headers)).is_success
    async with services.pool.acquire() as con:
        await con.execute("UPDATE users SET disabled_at = now()")
    used = await client.get("/api/v1/test/scoped", headers=headers)
    assert used.status_code == 403
    assert used.json() == {"error": "Your login is currently disabled"}
    assert (await _password_token(client, app)).json()["error"] == "invalid_grant"


async def test_revoked_token_is_refused(instance: tuple[Services, httpx.AsyncClient]) -> None:
    services, client = instance
    app = await _register(client)
    token = await _token(client, app)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/apps/verify_credentials", headers=headers)).is_success
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    wrong = await client.post("/oauth/revoke", data={**creds, "client_secret": "x", "token": token})
    assert wrong.status_code == 401
    other = await _register(client)
    foreign = {"client_id": other["client_id"], "client_secret": other["client_secret"]}
    assert (await client.post("/oauth/revoke", data={**foreign, "token": token})).status_code == 403
    revoked = await client.post("/oauth/revoke", data={**creds, "token": token})
    assert revoked.status_code == 200 and revoked.json() == {}
    after = await client.get("/api/v1/apps/verify_credentials", headers=headers)
    assert after.status_code == 401 and after.json() == INVALID
    unknown = await client.post("/oauth/revoke", data={**creds, "token": "never-issued"})
    assert unknown.status_code == 200 and unknown.json() == {}
    async with services.pool.acquire() as con:
        assert await con.fetchval("SELECT last_used_at IS NOT NULL FROM oauth_tokens")


async def test_secrets_codes_and_tokens_are_stored_hashed(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    app = await _register(client)
    token = await _token(client, app)
    code = _code_of(await _approve(client, app))
    async with services.pool.acquire() as con:
        rows = [
            *await con.fetch("SELECT * FROM oauth_apps"),
            *await con.fetch("SELECT * FROM oauth_codes"),
            *await con.fetch("SELECT * FROM oauth_tokens"),
        ]
    dump = " ".join(str(dict(row)) for row in rows)
    for plain in (app["client_secret"], token, code):
        assert plain not in dump
        assert hashlib.sha256(plain.encode()).hexdigest() in dump


async def test_malformed_requests_get_a_clear_4xx(
    instance: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = instance
    app = await _register(client)
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    by_basic = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert by_basic.status_code == 200
    authorize = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT}
    json_type = {"content-type": "application/json"}
    cases = [
        (client.post("/api/v1/apps", data={"client_name": "a\x00b", "redirect_uris": OOB}), 422),
        (client.post("/api/v1/apps", json=["not", "an", "object"]), 400),
        (client.post("/api/v1/apps", json={"client_name": 5, "redirect_uris": OOB}), 422),
        (client.post("/api/v1/apps", json={"client_name": "X", "redirect_uris": 5}), 422),
        (client.post("/oauth/token", content=b"{", headers=json_type), 400),
        (client.post("/oauth/token", json={"grant_type": ["password"]}), 400),
        (client.post("/oauth/token", data={"grant_type": "password", **creds,
                                            "username": "al\x00ice", "password": "x"}), 400),
        (client.post("/oauth/token", data={"grant_type": "client_credentials",
                                            "client_id": "a\x00"}), 400),
        (client.post("/oauth/token", data={"grant_type": "client_credentials"},
                     headers={"Authorization": "Basic !!!"}), 401),
        (client.post("/oauth/revoke", data=creds), 400),
        (client.get("/oauth/authorize", params={"client_id": "a\x00b"}), 400),
        (client.get("/oauth/authorize", params={**authorize, "state": "x" * 5000}), 400),
        (client.get("/api/v1/apps/verify_credentials",
                    headers={"Authorization": "Bearer " + "x" * 5000}), 401),
    ]  # fmt: skip
    for request, status in cases:
        response = await request
        assert response.status_code == status, response.text
        assert "error" in response.text
    form = await _consent_form(client, app)
    form.update(username="al\x00ice", password=PASSWORD)
    assert (await client.post("/oauth/authorize", data=form)).status_code == 401
    assert await _count(services, "oauth_tokens") == 1


# --- the shared rate limiter ------------------------------------------------------


async def test_fixed_window_rate_limit(instance: tuple[Services, httpx.AsyncClient]) -> None:
    services, _ = instance
    first = await ratelimit.hit(services, "test:bucket", limit=2, window=60)
    second = await ratelimit.hit(services, "test:bucket", limit=2, window=60)
    assert (first.remaining, second.remaining) == (1, 0)
    with pytest.raises(RateLimited) as raised:
        await ratelimit.hit(services, "test:bucket", limit=2, window=60)
    assert 0 < raised.value.retry_after <= 60
    assert (await ratelimit.hit(services, "test:other", limit=2, window=60)).remaining == 1
    reset = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(microseconds=250_000)
    headers = rate_limit_headers(RateState(limit=300, remaining=299, reset_at=reset))
    assert headers == {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "299",
        "X-RateLimit-Reset": "2030-01-02T03:04:05.250Z",
    }
