"""OAuth 2 over HTTP as Mastodon serves it: /api/v1/apps, /oauth/authorize (a login and
consent page), /oauth/token, /oauth/revoke and the RFC 8414 metadata document.

The consent form is protected by a signed double-submit token: the same value travels
in an HttpOnly SameSite=Lax cookie and in a hidden field, and carries an HMAC made with
a per-instance secret, so a value planted by another site is refused too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import oauth
from core.errors import BadRequest, Forbidden, Unauthorized, Unprocessable
from core.oauth import OOB, AuthorizeError, AuthorizeRequest, OAuthError
from core.services import Services
from server.api.auth import INVALID_TOKEN, authenticate
from server.api.common import json, list_param, params
from server.templating import render_page, services_of
from storage.oauth import AppRow

CSRF_COOKIE = "shoal_oauth_csrf"
CSRF_FIELD = "csrf_token"
# The instance_settings key under which the signing secret is kept.
CSRF_SETTING = "oauth_csrf_secret"
CSRF_LIFETIME = 3600
# The consent page must not be framed (clickjacking), cached, or leak its URL onwards.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}
_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
_SCOPE_TEXT = {
    "read": "read all your account's data",
    "write": "change all your account's data",
    "follow": "change who you follow, block and mute",
    "push": "receive your push notifications",
    "profile": "read only your profile",
    "admin:read": "read all data on the server (admin)",
    "admin:write": "moderate and change data on the server (admin)",
}


# --- applications -----------------------------------------------------------------


def _app_entity(app: AppRow, vapid_key: str, client_secret: str | None = None) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(app.redirect_uris),
        "redirect_uris": app.redirect_uris,
        "vapid_key": vapid_key,
    }
    if client_secret is not None:
        entity["client_id"] = app.client_id
        entity["client_secret"] = client_secret
        entity["client_secret_expires_at"] = 0
    return entity


async def create_app(request: Request) -> Response:
    services = services_of(request)
    values = await params(request)
    uris = values.get("redirect_uris[]", values.get("redirect_uris"))
    scopes = list_param(values, "scopes") if "scopes[]" in values else values.get("scopes")
    created = await oauth.create_app(
        services,
        name=values.get("client_name"),
        redirect_uris=uris,
        scopes=scopes,
        website=values.get("website"),
        ip=_client_ip(request),
    )
    vapid_key = await oauth.vapid_public_key(services)
    return json(_app_entity(created.app, vapid_key, created.client_secret))


async def verify_app(request: Request) -> Response:
    auth = await authenticate(request, user_required=False)
    services = services_of(request)
    app = await oauth.get_app(services, auth.app_id)
    if app is None:
        raise Unauthorized(INVALID_TOKEN)
    return json(_app_entity(app, await oauth.vapid_public_key(services)))


# --- the consent page -------------------------------------------------------------


def _sign(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _new_csrf(secret: bytes) -> str:
    payload = f"{secrets.token_urlsafe(24)}.{int(time.time())}"
    return f"{payload}.{_sign(secret, payload)}"


def _csrf_valid(secret: bytes, token: str) -> bool:
    nonce, _, rest = token.partition(".")
    issued, _, signature = rest.partition(".")
    if not (nonce and issued.isdigit() and signature):
        return False
    age = time.time() - int(issued)
    return -60 < age < CSRF_LIFETIME and hmac.compare_digest(
        signature, _sign(secret, f"{nonce}.{issued}")
    )


def _with_query(uri: str, values: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in values.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _prepare(services: Services, values: dict[str, Any]) -> AuthorizeRequest | Response:
    """The checked request, or the redirect that reports its error to the app."""
    try:
        return await oauth.prepare_authorization(services, values)
    except AuthorizeError as exc:
        if exc.redirect_uri == OOB:
            raise BadRequest(f"{exc.code}: {exc.message}") from None
        target = _with_query(
            exc.redirect_uri,
            {"error": exc.code, "error_description": exc.message, "state": exc.state},
        )
        return RedirectResponse(target, status_code=302)


async def _consent_page(
    request: Request,
    prepared: AuthorizeRequest,
    csrf: str,
    *,
    status: int = 200,
    error: str | None = None,
    login: str = "",
) -> Response:
    hidden = {
        "response_type": "code",
        "client_id": prepared.app.client_id,
        "redirect_uri": prepared.redirect_uri,
        "scope": " ".join(prepared.scopes),
        "state": prepared.state,
        "code_challenge": prepared.code_challenge,
        "code_challenge_method": prepared.code_challenge_method,
        CSRF_FIELD: csrf,
    }
    context = {
        "app": prepared.app,
        "scopes": [(s, _SCOPE_TEXT.get(s, "")) for s in prepared.scopes],
        "hidden": {k: v for k, v in hidden.items() if v is not None},
        "oob": prepared.redirect_uri == OOB,
        "redirect_host": urlsplit(prepared.redirect_uri).netloc or prepared.redirect_uri,
        "error": error,
        "login": login,
    }
    response = await render_page(request, "oauth_authorize.html", context, status)
    response.headers.update(_PAGE_HEADERS)
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=CSRF_LIFETIME,
        path="/oauth/authorize",
        secure=services_of(request).settings.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


async def authorize_page(request: Request) -> Response:
    services = services_of(request)
    prepared = await _prepare(services, dict(request.query_params))
    if isinstance(prepared, Response):
        return prepared
    secret = await oauth.instance_secret(services, CSRF_SETTING)
    csrf = request.cookies.get(CSRF_COOKIE, "")
    if not _csrf_valid(secret, csrf):
        csrf = _new_csrf(secret)  # keep a still-valid token, so two open tabs both work
    return await _consent_page(request, prepared, csrf)


async def authorize_submit(request: Request) -> Response:
    services = services_of(request)
    form = await request.form()
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    secret = await oauth.instance_secret(services, CSRF_SETTING)
    cookie, field = request.cookies.get(CSRF_COOKIE, ""), values.get(CSRF_FIELD, "")
    if not (cookie and hmac.compare_digest(cookie, field) and _csrf_valid(secret, field)):
        raise Forbidden("The form has expired or did not come from this site; please try again")
    prepared = await _prepare(services, values)
    if isinstance(prepared, Response):
        return prepared
    if values.get("decision") == "deny":
        if prepared.redirect_uri == OOB:
            raise Forbidden("You denied the application access to your account")
        denied = {"error": "access_denied", "state": prepared.state}
        return RedirectResponse(_with_query(prepared.redirect_uri, denied), status_code=302)
    login = values.get("username", "")
    try:
        user, _ = await oauth.check_login(
            services, login, values.get("password", ""), ip=_client_ip(request)
        )
    except (Unauthorized, Forbidden) as exc:
        return await _consent_page(
            request, prepared, field, status=exc.status, error=exc.message, login=login[:320]
        )
    code = await oauth.issue_code(services, prepared, user)
    if prepared.redirect_uri == OOB:
        response = await render_page(
            request, "oauth_code.html", {"app": prepared.app, "code": code}
        )
        response.headers.update(_PAGE_HEADERS)
        return response
    target = _with_query(prepared.redirect_uri, {"code": code, "state": prepared.state})
    return RedirectResponse(target, status_code=302)


# --- token endpoint, revocation, metadata -----------------------------------------


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    return (unquote(client_id), unquote(client_secret)) if sep else None


def _oauth_error(code: str, description: str, status: int) -> Response:
    return json({"error": code, "error_description": description}, status)


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def token(request: Request) -> Response:
    services = services_of(request)
    try:
        values = await params(request)
        issued = await oauth.grant_token(
            services, values, ip=_client_ip(request), basic=_basic_credentials(request)
        )
    except OAuthError as exc:
        return _oauth_error(exc.code, exc.message, exc.status)
    except (BadRequest, Unprocessable) as exc:
        return _oauth_error("invalid_request", exc.message, 400)
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "scope": " ".join(issued.scopes),
        "created_at": issued.created_at,
    }
    return json(body, headers=_NO_STORE)


async def revoke(request: Request) -> Response:
    try:
        values = await params(request)
        await oauth.revoke(services_of(request), values, basic=_basic_credentials(request))
    except OAuthError as exc:
        return _oauth_error(exc.code, exc.message, exc.status)
    except (BadRequest, Unprocessable) as exc:
        return _oauth_error("invalid_request", exc.message, 400)
    return json({})


async def server_metadata(request: Request) -> Response:
    base = services_of(request).urls.base
    return json(
        {
            "issuer": f"{base}/",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "scopes_supported": list(oauth.SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "password", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            # "none": a public client redeems its code with the PKCE verifier alone.
            "token_endpoint_auth_methods_supported": _AUTH_METHODS,
        }
    )


class _OpenCors:
    """Browser apps (Elk, Phanpy…) read the metadata from their own origin. (The API and
    token endpoints get their CORS headers from ``server.cors`` for every route.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            headers = {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": "GET, OPTIONS",
                "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type",
                "Access-Control-Max-Age": "86400",
            }
            await Response(status_code=204, headers=headers)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    h for h in message.get("headers", []) if h[0] != b"access-control-allow-origin"
                ]
                message["headers"] = [*kept, (b"access-control-allow-origin", b"*")]
            await send(message)

        await self.app(scope, receive, send_with_cors)


ROUTES: list[BaseRoute] = [
    Route("/api/v1/apps", create_app, methods=["POST"]),
    Route("/api/v1/apps/verify_credentials", verify_app, methods=["GET"]),
    Route("/oauth/authorize", authorize_page, methods=["GET"]),
    Route("/oauth/authorize", authorize_submit, methods=["POST"]),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/oauth/revoke", revoke, methods=["POST"]),
    Route(
        "/.well-known/oauth-authorization-server",
        server_metadata,
        methods=["GET", "OPTIONS"],
        middleware=[Middleware(_OpenCors)],
    ),
]
