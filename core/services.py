"""The one object that carries a process's shared resources into the use-cases."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import Settings
from core.urls import Urls
from storage.embedded import EmbeddedServer
from storage.pool import Pool


@dataclass(slots=True)
class Services:
    settings: Settings
    pool: Pool
    urls: Urls
    embedded: EmbeddedServer | None = None
