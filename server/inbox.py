"""Inbox endpoints, served as plain ASGI ahead of Starlette's router.

``POST /inbox`` is the shared inbox, ``POST /users/{username}/inbox`` a member's (or the
collective's) and ``POST /actor/inbox`` the instance actor's. The inbox is the busiest
path of a federated server and needs nothing Starlette offers (no form, cookie, session
or template), so ``ShoalApp`` hands these POSTs straight to ``serve``: the body is read
with a size cap and given to ``core.inbound.receive``, and the answer is written by hand.
Other methods on these paths go through the router as before (405).

Answers are the ones the router's error handlers give: ``{"error": reason}`` with the
status of the ``core.errors`` exception, 503 with ``Retry-After`` while the database is
unreachable, and a bare JSON 500 (its traceback only in the log) for a bug.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import orjson
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from core import inbound
from core.errors import BadRequest, PayloadTooLarge, ShoalError
from core.services import Services
from core.urls import INSTANCE_ACTOR_USERNAME
from federation.signatures import Fields

log = logging.getLogger("shoal.http")

# Mastodon caps activities at 1 MB as well; anything bigger is not a real activity.
MAX_BODY: Final = 1024 * 1024
# Seconds a sender is asked to wait when the database is unavailable (it retries anyway).
RETRY_AFTER: Final = 30

_USERS: Final = "/users/"
_INBOX: Final = "/inbox"


@dataclass(frozen=True, slots=True)
class Inbox:
    """Which inbox a path names: a local username, or None for the shared inbox."""

    recipient: str | None


_SHARED: Final = Inbox(None)
_INSTANCE: Final = Inbox(INSTANCE_ACTOR_USERNAME)


def match(path: str) -> Inbox | None:
    """The inbox ``path`` names, None when it names none (``{username}`` is one segment,
    as in the router's patterns)."""
    if path == _INBOX:
        return _SHARED
    if path == "/actor/inbox":
        return _INSTANCE
    if path.startswith(_USERS) and path.endswith(_INBOX):
        username = path[len(_USERS) : -len(_INBOX)]
        if username and "/" not in username:
            return Inbox(username)
    return None


class _Disconnected(Exception):
    """The sender went away before its body arrived: there is nobody to answer."""


async def serve(
    services: Services, inbox: Inbox, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one POST to ``inbox``."""
    try:
        headers = _headers(scope)
        body = await _read_capped(headers, receive)
        await inbound.receive(
            services,
            method="POST",
            url=_signed_url(scope, headers, services),
            headers=headers,
            body=body,
            recipient=inbox.recipient,
        )
    except _Disconnected:
        return
    except ShoalError as exc:
        await _answer(send, exc.status, {"error": exc.message})
    except inbound.Unavailable as exc:
        # Perhaps not queued: the sender keeps the activity and tries again (a replay of
        # one that was queued after all is a no-op).
        retry = (b"retry-after", str(RETRY_AFTER).encode())
        await _answer(send, 503, {"error": str(exc)}, retry)
    except Exception:
        log.exception("unhandled error on POST %s", scope.get("path"))
        await _answer(send, 500, {"error": "internal server error"})
    else:
        await send({"type": "http.response.start", "status": 202, "headers": _EMPTY})
        await send({"type": "http.response.body", "body": b""})


_EMPTY: Final = [(b"content-length", b"0")]


async def _answer(send: Send, status: int, document: object, *extra: tuple[bytes, bytes]) -> None:
    body = orjson.dumps(document)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> Fields:
    """The request's fields as the signature specs read them (see ``Fields``)."""
    fields = Fields()
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1").strip(" \t")
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


async def _read_capped(headers: Fields, receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit``."""
    declared = headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not (declared.isascii() and declared.isdigit()):
            raise BadRequest("invalid Content-Length")
        if int(declared) > limit:
            raise PayloadTooLarge("payload too large")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:  # chunked uploads have no Content-Length
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("payload too large")
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _signed_url(scope: Scope, headers: Fields, services: Services) -> str:
    """The URL as the sender signed it: our public scheme (a TLS proxy hides it from us),
    the Host it addressed, and the path and query exactly as they arrived."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    raw_path = raw_path.partition(b"?")[0]  # some servers leave the query in raw_path
    settings = services.settings
    url = (
        f"{settings.scheme}://{headers.get('host') or settings.domain}{raw_path.decode('latin-1')}"
    )
    query: bytes = scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url


class _Routed:
    """The same answer through the router, which ``ShoalApp`` normally bypasses: the
    routes also make the router answer other methods on these paths with 405."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inbox = match(scope["path"])
        assert inbox is not None  # the routes below are exactly the paths ``match`` knows
        await serve(scope["app"].state.services, inbox, scope, receive, send)


ROUTES: list[BaseRoute] = [
    Route("/inbox", _Routed(), methods=["POST"]),
    Route("/users/{username}/inbox", _Routed(), methods=["POST"]),
    Route("/actor/inbox", _Routed(), methods=["POST"]),
]
