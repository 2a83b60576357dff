"""Look-ups behind search that no other aggregate owns: hashtags by prefix.

(Accounts are searched by ``storage.relations.search_accounts``; statuses only by URL.)
"""

from __future__ import annotations

from storage.pool import Conn


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


async def hashtags(con: Conn, prefix: str, *, limit: int, offset: int) -> list[str]:
    """Hashtags in use that start with ``prefix``, the most used first."""
    records = await con.fetch(
        """SELECT tag FROM status_tags WHERE tag LIKE $1
           GROUP BY tag ORDER BY count(*) DESC, tag LIMIT $2 OFFSET $3""",
        _like_prefix(prefix.lower()),
        limit,
        offset,
    )
    return [r["tag"] for r in records]
