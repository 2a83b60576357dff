"""Cross-process events (streaming) over PostgreSQL LISTEN/NOTIFY.

NOTIFY is transactional: an event sent inside the transaction that stores a status is
delivered at commit, and never for a rollback. Payloads stay small (ids only: NOTIFY
caps them at 8000 bytes); listeners load what they need.
"""

from __future__ import annotations

from typing import Any

import orjson

from storage.pool import Conn

CHANNEL = "shoal_stream"


async def emit(con: Conn, event: str, **fields: Any) -> None:
    payload = orjson.dumps({"event": event, **fields}).decode()
    await con.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
