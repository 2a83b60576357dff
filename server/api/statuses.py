"""Statuses in the Mastodon client API: reading in ``statuses_read``, writing in
``statuses_write``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from server.api import statuses_read, statuses_write

ROUTES: list[BaseRoute] = [*statuses_read.ROUTES, *statuses_write.ROUTES]
