"""Signers for our local actors: what the HTTP client calls to sign a request."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from federation import keys, signatures
from federation.client import Signer


def signer(key_id: str, private_key_pem: str) -> Signer:
    """A signer for one actor's key; the parsed key is cached per process."""
    private_key = keys.load_private_key(private_key_pem)

    def sign(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> dict[str, str]:
        return signatures.sign_request(
            method, url, key_id=key_id, private_key=private_key, body=body, headers=headers
        )

    return sign


@functools.lru_cache(maxsize=1024)
def cached_signer(key_id: str, private_key_pem: str) -> Signer:
    return signer(key_id, private_key_pem)
