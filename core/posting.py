"""Posting, editing and deleting statuses from a client app, as Mastodon does it.

Around ``core.publish``: what a client may send is checked first (nothing is stored when
a request is refused), a post is counted against the author's rate limit, an
``Idempotency-Key`` makes a retried post return the first one, and the posting app is
remembered for the status's ``application``. An edit keeps the version it replaces in
``status_edits`` and federates ``Update(Note)`` to the audience the Create reached.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from core import ap_render, delivery, events, interactions, oauth, publish
from core.errors import Conflict, Forbidden, NotFound, Unprocessable
from core.publish import MAX_CHARS, VISIBILITIES, Draft
from core.ratelimit import RateState
from core.services import Services
from federation import content, vocab
from storage import actors, follows, statuses
from storage import interactions as store
from storage.actors import ActorRow, UserRow
from storage.interactions import EditRow
from storage.pool import Conn
from storage.statuses import StatusRow, next_id

IDEMPOTENCY_TTL = 3600.0
IDEMPOTENCY_WAIT = 5.0  # how long a retry waits for the first request still posting
MAX_KEY_LENGTH = 512
REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."

# ISO 639-1, and the few ISO 639-3 codes Mastodon offers for languages without one.
_LANGUAGE_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs
    cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he
    hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr
    ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng
    nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk
    sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz
    ve vi vo wa wo xh yi yo za zh zu ast chr ckb cnr csb gsw jbo kab kmr ldn lfn sco sma
    smj szl tok zba zgh"""
LANGUAGES = frozenset(_LANGUAGE_CODES.split())


@dataclass(frozen=True, slots=True)
class PostRequest:
    """What a client sent to POST /api/v1/statuses, already typed by the route."""

    text: str
    visibility: str | None = None
    spoiler_text: str = ""
    sensitive: bool = False
    language: str | None = None
    in_reply_to_id: str | None = None
    media_ids: list[str] = field(default_factory=list)
    poll: bool = False
    scheduled_at: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class EditRequest:
    text: str
    spoiler_text: str = ""
    sensitive: bool | None = None
    language: str | None = None
    media_ids: list[str] = field(default_factory=list)
    poll: bool = False


@dataclass(frozen=True, slots=True)
class Posted:
    status: StatusRow
    rate: RateState | None  # None when an Idempotency-Key returned an earlier post


def language_code(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    code = raw.strip().lower()
    if code not in LANGUAGES:
        raise Unprocessable(f"Validation failed: Language {raw[:20]!r} is not a valid ISO 639 code")
    return code


def _check_text(text: str, spoiler_text: str, media_ids: list[str], poll: bool) -> None:
    if media_ids:
        # We hold no media yet, so every id is unknown; Mastodon's message for those.
        ids = ", ".join(media_ids[:4])
        raise Unprocessable(f"Media {ids} not found or already attached to another post")
    if poll:
        raise Unprocessable("Polls are not supported yet")
    if not text.strip():
        raise Unprocessable("Validation failed: Text can't be blank")
    if len(text.strip()) + len(spoiler_text) > MAX_CHARS:
        raise Unprocessable(f"Validation failed: Text character limit of {MAX_CHARS} exceeded")


async def _reply_target(services: Services, author: ActorRow, raw: str | None) -> StatusRow | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise NotFound(REPLY_NOT_FOUND)
    try:
        parent = await interactions.visible_status(services, author, int(raw))
    except NotFound:
        raise NotFound(REPLY_NOT_FOUND) from None
    if parent.reblog_of_id is not None:
        raise NotFound(REPLY_NOT_FOUND)
    return parent


async def _earlier_post(services: Services, user: UserRow, key: str) -> StatusRow | None:
    async with services.pool.acquire() as con:
        found = await store.find_key(con, user.id, key, ttl=IDEMPOTENCY_TTL)
        if found is None or found.status_id is None:
            return None
        return await statuses.get(con, found.status_id)


async def _claim(services: Services, user: UserRow, key: str) -> StatusRow | None:
    """Claim the key; or the status an earlier request with it made (waiting a little
    while that request is still posting)."""
    deadline = asyncio.get_running_loop().time() + IDEMPOTENCY_WAIT
    while True:
        async with services.pool.acquire() as con:
            claim = await store.claim_key(con, user.id, key, ttl=IDEMPOTENCY_TTL)
            if claim.claimed:
                return None
            if claim.status_id is not None:
                earlier = await statuses.get(con, claim.status_id)
                if earlier is not None:
                    return earlier
        if asyncio.get_running_loop().time() > deadline:
            raise Conflict("A request with this Idempotency-Key is still being processed")
        await asyncio.sleep(0.1)


async def post_status(
    services: Services,
    *,
    user: UserRow,
    author: ActorRow,
    app_id: int | None,
    request: PostRequest,
    default_visibility: str = "public",
) -> Posted:
    key = request.idempotency_key or None
    if key is not None:
        if len(key) > MAX_KEY_LENGTH:
            raise Unprocessable("Idempotency-Key is too long")
        earlier = await _earlier_post(services, user, key)
        if earlier is not None:
            return Posted(earlier, None)
    visibility = request.visibility or default_visibility
    if visibility not in VISIBILITIES:
        raise Unprocessable(
            f"Validation failed: Visibility must be one of {', '.join(VISIBILITIES)}"
        )
    language = language_code(request.language)
    if language is None and user.locale.lower() in LANGUAGES:
        language = user.locale.lower()
    if request.scheduled_at:
        raise Unprocessable("Scheduled posts are not supported yet")
    _check_text(request.text, request.spoiler_text, request.media_ids, request.poll)
    parent = await _reply_target(services, author, request.in_reply_to_id)
    if key is not None:
        earlier = await _claim(services, user, key)
        if earlier is not None:
            return Posted(earlier, None)
    try:
        rate = await interactions.count_post(services, author)
        draft = Draft(
            text=request.text,
            visibility=visibility,
            spoiler_text=request.spoiler_text,
            sensitive=request.sensitive,
            language=language,
            in_reply_to=parent,
        )
        status = await publish.publish_note(services, author, draft)
    except BaseException:
        if key is not None:
            async with services.pool.acquire() as con:
                await store.release_key(con, user.id, key)
        raise
    app = await oauth.get_app(services, app_id) if app_id is not None else None
    async with services.pool.acquire() as con, con.transaction():
        if app is not None:
            await store.merge_data(
                con, status.id, {"application": {"name": app.name, "website": app.website}}
            )
        if key is not None:
            await store.complete_key(con, user.id, key, status.id)
        stored = await statuses.get(con, status.id)
    return Posted(stored or status, rate)


async def delete_status(services: Services, author: ActorRow, status: StatusRow) -> None:
    """Delete one's own status; deleting one's boost withdraws the boost."""
    if status.actor_id != author.id:
        raise Forbidden(interactions.NOT_ALLOWED)
    if status.reblog_of_id is not None:
        await interactions.unreblog(services, author, status)
        return
    await publish.delete_status(services, author, status)


def source_text(status: StatusRow) -> str:
    """What the author typed; for a status from elsewhere, its text without markup."""
    return status.source if status.source is not None else content.html_to_text(status.content)


async def edit_status(
    services: Services, author: ActorRow, status: StatusRow, request: EditRequest
) -> StatusRow:
    if status.actor_id != author.id or not author.local:
        raise Forbidden(interactions.NOT_ALLOWED)
    if status.reblog_of_id is not None:
        raise Unprocessable("Validation failed: A boost cannot be edited")
    _check_text(request.text, request.spoiler_text, request.media_ids, request.poll)
    language = language_code(request.language) or status.language
    text = request.text.strip()
    sensitive = bool(request.sensitive) or bool(request.spoiler_text)
    urls = services.urls
    # Mentions are resolved as a new post's are (a remote one may need a look-up).
    targets, mentioned = await publish._resolve_mentions(services, text)
    rendered = content.render_plain_text(text, mentions=targets, hashtag_url=urls.tag)
    async with services.pool.acquire() as con, con.transaction():
        if not await store.lock_status(con, status.id):
            raise NotFound(interactions.NOT_FOUND)
        current = await statuses.get(con, status.id)
        assert current is not None
        changes = {
            "content": rendered.html,
            "source": text,
            "spoiler_text": request.spoiler_text,
            "sensitive": sensitive,
            "language": language,
        }
        if all(getattr(current, name) == value for name, value in changes.items()):
            return current
        await store.add_edit(
            con,
            current.id,
            content=current.content,
            spoiler_text=current.spoiler_text,
            sensitive=current.sensitive,
            created_at=current.edited_at or current.published_at,
        )
        updated = await statuses.update_content(con, current.id, changes)
        old_mentions = set(await statuses.mentioned_actor_ids(con, current.id))
        await statuses.add_mentions(con, current.id, [a.id for a in mentioned])
        await statuses.replace_tags(con, current.id, list(rendered.hashtags))
        await events.status_updated(con, updated)
        await _notify_edit(con, updated, mentioned, old_mentions)
        await _federate_update(services, con, author, updated)
    return updated


async def _notify_edit(
    con: Conn, status: StatusRow, mentioned: list[ActorRow], old_mentions: set[int]
) -> None:
    """Newly mentioned members hear of the mention; those who boosted it, of the edit."""
    for actor in mentioned:
        if actor.local and actor.id not in old_mentions:
            await events.notify(
                con,
                recipient_id=actor.id,
                from_actor_id=status.actor_id,
                type="mention",
                status_id=status.id,
            )
    for booster_id in await store.local_reblogger_ids(con, status.id):
        await events.notify(
            con,
            recipient_id=booster_id,
            from_actor_id=status.actor_id,
            type="update",
            status_id=status.id,
        )


async def _federate_update(
    services: Services, con: Conn, author: ActorRow, status: StatusRow
) -> None:
    """Update(Note) to everyone the Create reached: followers (unless direct), every actor
    ever mentioned in it, and the followers of our collective when it boosted it."""
    urls = services.urls
    mentioned = list(
        (await actors.get_many(con, await statuses.mentioned_actor_ids(con, status.id))).values()
    )
    inboxes: list[str] = []
    if status.visibility != "direct":
        inboxes += await follows.follower_inboxes(con, author.id)
    inboxes += [a.delivery_inbox for a in mentioned if not a.local]
    for group_id in await statuses.local_group_reblogs(con, status.id):
        inboxes += await follows.follower_inboxes(con, group_id)
    note = ap_render.note_document(
        status,
        author,
        mentioned=mentioned,
        tags=await statuses.tags_of(con, status.id),
        urls=urls,
        in_reply_to=status.in_reply_to_uri,
    )
    activity_id = await next_id(con)
    update = vocab.build_update(
        author.uri, note, id=urls.activity(author.username, activity_id, "update")
    )
    await delivery.enqueue_activity(
        con,
        actor_id=author.id,
        activity=update,
        inboxes=list(dict.fromkeys(inboxes)),
        object_uri=status.uri,
        activity_id=activity_id,
    )


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a status, for GET /api/v1/statuses/:id/history."""

    content: str
    spoiler_text: str
    sensitive: bool
    created_at: datetime


async def history(services: Services, status: StatusRow) -> list[Version]:
    """Every version of the status, oldest first, the current one last."""
    async with services.pool.acquire() as con:
        edits: list[EditRow] = await store.list_edits(con, status.id)
    versions = [Version(e.content, e.spoiler_text, e.sensitive, e.created_at) for e in edits]
    current_at = status.edited_at or status.published_at
    versions.append(Version(status.content, status.spoiler_text, status.sensitive, current_at))
    return versions
