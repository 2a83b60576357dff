"""HTTP Signatures: draft-cavage-12 to sign and verify, RFC 9421 to verify.

Verifying is two steps so that key lookup (cache, then a signed fetch) sits
between them, outside this module:

    parsed = parse_request_signature(method, url, headers, body, now=..., max_skew=...)
    key = load_public_key(await lookup(parsed.key_id))
    verify_signature(parsed, key)

`parse_request_signature` checks everything that needs no key: the header is
well formed, the algorithm is supported, the signature covers what an inbox
needs (request target, host, date, and the body digest), the digest matches
the body and the clock is close. `verify_signature` does the cryptography.

Errors: `SignatureError` only; its `.reason` is short and safe to show to the
peer. Key parsing errors are `keys.InvalidKey`.

Signing (`sign_request`) and the draft-cavage signing string live in
`federation.signatures_cavage`, the RFC 9421 pieces in `federation.signatures_rfc9421`;
import from here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation import http_dates
from federation.keys import PublicKey
from federation.signatures_cavage import (
    SignatureError,
    aware,
    cavage_signing_string,
    digest_header,
    int_param,
    lower_headers,
    request_target,
    sign_request,
    signature_params,
    signing_string,
)
from federation.signatures_rfc9421 import (
    Member,
    Rfc9421Error,
    content_digests,
    parse_dictionary,
    signature_base,
    signature_input,
    verify_with,
    wire_bytes,
)

__all__ = [
    "ParsedSignature",
    "SignatureError",
    "cavage_signing_string",
    "digest_header",
    "parse_request_signature",
    "sign_request",
    "verify_signature",
]


class Fields(dict[str, str]):
    """Header fields as both specs read them: by lowercase name, values trimmed of
    spaces and tabs, repeated fields joined with ", ". A server that builds them so from
    the raw request saves ``parse_request_signature`` doing it again."""


@dataclass(slots=True)  # not frozen: built for every request, and a frozen init costs more
class ParsedSignature:
    scheme: Literal["cavage", "rfc9421"]
    key_id: str
    algorithm: str | None  # as declared (cavage: lowercased); None when absent
    covered: tuple[str, ...]  # header / component names covered
    signature_base: bytes  # the exact bytes that were signed
    signature: bytes
    created: datetime | None


_CAVAGE_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})
# Digest / Content-Digest algorithm names (any case) -> hashlib names.
_HASHES = {"sha-256": "sha256", "sha-512": "sha512"}


# --- verifying ------------------------------------------------------------


def parse_request_signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    now: datetime,
    max_skew: timedelta,
) -> ParsedSignature:
    """Parse and check a request's signature as far as possible without its key.

    RFC 9421 when `Signature-Input` is present, else draft-cavage from
    `Signature` or `Authorization: Signature …`. `url` is the full URL as
    received; `body` None means the request has none (a GET).
    """
    lower = headers if isinstance(headers, Fields) else lower_headers(headers)
    parts = urlsplit(url)
    if "host" not in lower and parts.netloc:
        lower = {**lower, "host": parts.netloc}  # HTTP/2 carries :authority instead
    request = _Request(method, url, parts, lower, body, aware(now), max_skew)
    if "signature-input" in lower:
        return _parse_rfc9421(request)
    return _parse_cavage(request)


def verify_signature(parsed: ParsedSignature, public_key: PublicKey) -> None:
    """Check the signature itself; raise SignatureError if it does not verify."""
    for algorithm in _algorithms_for(parsed, public_key):
        try:
            verify_with(algorithm, public_key, parsed.signature, parsed.signature_base)
        except InvalidSignature:
            continue
        except Rfc9421Error as exc:
            raise SignatureError(str(exc)) from None
        return
    raise SignatureError("signature does not verify")


@dataclass(slots=True)  # not frozen: built for every request, and a frozen init costs more
class _Request:
    """What a received request offers for checking, parsed once."""

    method: str
    url: str
    parts: SplitResult
    headers: dict[str, str]  # lowercase names, repeated fields joined
    body: bytes | None
    now: datetime
    max_skew: timedelta


def _parse_cavage(request: _Request) -> ParsedSignature:
    headers = request.headers
    raw = headers.get("signature")
    if raw is None:
        scheme, _, raw = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "signature":
            raise SignatureError("missing Signature header")
    params = signature_params(raw)
    key_id, signature = params.get("keyid"), params.get("signature")
    if not key_id or not signature:
        raise SignatureError("malformed Signature header")
    algorithm = params["algorithm"].lower() if "algorithm" in params else None
    if algorithm is not None and algorithm not in _CAVAGE_ALGORITHMS:
        raise SignatureError(f"unsupported algorithm {algorithm[:40]!r}")
    covered = tuple(params.get("headers", "date").lower().split())
    created, expires = int_param(params, "created"), int_param(params, "expires")

    if "(request-target)" not in covered:
        raise SignatureError("signature must cover (request-target)")
    if "host" not in covered:
        raise SignatureError("signature must cover host")
    if "date" not in covered and "(created)" not in covered:
        raise SignatureError("signature must cover date")
    body = request.body
    if body and "digest" not in covered:
        raise SignatureError("signature must cover digest")
    if body is not None and "digest" in headers:
        digest = headers["digest"]
        if not _is_sha256_digest(digest, body):  # else the general check, which says why
            _check_digests(_digest_pairs(digest), body)
    stamp = _check_clock(request, "date" in covered, created, expires)

    target = request_target(request.parts)
    text = signing_string(request.method, target, headers, covered, created, expires)
    return ParsedSignature(
        scheme="cavage",
        key_id=key_id,
        algorithm=algorithm,
        covered=covered,
        signature_base=wire_bytes(text),
        signature=_b64decode(signature),
        created=stamp,
    )


def _parse_rfc9421(request: _Request) -> ParsedSignature:
    if "signature" not in request.headers:
        raise SignatureError("missing Signature header")
    try:
        inputs = parse_dictionary(request.headers["signature-input"])
        signatures = parse_dictionary(request.headers["signature"])
    except Rfc9421Error:
        raise SignatureError("malformed Signature or Signature-Input header") from None
    # Several signatures (a client's and a proxy's, say): the first we accept wins.
    first_error: SignatureError | None = None
    for label, member in inputs.items():
        try:
            return _parse_rfc9421_member(request, member, signatures.get(label))
        except SignatureError as exc:
            first_error = first_error or exc
        except Rfc9421Error as exc:
            first_error = first_error or SignatureError(str(exc))
    raise first_error or SignatureError("malformed Signature-Input header")


def _parse_rfc9421_member(
    request: _Request, member: Member, signed: Member | None
) -> ParsedSignature:
    entry = signature_input(member, signed)
    covered = entry.names
    _require(covered, "@method", "@method")
    if "@target-uri" not in covered:
        _require(covered, "@target-uri or @authority", "@authority", "host")
        _require(covered, "@target-uri or @path", "@path", "@request-target")
    if entry.created is None:
        _require(covered, "date or created", "date")
    if request.body:
        _require(covered, "content-digest", "content-digest")
    if request.body is not None and "content-digest" in request.headers:
        try:
            digests = content_digests(request.headers["content-digest"])
        except Rfc9421Error:
            raise SignatureError("malformed Content-Digest header") from None
        _check_digests(digests, request.body)
    stamp = _check_clock(request, "date" in covered, entry.created, entry.expires)
    base = signature_base(
        request.method, request.parts, request.url, request.headers, entry.covered
    )
    return ParsedSignature(
        scheme="rfc9421",
        key_id=entry.key_id,
        algorithm=entry.algorithm,
        covered=covered,
        signature_base=base,
        signature=entry.signature,
        created=stamp,
    )


def _require(covered: Sequence[str], what: str, *any_of: str) -> None:
    for name in any_of:
        if name in covered:
            return
    raise SignatureError(f"signature must cover {what}")


def _check_clock(
    request: _Request, covers_date: bool, created: int | None, expires: int | None
) -> datetime | None:
    """Check the signed times against `now`; return the signing time."""
    now, max_skew = request.now, request.max_skew
    stamp: datetime | None = None
    if created is not None:
        try:
            stamp = datetime.fromtimestamp(created, UTC)
        except (OverflowError, OSError, ValueError):
            raise SignatureError("malformed created parameter") from None
        if abs(stamp - now) > max_skew:
            raise SignatureError("Date is too far from now")
    if covers_date:
        date = _parse_http_date(request.headers.get("date"))
        if abs(date - now) > max_skew:
            raise SignatureError("Date is too far from now")
        stamp = stamp or date
    if expires is not None and expires < now.timestamp():
        raise SignatureError("signature has expired")
    return stamp


def _is_sha256_digest(value: str, body: bytes) -> bool:
    """True when ``value`` is exactly Mastodon's form, ``SHA-256=<base64>``, of the body's
    digest: what nearly every request carries, checked without decoding it."""
    return value[:8].upper() == "SHA-256=" and value[8:] == base64.b64encode(
        hashlib.sha256(body).digest()
    ).decode("ascii")


def _digest_pairs(value: str) -> list[tuple[str, bytes | None]]:
    """(algorithm, digest) pairs of an RFC 3230 `Digest`; None if not base64."""
    pairs: list[tuple[str, bytes | None]] = []
    for part in value.split(","):
        name, _, encoded = part.strip().partition("=")  # base64 padding has "=" too
        try:
            pairs.append((name.lower(), binascii.a2b_base64(encoded, strict_mode=True)))
        except ValueError:  # binascii.Error, or a non-ASCII string
            pairs.append((name.lower(), None))
    return pairs


def _check_digests(digests: Iterable[tuple[str, bytes | None]], body: bytes) -> None:
    """Every digest we can compute must match the body, and there must be one."""
    checked = False
    for name, expected in digests:
        hash_name = _HASHES.get(name)
        if hash_name is None:
            continue
        if expected != hashlib.new(hash_name, body).digest():
            raise SignatureError("Digest does not match body")
        checked = True
    if not checked:
        raise SignatureError("unsupported Digest algorithm")


def _algorithms_for(parsed: ParsedSignature, key: PublicKey) -> tuple[str, ...]:
    """The RFC 9421 algorithm names to try: the declared one, or the key's."""
    declared = parsed.algorithm
    if declared == "rsa-sha256":
        return ("rsa-v1_5-sha256",)
    if declared is not None and declared != "hs2019":
        return (declared,)
    if isinstance(key, rsa.RSAPublicKey):
        if parsed.scheme == "rfc9421":
            # Without `alg` RFC 9421 leaves both RSA schemes open (its own
            # examples sign with PSS and no `alg`); PKCS#1 v1.5 is the common one.
            return ("rsa-v1_5-sha256", "rsa-pss-sha512")
        return ("rsa-v1_5-sha256",)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("ed25519",)
    if parsed.scheme == "rfc9421":
        return ("ecdsa-p256-sha256",)
    raise SignatureError("algorithm does not match key type")


# --- small helpers --------------------------------------------------------


def _b64decode(value: str) -> bytes:
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except ValueError:  # binascii.Error, or a non-ASCII string
        raise SignatureError("malformed signature") from None


def _parse_http_date(value: str | None) -> datetime:
    if value is None:
        raise SignatureError("missing Date header")
    try:
        return http_dates.parse(value)
    except ValueError:
        raise SignatureError("malformed Date header") from None
