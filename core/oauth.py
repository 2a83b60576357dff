"""OAuth 2 as Mastodon apps expect it: app registration, the authorization-code grant
(with PKCE S256), the password and client_credentials grants, revocation, and scopes.

Client secrets, codes and tokens are random 256-bit strings shown once; only their
SHA-256 hashes are stored. Token errors carry RFC 6749 codes (``OAuthError``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec

from core import passwords, ratelimit
from core.errors import BadRequest, Forbidden, ShoalError, Unauthorized, Unprocessable
from core.services import Services
from storage import instance
from storage import oauth as store
from storage.actors import ActorRow, UserRow
from storage.oauth import AppRow
from storage.pool import Conn

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = 600.0
LOGIN_LIMIT, LOGIN_WINDOW = 5, 300.0
APPS_LIMIT, APPS_WINDOW = 30, 300.0
BAD_LOGIN = "Invalid username, email or password"
DISABLED = "Your login is currently disabled"

_GRANULAR = {
    "read": "accounts blocks bookmarks favourites filters follows lists mutes notifications"
    " search statuses",
    "write": "accounts blocks bookmarks conversations favourites filters follows lists media"
    " mutes notifications reports statuses",
    "admin:read": "accounts reports domain_allows domain_blocks ip_blocks email_domain_blocks"
    " canonical_email_blocks",
}
_GRANULAR["admin:write"] = _GRANULAR["admin:read"]
# Mastodon's list, in its order: the broad scopes, then each one's granular children.
SCOPES: tuple[str, ...] = (
    *("read", "write", "follow", "push", "profile", "admin:read", "admin:write"),
    *(f"{parent}:{child}" for parent, children in _GRANULAR.items() for child in children.split()),
)
_KNOWN = frozenset(SCOPES)
# Mastodon's legacy rule: `follow` grants reading and changing follows, blocks and mutes.
_FOLLOW = frozenset(f"{rw}:{s}" for rw in ("read", "write") for s in ("follows", "blocks", "mutes"))
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*$")
_UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "about", "blob"})
# Verified against when the login names nobody, so that timing does not reveal who exists.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$d9RSj+mim0fHBNCrHbAe2w"
    "$YcZjGggJmuX6ke/Xgv5YGw6NjfKlomXWo/ul2mEaxfM"
)


class OAuthError(ShoalError):
    """A token or revocation error, rendered as ``{"error": code, "error_description": …}``."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.status = status


class AuthorizeError(ShoalError):
    """An authorization request error that is reported back to the app's redirect URI."""

    status = 400

    def __init__(self, code: str, description: str, redirect_uri: str, state: str | None):
        super().__init__(description)
        self.code, self.redirect_uri, self.state = code, redirect_uri, state


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def allows(granted: Collection[str], required: str) -> bool:
    """A scope is granted itself, by its parent (`read` → `read:statuses`), or by `follow`."""
    if required in granted:
        return True
    parent, sep, _ = required.rpartition(":")
    if sep and parent in granted:
        return True
    if required in _FOLLOW and "follow" in granted:
        return True
    return required == "profile" and allows(granted, "read:accounts")


def parse_scopes(raw: Any, *, default: str = "read") -> tuple[str, ...]:
    """Space-, plus- or list-separated scopes, in the order given, without repeats."""
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        raw = " ".join(raw)
    if raw is None or raw == "":
        raw = default
    if not isinstance(raw, str) or len(raw) > 4096:
        raise Unprocessable("scopes must be a space-separated string")
    found = tuple(dict.fromkeys(raw.replace("+", " ").split())) or (default,)
    unknown = [s for s in found if s not in _KNOWN]
    if unknown:
        raise Unprocessable(f"unknown scopes: {' '.join(unknown)}")
    return found


# --- applications -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewApp:
    app: AppRow
    client_secret: str  # shown once, at registration


def _absolute_uri(uri: str, *, web_only: bool) -> bool:
    """An absolute URI without fragment: http(s) with a host, or an app's own scheme."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return False
    web = parts.scheme in ("http", "https")
    return (
        len(uri) <= 2000
        and uri.isascii()
        and uri.isprintable()
        and "#" not in uri
        and bool(_SCHEME_RE.match(parts.scheme))
        and parts.scheme not in _UNSAFE_SCHEMES
        and (bool(host) if web else not web_only and len(uri) > len(parts.scheme) + 1)
    )


def _redirect_uris(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else None
    if items is None or not all(isinstance(i, str) for i in items):
        raise Unprocessable("redirect_uris must be a string or an array of strings")
    uris = list(dict.fromkeys(u for item in items for u in item.split()))
    if not uris:
        raise Unprocessable("redirect_uris can't be blank")
    if len(uris) > 20:
        raise Unprocessable("too many redirect_uris (at most 20)")
    for uri in uris:
        if uri != OOB and not _absolute_uri(uri, web_only=False):
            raise Unprocessable(f"redirect URI {uri[:200]!r} must be an absolute URI")
    return uris


def _website(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _absolute_uri(raw, web_only=True):
        raise Unprocessable("website must be an http or https URL")
    return raw


async def create_app(
    services: Services, *, name: Any, redirect_uris: Any, scopes: Any, website: Any, ip: str
) -> NewApp:
    if not isinstance(name, str) or not name.strip():
        raise Unprocessable("client_name can't be blank")
    if len(name.strip()) > 60 or not name.strip().isprintable():
        raise Unprocessable("client_name must be at most 60 printable characters")
    uris = _redirect_uris(redirect_uris)
    granted = parse_scopes(scopes)
    site = _website(website)
    # Apps register once per login; a flood of registrations only fills the table.
    await ratelimit.hit(services, f"apps:{ip}", limit=APPS_LIMIT, window=APPS_WINDOW)
    client_secret = secrets.token_urlsafe(32)
    async with services.pool.acquire() as con:
        app = await store.insert_app(
            con,
            client_id=secrets.token_urlsafe(32),
            client_secret_hash=hash_secret(client_secret),
            name=name.strip(),
            website=site,
            redirect_uris=uris,
            scopes=" ".join(granted),
        )
    return NewApp(app=app, client_secret=client_secret)


async def get_app(services: Services, app_id: int) -> AppRow | None:
    async with services.pool.acquire() as con:
        return await store.get_app(con, app_id)


def _new_vapid() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(ser.Encoding.X962, ser.PublicFormat.UncompressedPoint)
    pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    return {"public_key": base64.urlsafe_b64encode(point).decode(), "private_key": pem.decode()}


async def vapid_public_key(services: Services) -> str:
    """The instance's Web Push (VAPID) public key, made on first use."""
    async with services.pool.acquire() as con:
        keys = await instance.get_setting(con, "vapid_keys")
        if keys is None:
            keys = await store.ensure_setting(con, "vapid_keys", _new_vapid())
    return str(keys["public_key"])


async def instance_secret(services: Services, key: str) -> bytes:
    """A random per-instance secret (e.g. for signing CSRF tokens), made on first use."""
    async with services.pool.acquire() as con:
        value = await store.ensure_setting(con, key, secrets.token_urlsafe(32))
    return str(value).encode()


# --- authorization ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    app: AppRow
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None


def _param(values: Mapping[str, Any], name: str, maximum: int = 4096) -> str | None:
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > maximum or "\x00" in raw:
        raise BadRequest(f"{name} must be a string of at most {maximum} characters")
    return raw


async def prepare_authorization(services: Services, values: Mapping[str, Any]) -> AuthorizeRequest:
    """Check an authorization request. Problems with the app or its redirect URI raise
    ``BadRequest`` (never redirect to an unverified URI); the rest raise ``AuthorizeError``."""
    client_id = _param(values, "client_id")
    app = None
    if client_id is not None:
        async with services.pool.acquire() as con:
            app = await store.get_app_by_client_id(con, client_id)
    if app is None:
        raise BadRequest("Unknown application: check the client_id")
    redirect_uri = _param(values, "redirect_uri")
    if redirect_uri is None and len(app.redirect_uris) == 1:
        redirect_uri = app.redirect_uris[0]
    if redirect_uri not in app.redirect_uris:
        raise BadRequest("The redirect_uri is not one this application registered")
    state = _param(values, "state")

    def fail(code: str, description: str) -> AuthorizeError:
        return AuthorizeError(code, description, redirect_uri, state)

    if values.get("response_type") != "code":
        raise fail("unsupported_response_type", "response_type must be code")
    try:
        scopes = parse_scopes(values.get("scope"))
    except Unprocessable as exc:
        raise fail("invalid_scope", exc.message) from None
    if not all(allows(app.scopes.split(), s) for s in scopes):
        raise fail("invalid_scope", "The requested scopes exceed what the application registered")
    challenge = _param(values, "code_challenge")
    method = _param(values, "code_challenge_method")
    if challenge is None and method is not None:
        raise fail("invalid_request", "code_challenge_method was given without code_challenge")
    if challenge is not None:
        if method != "S256":
            raise fail("invalid_request", "code_challenge_method must be S256")
        if not _CHALLENGE_RE.match(challenge):
            raise fail("invalid_request", "code_challenge is malformed")
    return AuthorizeRequest(app, redirect_uri, scopes, state, challenge, method)


async def check_login(
    services: Services, login: str, password: str, *, ip: str
) -> tuple[UserRow, ActorRow]:
    """The member with this username or email and password. Wrong passwords are limited to
    LOGIN_LIMIT per LOGIN_WINDOW per address and login (``RateLimited`` past that)."""
    login = login.strip().removeprefix("@")
    if not (login and password and login.isprintable()) or len(login) > 320 or len(password) > 4096:
        raise Unauthorized(BAD_LOGIN)
    # Every attempt is counted before the (slow) check and refunded when it succeeds, so
    # that a burst of concurrent guesses cannot slip past the limit.
    bucket = f"login:{ip}:{login.lower()}"
    await ratelimit.hit(services, bucket, limit=LOGIN_LIMIT, window=LOGIN_WINDOW)
    async with services.pool.acquire() as con:
        found = await store.find_login(con, login)
        name, _, host = login.partition("@")
        if found is None and host.lower() == services.settings.domain:
            found = await store.find_login(con, name)  # name@our.domain, as apps show it
    stored_hash = _DUMMY_HASH if found is None else found[0].password_hash
    verified = await asyncio.to_thread(passwords.verify_password, stored_hash, password)
    if found is None or not verified:
        raise Unauthorized(BAD_LOGIN)
    await ratelimit.refund(services, bucket, window=LOGIN_WINDOW)
    user, actor = found
    if user.disabled_at is not None or actor.deleted_at is not None:
        raise Forbidden(DISABLED)
    return user, actor


async def issue_code(services: Services, request: AuthorizeRequest, user: UserRow) -> str:
    code = secrets.token_urlsafe(32)
    async with services.pool.acquire() as con:
        await store.insert_code(
            con,
            code_hash=hash_secret(code),
            app_id=request.app.id,
            user_id=user.id,
            scopes=" ".join(request.scopes),
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            lifetime=CODE_LIFETIME,
        )
    return code


# --- tokens -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    scopes: tuple[str, ...]
    created_at: int  # unix seconds


def _field(values: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    raw = values.get(name)
    if raw is None or raw == "":
        if required:
            raise OAuthError("invalid_request", f"Missing required parameter: {name}.")
        return None
    if not isinstance(raw, str) or len(raw) > 4096 or "\x00" in raw:
        raise OAuthError("invalid_request", f"The parameter {name} is malformed.")
    return raw


async def _client(
    con: Conn, client_id: str | None, client_secret: str | None, *, secret_required: bool
) -> AppRow:
    app = None if client_id is None else await store.get_app_by_client_id(con, client_id)
    if app is None or (client_secret is None and secret_required):
        raise OAuthError("invalid_client", "Client authentication failed.", 401)
    if client_secret is not None and not hmac.compare_digest(
        hash_secret(client_secret), app.client_secret_hash
    ):
        raise OAuthError("invalid_client", "Client authentication failed.", 401)
    return app


def _scopes_for(app: AppRow, raw: str | None) -> tuple[str, ...]:
    try:
        scopes = parse_scopes(raw)
    except Unprocessable as exc:
        raise OAuthError("invalid_scope", exc.message) from None
    if not all(allows(app.scopes.split(), s) for s in scopes):
        raise OAuthError("invalid_scope", "The requested scopes exceed the application's.")
    return scopes


async def _issue(
    con: Conn, app: AppRow, user_id: int | None, scopes: tuple[str, ...]
) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    row = await store.insert_token(
        con, token_hash=hash_secret(token), app_id=app.id, user_id=user_id, scopes=" ".join(scopes)
    )
    return IssuedToken(token, scopes, int(row.created_at.timestamp()))


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _client_credentials(
    values: Mapping[str, Any], basic: tuple[str, str] | None
) -> tuple[str | None, str | None]:
    client_id = _field(values, "client_id") or (basic[0] if basic else None)
    client_secret = _field(values, "client_secret") or (basic[1] if basic else None)
    return client_id, client_secret


async def grant_token(
    services: Services,
    values: Mapping[str, Any],
    *,
    ip: str,
    basic: tuple[str, str] | None = None,
) -> IssuedToken:
    """POST /oauth/token. ``basic`` holds client credentials from an Authorization header."""
    grant_type = _field(values, "grant_type", required=True)
    client = _client_credentials(values, basic)
    if grant_type == "authorization_code":
        return await _code_grant(services, values, client)
    if grant_type == "password":
        return await _password_grant(services, values, client, ip=ip)
    if grant_type == "client_credentials":
        async with services.pool.acquire() as con:
            app = await _client(con, *client, secret_required=True)
            return await _issue(con, app, None, _scopes_for(app, _field(values, "scope")))
    raise OAuthError("unsupported_grant_type", f"The grant type {grant_type} is not supported.")


async def _code_grant(
    services: Services, values: Mapping[str, Any], client: tuple[str | None, str | None]
) -> IssuedToken:
    code = _field(values, "code", required=True) or ""
    redirect_uri = _field(values, "redirect_uri", required=True)
    verifier = _field(values, "code_verifier")
    invalid = OAuthError(
        "invalid_grant",
        "The authorization code is invalid, expired, already used, or was issued to another "
        "application or redirect URI.",
    )
    async with services.pool.acquire() as con, con.transaction():
        app = await _client(con, *client, secret_required=False)
        row = await store.lock_live_code(con, hash_secret(code))
        if row is None or row.app_id != app.id or row.redirect_uri != redirect_uri:
            raise invalid
        if row.code_challenge is not None:
            # A code bound to a PKCE challenge is only redeemed with its verifier.
            if verifier is None or not hmac.compare_digest(_s256(verifier), row.code_challenge):
                raise invalid
        elif client[1] is None:
            raise OAuthError("invalid_client", "Client authentication failed.", 401)
        await store.mark_code_used(con, row.code_hash)
        return await _issue(con, app, row.user_id, tuple(row.scopes.split()))


async def _password_grant(
    services: Services,
    values: Mapping[str, Any],
    client: tuple[str | None, str | None],
    *,
    ip: str,
) -> IssuedToken:
    username = _field(values, "username", required=True) or ""
    password = _field(values, "password", required=True) or ""
    async with services.pool.acquire() as con:
        app = await _client(con, *client, secret_required=True)
    scopes = _scopes_for(app, _field(values, "scope"))
    try:
        user, _ = await check_login(services, username, password, ip=ip)
    except (Unauthorized, Forbidden) as exc:
        raise OAuthError("invalid_grant", exc.message) from None
    async with services.pool.acquire() as con:
        return await _issue(con, app, user.id, scopes)


async def revoke(
    services: Services, values: Mapping[str, Any], *, basic: tuple[str, str] | None = None
) -> None:
    """POST /oauth/revoke (RFC 7009): an unknown token is not an error."""
    token = _field(values, "token", required=True) or ""
    client = _client_credentials(values, basic)
    async with services.pool.acquire() as con:
        app = await _client(con, *client, secret_required=False)
        row = await store.get_live_token(con, hash_secret(token))
        if row is None:
            return
        if row.app_id != app.id:
            raise OAuthError(
                "unauthorized_client", "You are not authorized to revoke this token.", 403
            )
        await store.revoke_token(con, row.id)
