"""Shared fixed-window rate limits, counted in PostgreSQL so that every process agrees.

    state = await ratelimit.hit(services, f"statuses:{user.id}", limit=300, window=3 * 3600)

``hit`` counts one request and raises ``RateLimited`` once the window's count passes
``limit``; ``check`` only looks. To limit failures only (wrong passwords), ``hit`` before
trying and ``refund`` on success: counting first keeps concurrent attempts within the
limit. ``hit`` and ``check`` return a ``RateState`` for the X-RateLimit-* headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import RateLimited
from core.services import Services
from storage import ratelimits

MESSAGE = "Too many requests"


@dataclass(frozen=True, slots=True)
class RateState:
    limit: int
    remaining: int
    reset_at: datetime


def _state(window: ratelimits.Window, limit: int, length: float) -> tuple[RateState, float]:
    reset_at = window.started_at + timedelta(seconds=length)
    state = RateState(limit=limit, remaining=max(0, limit - window.hits), reset_at=reset_at)
    return state, max(0.0, (reset_at - window.now).total_seconds())


def _validate(bucket: str, limit: int, window: float) -> None:
    if not bucket or len(bucket) > 512:
        raise ValueError("a rate-limit bucket is 1-512 characters")
    if limit < 1 or window <= 0:
        raise ValueError("a rate limit needs limit >= 1 and a positive window")


async def hit(services: Services, bucket: str, *, limit: int, window: float) -> RateState:
    """Count one hit; raise ``RateLimited`` when this hit is over ``limit`` in the window."""
    _validate(bucket, limit, window)
    async with services.pool.acquire() as con:
        counted = await ratelimits.hit(con, bucket, window)
    state, retry_after = _state(counted, limit, window)
    if counted.hits > limit:
        raise RateLimited(MESSAGE, retry_after=retry_after)
    return state


async def check(services: Services, bucket: str, *, limit: int, window: float) -> RateState:
    """Raise ``RateLimited`` when the window already holds ``limit`` hits; count nothing."""
    _validate(bucket, limit, window)
    async with services.pool.acquire() as con:
        counted = await ratelimits.peek(con, bucket, window)
    state, retry_after = _state(counted, limit, window)
    if counted.hits >= limit:
        raise RateLimited(MESSAGE, retry_after=retry_after)
    return state


async def refund(services: Services, bucket: str, *, window: float) -> None:
    """Take back one hit of the current window."""
    async with services.pool.acquire() as con:
        await ratelimits.refund(con, bucket, window)
