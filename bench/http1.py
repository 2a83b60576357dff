"""A lean HTTP/1.1 client for load generation: one keep-alive connection, one request at
a time, the response parsed by httptools (the parser uvicorn uses).

On this 2-core machine the load generator shares the CPU with the server it measures.
aiohttp spends about 0.3 ms of CPU per request, enough to be a fifth of what a timeline
request costs in all; this spends a fraction of that, so that the figures say more about
the server and less about the client (as wrk would, in C).

    async with await Http1.open("127.0.0.1", port) as conn:
        status, body = await conn.request(b"GET", "/path", b"Authorization: Bearer x\\r\\n")
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import cast

import httptools


class HttpError(Exception):
    """The connection broke or the response was not HTTP/1.1."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"bad response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(HttpError(f"connection lost: {exc}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
            waiter.set_result((self.parser.get_status_code(), body))
        self.chunks = []

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class Http1:
    """One keep-alive connection to ``host:port``."""

    def __init__(self, host: str, protocol: _Protocol) -> None:
        self._host = host.encode()
        self._protocol = protocol

    @classmethod
    async def open(cls, host: str, port: int) -> Http1:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Protocol, host, port)
        return cls(f"{host}:{port}", protocol)

    async def request(
        self, method: bytes, path: str, headers: bytes = b"", body: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request (``headers``: ready-made ``Name: value\\r\\n`` lines) and wait for
        its status and body."""
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or not protocol.keep_alive:
            raise HttpError("the connection is closed")
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        protocol.waiter = waiter
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n" % (
            method,
            path.encode(),
            self._host,
            headers,
            len(body),
        )
        transport.write(head + body if body else head)
        return await waiter

    def close(self) -> None:
        if self._protocol.transport is not None:
            self._protocol.transport.close()

    async def __aenter__(self) -> Http1:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
