"""Apply a verified inbound activity: a dispatch table on (activity type, object type).

The inbox worker calls ``apply_activity`` for each queued activity, in arrival order.
A handler returns DONE or IGNORED; it raises ``RetryLater`` for a transient problem
(a fetch that timed out) so the worker tries again with backoff. Anything unknown is
IGNORED, never an error.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from core import ap_render, delivery, events, remote, remote_objects
from core.services import Services
from federation import vocab
from federation.vocab import Activity
from storage import actors, follows, relations, statuses
from storage.actors import ActorRow
from storage.follows import FollowRow
from storage.pool import Conn
from storage.statuses import next_id

log = logging.getLogger("shoal.apply")


class Outcome(enum.Enum):
    DONE = "done"
    IGNORED = "ignored"


class RetryLater(Exception):
    """A transient failure (a fetch that timed out…): the inbox worker tries again later."""


Handler = Callable[[Services, Activity, ActorRow], Awaitable[Outcome]]


async def apply_activity(services: Services, activity: Activity, *, sender: ActorRow) -> Outcome:
    """Apply ``activity``, sent by ``sender`` (already verified as its actor)."""
    if activity.actor != sender.uri:
        return Outcome.IGNORED
    handler = _HANDLERS.get(activity.type)
    if handler is None:
        return Outcome.IGNORED
    try:
        return await handler(services, activity, sender)
    except remote.RemoteError as exc:
        if exc.retryable:
            raise RetryLater(exc.reason) from exc
        log.info("%s %s ignored: %s", activity.type, activity.id, exc.reason)
        return Outcome.IGNORED
    except (remote_objects.NotStorable, vocab.VocabError) as exc:
        log.info("%s %s ignored: %s", activity.type, activity.id, exc)
        return Outcome.IGNORED


def _embedded(activity: Activity) -> dict[str, Any]:
    """The activity as it arrived, without its @context, for embedding in a reply."""
    return {k: v for k, v in activity.raw.items() if k != "@context"}


async def _on_follow(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    async with services.pool.acquire() as con, con.transaction():
        target = await actors.get_by_uri(con, activity.object_id or "")
        if target is None or not target.local or target.deleted_at is not None:
            return Outcome.IGNORED
        row = await follows.upsert(
            con,
            uri=activity.id,
            follower_id=sender.id,
            followee_id=target.id,
            accepted=not target.manually_approves_followers,
        )
        if row.accepted:
            await _respond(services, con, target, sender, activity, "Accept")
        await events.notify(
            con,
            recipient_id=target.id,
            from_actor_id=sender.id,
            type="follow" if row.accepted else "follow_request",
        )
    return Outcome.DONE


async def _respond(
    services: Services,
    con: Conn,
    target: ActorRow,
    follower: ActorRow,
    follow: Activity | dict[str, Any],
    kind: str,
) -> None:
    activity_id = await next_id(con)
    uri = services.urls.activity(target.username, activity_id, kind)
    original = _embedded(follow) if isinstance(follow, Activity) else follow
    build = vocab.build_accept if kind == "Accept" else vocab.build_reject
    await delivery.enqueue_activity(
        con,
        actor_id=target.id,
        activity=build(target.uri, original, id=uri),
        inboxes=[follower.inbox_uri],
        object_uri=original.get("id"),
        activity_id=activity_id,
    )


async def _our_follow(con: Conn, activity: Activity, sender: ActorRow) -> FollowRow | None:
    """The follow of ours that an Accept/Reject from ``sender`` answers."""
    if isinstance(activity.object, Activity) and activity.object.type != "Follow":
        return None  # an answer to something else (a Join, later): not about follows
    row = await follows.get_by_uri(con, activity.object_id or "")
    if row is None and isinstance(activity.object, Activity):
        follower = await actors.get_by_uri(con, activity.object.actor)
        if follower is not None and follower.local:
            row = await follows.get(con, follower.id, sender.id)
    if row is None or row.followee_id != sender.id:
        return None
    return row


async def _on_accept(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    async with services.pool.acquire() as con, con.transaction():
        row = await _our_follow(con, activity, sender)
        if row is None:
            return Outcome.IGNORED
        await follows.accept(con, row.id)
    return Outcome.DONE


async def _on_reject(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    async with services.pool.acquire() as con, con.transaction():
        row = await _our_follow(con, activity, sender)
        if row is None:
            # A Reject may also end an accepted follow of theirs by us (Mastodon's
            # "remove follower"); with no row of ours there is nothing to do.
            return Outcome.IGNORED
        await follows.delete(con, row.follower_id, row.followee_id)
    return Outcome.DONE


async def _on_undo(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    inner = activity.object
    inner_type = inner.type if isinstance(inner, Activity) else None
    inner_id = activity.object_id or ""
    async with services.pool.acquire() as con, con.transaction():
        if inner_type in ("Follow", None):
            row = await follows.get_by_uri(con, inner_id)
            if row is None and isinstance(inner, Activity):
                target = await actors.get_by_uri(con, inner.object_id or "")
                row = await follows.get(con, sender.id, target.id) if target else None
            if row is not None and row.follower_id == sender.id:
                await follows.delete(con, row.follower_id, row.followee_id)
                return Outcome.DONE
        if inner_type in ("Announce", None):
            boost = await statuses.get_by_uri(con, inner_id)
            if boost is not None and boost.actor_id == sender.id and boost.reblog_of_id:
                await statuses.delete(con, boost.id)
                await events.status_deleted(con, boost.id, boost.actor_id)
                return Outcome.DONE
        if inner_type == "Block" and isinstance(inner, Activity):
            target = await actors.get_by_uri(con, inner.object_id or "")
            if target is not None and await relations.remove_block(con, sender.id, target.id):
                return Outcome.DONE
        if inner_type in ("Like", None):
            if await follows.remove_favourite(con, actor_id=sender.id, uri=inner_id):
                return Outcome.DONE
            if isinstance(inner, Activity) and inner.object_id:
                liked = await statuses.get_by_uri(con, inner.object_id)
                if liked is not None and await follows.remove_favourite(
                    con, actor_id=sender.id, status_id=liked.id
                ):
                    return Outcome.DONE
    return Outcome.IGNORED


async def _object_of(services: Services, activity: Activity) -> vocab.APObject:
    if isinstance(activity.object, vocab.APObject):
        return activity.object
    if activity.object_id is None:
        raise vocab.VocabError("activity has no object")
    return vocab.parse_object(await remote.fetch_object(services, activity.object_id))


async def _on_create(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    obj = await _object_of(services, activity)
    async with services.pool.acquire() as con, con.transaction():
        stored = await remote_objects.store_object(services, con, obj, sender)
    return Outcome.DONE if stored is not None else Outcome.IGNORED


async def _on_update(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    if activity.object_id == sender.uri:
        # Profile or key change: read the actor again from its origin.
        await remote.fetch_actor(services, sender.uri, refresh=True)
        return Outcome.DONE
    obj = await _object_of(services, activity)
    async with services.pool.acquire() as con, con.transaction():
        existing = await statuses.get_by_uri(con, obj.id)
        if existing is None or existing.actor_id != sender.id:
            return Outcome.IGNORED
        updated = await remote_objects.update_object(con, existing, obj)
        await events.status_updated(con, updated)
    return Outcome.DONE


async def _on_delete(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    object_id = activity.object_id or ""
    async with services.pool.acquire() as con, con.transaction():
        if object_id == sender.uri:
            for status_id in await statuses.delete_by_actor(con, sender.id):
                await events.status_deleted(con, status_id, sender.id)
            await follows.delete_involving(con, sender.id)
            await actors.mark_deleted(con, sender.id)
            return Outcome.DONE
        existing = await statuses.get_by_uri(con, object_id)
        if existing is not None and existing.actor_id != sender.id:
            return Outcome.IGNORED
        if existing is None and not remote_objects.same_origin(object_id, sender.uri):
            return Outcome.IGNORED
        if existing is not None:
            await statuses.delete(con, existing.id)
            await events.status_deleted(con, existing.id, existing.actor_id)
        # Remembered even when we never had it: a late Create must not revive it.
        await statuses.add_tombstone(con, object_id, actor_uri=sender.uri, former_type=None)
    return Outcome.DONE


async def _on_announce(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    inner = activity.object
    if isinstance(inner, Activity):
        # FEP-1b12: a group forwards a member's activity. We do not trust the embedded
        # copy: the object is read from its own origin.
        if inner.type != "Create" or inner.object_id is None:
            return Outcome.IGNORED
        stored = await remote_objects.resolve_status(services, inner.object_id)
        return Outcome.DONE if stored is not None else Outcome.IGNORED
    if activity.object_id is None:
        return Outcome.IGNORED
    original = await remote_objects.resolve_status(services, activity.object_id)
    if original is None or original.reblog_of_id is not None:
        return Outcome.IGNORED
    if original.visibility not in ("public", "unlisted") and original.actor_id != sender.id:
        # As Mastodon: a boost of someone's followers-only or direct post would show it
        # to the booster's followers.
        return Outcome.IGNORED
    now = datetime.now(UTC)
    async with services.pool.acquire() as con, con.transaction():
        if await statuses.get_reblog(con, sender.id, original.id) is not None:
            return Outcome.IGNORED
        boost = await statuses.insert(
            con,
            {
                "uri": activity.id,
                "actor_id": sender.id,
                "local": False,
                "visibility": ap_render.visibility_of(
                    activity.to, activity.cc, sender.followers_uri
                ),
                "reblog_of_id": original.id,
                "audience": activity.audience[0] if activity.audience else None,
            },
            # Like a post's: a date in the future would pin the boost atop timelines.
            id_at=min(activity.published or now, now),
        )
        if boost is not None:
            await events.status_created(con, boost)
            if original.local:
                await events.notify(
                    con,
                    recipient_id=original.actor_id,
                    from_actor_id=sender.id,
                    type="reblog",
                    status_id=original.id,
                )
    return Outcome.DONE


async def _on_block(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    """A remote actor blocks one of ours: follows end both ways, and the block is kept so
    relationships show ``blocked_by``. (What our member sees of them is up to them.)"""
    async with services.pool.acquire() as con, con.transaction():
        target = await actors.get_by_uri(con, activity.object_id or "")
        if target is None or not target.local:
            return Outcome.IGNORED
        await follows.delete(con, sender.id, target.id)
        await follows.delete(con, target.id, sender.id)
        await relations.add_block(con, uri=activity.id, actor_id=sender.id, target_id=target.id)
    return Outcome.DONE


async def _on_like(services: Services, activity: Activity, sender: ActorRow) -> Outcome:
    async with services.pool.acquire() as con, con.transaction():
        liked = await statuses.get_by_uri(con, activity.object_id or "")
        if liked is None:
            return Outcome.IGNORED
        added = await follows.add_favourite(
            con, uri=activity.id, actor_id=sender.id, status_id=liked.id
        )
        if added and liked.local:
            await events.notify(
                con,
                recipient_id=liked.actor_id,
                from_actor_id=sender.id,
                type="favourite",
                status_id=liked.id,
            )
    return Outcome.DONE if added else Outcome.IGNORED


_HANDLERS: dict[str, Handler] = {
    "Follow": _on_follow,
    "Accept": _on_accept,
    "Reject": _on_reject,
    "Undo": _on_undo,
    "Create": _on_create,
    "Update": _on_update,
    "Delete": _on_delete,
    "Announce": _on_announce,
    "Like": _on_like,
    "Block": _on_block,
}
