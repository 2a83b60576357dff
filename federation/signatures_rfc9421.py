"""RFC 9421 mechanics: structured fields, the signature base, the algorithms.

Only what verifying a request signature needs: parsing the `Signature-Input`,
`Signature` and `Content-Digest` (RFC 9530) dictionaries with a small RFC 8941
parser, serialising an inner list back (the `@signature-params` line is the
canonical serialisation, not the raw header text), building the signature base,
and checking a signature with one of the registered algorithms. Policy (what
must be covered, digests, clocks) lives in `signatures`, which also turns
`Rfc9421Error` (short, client-safe messages) into its `SignatureError`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias
from urllib.parse import SplitResult

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from federation.keys import PublicKey

__all__ = [
    "ALGORITHMS",
    "BareItem",
    "InnerList",
    "Item",
    "Member",
    "Rfc9421Error",
    "SignatureInput",
    "Token",
    "content_digests",
    "parse_dictionary",
    "serialize_inner_list",
    "signature_base",
    "signature_input",
    "verify_with",
    "wire_bytes",
    "without_default_port",
]


class Rfc9421Error(ValueError):
    """A malformed structured field or an unbuildable signature base."""


@dataclass(frozen=True, slots=True)
class Token:
    """An sf-token: kept apart from strings so it serialises without quotes."""

    value: str


BareItem: TypeAlias = bool | int | Decimal | str | Token | bytes
Params: TypeAlias = dict[str, BareItem]


@dataclass(frozen=True, slots=True)
class Item:
    value: BareItem
    params: Params


@dataclass(frozen=True, slots=True)
class InnerList:
    items: tuple[Item, ...]
    params: Params


Member: TypeAlias = Item | InnerList

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_NUMBER = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
_STRING_CHUNK = re.compile(r"[ !#-\[\]-~]+")  # printable ASCII except '"' and '\'


class _Parser:
    """A cursor over one field value; methods follow RFC 8941 section 4.2."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> Rfc9421Error:
        return Rfc9421Error(f"malformed structured field: {what}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def match(self, pattern: re.Pattern[str], what: str) -> re.Match[str]:
        m = pattern.match(self.text, self.pos)
        if m is None:
            raise self.fail(what)
        self.pos = m.end()
        return m

    def dictionary(self) -> dict[str, Member]:
        self.skip(" ")
        members: dict[str, Member] = {}
        while self.pos < len(self.text):
            key = self.match(_KEY, "bad key").group()
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.inner_list() if self.peek() == "(" else self.item()
            else:
                members[key] = Item(True, self.params())
            self.skip(" \t")
            if self.pos == len(self.text):
                break
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.pos += 1
            self.skip(" \t")
            if self.pos == len(self.text):
                raise self.fail("trailing ','")
        return members

    def inner_list(self) -> InnerList:
        self.pos += 1  # "("
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.params())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("unterminated inner list")

    def item(self) -> Item:
        return Item(self.bare_item(), self.params())

    def params(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.match(_KEY, "bad parameter key").group()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def bare_item(self) -> BareItem:
        c = self.peek()
        if c == "-" or "0" <= c <= "9":
            return self.number()
        if c == '"':
            return self.string()
        if c == ":":
            try:
                return base64.b64decode(self.match(_BYTES, "bad byte sequence")[1], validate=True)
            except binascii.Error:
                raise self.fail("bad byte sequence") from None
        if c == "?":
            value = self.text[self.pos + 1 : self.pos + 2]
            if value not in ("0", "1"):
                raise self.fail("bad boolean")
            self.pos += 2
            return value == "1"
        if c == "*" or c.isalpha():
            return Token(self.match(_TOKEN, "bad token").group())
        raise self.fail("unexpected character")

    def number(self) -> int | Decimal:
        m = self.match(_NUMBER, "bad number")
        whole, fraction = m.groups()
        if fraction is None:
            if len(whole) > 15:
                raise self.fail("integer too long")
            return int(m.group())
        if len(whole) > 12 or len(fraction) > 3:
            raise self.fail("decimal too long")
        return Decimal(m.group())

    def string(self) -> str:
        self.pos += 1  # opening quote
        chunks: list[str] = []
        while True:
            m = _STRING_CHUNK.match(self.text, self.pos)
            if m:
                chunks.append(m.group())
                self.pos = m.end()
            c = self.peek()
            if c == '"':
                self.pos += 1
                return "".join(chunks)
            if c == "\\" and self.text[self.pos + 1 : self.pos + 2] in ('"', "\\"):
                chunks.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            raise self.fail("bad string")


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse an RFC 8941 dictionary, e.g. a `Signature-Input` field value."""
    return _Parser(text.strip(" ")).dictionary()


def _serialize_bare(value: BareItem) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        text = f"{value:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, Token):
        return value.value
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_params(params: Params) -> str:
    return "".join(
        f";{key}" if value is True else f";{key}={_serialize_bare(value)}"
        for key, value in params.items()
    )


def _serialize_item(item: Item) -> str:
    return _serialize_bare(item.value) + _serialize_params(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """The canonical serialisation, as used for the `@signature-params` line."""
    items = " ".join(_serialize_item(item) for item in inner.items)
    return f"({items}){_serialize_params(inner.params)}"


# --- Signature-Input / Signature / Content-Digest -------------------------

# RFC 9421 section 6.2.2 algorithms, all asymmetric (no shared secrets here).
ALGORITHMS = frozenset({"rsa-v1_5-sha256", "rsa-pss-sha512", "ecdsa-p256-sha256", "ed25519"})


@dataclass(frozen=True, slots=True)
class SignatureInput:
    """One labelled signature: its `Signature-Input` member and `Signature` value."""

    covered: InnerList
    names: tuple[str, ...]  # the covered component names
    key_id: str
    algorithm: str | None
    created: int | None
    expires: int | None
    signature: bytes


def signature_input(member: Member, signed: Member | None) -> SignatureInput:
    """Check the shape of one label's members and pull out the parameters."""
    if not isinstance(member, InnerList):
        raise Rfc9421Error("malformed Signature-Input header")
    if not isinstance(signed, Item) or not isinstance(signed.value, bytes):
        raise Rfc9421Error("malformed Signature header")
    params = member.params
    key_id, algorithm = params.get("keyid"), params.get("alg")
    if not isinstance(key_id, str) or not key_id:
        raise Rfc9421Error("signature has no keyid")
    if algorithm is not None and not isinstance(algorithm, str):
        raise Rfc9421Error("malformed Signature-Input header")
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise Rfc9421Error(f"unsupported algorithm {algorithm[:40]!r}")
    return SignatureInput(
        covered=member,
        names=tuple(item.value for item in member.items if isinstance(item.value, str)),
        key_id=key_id,
        algorithm=algorithm,
        created=_int_param(params, "created"),
        expires=_int_param(params, "expires"),
        signature=signed.value,
    )


def content_digests(value: str) -> list[tuple[str, bytes | None]]:
    """(algorithm, digest) pairs of a `Content-Digest`; None for a non-bytes value."""
    return [
        (
            name,
            member.value if isinstance(member, Item) and isinstance(member.value, bytes) else None,
        )
        for name, member in parse_dictionary(value).items()
    ]


def _int_param(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is not None and type(value) is not int:  # bool is an int subclass
        raise Rfc9421Error(f"malformed {name} parameter")
    return value


# --- the signature base ---------------------------------------------------

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def without_default_port(authority: str, scheme: str) -> str:
    """Lowercase `host[:port]`, dropping the scheme's default port (RFC 9110 4.2)."""
    authority = authority.strip().lower()
    host, sep, port = authority.rpartition(":")
    if sep and "]" not in port and port == _DEFAULT_PORTS.get(scheme.lower()):
        return host
    return authority


def _authority(url: SplitResult, headers: Mapping[str, str]) -> str:
    # Host is what the client addressed; the URL is only a fallback (HTTP/2
    # has no Host field).
    return without_default_port(headers.get("host") or url.netloc.rpartition("@")[2], url.scheme)


def _component_value(
    name: str, method: str, url: SplitResult, target_uri: str, headers: Mapping[str, str]
) -> str:
    if name.startswith("@"):
        path = url.path or "/"
        if name == "@method":
            return method
        if name == "@target-uri":
            return target_uri
        if name == "@authority":
            return _authority(url, headers)
        if name == "@scheme":
            return url.scheme.lower()
        if name == "@path":
            return path
        if name == "@query":
            return "?" + url.query
        if name == "@request-target":
            return f"{path}?{url.query}" if url.query else path
        raise Rfc9421Error(f"unsupported component {name[:40]!r}")
    value = headers.get(name)
    if value is None:
        raise Rfc9421Error(f"missing covered header {name[:40]!r}")
    return value.strip()


def signature_base(
    method: str,
    url: SplitResult,
    target_uri: str,
    headers: Mapping[str, str],
    covered: InnerList,
) -> bytes:
    """Build the RFC 9421 section 2.5 signature base for a request.

    `headers` must have lowercase names. Components with parameters (`;sf`,
    `;key`, `;bs`, `;req`, `@query-param`) are refused: no fediverse peer uses
    them, and a wrong guess at their encoding would only produce false failures.
    """
    lines: list[str] = []
    seen: set[str] = set()
    for item in covered.items:
        name = item.value
        if not isinstance(name, str) or item.params or name in seen:
            raise Rfc9421Error(f"unsupported component {_serialize_item(item)[:40]!r}")
        seen.add(name)
        value = _component_value(name, method, url, target_uri, headers)
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {serialize_inner_list(covered)}')
    return wire_bytes("\n".join(lines))


def wire_bytes(text: str) -> bytes:
    """Encode signed text the way it crossed the wire.

    ASGI servers decode header bytes as latin-1, so latin-1 gives back the
    exact bytes the peer signed; anything beyond it can only come from our own
    code, which aiohttp sends as UTF-8.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


# --- algorithms -----------------------------------------------------------

_PSS_SHA512 = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def verify_with(algorithm: str, key: PublicKey, signature: bytes, data: bytes) -> None:
    """Verify with a named algorithm (RFC 9421 section 3.3).

    Raises InvalidSignature for a bad signature and Rfc9421Error when the key
    cannot be used with the algorithm.
    """
    if algorithm == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, _PKCS1V15, _SHA256)
    elif algorithm == "rsa-pss-sha512" and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, _PSS_SHA512, hashes.SHA512())
    elif algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    elif (
        algorithm == "ecdsa-p256-sha256"
        and isinstance(key, ec.EllipticCurvePublicKey)
        and isinstance(key.curve, ec.SECP256R1)
    ):
        # The wire form is r || s, 32 bytes each; cryptography wants DER.
        if len(signature) != 64:
            raise InvalidSignature
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    else:
        raise Rfc9421Error("algorithm does not match key type")
