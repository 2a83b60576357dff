"""The yardstick for the inbox benchmark: a bare Starlette JSON endpoint under uvicorn.

``python -m bench.bare PORT`` serves ``POST /inbox`` (read the JSON body, answer 202) on
127.0.0.1:PORT with the uvicorn settings ``shoal serve`` uses (uvloop, httptools when
installed, no server header, proxy headers on, access log off at level warning).
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.common import run_loop


async def inbox(request: Request) -> Response:
    await request.json()
    return Response(status_code=202)


def create_app() -> Starlette:
    return Starlette(routes=[Route("/inbox", inbox, methods=["POST"])])


def main() -> None:
    port = int(sys.argv[1])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    config = uvicorn.Config(
        create_app(),
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )
    run_loop(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
