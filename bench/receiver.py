"""Loopback inboxes for the delivery benchmark, run as their own process.

``python -m bench.receiver HOSTS`` listens on HOSTS ports of 127.0.0.1 (each one a
"remote server"), prints the ports as one JSON line, then answers every POST with 202 and
counts it. ``GET /_stats`` on any port returns the totals. It stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys

from aiohttp import web

from bench.common import run_loop


class Counter:
    def __init__(self) -> None:
        self.posts = 0
        self.signed = 0
        self.inboxes: set[str] = set()


def make_app(counter: Counter) -> web.Application:
    async def inbox(request: web.Request) -> web.Response:
        await request.read()
        counter.posts += 1
        if "Signature" in request.headers:
            counter.signed += 1
        counter.inboxes.add(f"{request.host}{request.path}")
        return web.Response(status=202)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {"posts": counter.posts, "signed": counter.signed, "inboxes": len(counter.inboxes)}
        )

    app = web.Application()
    app.router.add_get("/_stats", stats)
    app.router.add_post("/{path:.*}", inbox)
    return app


async def serve(hosts: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_app(Counter()), access_log=None, handle_signals=False)
    await runner.setup()
    sockets = []
    try:
        for _ in range(hosts):
            sock = socket.socket()
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
            site = web.SockSite(runner, sock, backlog=1024)
            await site.start()
        ports = [int(s.getsockname()[1]) for s in sockets]
        print(json.dumps({"ports": ports}), flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        for sock in sockets:
            sock.close()


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    run_loop(serve(hosts))


if __name__ == "__main__":
    main()
