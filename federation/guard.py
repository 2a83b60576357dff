"""Where outgoing requests may go: the SSRF guard of the HTTP client.

Errors raised by the outgoing HTTP client (re-exported by `federation.client`)::

    FetchError                 .reason (client-safe), .status (remote HTTP status or None),
    │                          .retryable (a later attempt may succeed)
    └── BlockedDestination     the guard refused the URL or every address it resolved to

A URL is checked twice: its shape (`check_url`: scheme, credentials, port, IP-literal
host) before any connection, and the addresses a host name resolves to
(`GuardedResolver`) at connection time. Checking the resolved addresses, not a separate
earlier lookup, is what makes the guard safe against DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

__all__ = [
    "BlockedDestination",
    "FetchError",
    "GuardedResolver",
    "check_url",
    "is_public_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 6052 well-known NAT64 prefix: the last 32 bits are the IPv4 destination.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


class FetchError(Exception):
    """A remote fetch or delivery failed; `reason` is safe to show to clients."""

    def __init__(self, reason: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retryable = retryable


class BlockedDestination(FetchError):
    """The guard refused the destination (scheme, port, or a non-public address)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=False)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # These IPv6 forms carry an IPv4 destination that the network will reach.
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def is_public_address(addr: IPAddress) -> bool:
    """True when `addr` is a globally routable unicast address."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            return is_public_address(embedded)
        if addr.is_site_local:
            return False
    # `is_global` alone misses multicast (ff0e::/16, 224/4 count as global) and
    # `is_private` alone misses 100.64/10, so check the union.
    return addr.is_global and not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: URL, *, allow_private: bool) -> None:
    """Refuse a URL whose shape alone makes it unfit; raises `BlockedDestination`."""
    if url.scheme not in ("http", "https"):
        raise BlockedDestination("only http and https URLs are fetched")
    if not url.host:
        raise BlockedDestination("URL has no host")
    if url.user is not None or url.password is not None:
        # Credentials in a federated URL would be sent to whoever controls it.
        raise BlockedDestination("URL must not contain credentials")
    port = url.port
    if port is None or not 0 < port < 65536:
        raise BlockedDestination("URL port is not allowed")
    if allow_private:
        return
    if url.scheme != "https":
        raise BlockedDestination("only https URLs are fetched")
    literal = _ip_literal(url.host)
    # The connector does not call the resolver for IP literals: check them here.
    if literal is not None and not is_public_address(literal):
        raise BlockedDestination("destination address is not public")


class GuardedResolver(AbstractResolver):
    """Resolve with `inner`, then drop every non-public address.

    The connector connects only to what this returns, so a host name that
    resolves (or re-resolves) to a private address is never reached.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if _is_public_text(r["host"])]
        if not kept:
            raise BlockedDestination("destination address is not public")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def _is_public_text(host: str) -> bool:
    addr = _ip_literal(host)
    return addr is not None and is_public_address(addr)
