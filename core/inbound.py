"""Receiving an activity: check it, verify who signed it, record it for the inbox worker.

Nothing is applied here. The request is answered 202 as soon as the activity is safely
queued (or recognised as a replay); the inbox worker does the real work later. Errors are
``core.errors`` exceptions with a short reason the sending server can log, or
``Unavailable`` when the database cannot be reached (the sender should retry later).

Concurrent requests share their commits (``InboxBatcher``): under load one INSERT and one
NOTIFY queue many activities, instead of one transaction (and one pool connection) each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from core.errors import BadRequest, NotFound, Unauthorized
from core.remote import RemoteError, domain_of, key_for
from core.services import Services
from federation.keys import PublicKey
from federation.signatures import (
    ParsedSignature,
    SignatureError,
    parse_request_signature,
    verify_signature,
)
from federation.vocab import Envelope, VocabError, check_activity
from storage import actors, inbox
from storage.actors import ActorRow
from storage.pool import Conn, Pool, PoolError

log = logging.getLogger("shoal.inbound")

# One group commit stores at most this many activities, and past the first at most this
# many bytes of them; the rest wait for the next one.
BATCH_MAX_ITEMS: Final = 100
BATCH_MAX_BYTES: Final = 4 * 1024 * 1024


class Unavailable(Exception):
    """The database could not be reached, or the process is stopping: the activity may
    not be queued, and the sender should try again later (503; a replay is harmless)."""


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    status: int  # what to answer: 202 in every accepted case
    activity_id: str
    recorded: bool  # False for a replay, or an activity deliberately ignored
    signed_by: str | None  # the key owner's uri; None when the activity was ignored unverified


async def receive(
    services: Services,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    recipient: str | None,
) -> ReceiveResult:
    """Verify and queue one POSTed activity.

    ``url`` is the URL the sender signed (our public scheme and the Host it addressed);
    ``recipient`` is the local username of a personal inbox, None for the shared one.
    """
    try:
        return await _receive(
            services, method=method, url=url, headers=headers, body=body, recipient=recipient
        )
    except PoolError as exc:
        log.warning("inbox: database unavailable: %s: %s", type(exc).__name__, exc)
        raise Unavailable("the database is unavailable; try again later") from exc


async def _receive(
    services: Services,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    recipient: str | None,
) -> ReceiveResult:
    if recipient is not None:
        async with services.pool.acquire() as con:
            if await actors.get_local(con, recipient) is None:
                raise NotFound("no such inbox")
    activity = _parse(body)
    parsed = _parse_signature(services, method, url, headers, body)
    try:
        signer, key = await key_for(services, parsed.key_id)
        signer = await _verify(services, parsed, signer, key)
    except RemoteError as exc:
        if await _ignorable_self_delete(services, activity, exc):
            log.info("ignoring Delete of unreachable actor %s", activity.actor)
            return ReceiveResult(202, activity.id, recorded=False, signed_by=None)
        log.info("no key %s for %s: %s", parsed.key_id, activity.id, exc.reason)
        raise Unauthorized("could not fetch the signing key") from None
    _check_signer(signer, activity)
    item = inbox.NewItem(activity.id, activity.actor, activity.type, activity.raw, body)
    recorded = await _batcher(services).record(item, domain=signer.domain, size=len(body))
    return ReceiveResult(202, activity.id, recorded=recorded, signed_by=signer.uri)


def _parse(body: bytes) -> Envelope:
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("invalid JSON") from None
    try:
        activity = check_activity(document)
    except VocabError as exc:
        raise BadRequest(exc.reason) from None
    # Ids dedupe the queue: one server must not claim (and so block) another's ids.
    if not _same_server(activity.actor, activity.id):
        raise BadRequest("activity id is not on its actor's server")
    return activity


def _same_server(actor: str, uri: str) -> bool:
    """Whether ``uri`` is on ``actor``'s server. Usually ``uri`` starts with the actor's
    ``scheme://host/``, and then its host is the same without parsing either."""
    end = actor.find("/", actor.find("//") + 2)
    if end > 0 and uri.startswith(actor[: end + 1]):
        return True
    actor_domain = _domain(actor)
    return actor_domain is not None and _domain(uri) == actor_domain


def _parse_signature(
    services: Services, method: str, url: str, headers: Mapping[str, str], body: bytes
) -> ParsedSignature:
    try:
        return parse_request_signature(
            method,
            url,
            headers,
            body,
            now=datetime.now(UTC),
            max_skew=timedelta(seconds=services.settings.signature_max_skew),
        )
    except SignatureError as exc:
        raise Unauthorized(exc.reason) from None


async def _verify(
    services: Services, parsed: ParsedSignature, signer: ActorRow, key: PublicKey
) -> ActorRow:
    """Verify with the cached key, then once with a refetched one (the key may have rotated).

    The refetch is throttled per key id, so a stream of forged requests costs one fetch.
    A refetch that fails because the actor is gone raises ``RemoteError`` (see
    ``_ignorable_self_delete``); any other failure is a 401.
    """
    try:
        verify_signature(parsed, key)
        return signer
    except SignatureError:
        pass
    try:
        signer, key = await key_for(services, parsed.key_id, refresh=True)
    except RemoteError as exc:
        if exc.gone:
            raise
        raise Unauthorized("signature does not verify") from None
    try:
        verify_signature(parsed, key)
    except SignatureError:
        raise Unauthorized("signature does not verify") from None
    return signer


def _check_signer(signer: ActorRow, activity: Envelope) -> None:
    if signer.uri == activity.actor:
        return
    # An instance actor or relay may sign for the users of its own server, and only those.
    if signer.domain is not None and signer.domain == _domain(activity.actor):
        return
    raise Unauthorized("signer is not the activity's actor")


async def _ignorable_self_delete(services: Services, activity: Envelope, exc: RemoteError) -> bool:
    """A Delete of an actor whose key cannot be fetched is dropped with a 202.

    Mastodon sends a deleted account's Delete to every server it ever knew; the account
    answers 410, so the key is gone. An actor we have cached verifies with its cached key
    before reaching here, so what remains is an actor we never knew (nothing to delete) or
    one whose key we cannot check any more (gone: nothing to verify against).
    """
    if activity.type != "Delete" or activity.object_id != activity.actor:
        return False
    if exc.gone:
        return True
    async with services.pool.acquire() as con:
        return await actors.get_by_uri(con, activity.actor) is None


def _domain(uri: str) -> str | None:
    try:
        return domain_of(uri)
    except RemoteError:
        return None


# --- group commit -----------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: one per inbox POST, and a frozen init costs more
class _Waiter:
    item: inbox.NewItem
    domain: str | None  # the signer's host, known to be up; None for a local signer
    size: int
    answer: asyncio.Future[bool]


class InboxBatcher:
    """Queues verified activities for many requests at once: a group commit.

    A request adds its activity and waits. One writer task at a time takes everything
    waiting once it holds a connection (up to ``BATCH_MAX_ITEMS``), stores it with one
    statement (one commit, one NOTIFY: ``storage.inbox.record_many``) and answers each
    request: recorded, or a replay. It carries on while requests wait and ends when none
    does, so nothing sleeps: an idle server stores the first activity at once, a busy one
    shares each commit among the requests that arrived during the previous one. A request
    is only answered after the commit, so its 202 still means the activity is durably
    queued, and it is applied once since the queue dedupes by activity id. (A second
    writer, overlapping commits, was measured slower: more, smaller commits whose fsyncs
    did not overlap.)
    """

    def __init__(self, pool: Pool, on_queued: Callable[[], None]) -> None:
        self._pool = pool
        self._on_queued = on_queued  # called after a commit that queued something new
        self._waiting: list[_Waiter] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, item: inbox.NewItem, *, domain: str | None, size: int) -> bool:
        """Queue ``item``; False when its id was seen before. Raises ``BadRequest`` when
        the database refuses its values, ``PoolError`` or ``Unavailable`` when the
        database cannot be reached."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiter(item, domain, size, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_while_waiting(), name="shoal-inbox")
        # A request cancelled meanwhile leaves its activity to be queued all the same: the
        # sender will retry it, and the retry is a replay.
        return await answer

    async def _write_while_waiting(self) -> None:
        try:
            while self._waiting:
                await self._write_batch()
        finally:
            self._writer = None
            # Only left when the task was cancelled (shutdown): nobody may wait forever.
            left, self._waiting = self._waiting, []
            _fail(left, Unavailable("the server is stopping"))

    def _take(self) -> list[_Waiter]:
        count = size = 0
        for waiter in self._waiting:
            if count == BATCH_MAX_ITEMS or (count and size + waiter.size > BATCH_MAX_BYTES):
                break
            count += 1
            size += waiter.size
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        return batch

    async def _write_batch(self) -> None:
        batch: list[_Waiter] = []
        try:
            async with self._pool.acquire() as con:
                # Taken once the connection is ours: what arrived meanwhile joins in.
                batch = self._take()
                outcomes = await _record(con, batch)
                for waiter, outcome in zip(batch, outcomes, strict=True):
                    _settle(waiter, outcome)
                if any(outcome is True for outcome in outcomes):
                    self._on_queued()
        except PoolError as exc:
            _fail(batch, exc)
        except asyncio.CancelledError:
            _fail(batch, Unavailable("the server is stopping"))
            raise
        except Exception as exc:  # a bug: each request answers 500 and logs it
            _fail(batch, exc)


async def _record(con: Conn, batch: Sequence[_Waiter]) -> list[bool | Exception]:
    """``record_many``, except that an item whose values the database refuses fails
    alone (400), not the requests that happened to share its batch. A server that signs
    valid requests is up, whatever delivery concluded: the signers' hosts are marked
    available with the same statement."""
    items = [w.item for w in batch]
    hosts = {w.domain for w in batch if w.domain is not None}
    try:
        return list(await inbox.record_many(con, items, available=hosts))
    except inbox.Unstorable as exc:
        if len(batch) == 1:
            log.info("inbox: cannot store %s: %s", items[0].activity_uri, exc)
            return [BadRequest("the activity cannot be stored")]
    outcomes: list[bool | Exception] = []
    for waiter in batch:
        outcomes.extend(await _record(con, [waiter]))
    return outcomes


def _settle(waiter: _Waiter, outcome: bool | Exception) -> None:
    if waiter.answer.done():  # its request was cancelled
        return
    if isinstance(outcome, Exception):
        waiter.answer.set_exception(outcome)
    else:
        waiter.answer.set_result(outcome)


def _fail(waiters: Sequence[_Waiter], exc: Exception) -> None:
    for waiter in waiters:
        _settle(waiter, exc)


def _batcher(services: Services) -> InboxBatcher:
    if services.inbox_batcher is None:
        services.inbox_batcher = InboxBatcher(services.pool, services.inbox_queued.set)
    return services.inbox_batcher
