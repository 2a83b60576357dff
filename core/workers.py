"""Background workers: inside the web process, or alone with ``shoal worker``.

A worker is ``async def run(services) -> None`` that returns once
``services.stopping`` is set. Each process runs one of each; several processes (on one
machine or many) share the queues safely because rows are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from core.services import Services

log = logging.getLogger("shoal.workers")

Worker = Callable[[Services], Awaitable[None]]


def all_workers() -> list[tuple[str, Worker]]:
    # Imported here: the worker modules import most of core.
    from core import delivery, housekeeping, inbox_worker

    return [
        ("delivery", delivery.run_worker),
        ("inbox", inbox_worker.run_worker),
        ("housekeeping", housekeeping.run_worker),
    ]


async def _supervise(name: str, worker: Worker, services: Services) -> None:
    """Keep a worker running: a crash is logged and the worker restarted after a pause."""
    while not services.stopping.is_set():
        try:
            await worker(services)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s worker crashed; restarting", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(services.stopping.wait(), timeout=1.0)


async def start(services: Services) -> None:
    services.stopping.clear()
    for name, worker in all_workers():
        task = asyncio.create_task(_supervise(name, worker, services), name=f"shoal-{name}")
        services.worker_tasks.append(task)


async def stop(services: Services, grace: float = 10.0) -> None:
    services.stopping.set()
    tasks, services.worker_tasks[:] = list(services.worker_tasks), []
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def run_forever(services: Services) -> None:
    """``shoal worker``: run the workers until SIGINT/SIGTERM."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    if not services.worker_tasks:
        await start(services)
    await done.wait()
    await stop(services)
