"""Key pairs: generation, PEM loading in the forms peers publish, caching."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from federation.keys import (
    InvalidKey,
    PublicKey,
    generate_rsa_keypair,
    load_private_key,
    load_public_key,
)

DATA = Path(__file__).parent / "data"


def der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def pems() -> tuple[str, str]:
    return generate_rsa_keypair()


def test_generated_pair_is_pkcs8_and_spki_and_signs(pems: tuple[str, str]) -> None:
    private_pem, public_pem = pems
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    private, public = load_private_key(private_pem), load_public_key(public_pem)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert isinstance(public, rsa.RSAPublicKey)
    assert private.key_size == 2048
    signature = private.sign(b"hello", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"hello", padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"hullo", padding.PKCS1v15(), hashes.SHA256())


def test_generated_pairs_differ(pems: tuple[str, str]) -> None:
    assert generate_rsa_keypair(1024) != pems


def test_loading_is_cached_per_pem(pems: tuple[str, str]) -> None:
    assert load_private_key(pems[0]) is load_private_key(pems[0])
    assert load_public_key(pems[1]) is load_public_key(pems[1])


def test_pkcs1_rsa_public_key_is_accepted() -> None:
    # Some servers publish "BEGIN RSA PUBLIC KEY" (PKCS#1); RFC 9421's test key is one.
    text = (DATA / "rfc9421-test-key-rsa.pem").read_text()
    assert text.startswith("-----BEGIN RSA PUBLIC KEY-----")
    key = load_public_key(text)
    assert isinstance(key, rsa.RSAPublicKey)
    spki = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert der(load_public_key(spki)) == der(key)


def test_pem_with_crlf_and_surrounding_whitespace_is_accepted(pems: tuple[str, str]) -> None:
    mangled = "\n  " + pems[1].replace("\n", "\r\n") + "  \n"
    assert der(load_public_key(mangled)) == der(load_public_key(pems[1]))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("cavage-test-key-private.pem", rsa.RSAPrivateKey),
        ("rfc9421-test-key-rsa.key", rsa.RSAPrivateKey),
        ("rfc9421-test-key-rsa-pss.key", rsa.RSAPrivateKey),
        ("rfc9421-test-key-ecc-p256.key", ec.EllipticCurvePrivateKey),
        ("rfc9421-test-key-ed25519.key", ed25519.Ed25519PrivateKey),
    ],
)
def test_published_test_keys_load(name: str, kind: type) -> None:
    assert isinstance(load_private_key((DATA / name).read_text()), kind)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3é=\n",
    ],
)
def test_bad_public_pem_raises_invalid_key(text: str) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(text)


def test_bad_private_pem_raises_invalid_key(pems: tuple[str, str]) -> None:
    with pytest.raises(InvalidKey):
        load_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InvalidKey):
        load_private_key(pems[1])  # a public key where a private one belongs


def test_encrypted_private_key_raises_invalid_key() -> None:
    encrypted = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        .decode()
    )
    with pytest.raises(InvalidKey):
        load_private_key(encrypted)


def test_unusable_curve_raises_invalid_key() -> None:
    # Only P-256 has an algorithm (ecdsa-p256-sha256); refuse others up front.
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    text = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(InvalidKey):
        load_public_key(text)


def test_invalid_key_is_a_value_error() -> None:
    assert issubclass(InvalidKey, ValueError)
