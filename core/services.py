"""The one object that carries a process's shared resources into the use-cases."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from core.settings import Settings
from core.urls import Urls
from federation.client import HttpClient
from storage.embedded import EmbeddedServer
from storage.pool import Pool


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
    # Background workers of this process (see core.workers), and the event that stops them.
    worker_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
