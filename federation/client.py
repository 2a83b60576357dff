"""The outgoing HTTP client: one aiohttp session per process, guarded and bounded.

Every request goes through the guard (`federation.guard`): only http(s), https only
outside development, and never to a private, loopback or otherwise non-public address
(checked on the resolved address). Redirects are followed by hand so that each hop is
checked and, for signed GETs, signed again. Bodies are read with a size cap, and each
host gets a bounded number of concurrent requests.

Errors: see `federation.guard` (`FetchError`, `BlockedDestination`).
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

from federation.guard import BlockedDestination, FetchError, GuardedResolver, check_url

__all__ = [
    "AP_ACCEPT",
    "AP_CONTENT_TYPE",
    "BlockedDestination",
    "ClientConfig",
    "FetchError",
    "FetchResult",
    "HttpClient",
    "PostResult",
    "Signer",
    "parse_retry_after",
]

AP_ACCEPT: Final = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
AP_CONTENT_TYPE: Final = "application/activity+json"

Signer = Callable[[str, str, Mapping[str, str], bytes | None], dict[str, str]]
"""sign(method, url, headers, body) -> the full headers to send (Host, Date, Digest, Signature)."""

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_AP_TYPES: Final = frozenset(
    {"application/activity+json", "application/ld+json", "application/json"}
)
_EXCERPT_CHARS: Final = 500
# Reading a small reply to its end lets the connection go back to the pool.
_EXCERPT_READ_BYTES: Final = 64 * 1024
_MAX_CONNECTIONS: Final = 256
_DNS_CACHE_SECONDS: Final = 60


@dataclass(frozen=True, slots=True)
class ClientConfig:
    user_agent: str
    allow_private: bool = False  # development and tests: loopback, private and http allowed
    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    max_body: int = 1024 * 1024
    max_redirects: int = 3
    per_host_concurrency: int = 8

    def __post_init__(self) -> None:
        if self.per_host_concurrency < 1 or self.max_body < 0 or self.max_redirects < 0:
            raise ValueError("per_host_concurrency >= 1, max_body >= 0, max_redirects >= 0")


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # the final URL, after redirects
    status: int
    document: Any


@dataclass(frozen=True, slots=True)
class PostResult:
    status: int
    retry_after: float | None  # seconds to wait, from a Retry-After header
    body_excerpt: str  # at most 500 characters of the reply, for logs


class _Slot:
    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0


class _HostSlots:
    """A semaphore per host, forgotten once nobody holds or awaits it (bounded memory)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots: dict[str, _Slot] = {}

    async def acquire(self, key: str) -> None:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(self._limit)
        slot.users += 1
        try:
            await slot.semaphore.acquire()
        except BaseException:
            self._forget(key, slot)
            raise

    def release(self, key: str) -> None:
        slot = self._slots[key]
        slot.semaphore.release()
        self._forget(key, slot)

    def _forget(self, key: str, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[key]

    def __len__(self) -> int:
        return len(self._slots)


class HttpClient:
    """One per process; use as `async with HttpClient(config) as client:`."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._resolver: AbstractResolver | None = None
        self._slots = _HostSlots(config.per_host_concurrency)

    @property
    def config(self) -> ClientConfig:
        return self._config

    async def start(self) -> None:
        if self._session is not None:
            raise RuntimeError("HttpClient already started")
        config = self._config
        resolver = DefaultResolver() if config.allow_private else GuardedResolver()
        connector = aiohttp.TCPConnector(
            resolver=resolver, limit=_MAX_CONNECTIONS, ttl_dns_cache=_DNS_CACHE_SECONDS
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": config.user_agent},
            timeout=aiohttp.ClientTimeout(
                total=config.total_timeout, sock_connect=config.connect_timeout
            ),
            # Cookies set by one remote server must never be replayed to it or others.
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # no proxy from the environment: it would bypass the guard
        )
        self._resolver = resolver

    async def close(self) -> None:
        if self._session is None:
            return
        session, self._session = self._session, None
        await session.close()
        # A resolver passed in is not owned, hence not closed, by the connector.
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HttpClient is not started")
        return self._session

    async def get_json(
        self, url: str, *, sign: Signer | None = None, accept: str = AP_ACCEPT
    ) -> FetchResult:
        """GET a JSON document (any `*/json` or `*+json` type), following redirects."""
        return await self._get(url, sign, accept, _is_json_type)

    async def get_object(self, url: str, *, sign: Signer | None) -> FetchResult:
        """GET an ActivityPub object whose `id` shares the origin of the final URL."""
        result = await self._get(url, sign, AP_ACCEPT, _AP_TYPES.__contains__)
        document = result.document
        object_id = document.get("id") if isinstance(document, dict) else None
        if not isinstance(object_id, str):
            raise FetchError("object has no id")
        # Anyone may serve a document claiming any id; only the id's own origin is trusted.
        if _origin(object_id) != _origin(result.url):
            raise FetchError("id origin mismatch")
        return result

    async def post(
        self, url: str, body: bytes, *, sign: Signer, content_type: str = AP_CONTENT_TYPE
    ) -> PostResult:
        """POST a signed body; HTTP statuses are returned, not raised (no redirects)."""
        session = self._require_session()
        target = _parse_url(url)
        check_url(target, allow_private=self._config.allow_private)
        key = _host_key(target)
        await self._slots.acquire(key)
        try:
            # Signed inside the slot so that Date is fresh when the request leaves.
            headers = sign("POST", str(target), {"Content-Type": content_type}, body)
            async with session.post(
                target, data=body, headers=headers, allow_redirects=False
            ) as response:
                excerpt = await _read_excerpt(response)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                return PostResult(response.status, retry_after, excerpt)
        except FetchError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _transport_error(exc) from exc
        finally:
            self._slots.release(key)

    async def _get(
        self,
        url: str,
        sign: Signer | None,
        accept: str,
        content_type_ok: Callable[[str], bool],
    ) -> FetchResult:
        session = self._require_session()
        config = self._config
        target = _parse_url(url)
        for _hop in range(config.max_redirects + 1):
            check_url(target, allow_private=config.allow_private)
            key = _host_key(target)
            await self._slots.acquire(key)
            try:
                headers: Mapping[str, str] = {"Accept": accept}
                if sign is not None:
                    headers = sign("GET", str(target), headers, None)
                async with session.get(target, headers=headers, allow_redirects=False) as response:
                    status = response.status
                    if status in _REDIRECT_STATUSES:
                        target = _redirect_target(target, response)
                        continue
                    if not 200 <= status < 300:
                        raise FetchError(
                            f"remote server answered {status}",
                            status=status,
                            retryable=status >= 500 or status == 429,
                        )
                    if not content_type_ok(response.content_type.lower()):
                        raise FetchError("unexpected content type", status=status)
                    body = await _read_capped(response, config.max_body)
            except FetchError:
                raise
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise _transport_error(exc) from exc
            finally:
                self._slots.release(key)
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise FetchError("invalid JSON", status=status) from exc
            return FetchResult(url=str(target), status=status, document=document)
        raise FetchError("too many redirects")


def _parse_url(url: str) -> URL:
    try:
        parsed = URL(url)
    except (TypeError, ValueError) as exc:
        raise BlockedDestination("invalid URL") from exc
    if not parsed.absolute:
        raise BlockedDestination("URL is not absolute")
    return parsed


def _host_key(url: URL) -> str:
    return f"{url.host}:{url.port}"


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return None
    if not parsed.absolute or not parsed.host:
        return None
    return (parsed.scheme.lower(), parsed.host.lower(), parsed.port)


def _redirect_target(current: URL, response: aiohttp.ClientResponse) -> URL:
    location = response.headers.get("Location")
    if not location:
        raise FetchError("redirect without location", status=response.status)
    try:
        return current.join(URL(location))
    except (TypeError, ValueError) as exc:
        raise BlockedDestination("invalid redirect location") from exc


def _is_json_type(content_type: str) -> bool:
    return content_type.endswith(("/json", "+json"))


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytearray:
    # Content-Length is only a hint: a lying server is caught by the loop below.
    declared = response.content_length
    if declared is not None and declared > limit:
        raise FetchError("response too large", status=response.status)
    body = bytearray()
    while chunk := await response.content.readany():
        body += chunk
        if len(body) > limit:
            raise FetchError("response too large", status=response.status)
    return body


async def _read_excerpt(response: aiohttp.ClientResponse) -> str:
    body = bytearray()
    while len(body) < _EXCERPT_READ_BYTES and (chunk := await response.content.readany()):
        body += chunk
    return body[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")[:_EXCERPT_CHARS]


def _transport_error(exc: BaseException) -> FetchError:
    if isinstance(exc, TimeoutError):
        return FetchError("timed out", retryable=True)
    if isinstance(exc, aiohttp.InvalidURL):
        return BlockedDestination("invalid URL")
    return FetchError("connection failed", retryable=True)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
