"""Accounts, relationships, blocks, mutes and preferences: the routes.

The handlers live in ``accounts_read`` and ``accounts_write``. Fixed paths come before
``/api/v1/accounts/{id}`` so that, for instance, ``verify_credentials`` is never taken
for an id.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from server.api import accounts_read as read
from server.api import accounts_write as write

_A = "/api/v1/accounts"

ROUTES: list[BaseRoute] = [
    Route(_A, read.many, methods=["GET"]),
    Route(f"{_A}/verify_credentials", read.verify_credentials, methods=["GET"]),
    Route(f"{_A}/update_credentials", write.update_credentials, methods=["PATCH"]),
    Route(f"{_A}/lookup", read.lookup, methods=["GET"]),
    Route(f"{_A}/relationships", read.relationships, methods=["GET"]),
    Route(f"{_A}/familiar_followers", read.familiar_followers, methods=["GET"]),
    Route(f"{_A}/search", read.search, methods=["GET"]),
    Route(f"{_A}/{{id}}", read.show, methods=["GET"]),
    Route(f"{_A}/{{id}}/statuses", read.statuses, methods=["GET"]),
    Route(f"{_A}/{{id}}/followers", read.followers, methods=["GET"]),
    Route(f"{_A}/{{id}}/following", read.following, methods=["GET"]),
    Route(f"{_A}/{{id}}/featured_tags", read.featured_tags, methods=["GET"]),
    Route(f"{_A}/{{id}}/lists", read.lists, methods=["GET"]),
    Route(f"{_A}/{{id}}/follow", write.follow, methods=["POST"]),
    Route(f"{_A}/{{id}}/unfollow", write.unfollow, methods=["POST"]),
    Route(f"{_A}/{{id}}/block", write.block, methods=["POST"]),
    Route(f"{_A}/{{id}}/unblock", write.unblock, methods=["POST"]),
    Route(f"{_A}/{{id}}/mute", write.mute, methods=["POST"]),
    Route(f"{_A}/{{id}}/unmute", write.unmute, methods=["POST"]),
    Route("/api/v1/blocks", read.blocks, methods=["GET"]),
    Route("/api/v1/mutes", read.mutes, methods=["GET"]),
    Route("/api/v1/preferences", read.preferences, methods=["GET"]),
]
"""Routes of this area of the Mastodon client API."""
