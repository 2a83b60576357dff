"""Statuses (posts, boosts; events and aid posts later), their mentions, tags and tombstones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.pool import Conn


@dataclass(frozen=True, slots=True)
class StatusRow:
    id: int
    uri: str
    url: str | None
    actor_id: int
    local: bool
    kind: str
    visibility: str
    content: str
    source: str | None
    spoiler_text: str
    sensitive: bool
    language: str | None
    in_reply_to_id: int | None
    in_reply_to_uri: str | None
    reblog_of_id: int | None
    audience: str | None
    data: dict[str, Any]
    published_at: datetime
    edited_at: datetime | None
    created_at: datetime


_FIELDS = tuple(f.name for f in dataclasses.fields(StatusRow))
_COLUMNS = ", ".join(_FIELDS)
_SELECT = f"SELECT {_COLUMNS} FROM statuses"
_INSERTABLE = frozenset(_FIELDS) - {"id", "created_at"}


def _row(record: asyncpg.Record | None) -> StatusRow | None:
    return None if record is None else StatusRow(**dict(record))


async def insert(
    con: Conn,
    values: Mapping[str, Any],
    *,
    id: int | None = None,
    id_at: datetime | None = None,
) -> StatusRow | None:
    """Insert a status; None when its uri is already stored (a replayed Create).

    ``id`` is one taken from ``next_id`` (our own statuses mint their uri from it);
    otherwise ``id_at`` gives the moment the id is derived from (a remote post's
    published time), so timelines sort by when things were said, not when they arrived.
    """
    unknown = set(values) - _INSERTABLE
    if unknown:
        raise ValueError(f"not status columns: {sorted(unknown)}")
    names = list(values)
    params = [values[n] for n in names]
    id_sql = "shoal_id()"
    if id is not None:
        params.append(id)
        id_sql = f"${len(params)}::bigint"
    elif id_at is not None:
        params.append(id_at)
        id_sql = f"shoal_id_at(${len(params)})"
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    record = await con.fetchrow(
        f"""INSERT INTO statuses (id, {", ".join(names)}) VALUES ({id_sql}, {placeholders})
            ON CONFLICT (uri) DO NOTHING RETURNING {_COLUMNS}""",
        *params,
    )
    return _row(record)


async def get(con: Conn, status_id: int) -> StatusRow | None:
    return _row(await con.fetchrow(f"{_SELECT} WHERE id = $1", status_id))


async def get_by_uri(con: Conn, uri: str) -> StatusRow | None:
    return _row(await con.fetchrow(f"{_SELECT} WHERE uri = $1", uri))


async def get_reblog(con: Conn, actor_id: int, original_id: int) -> StatusRow | None:
    return _row(
        await con.fetchrow(
            f"{_SELECT} WHERE actor_id = $1 AND reblog_of_id = $2", actor_id, original_id
        )
    )


async def update_content(con: Conn, status_id: int, changes: Mapping[str, Any]) -> StatusRow:
    allowed = {"content", "source", "spoiler_text", "sensitive", "language", "data", "url"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    names = list(changes)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    record = await con.fetchrow(
        f"UPDATE statuses SET {sets}, edited_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        status_id,
        *(changes[n] for n in names),
    )
    row = _row(record)
    assert row is not None
    return row


async def delete(con: Conn, status_id: int) -> None:
    await con.execute("DELETE FROM statuses WHERE id = $1", status_id)


async def delete_by_actor(con: Conn, actor_id: int) -> list[int]:
    """Remove every status of an actor; returns their ids (for streaming deletes)."""
    rows = await con.fetch("DELETE FROM statuses WHERE actor_id = $1 RETURNING id", actor_id)
    return [r["id"] for r in rows]


async def link_replies(con: Conn, status: StatusRow) -> None:
    """Replies that arrived before their parent now point at it."""
    await con.execute(
        """UPDATE statuses SET in_reply_to_id = $1
           WHERE in_reply_to_uri = $2 AND in_reply_to_id IS NULL""",
        status.id,
        status.uri,
    )


async def add_mentions(con: Conn, status_id: int, actor_ids: Iterable[int]) -> None:
    await con.executemany(
        "INSERT INTO status_mentions (status_id, actor_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(status_id, a) for a in set(actor_ids)],
    )


async def mentioned_actor_ids(con: Conn, status_id: int) -> list[int]:
    rows = await con.fetch("SELECT actor_id FROM status_mentions WHERE status_id = $1", status_id)
    return [r["actor_id"] for r in rows]


async def replace_tags(con: Conn, status_id: int, tags: Sequence[str]) -> None:
    await con.execute("DELETE FROM status_tags WHERE status_id = $1", status_id)
    await con.executemany(
        "INSERT INTO status_tags (status_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(status_id, t.lower()) for t in tags],
    )


async def tags_of(con: Conn, status_id: int) -> list[str]:
    rows = await con.fetch(
        "SELECT tag FROM status_tags WHERE status_id = $1 ORDER BY tag", status_id
    )
    return [r["tag"] for r in rows]


async def count_by_actor(con: Conn, actor_id: int) -> int:
    return int(
        await con.fetchval(
            "SELECT count(*) FROM statuses WHERE actor_id = $1 AND reblog_of_id IS NULL", actor_id
        )
    )


# Tombstones: what was deleted, so a late Create cannot bring it back and our own
# deleted ids answer 410.


async def add_tombstone(
    con: Conn, uri: str, *, actor_uri: str | None, former_type: str | None
) -> None:
    await con.execute(
        """INSERT INTO tombstones (uri, actor_uri, former_type) VALUES ($1, $2, $3)
           ON CONFLICT (uri) DO NOTHING""",
        uri,
        actor_uri,
        former_type,
    )


async def get_tombstone(con: Conn, uri: str) -> tuple[str | None, datetime] | None:
    record = await con.fetchrow(
        "SELECT former_type, deleted_at FROM tombstones WHERE uri = $1", uri
    )
    return None if record is None else (record["former_type"], record["deleted_at"])


async def local_group_reblogs(con: Conn, status_id: int) -> list[int]:
    """Our own Group actors that boosted this status."""
    rows = await con.fetch(
        """SELECT s.actor_id FROM statuses s JOIN actors a ON a.id = s.actor_id
           WHERE s.reblog_of_id = $1 AND a.local AND a.type = 'Group'""",
        status_id,
    )
    return [r["actor_id"] for r in rows]


async def next_id(con: Conn) -> int:
    return int(await con.fetchval("SELECT shoal_id()"))


async def get_many(con: Conn, status_ids: Sequence[int]) -> dict[int, StatusRow]:
    records = await con.fetch(f"{_SELECT} WHERE id = any($1::bigint[])", list(set(status_ids)))
    return {r["id"]: StatusRow(*r) for r in records}  # _SELECT: the columns in field order
