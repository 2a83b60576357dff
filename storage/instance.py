"""Run-time instance settings kept in the database (set by admins, read by everyone)."""

from __future__ import annotations

from typing import Any

from storage.pool import Conn


async def get_setting(con: Conn, key: str) -> Any:
    return await con.fetchval("SELECT value FROM instance_settings WHERE key = $1", key)


async def set_setting(con: Conn, key: str, value: Any) -> None:
    await con.execute(
        """INSERT INTO instance_settings (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()""",
        key,
        value,
    )
