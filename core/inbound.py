"""Receiving an activity: check it, verify who signed it, record it for the inbox worker.

Nothing is applied here. The request is answered 202 as soon as the activity is safely
queued (or recognised as a replay); the inbox worker does the real work later. Errors are
``core.errors`` exceptions with a short reason the sending server can log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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
from federation.vocab import Activity, VocabError, parse_activity
from storage import actors, domains, inbox
from storage.actors import ActorRow

log = logging.getLogger("shoal.inbound")


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
    async with services.pool.acquire() as con, con.transaction():
        recorded = await inbox.record(con, activity.id, activity.actor, activity.type, activity.raw)
        if signer.domain is not None:
            # A server that signs valid requests is up, whatever delivery concluded.
            await domains.mark_available(con, signer.domain)
    return ReceiveResult(202, activity.id, recorded=recorded, signed_by=signer.uri)


def _parse(body: bytes) -> Activity:
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("invalid JSON") from None
    try:
        activity = parse_activity(document)
    except VocabError as exc:
        raise BadRequest(exc.reason) from None
    # Ids dedupe the queue: one server must not claim (and so block) another's ids.
    actor_domain = _domain(activity.actor)
    if actor_domain is None or _domain(activity.id) != actor_domain:
        raise BadRequest("activity id is not on its actor's server")
    return activity


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


def _check_signer(signer: ActorRow, activity: Activity) -> None:
    if signer.uri == activity.actor:
        return
    # An instance actor or relay may sign for the users of its own server, and only those.
    if signer.domain is not None and signer.domain == _domain(activity.actor):
        return
    raise Unauthorized("signer is not the activity's actor")


async def _ignorable_self_delete(services: Services, activity: Activity, exc: RemoteError) -> bool:
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
