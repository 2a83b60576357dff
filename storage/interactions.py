"""What members do with statuses besides posting: bookmarks, pins, edits, who favourited
or boosted, threads, and the idempotency keys that make a retried post harmless.

Who may see a status is decided here too (``visible_sql``), in SQL, so that a single status
and a whole thread are filtered by the same rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from storage.paging import Page
from storage.pool import Conn


def visible_sql(alias: str, viewer: str) -> str:
    """Mastodon's rule for the status aliased ``alias`` and the viewer's actor id in the
    parameter ``viewer`` (NULL for an anonymous viewer): public and unlisted for everyone
    but those the author blocks; the author and the mentioned always; private also for
    accepted followers."""
    s, v = alias, f"{viewer}::bigint"
    return f"""(({s}.visibility IN ('public', 'unlisted') AND NOT EXISTS (
            SELECT 1 FROM blocks b WHERE b.actor_id = {s}.actor_id AND b.target_id = {v}))
        OR {s}.actor_id = {v}
        OR EXISTS (SELECT 1 FROM status_mentions m WHERE m.status_id = {s}.id AND m.actor_id = {v})
        OR ({s}.visibility = 'private' AND EXISTS (
            SELECT 1 FROM follows f WHERE f.follower_id = {v} AND f.followee_id = {s}.actor_id
            AND f.state = 'accepted')))"""


def _not_filtered(alias: str, viewer: str) -> str:
    """A thread leaves out the statuses of those the viewer blocks or mutes, or who block
    the viewer."""
    s, v = alias, f"{viewer}::bigint"
    return f"""NOT EXISTS (SELECT 1 FROM blocks b
            WHERE (b.actor_id = {v} AND b.target_id = {s}.actor_id)
               OR (b.actor_id = {s}.actor_id AND b.target_id = {v}))
        AND NOT EXISTS (SELECT 1 FROM mutes u
            WHERE u.actor_id = {v} AND u.target_id = {s}.actor_id
              AND (u.expires_at IS NULL OR u.expires_at > now()))"""


async def blocking(con: Conn, actor_id: int, target_id: int) -> bool:
    """Whether ``actor_id`` blocks ``target_id``."""
    return bool(
        await con.fetchval(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE actor_id = $1 AND target_id = $2)",
            actor_id,
            target_id,
        )
    )


async def visible_ids(con: Conn, status_ids: list[int], viewer_id: int | None) -> set[int]:
    """Those of ``status_ids`` the viewer may see (reblogs: the boosted status too)."""
    rows = await con.fetch(
        f"""SELECT s.id FROM statuses s
            WHERE s.id = any($1::bigint[]) AND {visible_sql("s", "$2")}
              AND (s.reblog_of_id IS NULL OR EXISTS (
                  SELECT 1 FROM statuses o WHERE o.id = s.reblog_of_id
                  AND {visible_sql("o", "$2")}))""",
        status_ids,
        viewer_id,
    )
    return {r["id"] for r in rows}


# Threads


async def ancestor_ids(
    con: Conn, status_id: int, viewer_id: int | None, *, limit: int
) -> list[int]:
    """The statuses replied to, oldest first, up to ``limit`` steps up, as the viewer sees them."""
    rows = await con.fetch(
        f"""WITH RECURSIVE up (id, parent, depth) AS (
                SELECT id, in_reply_to_id, 0 FROM statuses WHERE id = $1
                UNION ALL
                SELECT p.id, p.in_reply_to_id, up.depth + 1
                FROM up JOIN statuses p ON p.id = up.parent WHERE up.depth < $3
            )
            SELECT s.id FROM up JOIN statuses s ON s.id = up.id
            WHERE up.depth > 0 AND {visible_sql("s", "$2")} AND {_not_filtered("s", "$2")}
            ORDER BY up.depth DESC""",
        status_id,
        viewer_id,
        limit,
    )
    return [r["id"] for r in rows]


async def descendant_ids(
    con: Conn, status_id: int, viewer_id: int | None, *, limit: int, depth: int = 256
) -> list[int]:
    """Replies, replies to replies…, depth first as a thread reads, as the viewer sees them."""
    rows = await con.fetch(
        f"""WITH RECURSIVE down (id, path) AS (
                SELECT id, ARRAY[id] FROM statuses WHERE in_reply_to_id = $1
                UNION ALL
                SELECT c.id, down.path || c.id
                FROM down JOIN statuses c ON c.in_reply_to_id = down.id
                WHERE cardinality(down.path) < $4 AND NOT c.id = any(down.path)
            )
            SELECT s.id FROM down JOIN statuses s ON s.id = down.id
            WHERE {visible_sql("s", "$2")} AND {_not_filtered("s", "$2")}
            ORDER BY down.path LIMIT $3""",
        status_id,
        viewer_id,
        limit,
        depth,
    )
    return [r["id"] for r in rows]


# Who favourited, who boosted: (row id for paging, actor id), newest first.


def _arranged(page: Page, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return list(reversed(pairs)) if page.ascending else pairs


async def favourited_by(con: Conn, status_id: int, page: Page) -> list[tuple[int, int]]:
    where, values = page.where("f.id", 2)
    rows = await con.fetch(
        f"""SELECT f.id, f.actor_id FROM favourites f JOIN actors a ON a.id = f.actor_id
            WHERE f.status_id = $1 AND a.deleted_at IS NULL AND {where}
            ORDER BY {page.order("f.id")} LIMIT {int(page.limit)}""",
        status_id,
        *values,
    )
    return _arranged(page, [(r["id"], r["actor_id"]) for r in rows])


async def reblogged_by(con: Conn, status_id: int, page: Page) -> list[tuple[int, int]]:
    where, values = page.where("b.id", 2)
    rows = await con.fetch(
        f"""SELECT b.id, b.actor_id FROM statuses b JOIN actors a ON a.id = b.actor_id
            WHERE b.reblog_of_id = $1 AND a.deleted_at IS NULL AND b.visibility <> 'direct'
              AND {where}
            ORDER BY {page.order("b.id")} LIMIT {int(page.limit)}""",
        status_id,
        *values,
    )
    return _arranged(page, [(r["id"], r["actor_id"]) for r in rows])


async def local_reblogger_ids(con: Conn, status_id: int) -> list[int]:
    """Our own members who boosted the status (told when it is edited)."""
    rows = await con.fetch(
        """SELECT b.actor_id FROM statuses b JOIN actors a ON a.id = b.actor_id
           WHERE b.reblog_of_id = $1 AND a.local AND a.type = 'Person'""",
        status_id,
    )
    return [r["actor_id"] for r in rows]


# Bookmarks and pins


async def add_bookmark(con: Conn, actor_id: int, status_id: int) -> bool:
    result = await con.execute(
        """INSERT INTO bookmarks (actor_id, status_id) VALUES ($1, $2)
           ON CONFLICT (actor_id, status_id) DO NOTHING""",
        actor_id,
        status_id,
    )
    return result.endswith(" 1")


async def remove_bookmark(con: Conn, actor_id: int, status_id: int) -> bool:
    result = await con.execute(
        "DELETE FROM bookmarks WHERE actor_id = $1 AND status_id = $2", actor_id, status_id
    )
    return result.endswith(" 1")


PinResult = Literal["added", "exists", "full"]


async def add_pin(con: Conn, actor_id: int, status_id: int, *, maximum: int) -> PinResult:
    """Pin unless ``maximum`` pins exist already. Call inside a transaction: the actor's
    row is locked so that two pins at once cannot both take the last place."""
    await con.execute("SELECT 1 FROM actors WHERE id = $1 FOR UPDATE", actor_id)
    if await con.fetchval(
        "SELECT 1 FROM pins WHERE actor_id = $1 AND status_id = $2", actor_id, status_id
    ):
        return "exists"
    if await con.fetchval("SELECT count(*) FROM pins WHERE actor_id = $1", actor_id) >= maximum:
        return "full"
    await con.execute("INSERT INTO pins (actor_id, status_id) VALUES ($1, $2)", actor_id, status_id)
    return "added"


async def remove_pin(con: Conn, actor_id: int, status_id: int) -> bool:
    result = await con.execute(
        "DELETE FROM pins WHERE actor_id = $1 AND status_id = $2", actor_id, status_id
    )
    return result.endswith(" 1")


async def pinned_status_ids(con: Conn, actor_id: int) -> list[int]:
    """The actor's pinned statuses, most recently pinned first."""
    rows = await con.fetch(
        "SELECT status_id FROM pins WHERE actor_id = $1 ORDER BY id DESC", actor_id
    )
    return [r["status_id"] for r in rows]


# Edits: earlier versions of a status, each stamped with the time it was current from.


@dataclass(frozen=True, slots=True)
class EditRow:
    id: int
    status_id: int
    content: str
    spoiler_text: str
    sensitive: bool
    created_at: datetime


_EDIT_COLUMNS = ", ".join(f.name for f in dataclasses.fields(EditRow))


async def add_edit(
    con: Conn,
    status_id: int,
    *,
    content: str,
    spoiler_text: str,
    sensitive: bool,
    created_at: datetime,
) -> None:
    await con.execute(
        """INSERT INTO status_edits (status_id, content, spoiler_text, sensitive, created_at)
           VALUES ($1, $2, $3, $4, $5)""",
        status_id,
        content,
        spoiler_text,
        sensitive,
        created_at,
    )


async def list_edits(con: Conn, status_id: int) -> list[EditRow]:
    """Earlier versions, oldest first."""
    rows = await con.fetch(
        f"""SELECT {_EDIT_COLUMNS} FROM status_edits WHERE status_id = $1
            ORDER BY created_at, id""",
        status_id,
    )
    return [EditRow(**dict(r)) for r in rows]


async def lock_status(con: Conn, status_id: int) -> bool:
    """Lock a status row for an edit (call inside a transaction); False if it is gone."""
    return bool(await con.fetchval("SELECT 1 FROM statuses WHERE id = $1 FOR UPDATE", status_id))


async def merge_data(con: Conn, status_id: int, values: Mapping[str, Any]) -> None:
    """Add keys to a status's ``data`` (the posting app of our own statuses…)."""
    await con.execute(
        "UPDATE statuses SET data = data || $2::jsonb WHERE id = $1", status_id, dict(values)
    )


# Idempotency keys: POST /api/v1/statuses with the same key within the window returns the
# status the first request made. A key is claimed before posting (status_id NULL) so that
# two requests racing with one key cannot both post.


@dataclass(frozen=True, slots=True)
class KeyClaim:
    claimed: bool  # True: this request owns the key and posts
    status_id: int | None  # else: what the first request made (None while it is posting)


async def find_key(con: Conn, user_id: int, key: str, *, ttl: float) -> KeyClaim | None:
    record = await con.fetchrow(
        """SELECT status_id FROM idempotency_keys WHERE user_id = $1 AND key = $2
           AND created_at > now() - make_interval(secs => $3)""",
        user_id,
        key,
        float(ttl),
    )
    return None if record is None else KeyClaim(False, record["status_id"])


async def claim_key(
    con: Conn, user_id: int, key: str, *, ttl: float, abandoned_after: float = 60.0
) -> KeyClaim:
    """Claim the key, first forgetting it if it expired, or if its claim was never completed
    within ``abandoned_after`` seconds (the process posting with it died)."""
    async with con.transaction():
        await con.execute(
            """DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2
               AND (created_at <= now() - make_interval(secs => $3)
                    OR (status_id IS NULL AND created_at <= now() - make_interval(secs => $4)))""",
            user_id,
            key,
            float(ttl),
            float(abandoned_after),
        )
        inserted = await con.fetchval(
            """INSERT INTO idempotency_keys (user_id, key) VALUES ($1, $2)
               ON CONFLICT (user_id, key) DO NOTHING RETURNING true""",
            user_id,
            key,
        )
        if inserted:
            return KeyClaim(True, None)
        found = await con.fetchval(
            "SELECT status_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            user_id,
            key,
        )
        return KeyClaim(False, found)


async def complete_key(con: Conn, user_id: int, key: str, status_id: int) -> None:
    await con.execute(
        "UPDATE idempotency_keys SET status_id = $3 WHERE user_id = $1 AND key = $2",
        user_id,
        key,
        status_id,
    )


async def release_key(con: Conn, user_id: int, key: str) -> None:
    """Give up a claim whose post failed, so that a retry may post."""
    await con.execute(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status_id IS NULL",
        user_id,
        key,
    )


async def prune_keys(con: Conn, *, ttl: float) -> int:
    status = await con.execute(
        "DELETE FROM idempotency_keys WHERE created_at <= now() - make_interval(secs => $1)",
        float(ttl),
    )
    return int(status.split()[-1])
