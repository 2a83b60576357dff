"""Who is calling: the bearer token of every Mastodon API request, checked in one query.

    auth = await authenticate(request, "write:statuses")   # a member's token, or an error
    auth = await optional_auth(request, "read:statuses")   # None when no token was sent

Errors are Mastodon's: 401 for a missing or unknown token, 403 for a scope the token
lacks or a disabled login, 422 when an app-only token calls a member's endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TypeVar
from urllib.parse import parse_qs

from starlette.requests import HTTPConnection, Request

from core import oauth, tokens
from core.errors import Forbidden, ShoalError, Unauthorized, Unprocessable
from core.ratelimit import RateState
from core.services import Services
from storage.actors import ActorRow, UserRow
from storage.oauth import TokenOwner

INVALID_TOKEN = "The access token is invalid"  # noqa: S105 (a message, not a secret)
OUT_OF_SCOPE = "This action is outside the authorized scopes"
USER_REQUIRED = "This method requires an authenticated user"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Auth:
    token_id: int
    app_id: int
    scopes: frozenset[str]
    user: UserRow | None  # None for an app's own (client_credentials) token
    actor: ActorRow | None
    # Set when the owner is a cached one that the read must still confirm (checked_read).
    check: tokens.TokenCheck | None = None

    def allows(self, scope: str) -> bool:
        """Granted directly, by its parent (`read` covers `read:statuses`) or by `follow`."""
        return oauth.allows(self.scopes, scope)


async def _token(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    # Streaming clients pass the token as a parameter, or as the WebSocket subprotocol.
    found = request.query_params.get("access_token")
    if not found and request.scope["type"] == "websocket":
        found = request.headers.get("sec-websocket-protocol")
    if (
        not found
        and isinstance(request, Request)
        and request.method == "POST"
        and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    ):
        # body() is cached on the request, so the route can still read its form afterwards.
        try:
            form = parse_qs((await request.body()).decode("latin-1"), max_num_fields=1000)
        except ValueError:  # too many fields: no token to be found there
            form = {}
        found = form.get("access_token", [""])[-1]
    return found or None


async def _check(
    request: HTTPConnection, token: str, scope: str | None, *, user_required: bool
) -> Auth:
    services: Services = request.app.state.services  # also for a WebSocket, not only a Request
    owner = await tokens.owner(services, token)
    if owner is None:
        raise Unauthorized(INVALID_TOKEN)
    return _auth(owner, scope, user_required=user_required)


def _auth(
    owner: TokenOwner,
    scope: str | None,
    *,
    user_required: bool,
    check: tokens.TokenCheck | None = None,
) -> Auth:
    auth = Auth(
        token_id=owner.token.id,
        app_id=owner.token.app_id,
        scopes=frozenset(owner.token.scopes.split()),
        user=owner.user,
        actor=owner.actor,
        check=check,
    )
    if scope is not None and not auth.allows(scope):
        raise Forbidden(OUT_OF_SCOPE)
    if auth.user is None or auth.actor is None:
        if user_required:
            raise Unprocessable(USER_REQUIRED)
    elif auth.user.disabled_at is not None or auth.actor.deleted_at is not None:
        raise Forbidden(oauth.DISABLED)
    return auth


async def authenticate(
    request: HTTPConnection, scope: str | None = None, *, user_required: bool = True
) -> Auth:
    """The caller's token, which must allow ``scope`` and (by default) act for a member."""
    token = await _token(request)
    if token is None:
        raise Unauthorized(INVALID_TOKEN)
    return await _check(request, token, scope, user_required=user_required)


async def optional_auth(request: HTTPConnection, scope: str | None = None) -> Auth | None:
    """None when the request carries no token; a bad token is still an error."""
    token = await _token(request)
    if token is None:
        return None
    return await _check(request, token, scope, user_required=False)


async def checked_read(request: Request, scope: str, read: Callable[[Auth], Awaitable[T]]) -> T:
    """For an endpoint that only reads, on a member's token: ``read`` runs first with the
    owner this process cached for the token, not yet checked; ``auth.check`` is what the
    read's own statement checks it by (``core.tokens``). When that owner has changed, or
    there is none, or it would be refused, ``read`` runs with the token checked as
    ``authenticate`` checks it (so errors are always decided on current rows)."""
    token = await _token(request)
    if token is not None:
        found = tokens.cached(request.app.state.services, token)
        if found is not None:
            try:
                auth = _auth(found[0], scope, user_required=True, check=found[1])
            except ShoalError:
                pass  # decided below, on rows read now
            else:
                try:
                    return await read(auth)
                except tokens.TokenChanged:
                    pass
    return await read(await authenticate(request, scope))


def rate_limit_headers(state: RateState) -> dict[str, str]:
    """Mastodon's X-RateLimit-* headers for a ``core.ratelimit`` state."""
    reset = state.reset_at.astimezone(UTC).isoformat(timespec="milliseconds")
    return {
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(state.remaining),
        "X-RateLimit-Reset": reset.replace("+00:00", "Z"),
    }
