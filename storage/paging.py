"""Mastodon-style pagination over time-sortable ids: max_id, since_id, min_id, limit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Page:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20

    def where(self, column: str, first_param: int) -> tuple[str, list[int]]:
        """SQL conditions for ``column`` (numbered from ``$first_param``) and their values."""
        parts: list[str] = []
        values: list[int] = []
        for op, value in (("<", self.max_id), (">", self.since_id), (">", self.min_id)):
            if value is not None:
                values.append(value)
                parts.append(f"{column} {op} ${first_param + len(values) - 1}")
        return (" AND ".join(parts) or "true"), values

    @property
    def ascending(self) -> bool:
        """min_id asks for the page just after it: read upwards, then flip to newest first."""
        return self.min_id is not None

    def order(self, column: str) -> str:
        return f"{column} {'ASC' if self.ascending else 'DESC'}"

    def arrange(self, ids_or_rows: list[object]) -> list[object]:
        return list(reversed(ids_or_rows)) if self.ascending else ids_or_rows
