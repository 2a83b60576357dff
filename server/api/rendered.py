"""Status and account entities rendered once per version, for pages of statuses.

A timeline page shows the same statuses and authors over and over. ``Rendered`` keeps,
per web process, each status entity without what changes per request or per viewer, and
each account entity without its counters, keyed by the version of what it came from
(``core.page_views``). They are kept as JSON, open (without the closing brace), and a
page is written by joining them with what is filled in on every request: the counts, the
viewer's flags, the author's counters and the boosted status. That is two small
``orjson.dumps`` per status and one join, instead of copying and serialising whole
entities again. The finished JSON of each status is kept too, keyed by everything it was
made from (the page's facts, which carry both versions, and whether the viewer wrote it):
on a page that did not change since it was last read, a status is one look-up.

Mentioned accounts inside a status entity are only re-rendered when the status changes:
a mention shows an account's username, acct and URL, which do not change in practice.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import orjson

from core.page_views import PageItem
from core.urls import Urls
from server.api import entities
from storage.views import PageFact

MAX_STATUSES: Final = 10_000
MAX_ACCOUNTS: Final = 5_000
MAX_FINISHED: Final = 5_000
# What ``entities.status`` gives that depends on the request, the viewer or other rows.
_PER_REQUEST: Final = (
    "account",
    "reblog",
    "reblogs_count",
    "favourites_count",
    "replies_count",
    "favourited",
    "reblogged",
    "bookmarked",
    "pinned",
)

K = TypeVar("K")
V = TypeVar("V")
_Entry = tuple[str, bytes]  # (version, the entity's JSON without its closing brace)
# What a finished status is made from: its facts, whether the viewer wrote it, and the same
# of the status it boosts.
_Made = tuple[PageFact, bool, tuple[PageFact, bool] | None]


def _open(entity: dict[str, Any]) -> bytes:
    """An entity's JSON without its closing brace, for more fields to be appended."""
    assert entity, "an entity always has fields"
    return orjson.dumps(entity)[:-1]


class Rendered:
    """The process's entities; ``page`` starts the rendering of one page."""

    def __init__(self, urls: Urls) -> None:
        self.urls = urls
        self.statuses: dict[int, _Entry] = {}
        self.accounts: dict[int, _Entry] = {}
        self.finished: dict[_Made, bytes] = {}

    def page(self) -> PageRender:
        return PageRender(self)


def _keep(store: dict[K, V], key: K, entry: V, limit: int) -> None:
    if key not in store and len(store) >= limit:
        del store[next(iter(store))]  # the oldest entry
    store[key] = entry


class PageRender:
    """One page: answers ``core.page_views.Known`` and holds on to what it found, so that
    an entry another request evicts meanwhile is still there to render from."""

    def __init__(self, rendered: Rendered) -> None:
        self._rendered = rendered
        self._statuses: dict[int, bytes] = {}
        self._accounts: dict[int, bytes] = {}

    def has_status(self, status_id: int, version: str) -> bool:
        return _lookup(self._rendered.statuses, status_id, version, self._statuses)

    def has_account(self, actor_id: int, version: str) -> bool:
        return _lookup(self._rendered.accounts, actor_id, version, self._accounts)

    def json(self, items: list[PageItem]) -> bytes:
        """The page's status entities as a JSON array."""
        return b"[" + b",".join([self._status(item) for item in items]) + b"]"

    def _status(self, item: PageItem) -> bytes:
        boosted = item.reblog
        made = (
            item.fact,
            item.viewer_is_author,
            None if boosted is None else (boosted.fact, boosted.viewer_is_author),
        )
        finished = self._rendered.finished.get(made)
        if finished is None:
            finished = self._finish(item)
            _keep(self._rendered.finished, made, finished, MAX_FINISHED)
        return finished

    def _finish(self, item: PageItem) -> bytes:
        fact, urls = item.fact, self._rendered.urls
        base = self._statuses.get(item.status_id)
        if base is None:
            assert item.view is not None, "load_page gives a view for every unknown status"
            view, version = item.view  # stored under the version it was made from
            entity = entities.status(view, urls)
            for key in _PER_REQUEST:
                entity.pop(key, None)
            base = self._statuses[item.status_id] = _open(entity)
            _keep(self._rendered.statuses, item.status_id, (version, base), MAX_STATUSES)
        account = self._accounts.get(fact.actor_id)
        if account is None:
            assert item.author is not None, "load_page gives a view for every unknown author"
            author, version = item.author
            account = self._accounts[fact.actor_id] = _open(entities.account(author, urls))
            _keep(self._rendered.accounts, fact.actor_id, (version, account), MAX_ACCOUNTS)
        more: dict[str, Any] = {
            "reblogs_count": fact.reblogs,
            "favourites_count": fact.favourites,
            "replies_count": fact.replies,
            "favourited": fact.favourited,
            "reblogged": fact.reblogged,
            "bookmarked": fact.bookmarked,
        }
        if item.viewer_is_author:
            more["pinned"] = fact.pinned
        counters = orjson.dumps(entities.account_counters(fact.author_counts))
        reblog = b"null" if item.reblog is None else self._status(item.reblog)
        # base + "account" (closed by its counters) + "reblog" + the rest, which closes it.
        return b"".join(
            (
                base,
                b',"account":',
                account,
                b",",
                counters[1:],
                b',"reblog":',
                reblog,
                b",",
                orjson.dumps(more)[1:],
            )
        )


def _lookup(store: dict[int, _Entry], key: int, version: str, found: dict[int, Any]) -> bool:
    entry = store.get(key)
    if entry is None or entry[0] != version:
        return False
    found[key] = entry[1]
    return True
