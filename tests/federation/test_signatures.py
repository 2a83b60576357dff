"""HTTP Signatures: published known answers, then round trips and refusals."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from federation.keys import generate_rsa_keypair, load_private_key, load_public_key
from federation.signatures import (
    ParsedSignature,
    SignatureError,
    cavage_signing_string,
    digest_header,
    parse_request_signature,
    sign_request,
    verify_signature,
)
from federation.signatures_rfc9421 import (
    InnerList,
    Rfc9421Error,
    parse_dictionary,
    serialize_inner_list,
)

DATA = Path(__file__).parent / "data"
SKEW = timedelta(minutes=5)
BODY = b'{"hello": "world"}'


def pem(name: str) -> str:
    return (DATA / name).read_text()


# --- draft-cavage-12 Appendix C ----------------------------------------------

CAVAGE_PRIVATE = pem("cavage-test-key-private.pem")
CAVAGE_PUBLIC = pem("cavage-test-key-public.pem")
CAVAGE_NOW = datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC)
CAVAGE_URL = "https://example.com/foo?param=value&pet=dog"
CAVAGE_HEADERS = {
    "Host": "example.com",
    "Date": "Sun, 05 Jan 2014 21:31:40 GMT",
    "Content-Type": "application/json",
    "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "Content-Length": "18",
}
C1_SIGNATURE = (
    "SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+ibttBqtifLN7Sazz6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q"
    "25WqS+lavg7T8hc0GppauB6hbgEKTwblDHYGEtbGmtdHgVCk9SuS13F0hZ8FD0k/5OxEPXe5WozsbM="
)
C2_SIGNATURE = (
    "qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8"
    "VfEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="
)
C3_SIGNATURE = (
    "vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUH"
    "Fv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="
)
C3_COVERED = "(request-target) host date content-type digest content-length"


def rsa_sha256(private_pem: str, text: str) -> str:
    key = load_private_key(private_pem)
    assert isinstance(key, rsa.RSAPrivateKey)
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def cavage_header(covered: str, signature: str, algorithm: str = "rsa-sha256") -> str:
    return f'keyId="Test",algorithm="{algorithm}",headers="{covered}",signature="{signature}"'


def test_cavage_c1_default_test_reproduces() -> None:
    text = cavage_signing_string("POST", CAVAGE_URL, CAVAGE_HEADERS, ["date"])
    assert text == "date: Sun, 05 Jan 2014 21:31:40 GMT"
    assert rsa_sha256(CAVAGE_PRIVATE, text) == C1_SIGNATURE
    parsed = ParsedSignature(
        scheme="cavage",
        key_id="Test",
        algorithm="rsa-sha256",
        covered=("date",),
        signature_base=text.encode(),
        signature=base64.b64decode(C1_SIGNATURE),
        created=None,
    )
    verify_signature(parsed, load_public_key(CAVAGE_PUBLIC))


def test_cavage_c2_basic_test_reproduces_and_verifies() -> None:
    covered = "(request-target) host date"
    text = cavage_signing_string(
        "POST", "/foo?param=value&pet=dog", CAVAGE_HEADERS, covered.split()
    )
    assert text == (
        "(request-target): post /foo?param=value&pet=dog\n"
        "host: example.com\n"
        "date: Sun, 05 Jan 2014 21:31:40 GMT"
    )
    assert rsa_sha256(CAVAGE_PRIVATE, text) == C2_SIGNATURE

    headers = {**CAVAGE_HEADERS, "Signature": cavage_header(covered, C2_SIGNATURE)}
    parsed = parse_request_signature(
        "POST", CAVAGE_URL, headers, None, now=CAVAGE_NOW, max_skew=SKEW
    )
    assert parsed.signature_base == text.encode()
    assert parsed.key_id == "Test"
    assert parsed.created == CAVAGE_NOW
    verify_signature(parsed, load_public_key(CAVAGE_PUBLIC))


def test_cavage_c2_is_refused_for_a_body_it_does_not_digest() -> None:
    headers = {
        **CAVAGE_HEADERS,
        "Signature": cavage_header("(request-target) host date", C2_SIGNATURE),
    }
    with pytest.raises(SignatureError) as err:
        parse_request_signature("POST", CAVAGE_URL, headers, BODY, now=CAVAGE_NOW, max_skew=SKEW)
    assert err.value.reason == "signature must cover digest"


def test_cavage_digest_variant_reproduces_and_verifies() -> None:
    text = cavage_signing_string("POST", CAVAGE_URL, CAVAGE_HEADERS, C3_COVERED.split())
    assert text.splitlines()[3:] == [
        "content-type: application/json",
        "digest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
        "content-length: 18",
    ]
    assert rsa_sha256(CAVAGE_PRIVATE, text) == C3_SIGNATURE

    headers = {**CAVAGE_HEADERS, "Signature": cavage_header(C3_COVERED, C3_SIGNATURE)}
    parsed = parse_request_signature(
        "POST", CAVAGE_URL, headers, BODY, now=CAVAGE_NOW, max_skew=SKEW
    )
    verify_signature(parsed, load_public_key(CAVAGE_PUBLIC))
    assert parsed.covered == tuple(C3_COVERED.split())


def test_cavage_digest_variant_with_tampered_body_is_refused() -> None:
    headers = {**CAVAGE_HEADERS, "Signature": cavage_header(C3_COVERED, C3_SIGNATURE)}
    with pytest.raises(SignatureError) as err:
        parse_request_signature(
            "POST", CAVAGE_URL, headers, b'{"hello": "moon"}', now=CAVAGE_NOW, max_skew=SKEW
        )
    assert err.value.reason == "Digest does not match body"


def test_digest_header_matches_the_published_value() -> None:
    assert digest_header(BODY) == CAVAGE_HEADERS["Digest"]


# --- RFC 9421 Appendix B.2 and section 4.3 ----------------------------------

RFC_URL = "https://example.com/foo?param=Value&Pet=dog"
RFC_NOW = datetime.fromtimestamp(1618884475, UTC)
RFC_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
    ),
    "Content-Length": "18",
}
B26_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)
B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B23_INPUT = (
    'sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest"'
    ' "content-length");created=1618884473;keyid="test-key-rsa-pss"'
)
B23_SIGNATURE = (
    "bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2"
    "voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXX"
    "ZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka3"
    "9VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA=="
)
# Section 4.3: the client's ECDSA signature, then the proxy's rsa-v1_5 one.
SIG1_INPUT = (
    'sig1=("@method" "@authority" "@path" "content-digest" "content-type" "content-length")'
    ';created=1618884475;keyid="test-key-ecc-p256"'
)
SIG1_SIGNATURE = (
    "X5spyd6CFnAG5QnDyHfqoSNICd+BUP4LYMz2Q0JXlb//4Ijpzp+kve2w4NIyqeAuM7jTDX+sNalzA8ESSaHD3A=="
)
PROXY_URL = "https://origin.host.internal.example/foo?param=Value&Pet=dog"
PROXY_INPUT = (
    'proxy_sig=("@method" "@authority" "@path" "content-digest" "content-type" "content-length"'
    ' "forwarded");created=1618884480;keyid="test-key-rsa";alg="rsa-v1_5-sha256"'
    ";expires=1618884540"
)
PROXY_SIGNATURE = (
    "S6ZzPXSdAMOPjN/6KXfXWNO/f7V6cHm7BXYUh3YD/fRad4BCaRZxP+JH+8XY1I6+8Cy+CM5g92iHgxtRPz+MjniOaYmdk"
    "DcnL9cCpXJleXsOckpURl49GwiyUpZ10KHgOEe11sx3G2gxI8S0jnxQB+Pu68U9vVcasqOWAEObtNKKZd8tSFu7LB5YAv0"
    "RAGhB8tmpv7sFnIm9y+7X5kXQfi8NMaZaA8i2ZHwpBdg7a6CMfwnnrtflzvZdXAsD3LH2TwevU+/PBPv0B6NMNk93wUs/"
    "vfJvye+YuI87HU38lZHowtznbLVdp770I6VHR6WfgS9ddzirrswsE1w5o0LV/g=="
)
PROXY_HEADERS = {
    **RFC_HEADERS,
    "Host": "origin.host.internal.example",
    "Date": "Tue, 20 Apr 2021 02:07:56 GMT",
    "Forwarded": "for=192.0.2.123;host=example.com;proto=https",
}


def rfc_signed(input_: str, signature: str, base: dict[str, str] = RFC_HEADERS) -> dict[str, str]:
    label = input_.partition("=")[0]
    return {**base, "Signature-Input": input_, "Signature": f"{label}=:{signature}:"}


def test_rfc9421_b26_ed25519_reproduces_exactly() -> None:
    # B.2.6 does not cover Content-Digest, so it can vouch only for a request
    # without a body; the signature base and signature must match the RFC.
    headers = rfc_signed(B26_INPUT, B26_SIGNATURE)
    parsed = parse_request_signature("POST", RFC_URL, headers, None, now=RFC_NOW, max_skew=SKEW)
    assert parsed.scheme == "rfc9421"
    assert parsed.key_id == "test-key-ed25519"
    assert parsed.algorithm is None
    assert parsed.created == datetime.fromtimestamp(1618884473, UTC)
    assert parsed.signature_base == B26_BASE.encode()
    private = load_private_key(pem("rfc9421-test-key-ed25519.key"))
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert base64.b64encode(private.sign(parsed.signature_base)).decode() == B26_SIGNATURE
    verify_signature(parsed, load_public_key(pem("rfc9421-test-key-ed25519.pem")))


def test_rfc9421_b26_is_refused_for_a_body_it_does_not_digest() -> None:
    headers = rfc_signed(B26_INPUT, B26_SIGNATURE)
    with pytest.raises(SignatureError) as err:
        parse_request_signature("POST", RFC_URL, headers, BODY, now=RFC_NOW, max_skew=SKEW)
    assert err.value.reason == "signature must cover content-digest"


def test_rfc9421_b23_rsa_pss_without_alg_verifies() -> None:
    headers = rfc_signed(B23_INPUT, B23_SIGNATURE)
    parsed = parse_request_signature("POST", RFC_URL, headers, BODY, now=RFC_NOW, max_skew=SKEW)
    assert b'"@query": ?param=Value&Pet=dog\n' in parsed.signature_base
    verify_signature(parsed, load_public_key(pem("rfc9421-test-key-rsa-pss.pem")))


def test_rfc9421_ecdsa_p256_client_signature_verifies() -> None:
    headers = rfc_signed(SIG1_INPUT, SIG1_SIGNATURE)
    parsed = parse_request_signature("POST", RFC_URL, headers, BODY, now=RFC_NOW, max_skew=SKEW)
    verify_signature(parsed, load_public_key(pem("rfc9421-test-key-ecc-p256.pem")))


def test_rfc9421_rsa_v1_5_proxy_signature_verifies() -> None:
    headers = rfc_signed(PROXY_INPUT, PROXY_SIGNATURE, PROXY_HEADERS)
    now = datetime.fromtimestamp(1618884490, UTC)
    parsed = parse_request_signature("POST", PROXY_URL, headers, BODY, now=now, max_skew=SKEW)
    assert parsed.algorithm == "rsa-v1_5-sha256"
    assert parsed.covered[-1] == "forwarded"
    verify_signature(parsed, load_public_key(pem("rfc9421-test-key-rsa.pem")))


def test_rfc9421_expired_signature_is_refused() -> None:
    headers = rfc_signed(PROXY_INPUT, PROXY_SIGNATURE, PROXY_HEADERS)
    now = datetime.fromtimestamp(1618884600, UTC)
    with pytest.raises(SignatureError) as err:
        parse_request_signature("POST", PROXY_URL, headers, BODY, now=now, max_skew=SKEW)
    assert err.value.reason == "signature has expired"


def test_rfc9421_uses_the_first_acceptable_label() -> None:
    # B.2.5's HMAC signature comes first; Shoal has no shared secrets, so it
    # must move on to the Ed25519 one.
    hmac_input = (
        'sig-b25=("date" "@authority" "content-type");created=1618884473'
        ';keyid="test-shared-secret";alg="hmac-sha256"'
    )
    hmac_signature = "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8="
    headers = {
        **RFC_HEADERS,
        "Signature-Input": f"{hmac_input}, {B26_INPUT}",
        "Signature": f"sig-b25=:{hmac_signature}:, sig-b26=:{B26_SIGNATURE}:",
    }
    parsed = parse_request_signature("POST", RFC_URL, headers, None, now=RFC_NOW, max_skew=SKEW)
    assert parsed.key_id == "test-key-ed25519"
    verify_signature(parsed, load_public_key(pem("rfc9421-test-key-ed25519.pem")))


def test_rfc9421_reports_why_the_only_label_was_refused() -> None:
    hmac_input = 'sig=("@method" "@target-uri" "date");keyid="x";alg="hmac-sha256"'
    headers = {**RFC_HEADERS, "Signature-Input": hmac_input, "Signature": "sig=:AAAA:"}
    with pytest.raises(SignatureError) as err:
        parse_request_signature("GET", RFC_URL, headers, None, now=RFC_NOW, max_skew=SKEW)
    assert err.value.reason == "unsupported algorithm 'hmac-sha256'"


def test_rfc9421_minimal_b21_signature_covers_too_little() -> None:
    input_ = 'sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"'
    headers = rfc_signed(input_, "AAAA")
    with pytest.raises(SignatureError) as err:
        parse_request_signature("POST", RFC_URL, headers, BODY, now=RFC_NOW, max_skew=SKEW)
    assert err.value.reason == "signature must cover @method"


def test_rfc9421_content_digest_must_match_body() -> None:
    headers = rfc_signed(B23_INPUT, B23_SIGNATURE)
    with pytest.raises(SignatureError) as err:
        parse_request_signature("POST", RFC_URL, headers, b"{}", now=RFC_NOW, max_skew=SKEW)
    assert err.value.reason == "Digest does not match body"


def test_rfc9421_signature_with_wrong_key_type_is_refused() -> None:
    headers = rfc_signed(PROXY_INPUT, PROXY_SIGNATURE, PROXY_HEADERS)
    now = datetime.fromtimestamp(1618884490, UTC)
    parsed = parse_request_signature("POST", PROXY_URL, headers, BODY, now=now, max_skew=SKEW)
    with pytest.raises(SignatureError) as err:
        verify_signature(parsed, load_public_key(pem("rfc9421-test-key-ed25519.pem")))
    assert err.value.reason == "algorithm does not match key type"


def test_rfc9421_without_signature_header_is_refused() -> None:
    headers = {**RFC_HEADERS, "Signature-Input": B26_INPUT}
    with pytest.raises(SignatureError) as err:
        parse_request_signature("POST", RFC_URL, headers, None, now=RFC_NOW, max_skew=SKEW)
    assert err.value.reason == "missing Signature header"


def test_rfc9421_target_uri_coverage_as_fedify_signs() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    url = "https://shoal.example/inbox"
    input_ = (
        'sig1=("@method" "@target-uri" "@authority" "host" "date" "content-digest")'
        ';created=1618884475;keyid="https://peer.example/users/a#main-key";alg="ed25519"'
    )
    headers = {
        "host": "shoal.example",
        "date": "Tue, 20 Apr 2021 02:07:55 GMT",
        "content-digest": "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
        "signature-input": input_,
    }
    base = "\n".join(
        [
            '"@method": POST',
            f'"@target-uri": {url}',
            '"@authority": shoal.example',
            '"host": shoal.example',
            '"date": Tue, 20 Apr 2021 02:07:55 GMT',
            '"content-digest": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
            f'"@signature-params": {input_.removeprefix("sig1=")}',
        ]
    )
    signature = base64.b64encode(private.sign(base.encode())).decode()
    headers["signature"] = f"sig1=:{signature}:"
    parsed = parse_request_signature("POST", url, headers, BODY, now=RFC_NOW, max_skew=SKEW)
    assert parsed.signature_base == base.encode()
    verify_signature(parsed, private.public_key())


# --- round trips: sign_request, then parse and verify ------------------------

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
KEY_ID = "https://shoal.example/users/alice#main-key"
INBOX = "https://peer.example/inbox"


@pytest.fixture(scope="module")
def rsa_pems() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(scope="module")
def other_public_pem() -> str:
    return generate_rsa_keypair()[1]


def signed_post(private_pem: str, body: bytes = BODY) -> dict[str, str]:
    return sign_request(
        "POST",
        INBOX,
        key_id=KEY_ID,
        private_key=load_private_key(private_pem),
        body=body,
        headers={"Content-Type": "application/activity+json"},
        now=NOW,
    )


def check(
    headers: dict[str, str],
    body: bytes | None = BODY,
    *,
    url: str = INBOX,
    now: datetime = NOW,
) -> ParsedSignature:
    method = "POST" if body is not None else "GET"
    return parse_request_signature(method, url, headers, body, now=now, max_skew=SKEW)


def cavage_signed(
    private_pem: str, headers: dict[str, str], covered: list[str], method: str = "POST"
) -> dict[str, str]:
    """Headers signed by hand, to make requests sign_request would not."""
    text = cavage_signing_string(method, INBOX, headers, covered)
    signature = rsa_sha256(private_pem, text)
    return {
        **headers,
        "Signature": f'keyId="{KEY_ID}",algorithm="rsa-sha256",'
        f'headers="{" ".join(covered)}",signature="{signature}"',
    }


DATE = "Fri, 01 May 2026 12:00:00 GMT"


def test_signed_get_round_trips(rsa_pems: tuple[str, str]) -> None:
    url = "https://peer.example/users/bob?page=true"
    headers = sign_request(
        "GET",
        url,
        key_id=KEY_ID,
        private_key=load_private_key(rsa_pems[0]),
        headers={"Accept": "application/activity+json"},
        now=NOW,
    )
    assert headers["Accept"] == "application/activity+json"
    assert headers["Host"] == "peer.example"
    assert headers["Date"] == "Fri, 01 May 2026 12:00:00 GMT"
    assert "Digest" not in headers
    assert 'headers="(request-target) host date"' in headers["Signature"]
    parsed = check(headers, None, url=url)
    assert parsed.signature_base.startswith(b"(request-target): get /users/bob?page=true\n")
    verify_signature(parsed, load_public_key(rsa_pems[1]))


def test_signed_post_round_trips_as_mastodon_expects(rsa_pems: tuple[str, str]) -> None:
    headers = signed_post(rsa_pems[0])
    assert headers["Digest"] == digest_header(BODY)
    assert headers["Signature"].startswith(f'keyId="{KEY_ID}",algorithm="rsa-sha256",')
    assert 'headers="(request-target) host date digest content-type"' in headers["Signature"]
    parsed = check(headers)
    assert parsed == ParsedSignature(
        scheme="cavage",
        key_id=KEY_ID,
        algorithm="rsa-sha256",
        covered=("(request-target)", "host", "date", "digest", "content-type"),
        signature_base=parsed.signature_base,
        signature=parsed.signature,
        created=NOW,
    )
    verify_signature(parsed, load_public_key(rsa_pems[1]))


def test_sign_request_host_keeps_only_a_non_default_port(rsa_pems: tuple[str, str]) -> None:
    key = load_private_key(rsa_pems[0])
    assert sign_request("GET", "https://a.example:443/x", key_id="k", private_key=key)["Host"] == (
        "a.example"
    )
    headers = sign_request(
        "GET", "http://127.0.0.1:8001/x", key_id="k", private_key=key, headers={"host": "stale"}
    )
    assert headers["Host"] == "127.0.0.1:8001"
    assert "host" not in headers
    parsed = check(headers, None, url="http://127.0.0.1:8001/x", now=datetime.now(UTC))
    verify_signature(parsed, load_public_key(rsa_pems[1]))


def test_sign_request_refuses_non_rsa_keys() -> None:
    with pytest.raises(TypeError):
        sign_request("GET", INBOX, key_id="k", private_key=ed25519.Ed25519PrivateKey.generate())


def test_tampered_body_is_refused(rsa_pems: tuple[str, str]) -> None:
    with pytest.raises(SignatureError) as err:
        check(signed_post(rsa_pems[0]), b'{"hello": "mallory"}')
    assert err.value.reason == "Digest does not match body"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Host", "evil.example"),
        ("Date", "Fri, 01 May 2026 12:00:01 GMT"),
        ("Content-Type", "text/plain"),
    ],
)
def test_tampered_signed_header_does_not_verify(
    rsa_pems: tuple[str, str], name: str, value: str
) -> None:
    headers = {**signed_post(rsa_pems[0]), name: value}
    with pytest.raises(SignatureError) as err:
        verify_signature(check(headers), load_public_key(rsa_pems[1]))
    assert err.value.reason == "signature does not verify"


def test_replay_to_another_inbox_does_not_verify(rsa_pems: tuple[str, str]) -> None:
    parsed = check(signed_post(rsa_pems[0]), url="https://peer.example/users/bob/inbox")
    with pytest.raises(SignatureError) as err:
        verify_signature(parsed, load_public_key(rsa_pems[1]))
    assert err.value.reason == "signature does not verify"


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_date_far_from_now_is_refused(rsa_pems: tuple[str, str], offset: timedelta) -> None:
    with pytest.raises(SignatureError) as err:
        check(signed_post(rsa_pems[0]), now=NOW + offset)
    assert err.value.reason == "Date is too far from now"


def test_date_within_skew_is_accepted(rsa_pems: tuple[str, str]) -> None:
    verify_signature(
        check(signed_post(rsa_pems[0]), now=NOW + timedelta(minutes=4)),
        load_public_key(rsa_pems[1]),
    )


def test_wrong_key_does_not_verify(rsa_pems: tuple[str, str], other_public_pem: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify_signature(check(signed_post(rsa_pems[0])), load_public_key(other_public_pem))
    assert err.value.reason == "signature does not verify"


def test_missing_signature_is_refused() -> None:
    headers = {"Host": "peer.example", "Date": "Fri, 01 May 2026 12:00:00 GMT"}
    with pytest.raises(SignatureError) as err:
        check(headers, None)
    assert err.value.reason == "missing Signature header"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ('keyId="k",headers="(request-target) host date"', "malformed Signature header"),
        ('keyId="k" signature="AAAA"', "malformed Signature header"),
        ('keyId="k",headers="(request-target) host date",signature="no!"', "malformed signature"),
    ],
)
def test_malformed_signature_header_is_refused(signature: str, reason: str) -> None:
    headers = {"Host": "peer.example", "Date": DATE, "Signature": signature}
    with pytest.raises(SignatureError) as err:
        check(headers, None)
    assert err.value.reason == reason


def test_unsupported_algorithm_is_refused(rsa_pems: tuple[str, str]) -> None:
    headers = signed_post(rsa_pems[0])
    headers["Signature"] = headers["Signature"].replace("rsa-sha256", "hmac-sha256")
    with pytest.raises(SignatureError) as err:
        check(headers)
    assert err.value.reason == "unsupported algorithm 'hmac-sha256'"


def test_post_without_digest_coverage_is_refused(rsa_pems: tuple[str, str]) -> None:
    headers = cavage_signed(
        rsa_pems[0], {"Host": "peer.example", "Date": DATE}, ["(request-target)", "host", "date"]
    )
    with pytest.raises(SignatureError) as err:
        check(headers)
    assert err.value.reason == "signature must cover digest"


def test_signature_not_covering_host_is_refused(rsa_pems: tuple[str, str]) -> None:
    headers = cavage_signed(
        rsa_pems[0], {"Host": "peer.example", "Date": DATE}, ["(request-target)", "date"], "GET"
    )
    with pytest.raises(SignatureError) as err:
        check(headers, None)
    assert err.value.reason == "signature must cover host"


def hs2019_headers(
    sign: Callable[[bytes], bytes], covered: list[str], body: bytes | None
) -> dict[str, str]:
    headers = {"Host": "peer.example", "Date": DATE}
    if body is not None:
        headers["Digest"] = digest_header(body)
    method = "POST" if body is not None else "GET"
    text = cavage_signing_string(method, INBOX, headers, covered, created=1777636800)
    signature = base64.b64encode(sign(text.encode())).decode()
    headers["Signature"] = (
        f'keyId="{KEY_ID}",algorithm="hs2019",created=1777636800,'
        f'headers="{" ".join(covered)}",signature="{signature}"'
    )
    return headers


def test_hs2019_with_rsa_key_verifies(rsa_pems: tuple[str, str]) -> None:
    private = load_private_key(rsa_pems[0])
    assert isinstance(private, rsa.RSAPrivateKey)
    covered = ["(request-target)", "host", "date", "digest"]
    headers = hs2019_headers(
        lambda data: private.sign(data, padding.PKCS1v15(), hashes.SHA256()), covered, BODY
    )
    parsed = check(headers)
    assert parsed.algorithm == "hs2019"
    verify_signature(parsed, load_public_key(rsa_pems[1]))


def test_hs2019_with_ed25519_key_and_created_verifies() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    covered = ["(request-target)", "(created)", "host", "digest"]
    headers = hs2019_headers(private.sign, covered, BODY)
    parsed = check(headers)
    assert parsed.created == NOW
    assert parsed.signature_base.splitlines()[1] == b"(created): 1777636800"
    verify_signature(parsed, private.public_key())


def test_hs2019_created_far_from_now_is_refused() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    headers = hs2019_headers(private.sign, ["(request-target)", "(created)", "host"], None)
    with pytest.raises(SignatureError) as err:
        check(headers, None, now=NOW + timedelta(hours=1))
    assert err.value.reason == "Date is too far from now"


def test_declared_rsa_sha256_with_ed25519_key_is_refused(rsa_pems: tuple[str, str]) -> None:
    parsed = check(signed_post(rsa_pems[0]))
    with pytest.raises(SignatureError) as err:
        verify_signature(parsed, ed25519.Ed25519PrivateKey.generate().public_key())
    assert err.value.reason == "algorithm does not match key type"


def test_header_names_in_odd_case_verify(rsa_pems: tuple[str, str]) -> None:
    headers = {
        name.swapcase() if i % 2 else name.upper(): value
        for i, (name, value) in enumerate(signed_post(rsa_pems[0]).items())
    }
    assert "SIGNATURE" in headers or "sIGNATURE" in headers
    verify_signature(check(headers), load_public_key(rsa_pems[1]))


def test_authorization_signature_scheme_is_accepted(rsa_pems: tuple[str, str]) -> None:
    headers = signed_post(rsa_pems[0])
    headers["Authorization"] = "Signature " + headers.pop("Signature")
    verify_signature(check(headers), load_public_key(rsa_pems[1]))


def test_digest_accepts_lowercase_and_several_values(rsa_pems: tuple[str, str]) -> None:
    sha256 = digest_header(BODY).removeprefix("SHA-256=")
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    covered = ["(request-target)", "host", "date", "digest"]
    headers = {"Host": "peer.example", "Date": DATE}
    headers["Digest"] = f"sha-256={sha256}, SHA-512={sha512}, MD5=xyz"
    verify_signature(
        check(cavage_signed(rsa_pems[0], headers, covered)), load_public_key(rsa_pems[1])
    )
    # Every digest we can compute must match, not just one of them.
    headers["Digest"] = f"sha-256={sha256}, SHA-512={sha256}"
    with pytest.raises(SignatureError) as err:
        check(cavage_signed(rsa_pems[0], headers, covered))
    assert err.value.reason == "Digest does not match body"


def test_digest_with_no_known_algorithm_is_refused(rsa_pems: tuple[str, str]) -> None:
    covered = ["(request-target)", "host", "date", "digest"]
    headers = {"Host": "peer.example", "Date": DATE, "Digest": "MD5=xyz"}
    with pytest.raises(SignatureError) as err:
        check(cavage_signed(rsa_pems[0], headers, covered))
    assert err.value.reason == "unsupported Digest algorithm"


def test_repeated_header_fields_are_joined(rsa_pems: tuple[str, str]) -> None:
    # A Mapping that yields the same field twice, as starlette's Headers does.
    class Repeated(dict[str, str]):
        def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
            return [*super().items(), ("x-extra", "two")]

    covered = ["(request-target)", "host", "date", "x-extra"]
    joined = {"Host": "peer.example", "Date": DATE, "X-Extra": "one, two"}
    signed = cavage_signed(rsa_pems[0], joined, covered, "GET")
    headers = Repeated({**signed, "X-Extra": "one"})
    verify_signature(check(headers, None), load_public_key(rsa_pems[1]))


# --- RFC 8941 structured fields, as Signature-Input uses them -----------------


def test_signature_params_line_is_the_canonical_serialisation() -> None:
    # Extra spaces and a non-canonical decimal are normalised, as the
    # verifier must rebuild `@signature-params` rather than copy the header.
    member = parse_dictionary(
        'sig=( "@method"  "@path" );created=1;keyid="a\\"b\\\\c";x=?0;y=1.50;t=tok/en:x;b=:AAE=:'
    )["sig"]
    assert isinstance(member, InnerList)
    assert serialize_inner_list(member) == (
        '("@method" "@path");created=1;keyid="a\\"b\\\\c";x=?0;y=1.5;t=tok/en:x;b=:AAE=:'
    )


@pytest.mark.parametrize(
    "text",
    [
        'a=("x"',
        "a=1,",
        'a="\\x"',
        "A=1",
        "a=?2",
        "a=:abc",
        "a=1234567890123456",
        'a="é"',
        "a=1 b=2",
    ],
)
def test_malformed_structured_fields_are_refused(text: str) -> None:
    with pytest.raises(Rfc9421Error):
        parse_dictionary(text)
    headers = {**RFC_HEADERS, "Signature-Input": text, "Signature": "a=:AAAA:"}
    with pytest.raises(SignatureError) as err:
        parse_request_signature("GET", RFC_URL, headers, None, now=RFC_NOW, max_skew=SKEW)
    assert err.value.reason == "malformed Signature or Signature-Input header"
