"""What happened, told to whoever listens (the streaming API, in any process).

Call these inside the transaction that made the change: the event goes out at commit.
"""

from __future__ import annotations

from collections.abc import Iterable

from storage import events, follows, notifications
from storage.pool import Conn
from storage.statuses import StatusRow


async def status_created(con: Conn, status: StatusRow) -> None:
    await events.emit(con, "update", status_id=status.id, actor_id=status.actor_id)


async def new_status(con: Conn, status: StatusRow, mentioned_local_ids: Iterable[int]) -> None:
    """A status was stored: stream it, notify the local members it mentions and the
    followers who asked to hear of every post by its author."""
    await status_created(con, status)
    for actor_id in set(mentioned_local_ids):
        await notify(
            con,
            recipient_id=actor_id,
            from_actor_id=status.actor_id,
            type="mention",
            status_id=status.id,
        )
    for follower_id in await follows.notifying_follower_ids(con, status.actor_id):
        await notify(
            con,
            recipient_id=follower_id,
            from_actor_id=status.actor_id,
            type="status",
            status_id=status.id,
        )


async def status_updated(con: Conn, status: StatusRow) -> None:
    await events.emit(con, "status.update", status_id=status.id, actor_id=status.actor_id)


async def status_deleted(con: Conn, status_id: int, actor_id: int) -> None:
    await events.emit(con, "delete", status_id=status_id, actor_id=actor_id)


async def notify(
    con: Conn, *, recipient_id: int, from_actor_id: int, type: str, status_id: int | None = None
) -> None:
    """Notify a local actor (never of their own doing) and stream it."""
    if recipient_id == from_actor_id:
        return
    created = await notifications.insert(
        con,
        recipient_id=recipient_id,
        from_actor_id=from_actor_id,
        type=type,
        status_id=status_id,
    )
    if created is not None:
        await events.emit(
            con, "notification", notification_id=created.id, recipient_id=recipient_id
        )
