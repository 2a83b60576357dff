"""Actors, local and remote, and the users behind local Person actors."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.errors import AlreadyExists
from storage.pool import Conn


@dataclass(frozen=True, slots=True)
class ActorRow:
    id: int
    uri: str
    local: bool
    type: str
    username: str
    domain: str | None
    display_name: str
    summary: str
    summary_source: str | None
    url: str | None
    inbox_uri: str
    shared_inbox_uri: str | None
    outbox_uri: str | None
    followers_uri: str | None
    following_uri: str | None
    featured_uri: str | None
    icon_url: str | None
    image_url: str | None
    manually_approves_followers: bool
    discoverable: bool
    fields: list[dict[str, str]]
    public_key_id: str | None
    public_key_pem: str | None
    private_key_pem: str | None
    # (The ``raw`` column, a remote actor's document as fetched, is written by
    # ``upsert_remote`` but read by nothing: rows leave it out, and so skip decoding it.)
    published_at: datetime | None
    fetched_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def acct(self) -> str:
        """Mastodon's acct: ``name`` for local actors, ``name@domain`` for remote ones."""
        return self.username if self.domain is None else f"{self.username}@{self.domain}"

    @property
    def delivery_inbox(self) -> str:
        return self.shared_inbox_uri or self.inbox_uri


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    actor_id: int
    email: str | None
    password_hash: str
    role: str
    locale: str
    created_at: datetime
    disabled_at: datetime | None


_ACTOR_COLUMNS = ", ".join(f.name for f in dataclasses.fields(ActorRow))
_USER_COLUMNS = ", ".join(f.name for f in dataclasses.fields(UserRow))
_ACTOR_SELECT = f"SELECT {_ACTOR_COLUMNS} FROM actors"


def _actor(record: asyncpg.Record | None) -> ActorRow | None:
    return None if record is None else ActorRow(**dict(record))


async def insert_local(
    con: Conn,
    *,
    uri: str,
    type: str,
    username: str,
    display_name: str,
    summary: str,
    url: str,
    inbox_uri: str,
    shared_inbox_uri: str,
    outbox_uri: str,
    followers_uri: str,
    following_uri: str,
    featured_uri: str,
    public_key_pem: str,
    private_key_pem: str,
    manually_approves_followers: bool = False,
    discoverable: bool = True,
) -> ActorRow:
    try:
        record = await con.fetchrow(
            f"""INSERT INTO actors (uri, local, type, username, display_name, summary, url,
                   inbox_uri, shared_inbox_uri, outbox_uri, followers_uri, following_uri,
                   featured_uri, public_key_id, public_key_pem, private_key_pem,
                   manually_approves_followers, discoverable, published_at)
               VALUES ($1, true, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $1 || '#main-key',
                       $13, $14, $15, $16, now())
               RETURNING {_ACTOR_COLUMNS}""",
            uri,
            type,
            username,
            display_name,
            summary,
            url,
            inbox_uri,
            shared_inbox_uri,
            outbox_uri,
            followers_uri,
            following_uri,
            featured_uri,
            public_key_pem,
            private_key_pem,
            manually_approves_followers,
            discoverable,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"account {username!r}") from None
    actor = _actor(record)
    assert actor is not None
    return actor


async def get(con: Conn, actor_id: int) -> ActorRow | None:
    return _actor(await con.fetchrow(f"{_ACTOR_SELECT} WHERE id = $1", actor_id))


async def get_by_uri(con: Conn, uri: str) -> ActorRow | None:
    return _actor(await con.fetchrow(f"{_ACTOR_SELECT} WHERE uri = $1", uri))


async def get_many(con: Conn, actor_ids: Sequence[int]) -> dict[int, ActorRow]:
    records = await con.fetch(f"{_ACTOR_SELECT} WHERE id = any($1::bigint[])", list(actor_ids))
    return {r["id"]: ActorRow(**dict(r)) for r in records}


async def get_by_key_id(con: Conn, key_id: str) -> ActorRow | None:
    return _actor(
        await con.fetchrow(
            f"{_ACTOR_SELECT} WHERE public_key_id = $1 AND deleted_at IS NULL LIMIT 1", key_id
        )
    )


async def get_local(con: Conn, username: str) -> ActorRow | None:
    return _actor(
        await con.fetchrow(
            f"{_ACTOR_SELECT} WHERE domain IS NULL AND lower(username) = lower($1)", username
        )
    )


async def get_by_acct(con: Conn, username: str, domain: str | None) -> ActorRow | None:
    return _actor(
        await con.fetchrow(
            f"""{_ACTOR_SELECT}
                WHERE lower(username) = lower($1) AND coalesce(domain, '') = coalesce($2, '')""",
            username,
            domain,
        )
    )


async def upsert_remote(con: Conn, values: Mapping[str, Any]) -> ActorRow:
    """Insert or refresh a remote actor from its fetched document, keyed by uri."""
    domain = values["domain"]
    await con.execute(
        "INSERT INTO domains (domain) VALUES ($1) ON CONFLICT (domain) DO NOTHING", domain
    )
    names = [k for k in values if k not in ("id", "local", "created_at")]
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "uri")
    record = await con.fetchrow(
        f"""INSERT INTO actors (local, fetched_at, updated_at, {", ".join(names)})
            VALUES (false, now(), now(), {placeholders})
            ON CONFLICT (uri) DO UPDATE SET fetched_at = now(), updated_at = now(), {updates}
            RETURNING {_ACTOR_COLUMNS}""",
        *(values[n] for n in names),
    )
    actor = _actor(record)
    assert actor is not None
    return actor


async def update_local_profile(con: Conn, actor_id: int, changes: Mapping[str, Any]) -> ActorRow:
    allowed = {
        "display_name",
        "summary",
        "summary_source",
        "manually_approves_followers",
        "discoverable",
        "fields",
        "icon_url",
        "image_url",
        "type",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    names = list(changes)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    record = await con.fetchrow(
        f"""UPDATE actors SET {sets}, updated_at = now() WHERE id = $1 AND local
            RETURNING {_ACTOR_COLUMNS}""",
        actor_id,
        *(changes[n] for n in names),
    )
    actor = _actor(record)
    assert actor is not None
    return actor


async def mark_deleted(con: Conn, actor_id: int) -> None:
    await con.execute(
        "UPDATE actors SET deleted_at = now(), updated_at = now() WHERE id = $1", actor_id
    )


async def insert_user(
    con: Conn, *, actor_id: int, email: str | None, password_hash: str, role: str
) -> UserRow:
    try:
        record = await con.fetchrow(
            f"""INSERT INTO users (actor_id, email, password_hash, role)
                VALUES ($1, $2, $3, $4) RETURNING {_USER_COLUMNS}""",
            actor_id,
            email,
            password_hash,
            role,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"email {email!r}") from None
    assert record is not None
    return UserRow(**dict(record))


async def get_user_by_actor(con: Conn, actor_id: int) -> UserRow | None:
    record = await con.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE actor_id = $1", actor_id)
    return None if record is None else UserRow(**dict(record))


async def list_users(con: Conn) -> list[tuple[UserRow, ActorRow]]:
    records = await con.fetch(
        f"""SELECT {", ".join("u." + f.name for f in dataclasses.fields(UserRow))},
                   a.id AS a_id FROM users u JOIN actors a ON a.id = u.actor_id ORDER BY u.id"""
    )
    actors = await get_many(con, [r["a_id"] for r in records])
    return [(UserRow(**{k: r[k] for k in _USER_FIELDS}), actors[r["a_id"]]) for r in records]


_USER_FIELDS = tuple(f.name for f in dataclasses.fields(UserRow))


async def count_local_users(con: Conn) -> int:
    return int(await con.fetchval("SELECT count(*) FROM users WHERE disabled_at IS NULL"))
