"""Which strings count as URLs: the fast path accepts exactly what ``urlsplit`` would."""

from __future__ import annotations

import random
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest

from federation.vocab import VocabError, parse_object
from federation.vocab_parse import MAX_URL_LENGTH, _is_url


def is_url_by_urlsplit(value: Any) -> bool:
    """The check as it was written first: every character, then ``urlsplit``."""
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        return False
    if any(char.isspace() for char in value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


WHITESPACE = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


@pytest.mark.parametrize("space", WHITESPACE, ids=[f"U+{ord(c):04X}" for c in WHITESPACE])
def test_no_kind_of_whitespace_is_allowed_in_an_id(space: str) -> None:
    with pytest.raises(VocabError, match="id must be a URL"):
        parse_object({"id": f"https://a.example/notes/{space}1", "type": "Note"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://a.example/notes/1", True),
        ("http://127.0.0.1:8080/users/a?x=1#y", True),
        ("https://a.example", True),
        ("HTTPS://A.EXAMPLE/x", True),
        ("https://a.example:0/x", False),
        ("https://a.example:65536/x", False),
        ("https://a.example:/x", True),
        ("https://[::1]/x", True),
        ("https://[::1/x", False),
        ("https://user:pw@a.example/x", True),
        ("https:///x", False),
        ("ftp://a.example/x", False),
        ("https://a.example/\u200bx", True),  # a zero-width space is not whitespace
        ("https://a.example/\u00a0x", False),
        ("\x01https://a.example/x", True),  # urlsplit strips leading C0 controls
        ("https://a.example/" + "x" * MAX_URL_LENGTH, False),
        (42, False),
    ],
)
def test_is_url(value: Any, expected: bool) -> None:
    assert _is_url(value) is expected
    assert is_url_by_urlsplit(value) is expected


def test_is_url_agrees_with_urlsplit_on_odd_strings() -> None:
    pieces = ["http", "https", "HTTP", "ftp", ":", "//", "/", "0", "00", "80", "65536", "["]
    pieces += ["]", "::1", "@", "?", "#", " ", "\t", "\u3000", "\u200b", "é", "\x00", "\x1c"]
    pieces += ["a", "B", "-", ".", "%20", "x.example", "127.0.0.1", "u:p@"]
    rng = random.Random(11)
    for _ in range(30_000):
        value = rng.choice(["http://", "https://", "HTTP://", "http:/", ""]) + "".join(
            rng.choice(pieces) for _ in range(rng.randint(0, 8))
        )
        assert _is_url(value) is is_url_by_urlsplit(value), repr(value)
