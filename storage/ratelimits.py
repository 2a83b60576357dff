"""Fixed-window counters shared by every process (login attempts, posting limits).

A window starts at a multiple of its length since the epoch, so every process agrees on
it without talking to the others. Times come from the database clock for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.pool import Conn

# The window a row's count belongs to; $2 is the window length in seconds.
_WINDOW_START = "to_timestamp(floor(extract(epoch FROM now()) / $2) * $2)"


@dataclass(frozen=True, slots=True)
class Window:
    hits: int
    started_at: datetime
    now: datetime


async def hit(con: Conn, bucket: str, window: float) -> Window:
    """Count one hit in the bucket's current window and return the window's count."""
    record = await con.fetchrow(
        f"""INSERT INTO rate_limits AS r (bucket, window_start, hits)
            VALUES ($1, {_WINDOW_START}, 1)
            ON CONFLICT (bucket) DO UPDATE SET
                hits = CASE WHEN r.window_start = excluded.window_start THEN r.hits + 1 ELSE 1 END,
                window_start = excluded.window_start
            RETURNING hits, window_start, now() AS now""",
        bucket,
        float(window),
    )
    assert record is not None
    return Window(hits=record["hits"], started_at=record["window_start"], now=record["now"])


async def peek(con: Conn, bucket: str, window: float) -> Window:
    """The bucket's count in the current window, without counting anything."""
    record = await con.fetchrow(
        f"""SELECT coalesce((SELECT hits FROM rate_limits
                             WHERE bucket = $1 AND window_start = {_WINDOW_START}), 0) AS hits,
                   {_WINDOW_START} AS window_start, now() AS now""",
        bucket,
        float(window),
    )
    assert record is not None
    return Window(hits=record["hits"], started_at=record["window_start"], now=record["now"])


async def refund(con: Conn, bucket: str, window: float) -> None:
    """Take back one hit counted in the current window (e.g. for a login that succeeded)."""
    await con.execute(
        f"""UPDATE rate_limits SET hits = greatest(hits - 1, 0)
            WHERE bucket = $1 AND window_start = {_WINDOW_START}""",
        bucket,
        float(window),
    )


async def prune(con: Conn, *, older_than: float = 86_400.0) -> int:
    """Delete counters whose window started more than ``older_than`` seconds ago."""
    status = await con.execute(
        "DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => $1)",
        float(older_than),
    )
    return int(status.split()[-1])
