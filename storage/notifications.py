"""Notifications of local actors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.pool import Conn


@dataclass(frozen=True, slots=True)
class NotificationRow:
    id: int
    recipient_id: int
    from_actor_id: int
    type: str
    status_id: int | None
    created_at: datetime
    dismissed_at: datetime | None


COLUMNS = ", ".join(f.name for f in dataclasses.fields(NotificationRow))


def row(record: asyncpg.Record | None) -> NotificationRow | None:
    return None if record is None else NotificationRow(**dict(record))


async def insert(
    con: Conn, *, recipient_id: int, from_actor_id: int, type: str, status_id: int | None
) -> NotificationRow | None:
    """Add a notification; None when the same one exists already (a replayed Like…)."""
    return row(
        await con.fetchrow(
            f"""INSERT INTO notifications (recipient_id, from_actor_id, type, status_id)
                VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING {COLUMNS}""",
            recipient_id,
            from_actor_id,
            type,
            status_id,
        )
    )
