"""Actor key pairs: generation and cached PEM loading.

Parsing a PEM key costs tens of milliseconds (RSA private keys are checked on
load), and the same few keys sign every delivery and verify every inbox POST,
so both loaders are memoised per process on the PEM text.
"""

from __future__ import annotations

import functools
from typing import TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = [
    "InvalidKey",
    "PrivateKey",
    "PublicKey",
    "generate_rsa_keypair",
    "load_private_key",
    "load_public_key",
]

# The key types some signature algorithm of ours can use: RSA (rsa-sha256,
# rsa-v1_5-sha256, rsa-pss-sha512), Ed25519, and ECDSA on P-256 only.
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

_CACHE_SIZE = 4096


class InvalidKey(ValueError):
    """The PEM text is not a key we can use (unparsable, encrypted or unsupported type)."""


def generate_rsa_keypair(bits: int = 2048) -> tuple[str, str]:
    """Return a new (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM) pair."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem.decode("ascii"), public_pem.decode("ascii")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def load_private_key(pem: str) -> PrivateKey:
    """Parse an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)."""
    try:
        key = serialization.load_pem_private_key(_pem_bytes(pem), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # TypeError: the key is encrypted; we never store encrypted keys.
        raise InvalidKey("unparsable private key") from exc
    if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise InvalidKey("unsupported private key type")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def load_public_key(pem: str) -> PublicKey:
    """Parse a PEM public key: SubjectPublicKeyInfo or PKCS#1 "RSA PUBLIC KEY"."""
    try:
        key = serialization.load_pem_public_key(_pem_bytes(pem))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidKey("unparsable public key") from exc
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise InvalidKey("unsupported public key type")


def _pem_bytes(pem: str) -> bytes:
    # Actor documents sometimes carry surrounding whitespace or CRLF line ends.
    try:
        return pem.strip().replace("\r\n", "\n").encode("ascii")
    except UnicodeEncodeError as exc:
        raise InvalidKey("unparsable key") from exc
