"""The asyncpg pool: one per process, with jsonb/json decoded by orjson."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

Pool = asyncpg.Pool
Connection = asyncpg.Connection
# What storage functions take: a bare connection or one borrowed from the pool.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"
# What a caller outside storage may catch when the database itself is unreachable.
PoolError: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def _encode(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(con: asyncpg.Connection[Any]) -> None:
    for typename in ("jsonb", "json"):
        await con.set_type_codec(
            typename, encoder=_encode, decoder=orjson.loads, schema="pg_catalog", format="text"
        )


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """Open the pool; raises ``OSError`` or ``asyncpg.PostgresError`` when it cannot connect."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=60,
    )
    assert pool is not None
    return pool


async def ping(pool: Pool, *, within: float = 2.0) -> bool:
    """True when a connection can be had and answers within ``within`` seconds."""
    try:
        async with pool.acquire(timeout=within) as con:
            return bool(await con.fetchval("SELECT 1", timeout=within) == 1)
    except PoolError:
        return False
