"""(a) Raw RSA-2048 signatures per second on one core: the ceiling for signed delivery.

Every outgoing delivery costs one RSA-2048 PKCS#1 v1.5 / SHA-256 signature (draft-cavage
HTTP Signatures), so this is what the delivery figure is divided by.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.common import Figure

# About the size of a draft-cavage signing string for an inbox POST.
_MESSAGE = (
    b"(request-target): post /users/member17/inbox\nhost: social.example.org\n"
    b"date: Tue, 07 Jan 2025 10:00:00 GMT\n"
    b"digest: SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
)


@dataclass(frozen=True, slots=True)
class Result:
    rate: float  # signatures per second of wall-clock time, in the best window
    mean_rate: float  # over the whole measurement
    cpu_ms: float  # CPU per signature: what a signature costs whatever the neighbours do


def measure(seconds: float = 2.0, window: float = 0.25) -> Result:
    """Sign back to back on this thread for about ``seconds``, in windows of ``window``.

    The best window is the figure: on a shared machine it is the one least disturbed by
    other processes, which is what "the machine's raw signing rate" means.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pad, digest = padding.PKCS1v15(), hashes.SHA256()
    for _ in range(20):  # warm up
        key.sign(_MESSAGE, pad, digest)
    best = 0.0
    count = 0
    cpu = time.thread_time()
    start = time.perf_counter()
    while True:
        window_start, n = time.perf_counter(), 0
        while True:
            for _ in range(10):
                key.sign(_MESSAGE, pad, digest)
            n += 10
            now = time.perf_counter()
            if now - window_start >= window:
                break
        count += n
        best = max(best, n / (now - window_start))
        if now - start >= seconds:
            cpu_ms = (time.thread_time() - cpu) * 1000 / count
            return Result(rate=best, mean_rate=count / (now - start), cpu_ms=cpu_ms)


def run(seconds: float = 2.0) -> tuple[Result, Figure]:
    result = measure(seconds)
    figure = Figure(
        "rsa",
        f"{result.rate:,.0f} RSA-2048 signatures/s on one core (PKCS#1 v1.5, SHA-256; best "
        f"0.25 s window of {seconds:.0f} s, mean {result.mean_rate:,.0f}/s; "
        f"{result.cpu_ms:.2f} ms of CPU each)",
    )
    return result, figure
