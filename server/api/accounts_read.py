"""Reading accounts: profiles, their statuses and follows, relationships, search, blocks,
mutes and the member's own credentials and preferences."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core import account_actions, account_reads
from core.account_reads import AccountPage, AccountQuery, Credentials
from core.errors import BadRequest, Unprocessable
from server.api import entities
from server.api.auth import Auth, authenticate, optional_auth
from server.api.common import bool_param, json, link_header, list_param, page_params, params
from server.templating import services_of
from storage.actors import ActorRow, UserRow
from storage.relations import Relation, StatusFilter

MAX_IDS = 100


def member(auth: Auth) -> tuple[UserRow, ActorRow]:
    """The member behind a token ``authenticate`` checked (it requires one by default)."""
    assert auth.user is not None and auth.actor is not None
    return auth.user, auth.actor


def relationship_entity(rel: Relation) -> dict[str, Any]:
    return entities.relationship(
        rel.target_id,
        following=rel.following,
        requested=rel.requested,
        followed_by=rel.followed_by,
        showing_reblogs=rel.showing_reblogs,
        notifying=rel.notifying,
        blocking=rel.blocking,
        blocked_by=rel.blocked_by,
        muting=rel.muting,
        muting_notifications=rel.muting_notifications,
        requested_by=rel.requested_by,
    )


def credentials_entity(request: Request, found: Credentials) -> dict[str, Any]:
    return entities.credential_account(
        found.view,
        found.user,
        services_of(request).urls,
        follow_requests=found.follow_requests,
        privacy=found.privacy,
        sensitive=found.sensitive,
    )


def count_param(values: dict[str, Any], name: str, default: int, maximum: int) -> int:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    text = str(raw)
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise BadRequest(f"{name} must be a number")
    return min(int(text), maximum)


def _viewer(auth: Auth | None) -> ActorRow | None:
    return auth.actor if auth is not None else None


def _account_page(request: Request, found: AccountPage) -> Response:
    urls = services_of(request).urls
    return json(
        [entities.account(v, urls) for v in found.views],
        headers=link_header(request, found.cursors),
    )


async def verify_credentials(request: Request) -> Response:
    user, actor = member(await authenticate(request, "profile"))
    found = await account_reads.credentials(services_of(request), user, actor)
    return json(credentials_entity(request, found))


async def show(request: Request) -> Response:
    view = await account_reads.account(services_of(request), request.path_params["id"])
    return json(entities.account(view, services_of(request).urls))


async def many(request: Request) -> Response:
    """GET /api/v1/accounts?id[]=…: the accounts that exist, in the order asked."""
    ids = list_param(request.query_params, "id")[:MAX_IDS]
    services = services_of(request)
    views = await account_reads.accounts(services, ids)
    return json([entities.account(v, services.urls) for v in views])


async def lookup(request: Request) -> Response:
    acct = request.query_params.get("acct")
    if not acct:
        raise BadRequest("param is missing or the value is empty: acct")
    view = await account_reads.lookup(services_of(request), acct)
    return json(entities.account(view, services_of(request).urls))


async def statuses(request: Request) -> Response:
    auth = await optional_auth(request, "read:statuses")
    values = await params(request)
    page = page_params(request)
    only = StatusFilter(
        pinned=bool_param(values, "pinned"),
        exclude_replies=bool_param(values, "exclude_replies"),
        exclude_reblogs=bool_param(values, "exclude_reblogs"),
        tagged=str(values["tagged"]) if values.get("tagged") else None,
    )
    services = services_of(request)
    views = await account_reads.statuses(
        services, _viewer(auth), request.path_params["id"], page, only
    )
    if bool_param(values, "only_media"):
        views = []  # no media attachments yet, so no status has any
    return json(
        [entities.status(v, services.urls) for v in views],
        headers=link_header(request, [v.status.id for v in views]),
    )


async def _follows(request: Request, *, followers: bool) -> Response:
    auth = await optional_auth(request, "read:accounts")
    found = await account_reads.follow_page(
        services_of(request),
        _viewer(auth),
        request.path_params["id"],
        page_params(request, default=40, maximum=80),
        followers=followers,
    )
    return _account_page(request, found)


async def followers(request: Request) -> Response:
    return await _follows(request, followers=True)


async def following(request: Request) -> Response:
    return await _follows(request, followers=False)


async def relationships(request: Request) -> Response:
    _, actor = member(await authenticate(request, "read:follows"))
    ids = list_param(request.query_params, "id")[:MAX_IDS]
    found = await account_actions.relationships(services_of(request), actor, ids)
    return json([relationship_entity(r) for r in found])


async def familiar_followers(request: Request) -> Response:
    _, actor = member(await authenticate(request, "read:follows"))
    ids = list_param(request.query_params, "id")[:MAX_IDS]
    services = services_of(request)
    found = await account_reads.familiar_followers(services, actor, ids)
    return json(
        [
            {"id": str(target), "accounts": [entities.account(v, services.urls) for v in views]}
            for target, views in found
        ]
    )


async def search(request: Request) -> Response:
    _, actor = member(await authenticate(request, "read:accounts"))
    values = await params(request)
    q = values.get("q")
    if q is None:
        raise BadRequest("param is missing or the value is empty: q")
    if not isinstance(q, str):
        raise Unprocessable("q must be a string")
    query = AccountQuery(
        q=q,
        limit=max(1, count_param(values, "limit", 40, 80)),
        offset=count_param(values, "offset", 0, 10_000),
        resolve=bool_param(values, "resolve"),
        following=bool_param(values, "following"),
    )
    services = services_of(request)
    views = await account_reads.search(services, actor, query)
    return json([entities.account(v, services.urls) for v in views])


async def blocks(request: Request) -> Response:
    _, actor = member(await authenticate(request, "read:blocks"))
    page = page_params(request, default=40, maximum=80)
    return _account_page(request, await account_reads.blocked(services_of(request), actor, page))


async def mutes(request: Request) -> Response:
    _, actor = member(await authenticate(request, "read:mutes"))
    page = page_params(request, default=40, maximum=80)
    return _account_page(request, await account_reads.muted(services_of(request), actor, page))


async def featured_tags(request: Request) -> Response:
    # Featured tags are not kept yet: every (existing) account has none.
    await account_reads.account(services_of(request), request.path_params["id"])
    return json([])


async def lists(request: Request) -> Response:
    # Lists do not exist yet, so no list holds the account.
    await authenticate(request, "read:lists")
    await account_reads.account(services_of(request), request.path_params["id"])
    return json([])


async def preferences(request: Request) -> Response:
    user, _ = member(await authenticate(request, "read:accounts"))
    return json(await account_reads.preferences(services_of(request), user))
