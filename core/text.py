"""Small text helpers for our own strings (remote HTML goes through federation.content)."""

from __future__ import annotations

import html
import re

_BLANK_LINES = re.compile(r"\n\s*\n")


def plain_to_html(text: str) -> str:
    """Escape plain text and keep its paragraphs and line breaks."""
    paragraphs = [p.strip("\n") for p in _BLANK_LINES.split(text.replace("\r\n", "\n").strip())]
    return "".join(
        "<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs if p.strip()
    )
