"""GET /api/v2/search: accounts, statuses and hashtags.

Like Mastodon, anyone may search what is stored here; paging with ``offset`` and
``resolve`` (fetching from other servers) need a member's token.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core import search
from core.errors import BadRequest, Unauthorized
from core.search import SearchQuery
from core.urls import Urls
from server.api import entities
from server.api.accounts_read import count_param
from server.api.auth import optional_auth
from server.api.common import bool_param, json
from server.templating import services_of

MAX_QUERY = 500


def tag_entity(name: str, urls: Urls, *, signed_in: bool) -> dict[str, Any]:
    # No usage history is kept yet: Mastodon's history is a list of days, here empty.
    entity: dict[str, Any] = {"name": name, "url": urls.tag(name), "history": []}
    if signed_in:
        entity["following"] = False  # followed hashtags do not exist yet
    return entity


def _query(values: dict[str, Any]) -> SearchQuery:
    q = values.get("q")
    if not q or not q.strip():
        raise BadRequest("param is missing or the value is empty: q")
    if len(q) > MAX_QUERY:
        raise BadRequest(f"q is longer than {MAX_QUERY} characters")
    kind = values.get("type") or None
    if kind is not None and kind not in search.TYPES:
        raise BadRequest("type must be accounts, hashtags or statuses")
    account_id = values.get("account_id") or None
    if account_id is not None and (not account_id.isdigit() or len(account_id) > 19):
        raise BadRequest("account_id must be an id")
    return SearchQuery(
        q=q,
        type=kind,
        resolve=bool_param(values, "resolve"),
        limit=max(1, count_param(values, "limit", 20, 40)),
        offset=count_param(values, "offset", 0, 10_000),
        following=bool_param(values, "following"),
        account_id=int(account_id) if account_id else None,
    )


async def search_v2(request: Request) -> Response:
    auth = await optional_auth(request, "read:search")
    query = _query(dict(request.query_params))
    viewer = auth.actor if auth is not None else None
    if viewer is None and query.resolve:
        raise Unauthorized(
            "Search queries that resolve remote resources are not supported without authentication"
        )
    if viewer is None and query.offset:
        raise Unauthorized("Search queries pagination is not supported without authentication")
    services = services_of(request)
    found = await search.search(services, viewer, query)
    urls = services.urls
    return json(
        {
            "accounts": [entities.account(a, urls) for a in found.accounts],
            "statuses": [entities.status(s, urls) for s in found.statuses],
            "hashtags": [tag_entity(t, urls, signed_in=viewer is not None) for t in found.hashtags],
        }
    )


ROUTES: list[BaseRoute] = [Route("/api/v2/search", search_v2, methods=["GET"])]
"""Routes of this area of the Mastodon client API."""
