"""The asyncpg pool: one per process, with jsonb/json decoded by orjson."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeAlias

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


if TYPE_CHECKING:
    _BaseConnection = asyncpg.Connection[asyncpg.Record]
else:
    _BaseConnection = asyncpg.Connection


class PoolConnection(_BaseConnection):
    """A pooled connection released without asyncpg's reset query unless it LISTENed.

    On every release asyncpg sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``: one more round trip (and server work) per unit of work, a
    good part of a small request's cost. None of that state is left on a pooled
    connection here: transactions are always closed (asyncpg rolls back any left open
    whatever this returns), advisory locks are transaction-scoped or unlocked in a
    ``finally`` (``storage.migrate``), and nothing runs ``SET``, ``DECLARE … WITH HOLD``
    or ``pg_advisory_lock`` on a connection it then gives back. LISTEN is the one session
    state in use, always through ``add_listener`` (``storage.inbox.wakeups``,
    ``storage.deliveries.Listener``): a connection that listened gets the full reset on
    release, in case its ``UNLISTEN`` was lost to an error. Code that needs other
    session state must use a connection of its own (as ``storage.listen`` does) or undo
    that state before release.
    """

    _listened = False

    async def add_listener(self, channel: str, callback: Any) -> None:
        self._listened = True
        await super().add_listener(channel, callback)

    def get_reset_query(self) -> str:
        return super().get_reset_query() if self._listened else ""

    # The pool calls this on release; asyncpg's signature, ``timeout`` included.
    async def reset(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await super().reset(timeout=timeout)
        self._listened = False


# JSON travels in PostgreSQL's binary format: the bytes orjson makes, with a version byte
# for jsonb. No text codec means no str to build, copy and validate on the way in or out.
_JSONB_VERSION: Final = b"\x01"


def _encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + orjson.dumps(value)


def _decode_jsonb(data: bytes) -> Any:
    if data[:1] != _JSONB_VERSION:
        raise ValueError(f"unknown jsonb format version {data[:1]!r}")
    return orjson.loads(memoryview(data)[1:])


async def _init_connection(con: asyncpg.Connection[Any]) -> None:
    await con.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )
    await con.set_type_codec(
        "json", encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog", format="binary"
    )


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """Open the pool; raises ``OSError`` or ``asyncpg.PostgresError`` when it cannot connect."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        connection_class=PoolConnection,
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
