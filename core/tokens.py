"""Whose token a request carries: the owner (token, member, actor) read once per process,
then reused for as long as its rows are unchanged.

    owner = await tokens.owner(services, token)        # checked by one narrow query
    owner = tokens.cached(services, token)              # not checked yet: see below

Every request checks its cached owner against the current versions of the rows it was
read from (``storage.oauth.token_version``), so a revoked token, a disabled member or a
changed profile is seen on the very next request. A read-only endpoint can save that
round trip: it takes the ``cached`` owner with a ``TokenCheck``, and its own statement
reads the token's state (``storage.oauth.token_state_sql``) in the same snapshot as the
data; ``settle`` then confirms the owner or raises ``TokenChanged``, and the endpoint
authenticates again and reads again (``server.api.auth.checked_read``). Nothing read
under an owner that turns out to have changed is ever answered.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.oauth import hash_secret
from core.services import Services
from storage import oauth as store
from storage.oauth import TokenOwner, TokenState
from storage.pool import Conn

# Owners of recently used tokens, by token hash, per process.
MAX_CACHED = 1000
_MAX_TOKEN = 512  # characters: longer is not a token of ours


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """A cached owner still to be confirmed by the statement that reads for it."""

    key: str  # the token's hash
    version: str
    token_id: int


class TokenChanged(Exception):
    """The token was revoked, or its member or their actor changed, since the owner was
    cached: authenticate again, and read again."""


def cached(services: Services, token: str) -> tuple[TokenOwner, TokenCheck] | None:
    """The owner this process read before, unchecked, with what checks it."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    key = hash_secret(token)
    owner = services.token_owners.get(key)
    return None if owner is None else (owner, TokenCheck(key, owner.version, owner.token.id))


async def owner(services: Services, token: str) -> TokenOwner | None:
    """The live token and its member; refreshes last_used_at at most once a minute."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    key, cache = hash_secret(token), services.token_owners
    async with services.pool.acquire() as con:
        found = await _checked(con, key, cache)
        if found is None:
            found = await store.get_token_owner(con, key)
            if found is None:
                return None
            if len(cache) >= MAX_CACHED:
                del cache[next(iter(cache))]  # the oldest
            cache[key] = found
        if found.stale:
            await store.touch_token(con, found.token.id)
    return found


async def settle(
    services: Services, con: Conn, check: TokenCheck, state: TokenState | None
) -> None:
    """Confirm a cached owner by the token's ``state`` as the endpoint's statement read it
    (None when it could not tell: then it is read here); raises ``TokenChanged``."""
    if state is None:
        state = await store.token_version(con, check.key)
    if state.version != check.version:
        services.token_owners.pop(check.key, None)
        raise TokenChanged
    if state.stale:
        await store.touch_token(con, check.token_id)


async def _checked(con: Conn, key: str, cache: dict[str, TokenOwner]) -> TokenOwner | None:
    """The cached owner when its rows have not changed since (one narrow query instead of
    reading and decoding the token, the member and their actor again)."""
    found = cache.get(key)
    if found is None:
        return None
    state = await store.token_version(con, key)
    if state.version != found.version:
        cache.pop(key, None)  # (concurrent requests may both find it stale)
        return None
    stale = state.stale
    return found if found.stale == stale else dataclasses.replace(found, stale=stale)
