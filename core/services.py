"""The one object that carries a process's shared resources into the use-cases."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.settings import Settings
from core.urls import Urls
from federation.client import HttpClient
from storage.embedded import EmbeddedServer
from storage.oauth import TokenOwner
from storage.pool import Pool

if TYPE_CHECKING:
    from core.inbound import InboxVerifier
    from core.inbox_commit import InboxBatcher
    from core.remote import KeyCache
    from core.streaming import Hub


@dataclass(slots=True)
class Services:
    settings: Settings
    pool: Pool
    urls: Urls
    http: HttpClient
    embedded: EmbeddedServer | None = None
    # Per-process memo of key ids refetched recently (key id -> monotonic time), so a
    # flood of requests signed with an unknown key costs at most one fetch per window.
    key_refetches: dict[str, float] = field(default_factory=dict)
    # Keys that verify inbox requests, with their owners, kept in memory for a few minutes
    # (core.remote.key_for), made on first use.
    key_cache: KeyCache | None = None
    # Verification in passes and group commit of inbox requests (core.inbound,
    # core.inbox_commit), made by the first request.
    inbox_verifier: InboxVerifier | None = None
    inbox_batcher: InboxBatcher | None = None
    # Set when this process queued inbox items: wakes its own inbox worker without waiting
    # for the NOTIFY to come back from the database.
    inbox_queued: asyncio.Event = field(default_factory=asyncio.Event)
    # Background workers of this process (see core.workers), and the event that stops them.
    worker_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Owners of recently used OAuth tokens (core.oauth.token_owner), by token hash.
    token_owners: dict[str, TokenOwner] = field(default_factory=dict)
    # The streaming hub (core.streaming), started by the first streaming client.
    streaming: Hub | None = None
