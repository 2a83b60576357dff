"""The streaming hub: one per process, fed by LISTEN, fanning events out to clients.

Every process that changes something (a web process, ``shoal worker``, another machine)
says so with NOTIFY (``core.events``); each web process holds one LISTEN connection
(``storage.listen``) and one dispatcher task that loads what an event is about once,
renders it once, and offers it to each connected client whose streams match, as the
REST timelines would show it: the home timeline for ``user``, public posts (no boosts,
no replies to others) for ``public*`` and ``hashtag*``, blocks and mutes respected.

Each client has a bounded queue. One that falls ``queue_limit`` messages behind is
dropped (its connection closed, it reconnects) rather than buffered without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from core import notifications, oauth
from core.errors import NotFound
from core.notifications import NotificationView
from core.services import Services
from core.views import StatusView, load_status_views
from storage import events, relations, statuses
from storage.actors import ActorRow
from storage.listen import Listener
from storage.pool import Conn, PoolError
from storage.relations import Relation

log = logging.getLogger("shoal.streaming")

QUEUE_LIMIT = 500
MAX_STREAMS = 32  # subscriptions on one connection
BACKLOG = 10_000  # events received and not yet dispatched
REMEMBERED = 10_000  # statuses whose audience is kept, to route their deletion


class StreamError(Exception):
    """A subscription refused: sent to the client as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Closed(Exception):
    """The subscriber is gone: ``reason`` is "slow" (fell behind) or "shutdown"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Viewer:
    actor: ActorRow
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return oauth.allows(self.scopes, scope)


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    tag: str | None = None  # lower-cased: what hashtag streams match on
    label: tuple[str, ...] = field(default=(), compare=False)  # what messages name


@dataclass(frozen=True, slots=True)
class Message:
    stream: tuple[str, ...]
    event: str
    payload: str


class Subscriber:
    """One client connection: its viewer, its streams, and what waits to be sent to it."""

    def __init__(self, viewer: Viewer | None, limit: int) -> None:
        self.viewer = viewer
        self.streams: set[Stream] = set()
        self._limit = limit
        self._queue: deque[Message | StreamError] = deque()
        self._ready = asyncio.Event()
        self._gone = asyncio.Event()
        self.closed: str | None = None

    def subscribe(self, stream: Stream) -> None:
        if stream not in self.streams and len(self.streams) >= MAX_STREAMS:
            raise StreamError("Too many subscriptions on one connection", 400)
        self.streams.discard(stream)
        self.streams.add(stream)

    def offer(self, item: Message | StreamError) -> None:
        """Queue a message, or a refused request (in order with the other messages)."""
        if self.closed is not None:
            return
        if len(self._queue) >= self._limit:
            self.close("slow")
            return
        self._queue.append(item)
        self._ready.set()

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            self._queue.clear()
            self._ready.set()
            self._gone.set()

    async def wait_closed(self) -> None:
        """Returns once the hub drops this subscriber (too slow, or shutting down)."""
        await self._gone.wait()

    async def next(self) -> Message | StreamError:
        """The next message; raises ``Closed`` once the subscriber is dropped."""
        while True:
            if self.closed is not None:
                raise Closed(self.closed)
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()


@dataclass(frozen=True, slots=True)
class Audience:
    """What decides who sees a status, kept after it is gone to route its deletion."""

    author_id: int
    original_author_id: int | None  # a boost's original author
    visibility: str
    local: bool
    public_post: bool  # public, not a boost, not a reply to someone else's status
    tags: frozenset[str]
    mentioned: frozenset[int]


def audience_of(view: StatusView) -> Audience:
    row = view.status
    reply_to_other = row.in_reply_to_uri is not None and view.in_reply_to_account_id != row.actor_id
    return Audience(
        author_id=row.actor_id,
        original_author_id=view.reblog.status.actor_id if view.reblog is not None else None,
        visibility=row.visibility,
        local=row.local,
        public_post=row.visibility == "public" and view.reblog is None and not reply_to_other,
        tags=frozenset(view.tags),
        mentioned=frozenset(a.id for a in view.mentions),
    )


def _hides(rel: dict[int, Relation], actor_id: int | None) -> bool:
    r = None if actor_id is None else rel.get(actor_id)
    return r is not None and (r.blocking or r.blocked_by or r.muting)


def in_home(viewer_id: int, a: Audience, rel: dict[int, Relation]) -> bool:
    """The rule of ``storage.timelines.home``: own statuses; a followed account's, unless
    hidden; its boosts if the follow shows them; its direct ones only where mentioned."""
    if viewer_id == a.author_id:
        return True
    follow = rel.get(a.author_id)
    if follow is None or not follow.following or _hides(rel, a.author_id):
        return False
    if a.original_author_id is not None:
        return follow.showing_reblogs and not _hides(rel, a.original_author_id)
    return a.visibility != "direct" or viewer_id in a.mentioned


def sees(stream: Stream, viewer: Viewer | None, a: Audience, rel: dict[int, Relation]) -> bool:
    name = stream.name
    if name == "user":
        return viewer is not None and in_home(viewer.actor.id, a, rel)
    if name == "user:notification" or name.endswith(":media"):
        return False  # no media attachments yet: media streams stay quiet
    if not a.public_post or (stream.tag is not None and stream.tag not in a.tags):
        return False
    if name in ("public:local", "hashtag:local") and not a.local:
        return False
    if name == "public:remote" and a.local:
        return False
    return viewer is None or not _hides(rel, a.author_id)


@dataclass(frozen=True, slots=True)
class Renderers:
    """The client API's entities (the server layer knows them): JSON-ready dicts."""

    status: Callable[[StatusView], dict[str, Any]]
    notification: Callable[[NotificationView], dict[str, Any]]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class Hub:
    def __init__(
        self, services: Services, renderers: Renderers, *, url: str, queue_limit: int = QUEUE_LIMIT
    ) -> None:
        self._services = services
        self._render = renderers
        self._queue_limit = queue_limit
        self._subscribers: set[Subscriber] = set()
        self._events: asyncio.Queue[str] = asyncio.Queue(maxsize=BACKLOG)
        self._audiences: OrderedDict[int, Audience] = OrderedDict()
        self._listener = Listener(
            url, events.CHANNEL, self._received, on_reconnect=self._reconnected
        )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="shoal-stream-listen"),
            asyncio.create_task(self._dispatch_forever(), name="shoal-stream-dispatch"),
        ]

    async def stop(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close("shutdown")
        self._subscribers.clear()
        await self._listener.stop()
        listen, dispatch = self._tasks
        dispatch.cancel()
        try:
            await asyncio.wait([listen], timeout=5.0)  # closes its connection cleanly
        finally:
            listen.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def ready(self, within: float) -> bool:
        """Wait until LISTEN is in effect: what is committed from then on reaches us."""
        try:
            await asyncio.wait_for(self._listener.listening.wait(), timeout=within)
        except TimeoutError:
            return False
        return True

    def subscribe(self, viewer: Viewer | None, streams: Iterable[Stream] = ()) -> Subscriber:
        subscriber = Subscriber(viewer, self._queue_limit)
        for stream in streams:
            subscriber.subscribe(stream)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    # -- from LISTEN -------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        while True:  # the listener retries lost connections itself; this guards against bugs
            try:
                return await self._listener.run()
            except Exception:
                log.exception("streaming LISTEN crashed; restarting")
                await asyncio.sleep(1.0)

    def _received(self, payload: str) -> None:
        if not self._subscribers:
            return  # nobody to tell: skip the work
        try:
            self._events.put_nowait(payload)
        except asyncio.QueueFull:
            log.warning("streaming backlog full; an event was dropped")

    def _reconnected(self) -> None:
        log.warning("streaming LISTEN reconnected; events of the outage were not streamed")

    async def _dispatch_forever(self) -> None:
        while True:
            payload = await self._events.get()
            try:
                await self._dispatch(orjson.loads(payload))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("ignoring a malformed streaming event: %.200s", payload)
            except PoolError as exc:
                log.warning("streaming event not delivered (database: %s)", exc)
            except Exception:
                log.exception("streaming event not delivered: %.200s", payload)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind in ("update", "status.update"):
            await self._status(kind, int(event["status_id"]))
        elif kind == "delete":
            await self._deleted(int(event["status_id"]), int(event["actor_id"]))
        elif kind == "notification":
            await self._notification(int(event["notification_id"]), int(event["recipient_id"]))

    # -- fan-out -----------------------------------------------------------------------

    def _deliver(self, subscriber: Subscriber, stream: Stream, event: str, payload: str) -> None:
        subscriber.offer(Message(stream.label, event, payload))
        if subscriber.closed is not None:
            log.info("dropping a streaming client that fell %d messages behind", self._queue_limit)
            self._subscribers.discard(subscriber)

    async def _relations(self, con: Conn, actor_ids: list[int]) -> dict[int, dict[int, Relation]]:
        """Each signed-in subscriber's standing towards ``actor_ids`` (one query per member
        connected, whatever the number of their connections)."""
        viewer_ids = {s.viewer.actor.id for s in self._subscribers if s.viewer is not None}
        return {v: await relations.relations(con, v, actor_ids) for v in viewer_ids}

    async def _status(self, kind: str, status_id: int) -> None:
        async with self._services.pool.acquire() as con:
            row = await statuses.get(con, status_id)
            found = await load_status_views(con, None, [row]) if row is not None else []
            if not found:
                return
            audience = audience_of(found[0])
            involved = [audience.author_id]
            if audience.original_author_id is not None:
                involved.append(audience.original_author_id)
            rel = await self._relations(con, involved)
        self._remember(status_id, audience)
        payload: str | None = None
        for subscriber in list(self._subscribers):
            mine = rel.get(subscriber.viewer.actor.id, {}) if subscriber.viewer else {}
            for stream in list(subscriber.streams):
                if sees(stream, subscriber.viewer, audience, mine):
                    payload = payload or _json(self._render.status(found[0]))
                    self._deliver(subscriber, stream, kind, payload)

    def _remember(self, status_id: int, audience: Audience) -> None:
        self._audiences[status_id] = audience
        self._audiences.move_to_end(status_id)
        while len(self._audiences) > REMEMBERED:
            self._audiences.popitem(last=False)

    async def _deleted(self, status_id: int, author_id: int) -> None:
        """To the author's and their followers' user streams; to public streams when the
        status was seen here (a deleted row no longer says whether it was public)."""
        audience = self._audiences.pop(status_id, None)
        async with self._services.pool.acquire() as con:
            rel = await self._relations(con, [author_id])
        for subscriber in list(self._subscribers):
            viewer = subscriber.viewer
            mine = rel.get(viewer.actor.id, {}) if viewer else {}
            follow = mine.get(author_id)
            for stream in list(subscriber.streams):
                if stream.name == "user":
                    wanted = viewer is not None and (
                        viewer.actor.id == author_id or (follow is not None and follow.following)
                    )
                else:
                    wanted = audience is not None and sees(stream, viewer, audience, {})
                if wanted:
                    self._deliver(subscriber, stream, "delete", str(status_id))

    async def _notification(self, notification_id: int, recipient_id: int) -> None:
        targets = [
            (subscriber, stream)
            for subscriber in list(self._subscribers)
            if subscriber.viewer is not None
            and subscriber.viewer.actor.id == recipient_id
            and subscriber.viewer.may("read:notifications")
            for stream in subscriber.streams
            if stream.name in ("user", "user:notification")
        ]
        if not targets:
            return
        recipient = targets[0][0].viewer
        assert recipient is not None
        try:
            view = await notifications.get(self._services, recipient.actor, notification_id)
        except NotFound:
            return  # dismissed already, or what it was about is gone
        payload = _json(self._render.notification(view))
        for subscriber, stream in targets:
            self._deliver(subscriber, stream, "notification", payload)


def hub(services: Services, renderers: Renderers) -> Hub:
    """This process's hub, started on first use (``renderers`` serve the first caller)."""
    existing = services.streaming
    if existing is not None:
        return existing
    if services.stopping.is_set():  # set by runtime.stop, before the hub is shut down
        raise StreamError("The server is shutting down", 503)
    url = services.settings.database_url or (
        services.embedded.url if services.embedded is not None else None
    )
    if url is None:
        raise RuntimeError("no database URL to LISTEN on")
    created = Hub(services, renderers, url=url)
    created.start()
    services.streaming = created
    return created


async def shutdown(services: Services) -> None:
    """Stop the hub, if one was started: clients are told to go, LISTEN is closed."""
    existing, services.streaming = services.streaming, None
    if existing is not None:
        await existing.stop()
