"""Mastodon's streaming API: a multiplexed WebSocket, and server-sent events.

    GET  /api/v1/streaming/health                     "OK"
    WS   /api/v1/streaming?stream=user                then {"type": "subscribe", ...}
    GET  /api/v1/streaming/user | /public | /public/local | /hashtag?tag=…   (SSE)

As on Mastodon: the token comes in the Authorization header, the ``access_token``
parameter or the ``Sec-WebSocket-Protocol`` header (then echoed as the subprotocol). A bad
token refuses the handshake with 401, as does asking for the user stream with no token
at all; public streams need none. A refused subscription is reported on the socket as
``{"error": …, "status": …}`` and the connection stays open. uvicorn pings the socket
every 20 s and closes it when pings go unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from core import streaming
from core.errors import ShoalError
from core.services import Services
from core.streaming import Closed, Hub, Message, Stream, StreamError, Viewer
from server.api import entities
from server.api.auth import optional_auth
from server.api.common import json
from server.api.notifications import notification_entity

log = logging.getLogger("shoal.streaming")

READY_WAIT = 5.0  # for LISTEN to be in effect before the client is told it is connected
HEARTBEAT = 15.0  # seconds between SSE ":thump" comments
MAX_COMMAND = 4096  # characters in one message from the client


STREAMS = frozenset(
    {
        *("user", "user:notification", "public", "public:local", "public:remote"),
        *("public:media", "public:local:media", "public:remote:media"),
        *("hashtag", "hashtag:local"),
    }
)


def parse_stream(name: object, tag: object, viewer: Viewer | None) -> Stream:
    """A stream a client asked for, checked as Mastodon checks it."""
    if isinstance(name, list) and name:
        name = name[0]  # Mastodon reads the first of a repeated parameter
    if isinstance(tag, list) and tag:
        tag = tag[0]
    if not isinstance(name, str) or name not in STREAMS:
        raise StreamError("Unknown stream type", 400)
    if name.startswith("user"):
        if viewer is None:
            raise StreamError("Missing access token", 401)
        needed = "read:notifications" if name == "user:notification" else "read:statuses"
        if not viewer.may(needed):
            raise StreamError("Access token does not cover required scopes", 401)
    if name.startswith("hashtag"):
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 256:
            raise StreamError("No tag for stream provided", 400)
        return Stream(name, tag.strip().lstrip("#").lower(), (name, tag))
    return Stream(name, None, (name,))


def _hub(services: Services) -> Hub:
    return streaming.hub(
        services,
        streaming.Renderers(
            status=lambda view: entities.status(view, services.urls),
            notification=lambda view: notification_entity(view, services.urls),
        ),
    )


async def _viewer(connection: HTTPConnection) -> Viewer | None:
    """The member behind the token, if any (an app's own token streams as nobody)."""
    auth = await optional_auth(connection)
    if auth is None or auth.actor is None:
        return None
    return Viewer(auth.actor, auth.scopes)


def _frame(item: Message | StreamError) -> str:
    if isinstance(item, StreamError):
        return orjson.dumps({"error": item.message, "status": item.status}).decode()
    body = {"stream": list(item.stream), "event": item.event, "payload": item.payload}
    return orjson.dumps(body).decode()


async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


async def unknown_channel(request: Request) -> Response:
    return json({"error": "Unknown channel requested"}, 400)


# -- WebSocket ---------------------------------------------------------------------------


async def _deny(websocket: WebSocket, status: int, message: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(json({"error": message}, status))
    else:
        await websocket.close(code=1008)  # servers without denial responses answer 403


def _subprotocol(websocket: WebSocket) -> str | None:
    """Echo the token when it came as the subprotocol: browsers require an echo."""
    offered = websocket.scope.get("subprotocols") or []
    if not offered or "authorization" in websocket.headers:
        return None
    if "access_token" in websocket.query_params:
        return None
    return str(offered[0])


async def socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    try:
        viewer = await _viewer(websocket)
    except ShoalError as exc:
        await _deny(websocket, exc.status, exc.message)
        return
    first: Stream | StreamError | None = None
    if "stream" in websocket.query_params:
        q = websocket.query_params
        try:
            first = parse_stream(q.getlist("stream"), q.get("tag"), viewer)
        except StreamError as exc:
            if exc.status == 401 and viewer is None:
                await _deny(websocket, 401, exc.message)  # as Mastodon refuses it
                return
            first = exc  # reported once connected, as Mastodon does
    try:
        hub = _hub(services)
    except StreamError as exc:
        await _deny(websocket, exc.status, exc.message)
        return
    subscriber = hub.subscribe(viewer)
    try:
        if isinstance(first, Stream):
            subscriber.subscribe(first)
        elif isinstance(first, StreamError):
            subscriber.offer(first)
        await hub.ready(READY_WAIT)
        try:
            await websocket.accept(subprotocol=_subprotocol(websocket))
        except OSError:
            return  # the client left while we waited
        await _converse(websocket, subscriber)
    finally:
        hub.unsubscribe(subscriber)


async def _converse(websocket: WebSocket, subscriber: streaming.Subscriber) -> None:
    async def read() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            _command(subscriber, message.get("text") or message.get("bytes"))

    async def write() -> None:
        with contextlib.suppress(Closed, OSError):
            while True:
                await websocket.send_text(_frame(await subscriber.next()))

    first = await _run_until_first(read, write, subscriber.wait_closed)
    if first != 0 and subscriber.closed is not None:
        # Too slow (1013: try again later) or shutting down (1001: going away).
        code = 1013 if subscriber.closed == "slow" else 1001
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            await asyncio.wait_for(websocket.close(code), timeout=READY_WAIT)


async def _run_until_first(*jobs: Callable[[], Awaitable[None]]) -> int:
    """Run the jobs side by side until one returns, cancel the others; that one's index."""
    tasks = [asyncio.ensure_future(job()) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.error("streaming connection failed", exc_info=result)
    return next(i for i, task in enumerate(tasks) if task.done() and not task.cancelled())


def _command(subscriber: streaming.Subscriber, raw: str | bytes | None) -> None:
    """A subscribe/unsubscribe message; anything else is ignored, as Mastodon does."""
    if raw is None or len(raw) > MAX_COMMAND:
        return
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    if not isinstance(data, dict) or data.get("type") not in ("subscribe", "unsubscribe"):
        return
    try:
        stream = parse_stream(data.get("stream"), data.get("tag"), subscriber.viewer)
        if data["type"] == "subscribe":
            subscriber.subscribe(stream)
        else:
            subscriber.streams.discard(stream)
    except StreamError as exc:
        subscriber.offer(exc)


# -- Server-sent events ------------------------------------------------------------------


class EventStream(Response):
    """text/event-stream: ``event:``/``data:`` pairs, a ``:thump`` comment every 15 s."""

    media_type = "text/event-stream"

    def __init__(self, hub: Hub, viewer: Viewer | None, stream: Stream) -> None:
        # Not Response.__init__: that would announce an empty body (Content-Length: 0).
        self.status_code, self.background = 200, None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._hub, self._viewer, self._stream = hub, viewer, stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscriber = self._hub.subscribe(self._viewer, [self._stream])
        started = False

        async def write() -> None:
            nonlocal started
            await self._hub.ready(READY_WAIT)
            start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
            with contextlib.suppress(Closed, OSError):
                await send(start)
                started = True
                await _chunk(send, ":)\n")
                while True:
                    try:
                        item = await asyncio.wait_for(subscriber.next(), timeout=HEARTBEAT)
                    except TimeoutError:
                        await _chunk(send, ":thump\n")
                        continue
                    if isinstance(item, Message):
                        await _chunk(send, f"event: {item.event}\ndata: {item.payload}\n\n")

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            first = await _run_until_first(write, disconnected, subscriber.wait_closed)
        finally:
            self._hub.unsubscribe(subscriber)
        if first != 1 and started:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _chunk(send: Send, text: str) -> None:
    await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


def _events(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        viewer = await _viewer(request)  # a bad token: 401 from the error handlers
        wanted = name
        if name.startswith("public") and request.query_params.get("only_media") in _TRUE:
            wanted = f"{name}:media"
        try:
            stream = parse_stream(wanted, request.query_params.get("tag"), viewer)
            hub = _hub(services)
        except StreamError as exc:
            return json({"error": exc.message}, exc.status)
        return EventStream(hub, viewer, stream)

    return endpoint


_TRUE = ("1", "true", "t", "on", "TRUE", "True")
_SSE_PATHS = {
    "user": "user",
    "user/notification": "user:notification",
    "public": "public",
    "public/local": "public:local",
    "public/remote": "public:remote",
    "hashtag": "hashtag",
    "hashtag/local": "hashtag:local",
}

ROUTES: list[BaseRoute] = [
    Route("/api/v1/streaming/health", health, methods=["GET", "HEAD"]),
    WebSocketRoute("/api/v1/streaming", socket),
    WebSocketRoute("/api/v1/streaming/", socket),
    *(Route(f"/api/v1/streaming/{path}", _events(name)) for path, name in _SSE_PATHS.items()),
    Route("/api/v1/streaming/{rest:path}", unknown_channel),
]
