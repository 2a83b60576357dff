"""Housekeeping: delete what is only kept for a while, once an hour.

- finished inbox items and deliveries, after ``KEEP_FINISHED`` (an inbox item's id
  dedupes replays until then; senders give up retrying within days);
- rate-limit windows after a day, OAuth codes a day after they expire, Idempotency-Keys
  after their time to live.

Every process with workers runs it; an advisory lock makes one sweep at a time do the
work, and the others skip that round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from core.posting import IDEMPOTENCY_TTL
from core.services import Services
from storage import deliveries, inbox, interactions, locks, oauth, ratelimits
from storage.pool import PoolError

log = logging.getLogger("shoal.housekeeping")

SWEEP_EVERY: Final = 3600.0
KEEP_FINISHED: Final = 30 * 86_400.0
KEEP_RATE_WINDOWS: Final = 86_400.0


async def sweep(services: Services) -> dict[str, int] | None:
    """Delete what is old; the rows deleted by kind, or None when another process was
    sweeping."""
    async with services.pool.acquire() as con, con.transaction():
        if not await locks.try_transaction_lock(con, locks.HOUSEKEEPING):
            return None
        return {
            "inbox_items": await inbox.prune(con, older_than=KEEP_FINISHED),
            "deliveries": await deliveries.prune(con, older_than=KEEP_FINISHED),
            "rate_limits": await ratelimits.prune(con, older_than=KEEP_RATE_WINDOWS),
            "oauth_codes": await oauth.prune_codes(con),
            "idempotency_keys": await interactions.prune_keys(con, ttl=IDEMPOTENCY_TTL),
        }


async def run_worker(services: Services) -> None:
    """Sweep now and then every ``SWEEP_EVERY`` seconds, until the process stops."""
    while not services.stopping.is_set():
        try:
            deleted = await sweep(services)
        except PoolError as exc:
            log.warning("housekeeping: database unavailable: %s", exc)
        else:
            if deleted and any(deleted.values()):
                log.info(
                    "housekeeping deleted %s",
                    ", ".join(f"{n} {kind}" for kind, n in deleted.items() if n),
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(services.stopping.wait(), timeout=SWEEP_EVERY)
