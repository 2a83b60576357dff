"""Background workers: run inside the web process, or alone with ``shoal worker``."""

from __future__ import annotations

import asyncio
import signal

from core.services import Services


async def run_forever(services: Services) -> None:
    """Run the workers until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
