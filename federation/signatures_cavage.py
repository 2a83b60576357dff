"""draft-cavage-12 HTTP Signatures: the signing string, the Signature header's
parameters, and signing a request the way Mastodon expects.

``federation.signatures`` verifies with these pieces and re-exports what is public here
(``sign_request``, ``digest_header``, ``cavage_signing_string``, ``SignatureError``);
import them from there.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import SplitResult, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from federation.keys import PrivateKey
from federation.signatures_rfc9421 import wire_bytes, without_default_port


class SignatureError(Exception):
    """A request signature was refused; `reason` is client-safe."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Headers sign_request sets itself; same-named ones passed in are dropped.
_SET_BY_SIGNER = frozenset({"host", "date", "digest", "signature"})
# One `name="value"` (or `name=123`) pair of a cavage Signature header.
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([0-9]+))\s*(?:,|$)')


# --- signing --------------------------------------------------------------


def sign_request(
    method: str,
    url: str,
    *,
    key_id: str,
    private_key: PrivateKey,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Sign a request with draft-cavage-12 `rsa-sha256`, the way Mastodon expects.

    Returns every header to send: `headers` plus Host, Date, Digest (when there
    is a body, even empty) and Signature. Content-Type is signed when given.
    """
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise TypeError("sign_request signs rsa-sha256 and needs an RSA private key")
    parts = urlsplit(url)
    out = {k: v for k, v in headers.items() if k.lower() not in _SET_BY_SIGNER} if headers else {}
    host = without_default_port(parts.netloc.rpartition("@")[2], parts.scheme)
    date = format_datetime(aware(now or datetime.now(UTC)).astimezone(UTC), usegmt=True)
    out["Host"] = host
    out["Date"] = date
    names = "(request-target) host date"
    text = f"(request-target): {method.lower()} {request_target(parts)}\nhost: {host}\ndate: {date}"
    if body is not None:
        digest = digest_header(body)
        out["Digest"] = digest
        names += " digest"
        text += f"\ndigest: {digest}"
        content_type = next((v for k, v in out.items() if k.lower() == "content-type"), None)
        if content_type is not None:
            names += " content-type"
            text += "\ncontent-type: " + content_type.strip(" \t")
    signature = private_key.sign(wire_bytes(text), padding.PKCS1v15(), hashes.SHA256())
    out["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{names}",'
        f'signature="{base64.b64encode(signature).decode("ascii")}"'
    )
    return out


def digest_header(body: bytes) -> str:
    """The RFC 3230 `Digest` value Mastodon checks: `SHA-256=<base64>`."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def cavage_signing_string(
    method: str,
    url_or_path: str,
    headers: Mapping[str, str],
    covered: Sequence[str],
    *,
    created: int | None = None,
    expires: int | None = None,
) -> str:
    """The draft-cavage-12 signing string for `covered` (header names, any case).

    `created` / `expires` are the signature parameters, needed only when
    `(created)` / `(expires)` are covered.
    """
    target = url_or_path if url_or_path.startswith("/") else request_target(urlsplit(url_or_path))
    names = [name.lower() for name in covered]
    return signing_string(method, target, lower_headers(headers), names, created, expires)


# --- pieces shared with verifying ------------------------------------------


def signing_string(
    method: str,
    target: str,
    headers: Mapping[str, str],
    covered: Sequence[str],
    created: int | None,
    expires: int | None,
) -> str:
    """The signing string of lowercase ``covered`` names over lowercase ``headers``."""
    lines = []
    for name in covered:
        if name == "(request-target)":
            value: str | int | None = f"{method.lower()} {target}"
        elif name == "(created)":
            value = created
        elif name == "(expires)":
            value = expires
        else:
            value = headers.get(name)
        if value is None:
            raise SignatureError(f"missing covered header {name[:40]!r}")
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def signature_params(value: str) -> dict[str, str]:
    """The parameters of a Signature header, by lowercase name."""
    found: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        m = _PARAM.match(value, pos)
        if m is None:
            raise SignatureError("malformed Signature header")
        found[m[1].lower()] = m[2] if m[2] is not None else m[3]
        pos = m.end()
    return found


def int_param(found: Mapping[str, str], name: str) -> int | None:
    value = found.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise SignatureError(f"malformed {name} parameter")
    return int(value)


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header fields by lowercase name, values trimmed, repeated fields joined."""
    # Both specs trim values and join repeated fields with ", " (starlette's
    # Headers.items() yields each repeated field separately).
    lower: dict[str, str] = {}
    for name, value in headers.items():
        key, value = name.lower(), value.strip(" \t")
        lower[key] = f"{lower[key]}, {value}" if key in lower else value
    return lower


def request_target(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def aware(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC rather than local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
