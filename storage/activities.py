"""Activities we published: kept for the outbox and as the payload of every delivery."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from storage.errors import AlreadyExists
from storage.pool import Conn

# The ways a document may say "public" (full URI, and the compacted forms some peers use).
PUBLIC_ADDRESSES: Final = (
    "https://www.w3.org/ns/activitystreams#Public",
    "as:Public",
    "Public",
)
# Only these types show in an outbox; a Follow or a Like is nobody else's business.
_OUTBOX_TYPES: Final = ["Create", "Announce"]


@dataclass(frozen=True, slots=True)
class ActivityRow:
    id: int
    uri: str
    actor_id: int
    type: str
    object_uri: str | None
    payload: dict[str, Any]
    created_at: datetime


_COLUMNS = ", ".join(f.name for f in dataclasses.fields(ActivityRow))
# `?|` matches an array holding any of the strings, and a bare string equal to one of them.
_PUBLIC_FILTER = """actor_id = $1 AND type = any($2::text[])
    AND (payload -> 'to' ?| $3::text[] OR payload -> 'cc' ?| $3::text[])"""


def _row(record: asyncpg.Record | None) -> ActivityRow | None:
    return None if record is None else ActivityRow(**dict(record))


async def next_id(con: Conn) -> int:
    """A fresh time-sorted id, for minting the activity's URI before inserting it."""
    return int(await con.fetchval("SELECT shoal_id()"))


async def insert(
    con: Conn,
    *,
    id: int | None,
    uri: str,
    actor_id: int,
    type: str,
    object_uri: str | None,
    payload: Mapping[str, Any],
) -> ActivityRow:
    """Store a published activity; ``id`` None takes a fresh one. Raises ``AlreadyExists``."""
    try:
        record = await con.fetchrow(
            f"""INSERT INTO activities (id, uri, actor_id, type, object_uri, payload)
                VALUES (coalesce($1, shoal_id()), $2, $3, $4, $5, $6)
                RETURNING {_COLUMNS}""",
            id,
            uri,
            actor_id,
            type,
            object_uri,
            dict(payload),
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"activity {uri!r}") from None
    row = _row(record)
    assert row is not None
    return row


async def get(con: Conn, activity_id: int) -> ActivityRow | None:
    return _row(await con.fetchrow(f"SELECT {_COLUMNS} FROM activities WHERE id = $1", activity_id))


async def get_by_uri(con: Conn, uri: str) -> ActivityRow | None:
    return _row(await con.fetchrow(f"SELECT {_COLUMNS} FROM activities WHERE uri = $1", uri))


async def list_public_by_actor(
    con: Conn, actor_id: int, *, max_id: int | None, limit: int
) -> list[ActivityRow]:
    """Public Create/Announce activities of an actor, newest first, older than ``max_id``."""
    records = await con.fetch(
        f"""SELECT {_COLUMNS} FROM activities
            WHERE {_PUBLIC_FILTER} AND ($4::bigint IS NULL OR id < $4)
            ORDER BY id DESC LIMIT $5""",
        actor_id,
        _OUTBOX_TYPES,
        list(PUBLIC_ADDRESSES),
        max_id,
        limit,
    )
    return [ActivityRow(**dict(r)) for r in records]


async def count_public_by_actor(con: Conn, actor_id: int) -> int:
    return int(
        await con.fetchval(
            f"SELECT count(*) FROM activities WHERE {_PUBLIC_FILTER}",
            actor_id,
            _OUTBOX_TYPES,
            list(PUBLIC_ADDRESSES),
        )
    )
