"""Post content: sanitising remote HTML, and rendering what local members write.

``sanitize_html`` keeps about what Mastodon keeps, so remote posts look the
same here as there and nothing can run script or restyle the page.
``render_plain_text`` turns a member's plain text into the HTML peers expect,
with the mention and hashtag markup Mastodon produces (and parses back).

Bounded work: HTML is truncated (not refused) before it is parsed, at
``MAX_HTML_CHARS`` characters or just before its ``MAX_HTML_TAGS``-th tag, so an
abusive post still shows its beginning and the sanitiser closes whatever tag
the cut leaves open. The tag cap matters because the HTML tree builder is
quadratic in nesting depth: 50,000 nested <div>s take seconds, 5,000 a few ms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

import nh3

MAX_HTML_CHARS: Final = 512 * 1024
MAX_HTML_TAGS: Final = 5000

_ALLOWED_TAGS: Final = frozenset(
    {"p", "br", "span", "a", "del", "s", "pre", "code", "em", "strong", "b", "i", "u"}
    | {"ul", "ol", "li", "blockquote", "sup", "sub", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_ALLOWED_ATTRIBUTES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "a": frozenset({"href", "class", "translate"}),  # rel is always replaced, see below
        "span": frozenset({"class", "translate"}),
        "ol": frozenset({"start", "reversed"}),
        "li": frozenset({"value"}),
    }
)
_URL_SCHEMES: Final = frozenset({"http", "https", "mailto", "xmpp", "gemini", "gopher"})
_LINK_REL: Final = "nofollow noopener noreferrer"
# Classes that carry meaning in Mastodon's markup (mentions, hashtags, shortened
# links, quote fallbacks) plus microformats; anything else could restyle our pages.
_KEPT_CLASSES: Final = frozenset(
    {"mention", "hashtag", "ellipsis", "invisible", "quote-inline", "h-card", "u-url"}
)
_MICROFORMAT_PREFIXES: Final = ("h-", "p-", "u-", "dt-", "e-")
_BLOCK_TAGS: Final = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"}
    | {"table", "tr", "section", "article", "header", "footer", "hr"}
)

_URL_RE: Final = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_TRAILING_PUNCTUATION: Final = ".,:;!?'\"*"
_CLOSING_BRACKETS: Final = MappingProxyType({")": "(", "]": "[", "}": "{"})
# Not after a word character (an e-mail), a slash or "=" (inside a URL); a domain
# may carry a port because development and test instances live on localhost:PORT.
_MENTION: Final = (
    r"(?<![\w/=@.+-])@(?P<user>[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)"
    r"(?:@(?P<domain>(?:[\w-]+\.)*[\w-]+(?::\d{1,5})?))?"
)
_HASHTAG: Final = r"(?<![\w/&#)])#(?P<tag>[\w\u00b7\u200c]+)"
_ENTITY_RE: Final = re.compile(f"{_MENTION}|{_HASHTAG}", re.IGNORECASE)
_MAX_HASHTAG_LENGTH: Final = 100
_PARAGRAPH_BREAK_RE: Final = re.compile(r"\n[ \t]*\n\s*")
_SHOWN_URL_CHARS: Final = 30


@dataclass(frozen=True, slots=True)
class MentionTarget:
    href: str  # the actor's URL (or profile page) the mention links to
    acct: str  # "user@domain", for the Mention tag's name and notifications


@dataclass(frozen=True, slots=True)
class RenderedContent:
    html: str
    mentions: tuple[MentionTarget, ...]
    hashtags: tuple[str, ...]  # lower-cased, deduplicated, in order of appearance
    links: tuple[str, ...]


def sanitize_html(html: str) -> str:
    """Remote HTML reduced to Mastodon's allowed set; every link opens safely."""
    cleaner = nh3.Cleaner(  # cheap to build (microseconds); keeps no state between calls
        tags=_ALLOWED_TAGS,
        clean_content_tags=frozenset({"script", "style", "template", "noscript"}),
        attributes=dict(_ALLOWED_ATTRIBUTES),  # the binding wants a real dict
        attribute_filter=_filter_attribute,
        link_rel=_LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=_URL_SCHEMES,
        url_relative="deny",  # relative to what? A remote post has no base here.
    )
    return cleaner.clean(_bounded(html))


def html_to_text(html: str) -> str:
    """Readable plain text for summaries, notifications and search."""
    extractor = _TextExtractor()
    extractor.feed(_bounded(html))
    extractor.close()
    lines = "".join(extractor.parts).split("\n")
    text = "\n".join(line.strip(" \t") for line in lines)  # not a regex: linear on long runs
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def find_mentions(text: str) -> list[tuple[str, str | None]]:
    """(username, domain or None) for each @user / @user@domain, first spelling kept."""
    found: dict[str, tuple[str, str | None]] = {}
    for kind, value in _scan(text):
        if kind == "mention":
            user, _, domain = value[1:].partition("@")
            found.setdefault(value[1:].lower(), (user, domain or None))
    return list(found.values())


def find_hashtags(text: str) -> list[str]:
    """Hashtags without "#", as first written, deduplicated ignoring case."""
    found: dict[str, str] = {}
    for kind, value in _scan(text):
        if kind == "hashtag":
            found.setdefault(value[1:].lower(), value[1:])
    return list(found.values())


def render_plain_text(
    text: str,
    *,
    mentions: Mapping[str, MentionTarget],
    hashtag_url: Callable[[str], str],
) -> RenderedContent:
    """Plain text → escaped HTML paragraphs with links, mentions and hashtags.

    ``mentions`` is keyed by the lower-cased written form without "@" ("user" or
    "user@domain"); a mention not in it stays plain text. ``hashtag_url`` gets the
    lower-cased tag.
    """
    used_mentions: dict[str, MentionTarget] = {}
    hashtags: dict[str, None] = {}  # ordered sets
    links: dict[str, None] = {}
    paragraphs: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    for paragraph in _PARAGRAPH_BREAK_RE.split(text):
        lines: list[str] = []
        for line in paragraph.split("\n"):
            parts: list[str] = []
            for kind, value in _scan(line):
                if kind == "url":
                    links[value] = None
                    parts.append(_link_html(value))
                elif kind == "mention" and (target := mentions.get(value[1:].lower())):
                    used_mentions[target.href] = target
                    parts.append(_mention_html(target.href, value[1:].partition("@")[0]))
                elif kind == "hashtag":
                    tag = value[1:].lower()
                    hashtags[tag] = None
                    parts.append(_hashtag_html(hashtag_url(tag), value[1:]))
                else:
                    parts.append(escape(value, quote=False))
            lines.append("".join(parts))
        paragraphs.append("<p>" + "<br>".join(lines) + "</p>")
    return RenderedContent(
        html="".join(paragraphs) if text else "",
        mentions=tuple(used_mentions.values()),
        hashtags=tuple(hashtags),
        links=tuple(links),
    )


def _bounded(html: str) -> str:
    html = html[:MAX_HTML_CHARS]
    if html.count("<") <= MAX_HTML_TAGS:
        return html
    cut = -1
    for _ in range(MAX_HTML_TAGS + 1):
        cut = html.find("<", cut + 1)
    return html[:cut]


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    if attribute != "class":
        return value
    kept = [
        name
        for name in value.split()
        if name in _KEPT_CLASSES or name.startswith(_MICROFORMAT_PREFIXES)
    ]
    return " ".join(kept) or None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # decodes entities in text for us
        self.parts: list[str] = []
        self._hidden = 0  # inside script/style: their text is not content
        self._preformatted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
            if tag == "pre":
                self._preformatted += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
            if tag == "pre":
                self._preformatted = max(0, self._preformatted - 1)

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        # Outside <pre>, source line breaks and runs of spaces are one space in HTML.
        self.parts.append(data if self._preformatted else re.sub(r"\s+", " ", data))


def _scan(text: str) -> Iterator[tuple[str, str]]:
    """Split one text into ("text" | "url" | "mention" | "hashtag", written form).

    URLs are found first, so an @ or # inside a URL is never a mention or a tag.
    """
    position = 0
    for match in _URL_RE.finditer(text):
        url = _trim_url(match.group())
        if not _is_web_url(url):
            continue
        yield from _scan_words(text[position : match.start()])
        yield "url", url
        position = match.start() + len(url)
    yield from _scan_words(text[position:])


def _scan_words(text: str) -> Iterator[tuple[str, str]]:
    position = 0
    for match in _ENTITY_RE.finditer(text):
        tag = match.group("tag")
        if tag is not None:
            tag = tag.rstrip("\u00b7\u200c")
            # Purely numeric (#1) or over-long strings are not hashtags.
            if not any(char.isalpha() for char in tag) or len(tag) > _MAX_HASHTAG_LENGTH:
                continue
            kind, written = "hashtag", "#" + tag
        else:
            kind, written = "mention", match.group()
        if match.start() > position:
            yield "text", text[position : match.start()]
        yield kind, written
        position = match.start() + len(written)
    if position < len(text):
        yield "text", text[position:]


def _trim_url(url: str) -> str:
    """Drop what ends a sentence rather than the URL: "see https://x.org/a)." → ".../a"."""
    counts = {char: url.count(char) for char in "()[]{}"}  # counted once: stays linear
    end = len(url)
    while end:
        last = url[end - 1]
        opening = _CLOSING_BRACKETS.get(last)
        unbalanced = opening is not None and counts[last] > counts[opening]
        if last not in _TRAILING_PUNCTUATION and not unbalanced:
            break
        if last in counts:
            counts[last] -= 1
        end -= 1
    return url[:end]


def _is_web_url(url: str) -> bool:
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False


def _mention_html(href: str, user: str) -> str:
    # Mastodon's markup, which Mastodon and others recognise when they parse it back.
    return (
        f'<span class="h-card" translate="no"><a href="{escape(href)}" class="u-url mention">'
        f"@<span>{escape(user)}</span></a></span>"
    )


def _hashtag_html(href: str, written: str) -> str:
    return (
        f'<a href="{escape(href)}" class="mention hashtag" rel="tag">'
        f"#<span>{escape(written)}</span></a>"
    )


def _link_html(url: str) -> str:
    # Mastodon's shortened display: scheme (and www.) hidden, long URLs cut with an ellipsis.
    prefix = re.match(r"https?://(?:www\.)?", url, re.IGNORECASE)
    hidden = prefix.group() if prefix else ""
    shown, rest = url[len(hidden) :][:_SHOWN_URL_CHARS], url[len(hidden) + _SHOWN_URL_CHARS :]
    display = f'<span class="invisible">{escape(hidden)}</span>'
    if rest:
        display += (
            f'<span class="ellipsis">{escape(shown)}</span>'
            f'<span class="invisible">{escape(rest)}</span>'
        )
    else:
        display += f"<span>{escape(shown)}</span>"
    return f'<a href="{escape(url)}" target="_blank" rel="{_LINK_REL}" translate="no">{display}</a>'
