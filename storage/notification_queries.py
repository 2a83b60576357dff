"""What a member is asked to look at: their notifications, and the follow requests waiting
for their answer. (Notifications are created by ``storage.notifications.insert``.)

Dismissing deletes, as Mastodon does: the same thing happening again later (a second
follow after an unfollow) notifies again, while the unique index still keeps a replayed
activity from notifying twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.notifications import COLUMNS, NotificationRow, row
from storage.paging import Page
from storage.pool import Conn

_LIVE = "recipient_id = $1 AND dismissed_at IS NULL"


async def page(
    con: Conn,
    recipient_id: int,
    page: Page,
    *,
    types: Sequence[str] | None = None,
    exclude_types: Sequence[str] = (),
    from_actor_id: int | None = None,
) -> list[NotificationRow]:
    """Live notifications, newest first; ``types`` None means every type."""
    cond, values = page.where("id", 6)
    records = await con.fetch(
        f"""SELECT {COLUMNS} FROM notifications
            WHERE {_LIVE} AND {cond}
              AND ($3::text[] IS NULL OR type = any($3::text[]))
              AND NOT (type = any($4::text[]))
              AND ($5::bigint IS NULL OR from_actor_id = $5)
            ORDER BY {page.order("id")} LIMIT $2""",
        recipient_id,
        page.limit,
        None if types is None else list(types),
        list(exclude_types),
        from_actor_id,
        *values,
    )
    rows = [NotificationRow(**dict(r)) for r in records]
    return rows[::-1] if page.ascending else rows


async def get(con: Conn, recipient_id: int, notification_id: int) -> NotificationRow | None:
    return row(
        await con.fetchrow(
            f"SELECT {COLUMNS} FROM notifications WHERE {_LIVE} AND id = $2",
            recipient_id,
            notification_id,
        )
    )


async def dismiss(con: Conn, recipient_id: int, notification_id: int) -> bool:
    result = await con.execute(
        f"DELETE FROM notifications WHERE {_LIVE} AND id = $2",
        recipient_id,
        notification_id,
    )
    return result != "DELETE 0"


async def dismiss_from(con: Conn, recipient_id: int, from_actor_id: int, type: str) -> None:
    """Dismiss the notifications of one kind from one actor (an answered follow request)."""
    await con.execute(
        f"DELETE FROM notifications WHERE {_LIVE} AND from_actor_id = $2 AND type = $3",
        recipient_id,
        from_actor_id,
        type,
    )


async def clear(con: Conn, recipient_id: int) -> int:
    result = await con.execute(f"DELETE FROM notifications WHERE {_LIVE}", recipient_id)
    return int(result.split()[-1])


async def unread_count(
    con: Conn, recipient_id: int, *, after_id: int | None, types: Sequence[str] | None, cap: int
) -> int:
    """Live notifications newer than ``after_id`` (the read marker), counted up to ``cap``."""
    return int(
        await con.fetchval(
            f"""SELECT count(*) FROM (
                    SELECT 1 FROM notifications
                    WHERE {_LIVE} AND ($2::bigint IS NULL OR id > $2)
                      AND ($3::text[] IS NULL OR type = any($3::text[]))
                    LIMIT $4) AS capped""",
            recipient_id,
            after_id,
            None if types is None else list(types),
            cap,
        )
    )


async def follow_requests(con: Conn, followee_id: int, page: Page) -> list[tuple[int, int]]:
    """(follow id, requester's actor id) of pending requests, newest first: Mastodon pages
    the list by request id."""
    cond, values = page.where("f.id", 3)
    records = await con.fetch(
        f"""SELECT f.id, f.follower_id FROM follows f
            JOIN actors a ON a.id = f.follower_id
            WHERE f.followee_id = $1 AND f.state = 'pending' AND a.deleted_at IS NULL
              AND {cond}
            ORDER BY {page.order("f.id")} LIMIT $2""",
        followee_id,
        page.limit,
        *values,
    )
    pairs = [(r["id"], r["follower_id"]) for r in records]
    return pairs[::-1] if page.ascending else pairs
