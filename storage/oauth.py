"""OAuth 2 applications, authorization codes and access tokens.

Client secrets, codes and tokens arrive here already hashed: the plain values never
reach the database.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from storage.actors import ActorRow, UserRow
from storage.pool import Conn


@dataclass(frozen=True, slots=True)
class AppRow:
    id: int
    client_id: str
    client_secret_hash: str
    name: str
    website: str | None
    redirect_uris: list[str]
    scopes: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CodeRow:
    code_hash: str
    app_id: int
    user_id: int
    scopes: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    app_id: int
    user_id: int | None
    scopes: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """A live token with the member it acts for (None for a client_credentials token)."""

    token: TokenRow
    user: UserRow | None
    actor: ActorRow | None
    # True when last_used_at is older than a minute and worth refreshing.
    stale: bool
    # What a cached owner is checked against: see ``token_version``.
    version: str = ""


def _names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_APP = _names(AppRow)
_CODE = _names(CodeRow)
_TOKEN = _names(TokenRow)
_USER = _names(UserRow)
_ACTOR = _names(ActorRow)


def _columns(alias: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{n} AS {alias}_{n}" for n in names)


def _pick(record: asyncpg.Record, alias: str, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: record[f"{alias}_{n}"] for n in names}


async def insert_app(
    con: Conn,
    *,
    client_id: str,
    client_secret_hash: str,
    name: str,
    website: str | None,
    redirect_uris: list[str],
    scopes: str,
) -> AppRow:
    record = await con.fetchrow(
        f"""INSERT INTO oauth_apps (client_id, client_secret_hash, name, website, redirect_uris,
                                    scopes)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {", ".join(_APP)}""",
        client_id,
        client_secret_hash,
        name,
        website,
        redirect_uris,
        scopes,
    )
    assert record is not None
    return AppRow(**dict(record))


async def get_app(con: Conn, app_id: int) -> AppRow | None:
    record = await con.fetchrow(f"SELECT {', '.join(_APP)} FROM oauth_apps WHERE id = $1", app_id)
    return None if record is None else AppRow(**dict(record))


async def get_app_by_client_id(con: Conn, client_id: str) -> AppRow | None:
    record = await con.fetchrow(
        f"SELECT {', '.join(_APP)} FROM oauth_apps WHERE client_id = $1", client_id
    )
    return None if record is None else AppRow(**dict(record))


async def insert_code(
    con: Conn,
    *,
    code_hash: str,
    app_id: int,
    user_id: int,
    scopes: str,
    redirect_uri: str,
    code_challenge: str | None,
    code_challenge_method: str | None,
    lifetime: float,
) -> None:
    await con.execute(
        """INSERT INTO oauth_codes (code_hash, app_id, user_id, scopes, redirect_uri,
                                    code_challenge, code_challenge_method, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))""",
        code_hash,
        app_id,
        user_id,
        scopes,
        redirect_uri,
        code_challenge,
        code_challenge_method,
        float(lifetime),
    )


async def lock_live_code(con: Conn, code_hash: str) -> CodeRow | None:
    """The unused, unexpired code, locked until the end of the caller's transaction."""
    record = await con.fetchrow(
        f"""SELECT {", ".join(_CODE)} FROM oauth_codes
            WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() FOR UPDATE""",
        code_hash,
    )
    return None if record is None else CodeRow(**dict(record))


async def mark_code_used(con: Conn, code_hash: str) -> None:
    await con.execute("UPDATE oauth_codes SET used_at = now() WHERE code_hash = $1", code_hash)


async def prune_codes(con: Conn) -> int:
    """Delete codes that expired more than a day ago (used ones included)."""
    status = await con.execute(
        "DELETE FROM oauth_codes WHERE expires_at < now() - interval '1 day'"
    )
    return int(status.split()[-1])


async def insert_token(
    con: Conn, *, token_hash: str, app_id: int, user_id: int | None, scopes: str
) -> TokenRow:
    record = await con.fetchrow(
        f"""INSERT INTO oauth_tokens (token_hash, app_id, user_id, scopes)
            VALUES ($1, $2, $3, $4) RETURNING {", ".join(_TOKEN)}""",
        token_hash,
        app_id,
        user_id,
        scopes,
    )
    assert record is not None
    return TokenRow(**dict(record))


async def get_live_token(con: Conn, token_hash: str) -> TokenRow | None:
    record = await con.fetchrow(
        f"""SELECT {", ".join(_TOKEN)} FROM oauth_tokens
            WHERE token_hash = $1 AND revoked_at IS NULL""",
        token_hash,
    )
    return None if record is None else TokenRow(**dict(record))


_STALE = "(t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')"
# The member's and actor's row versions. The token row itself only ever changes by
# ``touch_token`` (last_used_at, which nothing shows) and ``revoke_token`` (which every
# query here filters on), so its id stands for it.
_VERSION = "concat_ws('/', t.id, u.xmin, a.xmin)"


async def get_token_owner(con: Conn, token_hash: str) -> TokenOwner | None:
    """One query on the unique token_hash index, with the member and their actor joined."""
    record = await con.fetchrow(
        f"""SELECT {_columns("t", _TOKEN)}, {_columns("u", _USER)}, {_columns("a", _ACTOR)},
                   {_STALE} AS stale, {_VERSION} AS version
            FROM oauth_tokens t
            LEFT JOIN users u ON u.id = t.user_id
            LEFT JOIN actors a ON a.id = u.actor_id
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL""",
        token_hash,
    )
    if record is None:
        return None
    token = TokenRow(**_pick(record, "t", _TOKEN))
    has_user = record["u_id"] is not None
    return TokenOwner(
        token=token,
        user=UserRow(**_pick(record, "u", _USER)) if has_user else None,
        actor=ActorRow(**_pick(record, "a", _ACTOR)) if has_user else None,
        stale=bool(record["stale"]),
        version=record["version"],
    )


class TokenState(NamedTuple):
    """What a cached ``TokenOwner`` is checked against: the version of a live token's rows
    (None once it is revoked) and whether its ``last_used_at`` is worth refreshing."""

    version: str | None
    stale: bool


_STATE = f"""SELECT {_VERSION} AS version, {_STALE} AS stale
    FROM oauth_tokens t
    LEFT JOIN users u ON u.id = t.user_id
    LEFT JOIN actors a ON a.id = u.actor_id
    WHERE t.token_hash = {{param}} AND t.revoked_at IS NULL"""


def token_state_sql(param: str) -> str:
    """A subquery giving the ``version`` and ``stale`` of the live token whose hash is the
    parameter ``param`` (no row when it is revoked), for a statement that checks a cached
    owner while it reads: then the check and the read see the same snapshot."""
    return _STATE.format(param=param)


async def token_version(con: Conn, token_hash: str) -> TokenState:
    """A token's state: a ``TokenOwner`` read before still holds while its version is the
    same, since any change to the member or to their actor changes one of their rows."""
    record = await con.fetchrow(token_state_sql("$1"), token_hash)
    return TokenState(None, False) if record is None else TokenState(*record)


async def touch_token(con: Conn, token_id: int) -> None:
    await con.execute(
        """UPDATE oauth_tokens SET last_used_at = now()
           WHERE id = $1
             AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')""",
        token_id,
    )


async def revoke_token(con: Conn, token_id: int) -> None:
    await con.execute(
        "UPDATE oauth_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )


async def find_login(con: Conn, login: str) -> tuple[UserRow, ActorRow] | None:
    """The local member whose email (when ``login`` has an @) or username is ``login``."""
    where = "lower(u.email) = lower($1)" if "@" in login else "lower(a.username) = lower($1)"
    record = await con.fetchrow(
        f"""SELECT {_columns("u", _USER)}, {_columns("a", _ACTOR)}
            FROM users u JOIN actors a ON a.id = u.actor_id
            WHERE a.domain IS NULL AND {where}""",
        login,
    )
    if record is None:
        return None
    return UserRow(**_pick(record, "u", _USER)), ActorRow(**_pick(record, "a", _ACTOR))


async def ensure_setting(con: Conn, key: str, value: Any) -> Any:
    """The instance setting ``key``, first storing ``value`` if it has none (race-free)."""
    await con.execute(
        """INSERT INTO instance_settings (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO NOTHING""",
        key,
        value,
    )
    return await con.fetchval("SELECT value FROM instance_settings WHERE key = $1", key)
