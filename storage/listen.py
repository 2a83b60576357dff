"""A dedicated connection that LISTENs on one channel, and comes back when it is lost.

Not a pool connection: LISTEN belongs to a session, and a pooled connection would be
reset on release (and would hold a pool slot forever). NOTIFY is not durable, so what is
sent while the connection is down is lost; ``on_reconnect`` tells the caller when that
may have happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from storage.pool import PoolError

log = logging.getLogger("shoal.listen")
# How the connection shows in pg_stat_activity.
APPLICATION_NAME = "shoal-listen"


class Listener:
    """``run()`` until ``stop()``: connect, LISTEN, hand every payload to ``on_payload``,
    check every ``keepalive`` seconds that the server still answers, and reconnect with a
    doubling pause (up to ``max_pause``) after any failure."""

    def __init__(
        self,
        url: str,
        channel: str,
        on_payload: Callable[[str], None],
        *,
        on_reconnect: Callable[[], None] | None = None,
        keepalive: float = 30.0,
        max_pause: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._channel = channel
        self._on_payload = on_payload
        self._on_reconnect = on_reconnect
        self._keepalive = keepalive
        self._max_pause = max_pause
        self._connect_timeout = connect_timeout
        self._stopping = False
        self._wake = asyncio.Event()
        self._con: asyncpg.Connection[Any] | None = None
        # Set while LISTEN is in effect: what is committed from then on reaches us.
        self.listening = asyncio.Event()

    async def run(self) -> None:
        pause = 0.25
        connected_before = False
        while not self._stopping:
            try:
                con = await asyncpg.connect(
                    self._url,
                    timeout=self._connect_timeout,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except PoolError as exc:
                log.warning("cannot LISTEN (%s); retrying in %.1f s", exc, pause)
                await self._sleep(pause)
                pause = min(pause * 2, self._max_pause)
                continue
            self._con = con
            try:
                con.add_termination_listener(self._lost)
                await con.add_listener(self._channel, self._deliver)
                self.listening.set()
                pause = 0.25
                if connected_before and self._on_reconnect is not None:
                    self._on_reconnect()
                connected_before = True
                await self._watch(con)
            except PoolError as exc:
                if not self._stopping:
                    log.warning("LISTEN connection lost (%s); reconnecting", exc)
            finally:
                self.listening.clear()
                self._con = None
                await _close(con)
            if not self._stopping:
                await self._sleep(pause)

    async def stop(self) -> None:
        """Ask ``run()`` to return; the caller awaits the task that runs it."""
        self._stopping = True
        self._wake.set()

    async def _watch(self, con: asyncpg.Connection[Any]) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._keepalive)
            self._wake.clear()
            if self._stopping:
                return
            if con.is_closed():
                raise asyncpg.InterfaceError("the server closed the connection")
            # A dead peer (cable pulled, server frozen) shows up here, not as an event.
            await con.fetchval("SELECT 1", timeout=self._keepalive)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    def _lost(self, con: asyncpg.Connection[Any] | PoolConnectionProxy[Any]) -> None:
        self._wake.set()

    def _deliver(
        self,
        con: asyncpg.Connection[Any] | PoolConnectionProxy[Any],
        pid: int,
        channel: str,
        payload: object,
    ) -> None:
        self._on_payload(str(payload))


async def _close(con: asyncpg.Connection[Any]) -> None:
    if con.is_closed():
        return
    try:
        await asyncio.wait_for(con.close(), timeout=2.0)
    except PoolError:
        con.terminate()
    except asyncio.CancelledError:
        con.terminate()
        raise
