"""What a member does to other accounts and to their own: follow, block, mute, and edit
the profile. Each change and the activities it federates are stored in one transaction.

Reads about accounts (profiles, pages, search) live in ``core.account_reads``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core import ap_render, delivery, social
from core.errors import Forbidden, NotFound, Unprocessable
from core.services import Services
from federation import content, vocab
from storage import actors, follows, instance, relations
from storage.actors import ActorRow, UserRow
from storage.pool import Conn
from storage.relations import Relation
from storage.statuses import next_id

NOT_FOUND = "Record not found"
NOT_ALLOWED = "This action is not allowed"
MAX_DISPLAY_NAME = 30
MAX_NOTE = 500
MAX_FIELDS = 4
MAX_FIELD_NAME = 255
MAX_FIELD_VALUE = 2048
# Default visibilities a member may choose; "direct" is chosen per post, never by default.
PRIVACIES = ("public", "unlisted", "private")
# The longest mute Mastodon accepts is not bounded; ours is, so the timestamp stays sane.
MAX_MUTE_SECONDS = 100 * 365 * 24 * 3600
_MAX_ID = 2**63 - 1  # ids are PostgreSQL bigints


def _as_id(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value <= _MAX_ID else None


def parse_id(text: str) -> int:
    """An account id from a URL: anything but a stored id is "not found", as on Mastodon."""
    value = _as_id(text)
    if value is None:
        raise NotFound(NOT_FOUND)
    return value


def parse_ids(texts: Sequence[str]) -> list[int]:
    """Ids from an ``id[]`` list, without repeats; what is not an id cannot match one."""
    return list(dict.fromkeys(v for t in texts if (v := _as_id(t)) is not None))


async def load_account(con: Conn, account_id: int) -> ActorRow:
    actor = await actors.get(con, account_id)
    if actor is None or actor.deleted_at is not None:
        raise NotFound(NOT_FOUND)
    return actor


async def get_account(services: Services, id_text: str) -> ActorRow:
    async with services.pool.acquire() as con:
        return await load_account(con, parse_id(id_text))


async def relationship(services: Services, viewer: ActorRow, target_id: int) -> Relation:
    async with services.pool.acquire() as con:
        return (await relations.relations(con, viewer.id, [target_id]))[target_id]


async def relationships(services: Services, viewer: ActorRow, ids: Sequence[str]) -> list[Relation]:
    """Relationships with the accounts asked for, in the order asked; unknown ids skipped."""
    wanted = parse_ids(ids)
    async with services.pool.acquire() as con:
        known = await actors.get_many(con, wanted)
        found = await relations.relations(con, viewer.id, list(known))
    return [found[i] for i in wanted if i in found and known[i].deleted_at is None]


# Follows


async def follow(
    services: Services, viewer: ActorRow, id_text: str, *, reblogs: bool, notify: bool
) -> Relation:
    """Follow (or change the options of a follow). A locked or remote account is only
    requested until it accepts."""
    target = await get_account(services, id_text)
    async with services.pool.acquire() as con:
        if await relations.either_blocks(con, viewer.id, target.id):
            raise Forbidden(NOT_ALLOWED)
    row = await social.follow(services, viewer, target)
    async with services.pool.acquire() as con:
        await relations.set_follow_options(con, row.id, show_reblogs=reblogs, notify=notify)
    return await relationship(services, viewer, target.id)


async def unfollow(services: Services, viewer: ActorRow, id_text: str) -> Relation:
    target = await get_account(services, id_text)
    await social.unfollow(services, viewer, target)
    return await relationship(services, viewer, target.id)


# Blocks


def _block_document(block_uri: str, actor: ActorRow, target: ActorRow) -> dict[str, Any]:
    return {
        "@context": vocab.context(),
        "id": block_uri,
        "type": "Block",
        "actor": actor.uri,
        "object": target.uri,
    }


async def block(services: Services, viewer: ActorRow, id_text: str) -> Relation:
    """Block: follows both ways end, and a remote account is told (Mastodon hides the
    blocker from it in return)."""
    target = await get_account(services, id_text)
    if target.id == viewer.id:
        raise Unprocessable("Validation failed: you cannot block yourself")
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        if await relations.get_block(con, viewer.id, target.id) is not None:
            return (await relations.relations(con, viewer.id, [target.id]))[target.id]
        ours = await follows.delete(con, viewer.id, target.id)
        theirs = await follows.delete(con, target.id, viewer.id)
        block_id = await next_id(con)
        block_uri = urls.activity(viewer.username, block_id, "block")
        await relations.add_block(con, uri=block_uri, actor_id=viewer.id, target_id=target.id)
        if not target.local:
            if ours is not None:
                undo_id = await next_id(con)
                follow_doc = vocab.build_follow(viewer.uri, target.uri, id=ours.uri)
                undo = vocab.build_undo(
                    viewer.uri, follow_doc, id=urls.activity(viewer.username, undo_id, "undo")
                )
                await _send(con, viewer, target, undo, undo_id)
            if theirs is not None:
                reject_id = await next_id(con)
                follow_doc = vocab.build_follow(target.uri, viewer.uri, id=theirs.uri)
                reject = vocab.build_reject(
                    viewer.uri, follow_doc, id=urls.activity(viewer.username, reject_id, "reject")
                )
                await _send(con, viewer, target, reject, reject_id)
            await _send(con, viewer, target, _block_document(block_uri, viewer, target), block_id)
        return (await relations.relations(con, viewer.id, [target.id]))[target.id]


async def unblock(services: Services, viewer: ActorRow, id_text: str) -> Relation:
    target = await get_account(services, id_text)
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        row = await relations.remove_block(con, viewer.id, target.id)
        if row is not None and row.uri is not None and not target.local:
            undo_id = await next_id(con)
            undo = vocab.build_undo(
                viewer.uri,
                _block_document(row.uri, viewer, target),
                id=urls.activity(viewer.username, undo_id, "undo"),
            )
            await _send(con, viewer, target, undo, undo_id)
        return (await relations.relations(con, viewer.id, [target.id]))[target.id]


async def _send(
    con: Conn, sender: ActorRow, target: ActorRow, activity: dict[str, Any], activity_id: int
) -> None:
    # To the actor's own inbox, like follows: some servers only take these there.
    await delivery.enqueue_activity(
        con,
        actor_id=sender.id,
        activity=activity,
        inboxes=[target.inbox_uri],
        activity_id=activity_id,
    )


# Mutes


async def mute(
    services: Services, viewer: ActorRow, id_text: str, *, notifications: bool, duration: int
) -> Relation:
    """Mute (hiding notifications too unless told); ``duration`` seconds, 0 for ever."""
    target = await get_account(services, id_text)
    if target.id == viewer.id:
        raise Unprocessable("Validation failed: you cannot mute yourself")
    if duration < 0 or duration > MAX_MUTE_SECONDS:
        raise Unprocessable("Validation failed: duration is out of range")
    expires = datetime.now(UTC) + timedelta(seconds=duration) if duration else None
    async with services.pool.acquire() as con:
        await relations.set_mute(
            con,
            actor_id=viewer.id,
            target_id=target.id,
            hide_notifications=notifications,
            expires_at=expires,
        )
        return (await relations.relations(con, viewer.id, [target.id]))[target.id]


async def unmute(services: Services, viewer: ActorRow, id_text: str) -> Relation:
    target = await get_account(services, id_text)
    async with services.pool.acquire() as con:
        await relations.remove_mute(con, viewer.id, target.id)
        return (await relations.relations(con, viewer.id, [target.id]))[target.id]


# The member's own profile


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """What PATCH update_credentials asked for; None leaves a value as it is."""

    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    fields: list[tuple[str, str]] | None = None
    privacy: str | None = None
    sensitive: bool | None = None
    language: str | None = None


def _validate(changes: ProfileChanges) -> None:
    problems: list[str] = []
    if changes.display_name is not None and len(changes.display_name) > MAX_DISPLAY_NAME:
        problems.append(f"Display name is too long (maximum is {MAX_DISPLAY_NAME} characters)")
    if changes.note is not None and len(changes.note) > MAX_NOTE:
        problems.append(f"Note is too long (maximum is {MAX_NOTE} characters)")
    if changes.fields is not None:
        if len(changes.fields) > MAX_FIELDS:
            problems.append(f"Fields is too long (maximum is {MAX_FIELDS} fields)")
        if any(len(name) > MAX_FIELD_NAME for name, _ in changes.fields):
            problems.append(f"Field name is too long (maximum is {MAX_FIELD_NAME} characters)")
        if any(len(value) > MAX_FIELD_VALUE for _, value in changes.fields):
            problems.append(f"Field value is too long (maximum is {MAX_FIELD_VALUE} characters)")
    if changes.privacy is not None and changes.privacy not in PRIVACIES:
        problems.append(f"Privacy must be one of {', '.join(PRIVACIES)}")
    language = changes.language
    if language is not None and not (
        len(language) in (2, 3) and language.isascii() and language.isalpha()
    ):
        problems.append("Language is not a language code (ISO 639)")
    if problems:
        raise Unprocessable("Validation failed: " + ", ".join(problems))


async def _mention_targets(con: Conn, services: Services, text: str) -> dict[str, Any]:
    """Mentions in a bio link to accounts we already know; nothing is fetched for a bio."""
    targets: dict[str, content.MentionTarget] = {}
    own = services.settings.domain
    for username, domain in content.find_mentions(text):
        if domain is None or domain == own:
            actor = await actors.get_local(con, username)
        else:
            actor = await actors.get_by_acct(con, username, domain)
        if actor is not None and actor.deleted_at is None:
            written = username if domain is None else f"{username}@{domain}"
            targets[written.lower()] = content.MentionTarget(actor.url or actor.uri, written)
    return targets


def _field_html(value: str, services: Services) -> str:
    html = content.render_plain_text(value, mentions={}, hashtag_url=services.urls.tag).html
    # One line of a profile table: no paragraph around it, as Mastodon renders fields.
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return html


def preferences_key(user_id: int) -> str:
    return f"preferences:{user_id}"


async def update_profile(
    services: Services, user: UserRow, actor: ActorRow, changes: ProfileChanges
) -> ActorRow:
    """Apply the changes (all or none) and tell followers elsewhere with an Update."""
    if changes.fields is not None:
        # Blank rows are how apps remove a field; they are not fields.
        kept = [(n.strip(), v.strip()) for n, v in changes.fields if n.strip() or v.strip()]
        changes = dataclasses.replace(changes, fields=kept)
    _validate(changes)
    row: dict[str, Any] = {}
    if changes.display_name is not None:
        row["display_name"] = changes.display_name
    if changes.locked is not None:
        row["manually_approves_followers"] = changes.locked
    if changes.discoverable is not None:
        row["discoverable"] = changes.discoverable
    if changes.bot is not None and actor.type in ("Person", "Service"):
        row["type"] = "Service" if changes.bot else "Person"
    if changes.fields is not None:
        row["fields"] = [
            {"name": name, "value": _field_html(value, services), "source": value}
            for name, value in changes.fields
        ]
    async with services.pool.acquire() as con, con.transaction():
        if changes.note is not None:
            targets = await _mention_targets(con, services, changes.note)
            rendered = content.render_plain_text(
                changes.note, mentions=targets, hashtag_url=services.urls.tag
            )
            row["summary"], row["summary_source"] = rendered.html, changes.note
        if changes.language is not None:
            await relations.set_user_locale(con, user.id, changes.language.lower())
        if changes.privacy is not None or changes.sensitive is not None:
            # Posting defaults have no column of their own yet: they are kept with the
            # instance's run-time settings, one entry per member.
            stored = dict(await instance.get_setting(con, preferences_key(user.id)) or {})
            if changes.privacy is not None:
                stored["privacy"] = changes.privacy
            if changes.sensitive is not None:
                stored["sensitive"] = changes.sensitive
            await instance.set_setting(con, preferences_key(user.id), stored)
        if not row:
            return actor
        updated = await actors.update_local_profile(con, actor.id, row)
        inboxes = await follows.follower_inboxes(con, actor.id)
        if inboxes:
            activity_id = await next_id(con)
            update = vocab.build_update(
                updated.uri,
                ap_render.actor_document(updated),
                id=services.urls.activity(updated.username, activity_id, "update"),
            )
            await delivery.enqueue_activity(
                con,
                actor_id=updated.id,
                activity=update,
                inboxes=inboxes,
                object_uri=updated.uri,
                activity_id=activity_id,
            )
        return updated
