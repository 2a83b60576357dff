"""Read markers: where a member stopped reading their home timeline and notifications."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.pool import Conn

TIMELINES = ("home", "notifications")


@dataclass(frozen=True, slots=True)
class MarkerRow:
    timeline: str
    last_read_id: int
    version: int
    updated_at: datetime


_COLUMNS = "timeline, last_read_id, version, updated_at"


async def get(con: Conn, user_id: int, timelines: Sequence[str]) -> list[MarkerRow]:
    records = await con.fetch(
        f"""SELECT {_COLUMNS} FROM markers WHERE user_id = $1 AND timeline = any($2::text[])
            ORDER BY timeline""",
        user_id,
        list(timelines),
    )
    return [MarkerRow(**dict(r)) for r in records]


async def save(con: Conn, user_id: int, timeline: str, last_read_id: int) -> MarkerRow:
    """Set a marker; every save counts one more version, as Mastodon's lock_version does."""
    record = await con.fetchrow(
        f"""INSERT INTO markers (user_id, timeline, last_read_id) VALUES ($1, $2, $3)
            ON CONFLICT (user_id, timeline) DO UPDATE
            SET last_read_id = excluded.last_read_id, version = markers.version + 1,
                updated_at = now()
            RETURNING {_COLUMNS}""",
        user_id,
        timeline,
        last_read_id,
    )
    assert record is not None
    return MarkerRow(**dict(record))
