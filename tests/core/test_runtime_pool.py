"""How many connections a process's pool holds (``core.runtime.pool_size``)."""

from __future__ import annotations

import pytest

from core.runtime import pool_size
from core.settings import Settings


@pytest.mark.parametrize(("cores", "expected"), [(1, 4), (2, 4), (3, 6), (8, 16), (None, 4)])
def test_twice_the_cores_at_least_four(
    cores: int | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.runtime.os.cpu_count", lambda: cores)
    assert pool_size(Settings(workers=False)) == expected


def test_the_workers_keep_their_share_and_their_listeners() -> None:
    # At least half the delivery concurrency, and the two LISTEN connections on top.
    assert pool_size(Settings(workers=True, delivery_concurrency=64)) == 32 + 2
    assert pool_size(Settings(workers=True, delivery_concurrency=2, db_connections=5)) == 5 + 2


def test_the_setting_wins() -> None:
    assert pool_size(Settings(workers=False, db_connections=1)) == 1
    assert pool_size(Settings(workers=True, db_connections=40)) == 42
    assert Settings(db_connections=-1).problems() == [
        "database connections must be 0 (automatic) or more"
    ]
