"""Advisory locks that make one process of several do a job (they are held by a
transaction and released with it)."""

from __future__ import annotations

from typing import Final

from storage.pool import Conn

# Fixed 64-bit keys, one per job; the migrations use another (storage.migrate).
HOUSEKEEPING: Final = 0x5E0A_0000_0000_0005


async def try_transaction_lock(con: Conn, key: int) -> bool:
    """Take ``key`` for the current transaction; False when another one holds it."""
    return bool(await con.fetchval("SELECT pg_try_advisory_xact_lock($1)", key))
