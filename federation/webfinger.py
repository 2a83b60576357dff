"""WebFinger (RFC 7033) and host-meta (RFC 6415): the documents we serve and the look-up.

Errors: `WebFingerError` (a `ValueError`) means the caller's resource or account is
malformed (a 400 at the server); failures of the remote side during `lookup` are
`FetchError`s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

from yarl import URL

from federation.client import FetchError, HttpClient

__all__ = [
    "HOST_META_CONTENT_TYPE",
    "HOST_META_JSON_CONTENT_TYPE",
    "JRD_CONTENT_TYPE",
    "AcctResource",
    "UrlResource",
    "WebFingerError",
    "build_host_meta",
    "build_host_meta_json",
    "build_jrd",
    "lookup",
    "parse_resource",
]

JRD_CONTENT_TYPE: Final = "application/jrd+json; charset=utf-8"
HOST_META_CONTENT_TYPE: Final = "application/xrd+xml; charset=utf-8"
HOST_META_JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"

REL_SELF: Final = "self"
REL_PROFILE_PAGE: Final = "http://webfinger.net/rel/profile-page"
REL_SUBSCRIBE: Final = "http://ostatus.org/schema/1.0/subscribe"
_ACTOR_TYPES: Final = frozenset({"application/activity+json", "application/ld+json"})
_JRD_ACCEPT: Final = "application/jrd+json, application/json"

_MAX_RESOURCE_LENGTH: Final = 1024
# RFC 7565 userpart (unreserved / sub-delims), after percent-decoding; no "@" or spaces.
_USER_RE: Final = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=-]+")
# A DNS name, an IPv4 address or a bracketed IPv6 address, with an optional port.
_HOST_RE: Final = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)


class WebFingerError(ValueError):
    """A malformed WebFinger resource or account; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AcctResource:
    user: str
    domain: str  # lower-cased host, with ":port" when one was given

    @property
    def acct(self) -> str:
        return f"acct:{self.user}@{self.domain}"


@dataclass(frozen=True, slots=True)
class UrlResource:
    url: str


def parse_resource(resource: str) -> AcctResource | UrlResource:
    """Parse `acct:user@domain`, `user@domain`, `@user@domain` or an http(s) URL."""
    text = resource.strip()
    if not text:
        raise WebFingerError("resource is empty")
    if len(text) > _MAX_RESOURCE_LENGTH:
        raise WebFingerError("resource is too long")
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        return _parse_url_resource(text)
    if lowered.startswith("acct:"):
        text = text[len("acct:") :]
    elif ":" in text.split("@", 1)[0]:
        raise WebFingerError("unsupported resource scheme")
    # Some clients send "acct:@user@domain"; one leading "@" is tolerated.
    text = text.removeprefix("@")
    user, at, domain = text.partition("@")
    if not at or not user or not domain:
        raise WebFingerError("resource must look like user@domain")
    user = unquote(user)
    if not _USER_RE.fullmatch(user):
        raise WebFingerError("invalid user name in resource")
    domain = _ascii_domain(domain.lower())
    match = _HOST_RE.fullmatch(domain)
    if match is None or not 0 < int(match["port"] or 443) < 65536:
        raise WebFingerError("invalid domain in resource")
    return AcctResource(user=user, domain=domain)


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        return domain
    # Internationalised names travel as punycode (the form DNS and URLs use).
    host, sep, port = domain.partition(":")
    try:
        return host.encode("idna").decode("ascii") + sep + port
    except UnicodeError as exc:
        raise WebFingerError("invalid domain in resource") from exc


def _parse_url_resource(text: str) -> UrlResource:
    try:
        url = URL(text)
    except (TypeError, ValueError) as exc:
        raise WebFingerError("invalid URL resource") from exc
    if not url.absolute or not url.host:
        raise WebFingerError("invalid URL resource")
    return UrlResource(url=str(url))


def _origin(url: str) -> str:
    parsed = URL(url)
    if not parsed.absolute:
        raise ValueError(f"not an absolute URL: {url!r}")
    return str(parsed.origin())


def build_jrd(
    *, subject: str, aliases: Sequence[str], actor_url: str, profile_url: str
) -> dict[str, Any]:
    """The JRD for one local actor; the subscribe template lives on the actor's origin."""
    return {
        "subject": subject,
        "aliases": list(aliases),
        "links": [
            {"rel": REL_PROFILE_PAGE, "type": "text/html", "href": profile_url},
            {"rel": REL_SELF, "type": "application/activity+json", "href": actor_url},
            {
                "rel": REL_SUBSCRIBE,
                "template": f"{_origin(actor_url)}/authorize_interaction?uri={{uri}}",
            },
        ],
    }


def _lrdd_template(domain: str, scheme: str) -> str:
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme: {scheme!r}")
    return f"{scheme}://{domain}/.well-known/webfinger?resource={{uri}}"


def build_host_meta(domain: str, scheme: str) -> str:
    """host-meta as XRD XML, pointing at our WebFinger endpoint."""
    template = quoteattr(_lrdd_template(domain, scheme))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template={template}/>\n'
        "</XRD>\n"
    )


def build_host_meta_json(domain: str, scheme: str) -> dict[str, Any]:
    """host-meta.json, the JSON twin of `build_host_meta`."""
    return {"links": [{"rel": "lrdd", "template": _lrdd_template(domain, scheme)}]}


async def lookup(client: HttpClient, acct: str, *, scheme: str = "https") -> str:
    """Resolve `user@domain` to its ActivityPub actor URL through WebFinger."""
    resource = parse_resource(acct)
    if not isinstance(resource, AcctResource):
        raise WebFingerError("expected an account, not a URL")
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme: {scheme!r}")
    url = URL(f"{scheme}://{resource.domain}/.well-known/webfinger").with_query(
        resource=resource.acct
    )
    result = await client.get_json(str(url), accept=_JRD_ACCEPT)
    return _actor_link(result.document)


def _actor_link(document: Any) -> str:
    links = document.get("links") if isinstance(document, dict) else None
    if not isinstance(links, list):
        raise FetchError("WebFinger document has no links")
    for link in links:
        if not isinstance(link, dict) or link.get("rel") != REL_SELF:
            continue
        media_type = link.get("type")
        href = link.get("href")
        if (
            isinstance(media_type, str)
            and media_type.split(";", 1)[0].strip().lower() in _ACTOR_TYPES
            and isinstance(href, str)
            and href.lower().startswith(("https://", "http://"))
        ):
            return href
    raise FetchError("WebFinger document has no ActivityPub actor link")
