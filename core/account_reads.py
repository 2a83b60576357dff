"""Reading accounts as the client API shows them: profiles, their statuses, followers,
blocks and mutes, search, and the member's own credentials and preferences."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core import remote
from core.account_actions import NOT_FOUND, load_account, parse_id, parse_ids, preferences_key
from core.errors import NotFound
from core.services import Services
from core.views import AccountView, StatusView, account_views, load_status_views
from federation import webfinger
from storage import actors, instance, relations
from storage.actors import ActorRow, UserRow
from storage.paging import Page
from storage.relations import StatusFilter

log = logging.getLogger("shoal.accounts")


@dataclass(frozen=True, slots=True)
class Credentials:
    view: AccountView
    user: UserRow
    follow_requests: int
    privacy: str
    sensitive: bool


@dataclass(frozen=True, slots=True)
class AccountPage:
    """Accounts with the ids that page through them (a follow's, block's or mute's)."""

    views: list[AccountView]
    cursors: list[int]


async def account(services: Services, id_text: str) -> AccountView:
    async with services.pool.acquire() as con:
        actor = await load_account(con, parse_id(id_text))
        return (await account_views(con, [actor]))[0]


async def accounts(services: Services, ids: Sequence[str]) -> list[AccountView]:
    wanted = parse_ids(ids)
    async with services.pool.acquire() as con:
        found = await actors.get_many(con, wanted)
        shown = [found[i] for i in wanted if i in found and found[i].deleted_at is None]
        return await account_views(con, shown)


async def lookup(services: Services, acct: str) -> AccountView:
    """``name``, ``name@our.domain`` or a known remote ``name@domain``; nothing is fetched."""
    username, _, domain = acct.strip().removeprefix("@").partition("@")
    if not username:
        raise NotFound(NOT_FOUND)
    own = not domain or domain.lower() == services.settings.domain
    async with services.pool.acquire() as con:
        if own:
            actor = await actors.get_local(con, username)
        else:
            actor = await actors.get_by_acct(con, username, domain.lower())
        if actor is None or actor.deleted_at is not None:
            raise NotFound(NOT_FOUND)
        return (await account_views(con, [actor]))[0]


async def credentials(services: Services, user: UserRow, actor: ActorRow) -> Credentials:
    async with services.pool.acquire() as con:
        fresh = await actors.get(con, actor.id) or actor
        fresh_user = await actors.get_user_by_actor(con, actor.id) or user
        view = (await account_views(con, [fresh]))[0]
        requests = await relations.count_follow_requests(con, actor.id)
        stored = await instance.get_setting(con, preferences_key(user.id)) or {}
    return Credentials(
        view=view,
        user=fresh_user,
        follow_requests=requests,
        privacy=str(stored.get("privacy", "public")),
        sensitive=bool(stored.get("sensitive", False)),
    )


async def preferences(services: Services, user: UserRow) -> dict[str, Any]:
    """Mastodon's Preferences entity (reading options have no settings here yet)."""
    async with services.pool.acquire() as con:
        stored = await instance.get_setting(con, preferences_key(user.id)) or {}
        fresh = await actors.get_user_by_actor(con, user.actor_id) or user
    return {
        "posting:default:visibility": stored.get("privacy", "public"),
        "posting:default:sensitive": bool(stored.get("sensitive", False)),
        "posting:default:language": fresh.locale or None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }


async def statuses(
    services: Services, viewer: ActorRow | None, id_text: str, page: Page, only: StatusFilter
) -> list[StatusView]:
    async with services.pool.acquire() as con:
        author = await load_account(con, parse_id(id_text))
        if viewer is not None and viewer.id != author.id:
            relation = (await relations.relations(con, viewer.id, [author.id]))[author.id]
            if relation.blocked_by:
                return []  # as on Mastodon: whoever blocks you shows you nothing
        rows = await relations.account_statuses(
            con, author.id, viewer.id if viewer else None, page, only
        )
        return await load_status_views(con, viewer, rows) if rows else []


async def _page(services: Services, found: list[tuple[int, ActorRow]]) -> AccountPage:
    async with services.pool.acquire() as con:
        views = await account_views(con, [a for _, a in found])
    return AccountPage(views=views, cursors=[c for c, _ in found])


async def follow_page(
    services: Services, viewer: ActorRow | None, id_text: str, page: Page, *, followers: bool
) -> AccountPage:
    async with services.pool.acquire() as con:
        target = await load_account(con, parse_id(id_text))
        if viewer is not None and viewer.id != target.id:
            relation = (await relations.relations(con, viewer.id, [target.id]))[target.id]
            if relation.blocked_by:
                return AccountPage([], [])
        found = await relations.follow_page(con, target.id, page, followers=followers)
    return await _page(services, found)


async def blocked(services: Services, viewer: ActorRow, page: Page) -> AccountPage:
    async with services.pool.acquire() as con:
        found = await relations.blocked_page(con, viewer.id, page)
    return await _page(services, found)


async def muted(services: Services, viewer: ActorRow, page: Page) -> AccountPage:
    async with services.pool.acquire() as con:
        found = await relations.muted_page(con, viewer.id, page)
    return await _page(services, found)


async def familiar_followers(
    services: Services, viewer: ActorRow, ids: Sequence[str]
) -> list[tuple[int, list[AccountView]]]:
    wanted = parse_ids(ids)
    async with services.pool.acquire() as con:
        found = await relations.familiar_followers(con, viewer.id, wanted)
        known = await actors.get_many(con, list({a for ids in found.values() for a in ids}))
        views = {v.actor.id: v for v in await account_views(con, list(known.values()))}
    return [(t, [views[a] for a in found.get(t, []) if a in views]) for t in wanted]


# Search


@dataclass(frozen=True, slots=True)
class AccountQuery:
    q: str
    limit: int = 40
    offset: int = 0
    resolve: bool = False
    following: bool = False


async def search(
    services: Services, viewer: ActorRow | None, query: AccountQuery
) -> list[AccountView]:
    """Known accounts by name; with ``resolve``, ``user@domain`` is looked up by WebFinger."""
    text = query.q.strip().removeprefix("@")
    if not text:
        return []
    username, at, domain = text.partition("@")
    domain = domain.lower()
    own = services.settings.domain
    resolved: ActorRow | None = None
    if query.resolve and at and username and domain and domain != own and query.offset == 0:
        resolved = await _resolve(services, f"{username}@{domain}")
    async with services.pool.acquire() as con:
        found = await relations.search_accounts(
            con,
            username=username,
            domain=None if not at or domain == own else domain,
            local_only=bool(at) and domain == own,
            viewer_id=viewer.id if viewer else None,
            following_only=query.following and viewer is not None,
            limit=query.limit,
            offset=query.offset,
        )
        if resolved is not None:
            if viewer is not None and resolved.id != viewer.id:
                relation = (await relations.relations(con, viewer.id, [resolved.id]))[resolved.id]
                if (
                    relation.blocking
                    or relation.blocked_by
                    or (query.following and not relation.following)
                ):
                    resolved = None
            if resolved is not None:
                found = [resolved, *(a for a in found if a.id != resolved.id)][: query.limit]
        return await account_views(con, found)


async def _resolve(services: Services, acct: str) -> ActorRow | None:
    try:
        webfinger.parse_resource(acct)
        actor = await remote.resolve_acct(services, acct)
    except (remote.RemoteError, webfinger.WebFingerError) as exc:
        reason = exc.reason
        log.info("search could not resolve %s: %s", acct, reason)
        return None
    return None if actor.deleted_at is not None else actor
