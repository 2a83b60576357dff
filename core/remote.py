"""Remote actors and objects: fetched signed by the instance actor, cached as actor rows.

Every GET is signed by our instance actor (Mastodon's "authorized fetch" and GoToSocial
require it) and goes through the guarded client, which also checks that a document's
``id`` shares the origin of the URL that served it. Failures are ``RemoteError``: a
client-safe ``reason``, whether trying again later may help, and the remote status.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from core.services import Services
from core.signing import cached_signer
from core.urls import INSTANCE_ACTOR_USERNAME
from federation import webfinger
from federation.client import FetchError, Signer
from federation.content import sanitize_html
from federation.keys import InvalidKey, PublicKey, load_public_key
from federation.vocab import ACTOR_TYPES, Actor, VocabError, parse_actor
from storage import actors
from storage.actors import ActorRow

log = logging.getLogger("shoal.remote")

# A cached actor older than this is refetched when next needed (profile, keys, inbox).
STALE_AFTER: Final = timedelta(days=1)
# A key id is fetched at most once per window per process, whatever signs with it.
KEY_REFETCH_SECONDS: Final = 300.0
# Bound on the refetch memo; older entries are dropped when it grows past this.
_MAX_REFETCH_MEMO: Final = 10_000
# A key that verified a request is reused from memory for this long without reading its
# row again; refetching its owner (key rotation, Update of the actor) drops it at once.
KEY_CACHE_SECONDS: Final = 300.0
_MAX_CACHED_KEYS: Final = 10_000
_MAX_USERNAME_CHARS: Final = 255
# The usual start of a URL, read without ``urlsplit`` (every inbox request needs two
# domains): lower-case http(s), an ASCII host, maybe a port, then the end or a path,
# query or fragment. ``domain_of`` gives the same answer either way.
_PLAIN_ORIGIN: Final = re.compile(r"(https?)://([A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?(?=[/?#]|\Z)")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_FETCH_POLL_SECONDS: Final = 0.05


class RemoteError(Exception):
    """A remote actor or object could not be had; ``reason`` is safe to show."""

    def __init__(self, reason: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status  # the remote server's HTTP status, when it answered

    @property
    def gone(self) -> bool:
        """The remote server says the thing no longer exists (410, or 404)."""
        return self.status in (404, 410)


@dataclass(frozen=True, slots=True)
class CachedKey:
    owner: ActorRow
    key: PublicKey
    until: float  # time.monotonic() after which the row is read again


class KeyCache:
    """Key id -> owner row and parsed key, for ``KEY_CACHE_SECONDS``, per process.

    Reading the row and parsing its PEM on every signed request costs a pool checkout and
    a round trip. An entry is dropped whenever its owner is stored again in this process
    (``forget_owner``); another process's refetch is seen within ``KEY_CACHE_SECONDS``,
    and a stale key only costs a refetch, as a rotated one does (``core.inbound``).
    """

    def __init__(self) -> None:
        self._entries: dict[str, CachedKey] = {}
        # Bumped by every ``forget_owner``: a row read before that must not be cached.
        self.generation = 0

    def get(self, key_id: str) -> CachedKey | None:
        entry = self._entries.get(key_id)
        if entry is None or entry.until <= time.monotonic():
            return None
        return entry

    def put(self, key_id: str, owner: ActorRow, key: PublicKey, *, generation: int) -> None:
        """Keep ``owner`` and ``key``, unless an owner was forgotten since ``generation``
        was read (the row may predate that refetch)."""
        if generation != self.generation:
            return
        now = time.monotonic()
        if len(self._entries) >= _MAX_CACHED_KEYS:
            self._entries = {k: e for k, e in self._entries.items() if e.until > now}
            if len(self._entries) >= _MAX_CACHED_KEYS:
                self._entries.clear()
        self._entries[key_id] = CachedKey(owner, key, now + KEY_CACHE_SECONDS)

    def forget_owner(self, owner_uri: str) -> None:
        self.generation += 1
        for key_id in [k for k, e in self._entries.items() if e.owner.uri == owner_uri]:
            del self._entries[key_id]


def key_cache(services: Services) -> KeyCache:
    if services.key_cache is None:
        services.key_cache = KeyCache()
    return services.key_cache


def domain_of(uri: str) -> str:
    """``host`` or ``host:port`` (default ports dropped), lower-cased, as stored in rows."""
    if (plain := _PLAIN_ORIGIN.match(uri)) is not None:
        scheme, host, digits = plain.groups()
        if digits is None or int(digits) == _DEFAULT_PORTS[scheme]:
            return host.lower()
        if int(digits) <= 65535:  # else urlsplit refuses it, below
            return f"{host.lower()}:{int(digits)}"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise RemoteError("invalid URL") from None
    host = parts.hostname
    if not host:
        raise RemoteError("invalid URL")
    if ":" in host:
        host = f"[{host}]"
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    return host if port is None or port == default else f"{host}:{port}"


def is_local(services: Services, uri: str) -> bool:
    try:
        return domain_of(uri) == services.settings.domain
    except RemoteError:
        return False


async def instance_signer(services: Services) -> Signer:
    """The signer of our instance actor (its parsed key is memoised by ``cached_signer``)."""
    async with services.pool.acquire() as con:
        row = await actors.get_local(con, INSTANCE_ACTOR_USERNAME)
    if row is None or row.public_key_id is None or row.private_key_pem is None:
        raise RuntimeError("the instance actor is missing; was the schema set up?")
    return cached_signer(row.public_key_id, row.private_key_pem)


async def _get(services: Services, url: str) -> dict[str, Any]:
    if is_local(services, url):
        raise RemoteError("refusing to fetch one of our own ids")
    sign = await instance_signer(services)
    try:
        result = await services.http.get_object(url, sign=sign)
    except FetchError as exc:
        raise RemoteError(exc.reason, retryable=exc.retryable, status=exc.status) from exc
    document: dict[str, Any] = result.document  # get_object guarantees a dict with an id
    return document


async def fetch_object(services: Services, uri: str) -> dict[str, Any]:
    """A remote document by its id, fetched signed; its id is on the origin that served it."""
    return await _get(services, uri)


async def fetch_actor(services: Services, uri: str, *, refresh: bool = False) -> ActorRow:
    """The actor row for ``uri``: cached, or (re)fetched when asked, unknown or stale.

    Local actors come from storage only. A stale row whose refetch fails is still
    returned: an actor we knew yesterday is better than none while its server is down.
    """
    async with services.pool.acquire() as con:
        cached = await actors.get_by_uri(con, uri)
    if cached is not None and cached.local:
        return cached
    if is_local(services, uri):
        raise RemoteError("no such local actor", status=404)
    if cached is not None and not refresh and not _is_stale(cached):
        return cached
    try:
        return await _store_actor(services, await _get(services, uri), uri)
    except RemoteError as exc:
        if cached is None or refresh:
            raise
        log.info("keeping stale actor %s: %s", uri, exc.reason)
        return cached


async def key_for(
    services: Services, key_id: str, *, refresh: bool = False
) -> tuple[ActorRow, PublicKey]:
    """The owner of ``key_id`` and the key itself: cached, else fetched (throttled).

    The key document is the actor itself (``…/actor#main-key``) or a key object whose
    ``owner`` is fetched; either way the PEM is taken from the owner's actor document,
    which must list this key id as its own. Requests that need a key while it is being
    fetched (a peer's first deliveries arrive together) wait for that fetch and share it.
    """
    if not refresh and (cached := await _cached_key(services, key_id)) is not None:
        return cached
    if is_local(services, key_id):
        raise RemoteError("unknown local key")
    if await _wait_for_fetch(services, key_id):
        if (cached := await _cached_key(services, key_id)) is not None:
            return cached
        raise RemoteError("key could not be fetched", retryable=True)
    _claim_fetch(services, key_id)
    try:
        url = key_id.partition("#")[0]
        document = await _get(services, url)
        owner_uri = _key_owner(document)
        if owner_uri == url:
            owner = await _store_actor(services, document, owner_uri)  # the actor itself
        else:
            owner = await fetch_actor(services, owner_uri, refresh=True)
    finally:
        services.key_refetches[key_id] = time.monotonic()  # done: the window starts now
    if owner.public_key_id != key_id or owner.public_key_pem is None:
        raise RemoteError("key is not listed by its owner")
    key = _load_key(owner.public_key_pem)
    cache = key_cache(services)
    cache.put(key_id, owner, key, generation=cache.generation)
    return owner, key


async def resolve_acct(services: Services, acct: str) -> ActorRow:
    """``user@domain`` to an actor row, through WebFinger for remote accounts."""
    try:
        resource = webfinger.parse_resource(acct)
    except webfinger.WebFingerError as exc:
        raise RemoteError(exc.reason) from None
    if not isinstance(resource, webfinger.AcctResource):
        raise RemoteError("expected an account, not a URL")
    local = resource.domain == services.settings.domain
    async with services.pool.acquire() as con:
        if local:
            found = await actors.get_local(con, resource.user)
        else:
            found = await actors.get_by_acct(con, resource.user, resource.domain)
    if local:
        if found is None:
            raise RemoteError("no such local account", status=404)
        return found
    if found is not None and not _is_stale(found):
        return found
    try:
        return await _webfinger_actor(services, resource, refresh=found is not None)
    except RemoteError as exc:
        if found is None:
            raise
        log.info("keeping stale actor %s: %s", found.acct, exc.reason)
        return found


# --- helpers -----------------------------------------------------------------


async def _webfinger_actor(
    services: Services, resource: webfinger.AcctResource, *, refresh: bool
) -> ActorRow:
    scheme = "http" if services.settings.dev else "https"
    acct = f"{resource.user}@{resource.domain}"
    try:
        href = await webfinger.lookup(services.http, acct, scheme=scheme)
    except FetchError as exc:
        raise RemoteError(exc.reason, retryable=exc.retryable, status=exc.status) from None
    except webfinger.WebFingerError as exc:
        raise RemoteError(exc.reason) from None
    return await fetch_actor(services, href, refresh=refresh)


def _is_stale(row: ActorRow) -> bool:
    return row.fetched_at is None or datetime.now(UTC) - row.fetched_at > STALE_AFTER


def _load_key(pem: str) -> PublicKey:
    try:
        return load_public_key(pem)
    except InvalidKey:
        raise RemoteError("unusable public key") from None


async def _cached_key(services: Services, key_id: str) -> tuple[ActorRow, PublicKey] | None:
    cache = key_cache(services)
    if (entry := cache.get(key_id)) is not None:
        return entry.owner, entry.key
    generation = cache.generation
    async with services.pool.acquire() as con:
        cached = await actors.get_by_key_id(con, key_id)
    if cached is None or cached.public_key_pem is None:
        return None
    key = _load_key(cached.public_key_pem)
    cache.put(key_id, cached, key, generation=generation)
    return cached, key


# ``services.key_refetches[key_id]`` is the monotonic time the last fetch of that key
# ended; while a fetch is running it holds the time by which it will have ended (in the
# future), which is how other requests know to wait for it instead of fetching again.


def _claim_fetch(services: Services, key_id: str) -> None:
    """Note a fetch of ``key_id`` as running; refuse it within the window of the last one."""
    now = time.monotonic()
    memo = services.key_refetches
    last = memo.get(key_id)
    if last is not None and now - last < KEY_REFETCH_SECONDS:
        raise RemoteError("key was fetched moments ago", retryable=True)
    if len(memo) >= _MAX_REFETCH_MEMO:
        for old in [k for k, at in memo.items() if now - at >= KEY_REFETCH_SECONDS]:
            del memo[old]
    # A key document and its owner: two GETs at most, each bounded by the client.
    memo[key_id] = now + 2 * services.http.config.total_timeout


async def _wait_for_fetch(services: Services, key_id: str) -> bool:
    """Wait while another request fetches ``key_id``; True if there was such a fetch."""
    waited = False
    while (until := services.key_refetches.get(key_id)) is not None and until > time.monotonic():
        waited = True
        await asyncio.sleep(_FETCH_POLL_SECONDS)
    return waited


def _first_type(document: dict[str, Any]) -> object:
    kind = document.get("type")
    return kind[0] if isinstance(kind, list) and kind else kind


def _key_owner(document: dict[str, Any]) -> str:
    if _first_type(document) in ACTOR_TYPES:
        owner: object = document["id"]
    else:
        owner = document.get("owner")
    if isinstance(owner, dict):
        owner = owner.get("id")
    if not isinstance(owner, str) or not owner.startswith(("https://", "http://")):
        raise RemoteError("key has no owner")
    return owner


async def _store_actor(services: Services, document: dict[str, Any], uri: str) -> ActorRow:
    """Check a fetched actor document and upsert its row."""
    try:
        actor = parse_actor(document)
    except VocabError as exc:
        raise RemoteError(f"invalid actor: {exc.reason}") from None
    if actor.id != uri:
        raise RemoteError("actor id does not match the requested URL")
    domain = domain_of(actor.id)
    if domain == services.settings.domain:
        raise RemoteError("refusing a remote copy of one of our own actors")
    values = _actor_columns(actor, domain)
    async with services.pool.acquire() as con, con.transaction():
        # The acct must stay unique: a recreated account keeping its name under a new id
        # (not the usual Mastodon case) would otherwise hit the unique index.
        taken = await actors.get_by_acct(con, values["username"], domain)
        if taken is not None and taken.uri != actor.id:
            raise RemoteError("another actor already has this name on its server")
        stored = await actors.upsert_remote(con, values)
    # Its key may have changed: requests must be verified against the new row.
    key_cache(services).forget_owner(actor.id)
    return stored


def _actor_columns(actor: Actor, domain: str) -> dict[str, Any]:
    username = actor.preferred_username or urlsplit(actor.id).path.rstrip("/").rpartition("/")[2]
    username = username.strip()[:_MAX_USERNAME_CHARS] or "unknown"
    key = actor.public_key
    return {
        "uri": actor.id,
        "type": actor.type,
        "username": username,
        "domain": domain,
        "display_name": actor.name or "",
        "summary": sanitize_html(actor.summary or ""),
        "url": actor.url,
        "inbox_uri": actor.inbox,
        "shared_inbox_uri": actor.shared_inbox,
        "outbox_uri": actor.outbox,
        "followers_uri": actor.followers,
        "following_uri": actor.following,
        "featured_uri": actor.featured,
        "icon_url": actor.icon_url,
        "image_url": actor.image_url,
        "manually_approves_followers": actor.manually_approves_followers,
        "discoverable": actor.discoverable,
        "fields": [{"name": name, "value": sanitize_html(value)} for name, value in actor.fields],
        "public_key_id": None if key is None else key.id,
        "public_key_pem": None if key is None else key.pem,
        "raw": actor.raw,
        "published_at": actor.published,
        "deleted_at": None,  # a refetched actor exists again
    }
