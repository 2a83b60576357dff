"""Local members follow and unfollow actors, here or anywhere."""

from __future__ import annotations

from core import delivery, events
from core.errors import Unprocessable
from core.services import Services
from federation import vocab
from storage import follows
from storage.actors import ActorRow
from storage.follows import FollowRow
from storage.statuses import next_id


async def follow(services: Services, follower: ActorRow, target: ActorRow) -> FollowRow:
    """Follow ``target``. A local target without approval is followed at once; a remote
    one gets a Follow and the row stays pending until its Accept arrives."""
    if not follower.local:
        raise Unprocessable("only local actors follow from here")
    if follower.id == target.id:
        raise Unprocessable("you cannot follow yourself")
    if target.deleted_at is not None:
        raise Unprocessable("this account is gone")
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        existing = await follows.get(con, follower.id, target.id)
        if existing is not None:
            return existing
        activity_id = await next_id(con)
        uri = urls.activity(follower.username, activity_id, "follow")
        if target.local:
            row = await follows.upsert(
                con,
                uri=uri,
                follower_id=follower.id,
                followee_id=target.id,
                accepted=not target.manually_approves_followers,
            )
            await events.notify(
                con,
                recipient_id=target.id,
                from_actor_id=follower.id,
                type="follow" if row.accepted else "follow_request",
            )
            return row
        row = await follows.upsert(
            con, uri=uri, follower_id=follower.id, followee_id=target.id, accepted=False
        )
        activity = vocab.build_follow(follower.uri, target.uri, id=uri)
        # A Follow goes to the actor's own inbox, not the shared one: some servers
        # only accept follows there.
        await delivery.enqueue_activity(
            con,
            actor_id=follower.id,
            activity=activity,
            inboxes=[target.inbox_uri],
            object_uri=target.uri,
            activity_id=activity_id,
        )
        return row


async def unfollow(services: Services, follower: ActorRow, target: ActorRow) -> bool:
    """Stop following (or withdraw a pending request). Returns False if there was nothing."""
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        row = await follows.delete(con, follower.id, target.id)
        if row is None:
            return False
        if target.local:
            return True
        original = vocab.build_follow(follower.uri, target.uri, id=row.uri)
        activity_id = await next_id(con)
        undo = vocab.build_undo(
            follower.uri, original, id=urls.activity(follower.username, activity_id, "undo")
        )
        await delivery.enqueue_activity(
            con,
            actor_id=follower.id,
            activity=undo,
            inboxes=[target.inbox_uri],
            object_uri=row.uri,
            activity_id=activity_id,
        )
    return True
