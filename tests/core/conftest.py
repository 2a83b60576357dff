"""Fixtures shared by the core tests: a started Services without workers, a loopback
peer serving ActivityPub documents, and RSA key pairs (slow to make, so made once)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core import runtime
from core.services import Services
from core.settings import Settings
from federation.keys import generate_rsa_keypair
from tests.core.test_remote import FakePeer, serve_peer


@pytest.fixture(scope="session")
def keypairs() -> list[tuple[str, str]]:
    """A few RSA (private, public) PEM pairs; generating one takes up to 200 ms."""
    return [generate_rsa_keypair() for _ in range(3)]


@pytest.fixture
async def peer() -> AsyncIterator[FakePeer]:
    async with serve_peer() as served:
        yield served


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    started = await runtime.start(settings.replace(workers=False))
    try:
        yield started
    finally:
        await runtime.stop(started)
