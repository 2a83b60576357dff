"""Local members publish and delete posts; the collective announces what is addressed to it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core import ap_render, delivery, events, remote
from core.errors import Forbidden, Unprocessable
from core.services import Services
from federation import content, vocab
from storage import actors, follows, statuses
from storage.actors import ActorRow
from storage.pool import Conn
from storage.statuses import StatusRow, next_id

log = logging.getLogger("shoal.publish")

VISIBILITIES = ("public", "unlisted", "private", "direct")
MAX_CHARS = 5000


@dataclass(frozen=True, slots=True)
class Draft:
    text: str
    visibility: str = "public"
    spoiler_text: str = ""
    sensitive: bool = False
    language: str | None = None
    in_reply_to: StatusRow | None = None


async def _resolve_mentions(
    services: Services, text: str
) -> tuple[dict[str, content.MentionTarget], list[ActorRow]]:
    """Resolve @user and @user@domain; what cannot be resolved stays plain text."""
    targets: dict[str, content.MentionTarget] = {}
    found: list[ActorRow] = []
    own = services.settings.domain
    for username, domain in content.find_mentions(text):
        written = username if domain is None else f"{username}@{domain}"
        try:
            if domain is None or domain == own:
                async with services.pool.acquire() as con:
                    actor = await actors.get_local(con, username)
            else:
                actor = await remote.resolve_acct(services, f"{username}@{domain}")
        except Exception as exc:  # a peer that is down must not stop the post
            log.info("mention %s not resolved: %s", written, exc)
            actor = None
        if actor is None or actor.deleted_at is not None:
            continue
        target = content.MentionTarget(href=actor.url or actor.uri, acct=written)
        targets[written.lower()] = target
        if domain is None:
            targets[f"{username}@{own}".lower()] = target
        if all(a.id != actor.id for a in found):
            found.append(actor)
    return targets, found


async def publish_note(services: Services, author: ActorRow, draft: Draft) -> StatusRow:
    if not author.local:
        raise Forbidden("only local actors publish here")
    text = draft.text.strip()
    if not text:
        raise Unprocessable("Validation failed: Text can't be blank")
    if len(text) > MAX_CHARS:
        raise Unprocessable(f"Validation failed: Text is longer than {MAX_CHARS} characters")
    if draft.visibility not in VISIBILITIES:
        raise Unprocessable(f"visibility must be one of {', '.join(VISIBILITIES)}")
    urls = services.urls
    targets, mentioned = await _resolve_mentions(services, text)
    rendered = content.render_plain_text(text, mentions=targets, hashtag_url=urls.tag)
    async with services.pool.acquire() as con, con.transaction():
        status_id = await next_id(con)
        status = await statuses.insert(
            con,
            {
                "uri": urls.status(author.username, status_id),
                "url": urls.status_page(author.username, status_id),
                "actor_id": author.id,
                "local": True,
                "visibility": draft.visibility,
                "content": rendered.html,
                "source": text,
                "spoiler_text": draft.spoiler_text,
                "sensitive": draft.sensitive or bool(draft.spoiler_text),
                "language": draft.language,
                "in_reply_to_id": draft.in_reply_to.id if draft.in_reply_to else None,
                "in_reply_to_uri": draft.in_reply_to.uri if draft.in_reply_to else None,
            },
            id=status_id,
        )
        assert status is not None
        await statuses.add_mentions(con, status.id, [a.id for a in mentioned])
        await statuses.replace_tags(con, status.id, list(rendered.hashtags))
        await events.new_status(con, status, [a.id for a in mentioned if a.local])
        note = ap_render.note_document(
            status,
            author,
            mentioned=mentioned,
            tags=rendered.hashtags,
            urls=urls,
            in_reply_to=status.in_reply_to_uri,
        )
        activity_id = await next_id(con)
        create = vocab.build_create(
            author.uri, note, id=urls.activity(author.username, activity_id, "create")
        )
        inboxes = await _audience_inboxes(con, author, status.visibility, mentioned)
        await delivery.enqueue_activity(
            con,
            actor_id=author.id,
            activity=create,
            inboxes=inboxes,
            object_uri=status.uri,
            activity_id=activity_id,
        )
        group = next((a for a in mentioned if a.local and a.type == "Group"), None)
        if group is not None and status.visibility in ("public", "unlisted"):
            await _group_announce(services, con, group, create, note)
    return status


async def _audience_inboxes(
    con: Conn, author: ActorRow, visibility: str, mentioned: list[ActorRow]
) -> list[str]:
    inboxes: list[str] = []
    if visibility != "direct":
        inboxes += await follows.follower_inboxes(con, author.id)
    inboxes += [a.delivery_inbox for a in mentioned if not a.local]
    return list(dict.fromkeys(inboxes))


async def _group_announce(
    services: Services, con: Conn, group: ActorRow, create: dict[str, Any], note: dict[str, Any]
) -> None:
    """FEP-1b12: the Group announces the Create to its followers, with audience set; like
    Lemmy it also announces the object itself, which is what Mastodon shows as a boost."""
    urls = services.urls
    followers = group.followers_uri or f"{group.uri}/followers"
    to, cc = [vocab.PUBLIC], [followers]
    inboxes = await follows.follower_inboxes(con, group.id)
    wrapped_id = await next_id(con)
    wrapped = vocab.build_announce(
        group.uri,
        create,
        id=urls.activity(group.username, wrapped_id, "announce"),
        to=to,
        cc=cc,
        published=_published(note),
        audience=group.uri,
    )
    await delivery.enqueue_activity(
        con,
        actor_id=group.id,
        activity=wrapped,
        inboxes=inboxes,
        object_uri=note["id"],
        activity_id=wrapped_id,
    )
    plain_id = await next_id(con)
    plain_uri = urls.activity(group.username, plain_id, "boost")
    plain = vocab.build_announce(
        group.uri,
        note["id"],
        id=plain_uri,
        to=to,
        cc=cc,
        published=_published(note),
        audience=group.uri,
    )
    original = await statuses.get_by_uri(con, note["id"])
    assert original is not None
    # The boost is a status of the group's, so its local followers see it too.
    boost = await statuses.insert(
        con,
        {
            "uri": plain_uri,
            "actor_id": group.id,
            "local": True,
            "visibility": original.visibility,
            "reblog_of_id": original.id,
            "audience": group.uri,
        },
    )
    if boost is not None:
        await events.status_created(con, boost)
    await delivery.enqueue_activity(
        con,
        actor_id=group.id,
        activity=plain,
        inboxes=inboxes,
        object_uri=note["id"],
        activity_id=plain_id,
    )


def _published(note: dict[str, Any]) -> datetime:
    return datetime.strptime(note["published"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def delete_status(services: Services, author: ActorRow, status: StatusRow) -> None:
    """Delete our own status: a Tombstone stays behind, and the Delete reaches everyone
    who may have it (the author's followers, mentioned actors, the collective's followers
    when the collective boosted it)."""
    if status.actor_id != author.id or not author.local:
        raise Forbidden("This action is not allowed")
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        mentioned_ids = await statuses.mentioned_actor_ids(con, status.id)
        mentioned = list((await actors.get_many(con, mentioned_ids)).values())
        inboxes = await _audience_inboxes(con, author, status.visibility, mentioned)
        group_ids = await statuses.local_group_reblogs(con, status.id)
        for group_id in group_ids:
            inboxes += await follows.follower_inboxes(con, group_id)
        address = ap_render.addressing(
            status.visibility,
            author.followers_uri or f"{author.uri}/followers",
            [a.uri for a in mentioned],
        )
        await statuses.delete(con, status.id)
        await events.status_deleted(con, status.id, author.id)
        await statuses.add_tombstone(con, status.uri, actor_uri=author.uri, former_type="Note")
        activity_id = await next_id(con)
        activity = vocab.build_delete(
            author.uri,
            status.uri,
            id=urls.activity(author.username, activity_id, "delete"),
            to=address.to,
            cc=address.cc,
        )
        await delivery.enqueue_activity(
            con,
            actor_id=author.id,
            activity=activity,
            inboxes=list(dict.fromkeys(inboxes)),
            object_uri=status.uri,
            activity_id=activity_id,
        )
