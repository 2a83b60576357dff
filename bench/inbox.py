"""(c) Verified, durably queued inbox POSTs per second, against a bare Starlette endpoint.

A real ``shoal serve`` (no workers: activities are verified and queued, not applied) and
a bare Starlette JSON endpoint (``bench.bare``) run as child processes with the same
uvicorn settings. The sender's actor and key are stored in Shoal's database beforehand,
so no key is fetched; every request (a Create(Note) with its own id, HTTP-signed the way
Mastodon signs) is built and signed before the clock starts. 32 concurrent senders on
keep-alive connections then send the same requests to both servers, in alternating rounds
so that a noisy neighbour hurts both alike.

The senders use ``bench.http1``, the lean client the timeline benchmark uses, not aiohttp.
Real senders are other servers, on other machines; on this one the load generator shares
two cores with the server and its database. aiohttp spent 0.10-0.14 ms of CPU per POST,
about as much as Shoal itself, so the figure said as much about the client's share of
the CPU as about the server. The lean client spends about 0.03 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from bench import common, cpu
from bench.common import (
    TIMES,
    VENV_BIN,
    Child,
    Cluster,
    Figure,
    free_port,
    wait_for_port,
)
from bench.http1 import Http1, HttpError
from federation import keys, vocab
from federation.signatures import sign_request
from storage import actors
from storage.pool import create_pool

SENDER_DOMAIN = "sender.invalid"  # reserved TLD: nothing can ever be fetched from it
SENDER = f"http://{SENDER_DOMAIN}/users/bench"
CONCURRENCY = 32
PATH = "/inbox"
TARGET_RATIO = 0.45
TARGET_P99_MS = 20.0

Request = tuple[bytes, bytes]  # body, header lines other than Host and Content-Length


@dataclass(frozen=True, slots=True)
class Plan:
    # Many short alternating rounds rather than a few long ones: a noisy neighbour's
    # bursts then fall on both servers alike (with 3 rounds of 1,333 requests, a run's
    # ratio moved by about 0.03 either way from the same code).
    requests: int = 8000  # measured, per server
    warmup: int = 300  # per server
    rounds: int = 8  # measured requests are split into this many alternating rounds
    timeout: float = 150.0  # seconds all the requests may take before we give up


@dataclass(slots=True)
class Run(common.Run):
    """Requests sent to one server, possibly over several rounds."""

    statuses: Counter[int] = field(default_factory=Counter)


def _activity(n: int) -> bytes:
    published = datetime.now(UTC)
    note = vocab.build_note(
        id=f"{SENDER}/statuses/{n}",
        attributed_to=SENDER,
        content_html=f"<p>Benchmark post number {n}: the co-op opens at nine on Saturday, "
        "bring your own bags. Volunteers for the morning shift are welcome.</p>",
        published=published,
        to=[vocab.PUBLIC],
        cc=[f"{SENDER}/followers"],
        url=f"http://{SENDER_DOMAIN}/@bench/{n}",
    )
    create = vocab.build_create(SENDER, note, id=f"{SENDER}/statuses/{n}/activity")
    return orjson.dumps(create)


def presign(url: str, private_pem: str, count: int, start: int = 0) -> list[Request]:
    """``count`` distinct signed Create(Note) POSTs; RSA signing releases the GIL, so the
    work is spread over threads."""
    private_key = keys.load_private_key(private_pem)
    key_id = f"{SENDER}#main-key"

    def one(n: int) -> Request:
        body = _activity(n)
        headers = sign_request(
            "POST",
            url,
            key_id=key_id,
            private_key=private_key,
            body=body,
            headers={"Content-Type": "application/activity+json"},
        )
        lines = b"".join(
            f"{name}: {value}\r\n".encode()
            for name, value in headers.items()
            if name.lower() not in ("host", "content-length")
        )
        return body, lines

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(one, range(start, start + count), chunksize=64))


async def send_all(conns: Sequence[Http1], path: str, batch: Sequence[Request], run: Run) -> None:
    """Send ``batch`` over ``conns``, one sender per connection; adds to ``run``. A sender
    whose connection breaks stops (the rest carry on, and the figure is marked invalid)."""
    pending = iter(batch)

    async def sender(conn: Http1) -> None:
        for body, headers in pending:
            started = time.perf_counter()
            try:
                status, reply = await conn.request(b"POST", path, headers, body)
            except HttpError as exc:
                run.errors += 1
                run.problem(f"{type(exc).__name__}: {exc}")
                return
            run.latencies.append(time.perf_counter() - started)
            run.statuses[status] += 1
            if status != 202:
                run.problem(f"HTTP {status}: {reply[:200].decode(errors='replace')}")

    started = time.perf_counter()
    await asyncio.gather(*(sender(conn) for conn in conns))
    run.seconds += time.perf_counter() - started


@contextlib.asynccontextmanager
async def _connections(port: int) -> AsyncIterator[list[Http1]]:
    """``CONCURRENCY`` keep-alive connections to 127.0.0.1:``port``."""
    conns = [await Http1.open("127.0.0.1", port) for _ in range(CONCURRENCY)]
    try:
        yield conns
    finally:
        for conn in conns:
            conn.close()


async def _store_sender(db_url: str, public_pem: str) -> None:
    pool = await create_pool(db_url, max_size=1)
    try:
        async with pool.acquire() as con, con.transaction():
            await actors.upsert_remote(
                con,
                {
                    "uri": SENDER,
                    "type": "Person",
                    "username": "bench",
                    "domain": SENDER_DOMAIN,
                    "display_name": "Bench",
                    "summary": "",
                    "url": f"http://{SENDER_DOMAIN}/@bench",
                    "inbox_uri": f"{SENDER}/inbox",
                    "shared_inbox_uri": f"http://{SENDER_DOMAIN}/inbox",
                    "outbox_uri": f"{SENDER}/outbox",
                    "followers_uri": f"{SENDER}/followers",
                    "following_uri": f"{SENDER}/following",
                    "featured_uri": None,
                    "icon_url": None,
                    "image_url": None,
                    "manually_approves_followers": False,
                    "discoverable": True,
                    "fields": [],
                    "public_key_id": f"{SENDER}#main-key",
                    "public_key_pem": public_pem,
                    "raw": None,
                    "published_at": None,
                    "deleted_at": None,
                },
            )
    finally:
        await pool.close()


async def _queued_items(db_url: str) -> int:
    pool = await create_pool(db_url, max_size=1)
    try:
        return int(await pool.fetchval("SELECT count(*) FROM inbox_items"))
    finally:
        await pool.close()


async def run(cluster: Cluster, plan: Plan = Plan()) -> list[Figure]:
    async with cluster.database("inbox") as db_url:
        private_pem, public_pem = await asyncio.to_thread(keys.generate_rsa_keypair)
        await _store_sender(db_url, public_pem)
        shoal_port, bare_port = free_port(), free_port()
        shoal_url = f"http://127.0.0.1:{shoal_port}/inbox"
        # Signed while the servers start.
        signing = asyncio.create_task(
            asyncio.to_thread(presign, shoal_url, private_pem, plan.warmup + plan.requests)
        )
        children: list[Child] = []
        try:
            shoal = await Child.start("shoal", _shoal_command(db_url, shoal_port))
            children.append(shoal)
            bare = await Child.start(
                "bare", [str(VENV_BIN / "python"), "-m", "bench.bare", str(bare_port)]
            )
            children.append(bare)
            await wait_for_port(shoal, shoal_port)
            await wait_for_port(bare, bare_port)
            requests = await signing
            shoal_readings = {
                "server": cpu.process(shoal.process.pid),
                "client": cpu.this_process(),
            }
            if cluster.pgdata is not None:
                shoal_readings["postgres"] = cpu.postgres(cluster.pgdata)
            shoal_meter = cpu.Meter(shoal_readings, others=cluster.others)
            shoal_target = Target(shoal_port, requests, shoal_meter)
            bare_target = Target(
                bare_port,
                requests,
                cpu.Meter({"server": cpu.process(bare.process.pid), "client": cpu.this_process()}),
            )
            await _measure(plan, shoal_target, bare_target)
            for child in children:
                child.check_alive()
            queued = await _queued_items(db_url)
        finally:
            signing.cancel()
            with contextlib.suppress(BaseException):
                await signing
            for child in reversed(children):
                await child.stop()
    return _figures(plan, shoal_target, bare_target, queued)


def _shoal_command(db_url: str, port: int) -> list[str]:
    return [
        str(VENV_BIN / "shoal"),
        "serve",
        "--dev",
        "--no-workers",  # verified and queued, not applied
        f"--database-url={db_url}",
        f"--domain=127.0.0.1:{port}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--log-level=warning",
    ]


@dataclass(slots=True)
class Target:
    port: int
    requests: Sequence[Request]
    meter: cpu.Meter
    run: Run = field(default_factory=Run)
    round_rates: list[float] = field(default_factory=list)

    async def send(self, conns: Sequence[Http1], lo: int, hi: int) -> None:
        count, seconds = self.run.count, self.run.seconds
        self.meter.start()
        try:
            await send_all(conns, PATH, self.requests[lo:hi], self.run)
        finally:
            self.meter.stop()
        elapsed = self.run.seconds - seconds
        self.round_rates.append((self.run.count - count) / elapsed if elapsed else 0.0)


async def _measure(plan: Plan, shoal: Target, bare: Target) -> None:
    try:
        async with asyncio.timeout(plan.timeout):
            await _measure_rounds(plan, shoal, bare)
    except TimeoutError:
        raise RuntimeError(f"the requests took longer than {plan.timeout:.0f} s") from None


async def _measure_rounds(plan: Plan, shoal: Target, bare: Target) -> None:
    async with _connections(shoal.port) as shoal_conns, _connections(bare.port) as bare_conns:
        warm = plan.warmup
        await send_all(bare_conns, PATH, bare.requests[:warm], Run())
        shoal_warm = Run()
        await send_all(shoal_conns, PATH, shoal.requests[:warm], shoal_warm)
        if shoal_warm.statuses[202] != warm:
            raise RuntimeError(f"Shoal refused the warm-up requests: {shoal_warm.first_problem}")
        step = plan.requests // plan.rounds
        for r in range(plan.rounds):
            lo = warm + r * step
            hi = warm + plan.requests if r == plan.rounds - 1 else lo + step
            await bare.send(bare_conns, lo, hi)
            await shoal.send(shoal_conns, lo, hi)


def _figures(plan: Plan, shoal_target: Target, bare_target: Target, queued: int) -> list[Figure]:
    shoal, bare = shoal_target.run, bare_target.run
    ratio = shoal.rate / bare.rate if bare.rate else 0.0
    expected = plan.warmup + plan.requests
    valid = (
        shoal.statuses[202] == plan.requests
        and bare.statuses[202] == plan.requests
        and queued == expected
    )
    rate = Figure(
        "inbox",
        f"{shoal.rate:,.0f} verified + queued POSTs/s = {ratio:.2f} {TIMES} bare Starlette "
        f"({bare.rate:,.0f} POSTs/s)",
        met=ratio >= TARGET_RATIO,
        target=f"≥ {TARGET_RATIO}",
        valid=valid,
    )
    p99 = shoal.ms(0.99)
    latency = Figure(
        "inbox p99",
        f"{p99:.1f} ms at {CONCURRENCY} concurrent senders "
        f"(p50 {shoal.ms(0.5):.1f} ms; bare Starlette p50 {bare.ms(0.5):.1f} ms, "
        f"p99 {bare.ms(0.99):.1f} ms)",
        met=p99 < TARGET_P99_MS,
        target=f"< {TARGET_P99_MS:.0f} ms",
        valid=valid,
    )
    rate.notes.append(
        f"{plan.requests} signed Create(Note) POSTs per server after {plan.warmup} warm-up, "
        f"{plan.rounds} alternating rounds (ratio by round: "
        + ", ".join(
            f"{s / b:.2f}" if b else "n/a"
            for s, b in zip(shoal_target.round_rates, bare_target.round_rates, strict=True)
        )
        + "); Shoal answered "
        + ", ".join(f"{n}{TIMES} {s}" for s, n in sorted(shoal.statuses.items()))
        + f"; inbox_items rows: {queued}/{expected}"
    )
    s_meter, b_meter = shoal_target.meter, bare_target.meter
    n_shoal, n_bare = shoal.count, bare.count
    rate.notes.append(
        f"CPU per POST: Shoal {cpu.ms(s_meter.per('server', n_shoal))} + PostgreSQL "
        f"{cpu.ms(s_meter.per('postgres', n_shoal))}; bare Starlette "
        f"{cpu.ms(b_meter.per('server', n_bare))}; load generator "
        f"{cpu.ms(s_meter.per('client', n_shoal))} / {cpu.ms(b_meter.per('client', n_bare))}; "
        f"while Shoal ran: {s_meter.load()}"
    )
    for name, r in (("Shoal", shoal), ("bare", bare)):
        if r.errors or r.first_problem:
            rate.notes.append(
                f"{name}: {r.errors} transport errors; first problem: {r.first_problem}"
            )
    return [rate, latency]
