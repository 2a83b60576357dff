"""Search, as Mastodon does it without a full-text index: accounts by name (and by
``user@domain`` through WebFinger), hashtags by prefix, and anything by its URL.

A URL is looked up among what we store; with ``resolve`` (a member's search) it is
fetched when unknown: an actor becomes an account, anything else is read as a status.
Statuses are only ever found by URL, never by words, as on a Mastodon without
Elasticsearch.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from core import remote, remote_objects
from core.account_reads import AccountQuery
from core.account_reads import search as search_accounts
from core.services import Services
from core.views import AccountView, StatusView, account_views, load_status_views
from federation import vocab
from storage import actors, interactions, statuses
from storage import search as store
from storage.actors import ActorRow
from storage.pool import Conn
from storage.statuses import StatusRow

log = logging.getLogger("shoal.search")

TYPES = ("accounts", "hashtags", "statuses")
_HASHTAG = re.compile(r"^#?(\w{1,100})$")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    q: str
    type: str | None = None  # None: all three
    resolve: bool = False
    limit: int = 20
    offset: int = 0
    following: bool = False
    account_id: int | None = None


@dataclass(slots=True)
class SearchResults:
    accounts: list[AccountView] = field(default_factory=list)
    statuses: list[StatusView] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)


def _wants(query: SearchQuery, kind: str) -> bool:
    return query.type is None or query.type == kind


async def search(services: Services, viewer: ActorRow | None, query: SearchQuery) -> SearchResults:
    text = query.q.strip()
    results = SearchResults()
    if not text:
        return results
    if text.lower().startswith(("http://", "https://")):
        if query.offset == 0:
            await _by_url(services, viewer, text, query, results)
        return results
    if _wants(query, "accounts") and not text.startswith("#"):
        results.accounts = await search_accounts(
            services,
            viewer,
            AccountQuery(
                q=text,
                limit=query.limit,
                offset=query.offset,
                resolve=query.resolve,
                following=query.following,
            ),
        )
    if _wants(query, "hashtags") and (match := _HASHTAG.match(text)):
        name = match.group(1).lower()
        async with services.pool.acquire() as con:
            found = await store.hashtags(con, name, limit=query.limit, offset=query.offset)
        # Like Mastodon, the hashtag typed is always offered first, used yet or not.
        exact = [name] if query.offset == 0 else []
        results.hashtags = [*exact, *(t for t in found if t != name)][: query.limit]
    return results


async def _by_url(
    services: Services,
    viewer: ActorRow | None,
    url: str,
    query: SearchQuery,
    results: SearchResults,
) -> None:
    async with services.pool.acquire() as con:
        actor, status = await _stored(services, con, url)
    if actor is None and status is None and query.resolve and viewer is not None:
        actor, status = await _fetched(services, url)
    async with services.pool.acquire() as con:
        if actor is not None and actor.deleted_at is None and _wants(query, "accounts"):
            results.accounts = await account_views(con, [actor])
        if status is not None and status.reblog_of_id is None and _wants(query, "statuses"):
            viewer_id = viewer.id if viewer else None
            by_wanted = query.account_id is None or status.actor_id == query.account_id
            if by_wanted and await interactions.visible_ids(con, [status.id], viewer_id):
                results.statuses = await load_status_views(con, viewer, [status])


async def _stored(
    services: Services, con: Conn, url: str
) -> tuple[ActorRow | None, StatusRow | None]:
    """What ``url`` names among what we store: an id, or one of our own pages."""
    actor = await actors.get_by_uri(con, url)
    if actor is not None:
        return actor, None
    status = await statuses.get_by_uri(con, url)
    if status is not None:
        return None, status
    page = url.removeprefix(services.urls.base + "/@")
    if page == url:
        return None, None
    username, _, status_id = page.partition("/")
    owner = await actors.get_local(con, username)
    if owner is None or not status_id:
        return owner, None
    if not status_id.isdigit() or len(status_id) > 19:
        return None, None
    status = await statuses.get(con, int(status_id))
    return None, status if status is not None and status.actor_id == owner.id else None


async def _fetched(services: Services, url: str) -> tuple[ActorRow | None, StatusRow | None]:
    """Fetch ``url`` from its server: an actor, or else something shown as a status."""
    if remote.is_local(services, url):
        return None, None
    try:
        document = await remote.fetch_object(services, url)
        if _type_of(document) in vocab.ACTOR_TYPES:
            return await remote.fetch_actor(services, str(document["id"])), None
        return None, await remote_objects.resolve_status(services, str(document["id"]))
    except (remote.RemoteError, remote_objects.NotStorable, vocab.VocabError) as exc:
        log.info("search could not resolve %s: %s", url, exc)
        return None, None


def _type_of(document: dict[str, Any]) -> object:
    kind = document.get("type")
    return kind[0] if isinstance(kind, list) and kind else kind
