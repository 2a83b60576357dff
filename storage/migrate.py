"""Numbered, forward-only SQL migrations, applied in order under an advisory lock.

Files live in ``storage/migrations`` as ``NNNN_name.sql``. Each runs in its own
transaction and is recorded in ``schema_migrations``; applying twice is a no-op, and
several processes starting at once serialise on the lock instead of racing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from storage.pool import Conn

# Any fixed 64-bit number; identifies "Shoal migrations" among advisory locks.
_LOCK_ID = 0x5340_A1_0001
_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migrations share a number")
    return found


async def apply(con: Conn) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when up to date)."""
    applied: list[str] = []
    await con.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await con.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await con.fetch("SELECT version FROM schema_migrations")}
        for migration in available():
            if migration.version in done:
                continue
            async with con.transaction():
                await con.execute(migration.sql)
                await con.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.name)
    finally:
        await con.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied


async def current_version(con: Conn) -> int:
    exists = await con.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await con.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))
