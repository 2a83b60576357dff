"""Delivering our activities: enqueueing them durably, and the worker that sends them.

Publishing stores the activity and one queue row per distinct inbox in the caller's
transaction (``enqueue_activity``); a ``NOTIFY`` at commit wakes the workers. A worker
claims due rows in batches (``storage.deliveries.claim_due``, which leases them), signs
and POSTs each with the process's one HTTP client, and records every result in batches.

Failures: 5xx, 429, 408, time-outs and connection errors are retried after ``backoff``
(or the peer's ``Retry-After`` when longer, capped at a day), up to ``MAX_ATTEMPTS``
tries; other answers are final. Each failure counts a day against the host
(``storage.domains``); a host unavailable after 7 distinct days is skipped.

Delivery is at-least-once: a worker killed between sending and recording leaves a row
that is sent again once its lease ends. Receivers deduplicate by activity id, as
ActivityPub servers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from core.services import Services
from core.signing import cached_signer
from federation.client import AP_CONTENT_TYPE, BlockedDestination, FetchError, Signer
from storage import activities, deliveries, domains
from storage.activities import ActivityRow
from storage.deliveries import DeliveryJob, Outcome
from storage.pool import Conn, PoolError

log = logging.getLogger("shoal.delivery")

MAX_ATTEMPTS: Final = 16
RETRY_AFTER_CAP: Final = 86_400.0  # a peer cannot push a retry further out than a day
HOST_UNAVAILABLE: Final = "host unavailable"
# 408 is a time-out reported by the peer; like Mastodon, retried.
_RETRY_STATUSES: Final = frozenset({408, 429})
_CLAIM_PER_SLOT: Final = 4  # rows claimed per unit of delivery_concurrency
_FLUSH_EVERY: Final = 0.05  # seconds a result may wait to be written with others
_POLL_MAX: Final = 1.0  # seconds between looks at the queue when nothing wakes us
_MIN_IDLE: Final = 0.02  # due rows another worker holds locked must not make us spin
_DB_RETRY: Final = 1.0
_STOP_GRACE: Final = 2.0  # seconds in-flight requests get to finish on shutdown


def backoff(attempt: int, *, scale: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    ``attempt**4 + 15`` plus up to ``30 * (attempt + 1)`` seconds of jitter, so that the
    rows of one fan-out do not all come back at the same instant. Unscaled, the 15 waits
    between ``MAX_ATTEMPTS`` = 16 tries add up to at least 178,537 s (2.07 days) before
    jitter, and at most 2.12 days with it.
    """
    uniform = rng.uniform if rng is not None else random.uniform
    return (attempt**4 + 15 + uniform(0.0, 30.0 * (attempt + 1))) * scale


def _object_uri(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


async def enqueue_activity(
    con: Conn,
    *,
    actor_id: int,
    activity: Mapping[str, Any],
    inboxes: Iterable[str],
    object_uri: str | None = None,
    activity_id: int | None = None,
) -> ActivityRow:
    """Store ``activity`` (sent by ``actor_id``) and queue it for each distinct inbox.

    Runs in the caller's transaction (or its own): the activity and its deliveries exist
    together or not at all, and the workers are woken when it commits. Inbox URLs that
    are not http(s) are dropped with a warning rather than failing the publication.
    """
    uri, kind = activity.get("id"), activity.get("type")
    if not isinstance(uri, str) or not isinstance(kind, str):
        raise ValueError("an activity needs a string id and type")
    if object_uri is None:
        object_uri = _object_uri(activity.get("object"))
    targets: list[str] = []
    for inbox in inboxes:
        try:
            deliveries.inbox_domain(inbox)
        except ValueError:
            log.warning("not delivering %s to invalid inbox %r", uri, inbox)
            continue
        targets.append(inbox)
    async with con.transaction():
        row = await activities.insert(
            con,
            id=activity_id,
            uri=uri,
            actor_id=actor_id,
            type=kind,
            object_uri=object_uri,
            payload=activity,
        )
        if await deliveries.enqueue(con, row.id, targets):
            await deliveries.notify(con)
    return row


async def run_worker(services: Services) -> None:
    """Deliver queued activities until ``services.stopping`` is set."""
    await _Worker(services).run()


class _TooLate(Exception):
    """Raised from the signer: the request could outlast the row's lease."""


@dataclass(frozen=True, slots=True)
class _Result:
    outcome: Outcome
    domain: str
    reached: bool | None  # True: the host took it; False: a failure to count; None: neither


class _Worker:
    """One delivery loop: keeps up to ``delivery_concurrency`` requests in flight.

    Claimed rows wait in a queue per host until a slot is free and their host has fewer
    than ``per_host`` requests in flight, so one slow host cannot take every slot. A host
    with a full wave already waiting is left out of the next claim, so its backlog does
    not crowd out the rows of other hosts. A row that could not start early enough to
    finish within its lease is handed back.
    """

    def __init__(self, services: Services) -> None:
        settings = services.settings
        self.services = services
        self.loop = asyncio.get_running_loop()
        self.concurrency = settings.delivery_concurrency
        self.batch = _CLAIM_PER_SLOT * settings.delivery_concurrency
        # One host never takes more than half the slots, so a slow one cannot starve the rest.
        self.per_host = min(
            services.http.config.per_host_concurrency, max(1, self.concurrency // 2)
        )
        timeout = services.http.config.total_timeout
        self.start_within = max(settings.queue_lease - timeout, settings.queue_lease / 2)
        self.signal = asyncio.Event()  # something happened: a send ended, a notify, stop
        self.woken = True  # look at the queue now rather than after the poll interval
        self.pending: dict[str, deque[tuple[float, DeliveryJob]]] = {}  # (claimed at, job)
        self.left_out: set[str] = set()  # hosts the last short claim did not ask for
        self.in_flight: dict[asyncio.Task[_Result], str] = {}  # task -> domain
        self.per_domain: Counter[str] = Counter()
        self.finished: list[asyncio.Task[_Result]] = []
        self.results: list[_Result] = []
        self.idle_until = 0.0  # the queue was drained: next look at this loop time
        self.db_retry_at = 0.0
        self.listen_retry_at = 0.0
        self.last_flush = self.loop.time()
        # Our own threads (started on first use), so that a fan-out never queues behind,
        # or delays, other work sent to the default executor, like password hashing.
        self.signing = ThreadPoolExecutor(
            min(self.concurrency, os.cpu_count() or 1), thread_name_prefix="shoal-sign"
        )

    def _wake(self) -> None:
        self.woken = True
        self.signal.set()

    async def run(self) -> None:
        stopping = self.services.stopping
        stop_waiter = asyncio.ensure_future(stopping.wait())
        stop_waiter.add_done_callback(lambda _: self.signal.set())
        listener = deliveries.Listener(self.services.pool, self._wake)
        try:
            while not stopping.is_set():
                await self._ensure_listener(listener)
                self.signal.clear()  # whatever happens from here on wakes the wait below
                self._collect()
                self._release_stale()
                self._start_sends()
                if self._should_claim():
                    await self._claim()
                elif self._should_flush():
                    await self._flush()
                else:
                    await self._wait()
            await self._shutdown()
        finally:
            stop_waiter.cancel()
            for task in self.in_flight:
                task.cancel()  # abandoned rows stay leased and come due again
            await asyncio.gather(*self.in_flight, return_exceptions=True)
            self.signing.shutdown(wait=False, cancel_futures=True)
            await listener.close()

    async def _ensure_listener(self, listener: deliveries.Listener) -> None:
        if self.loop.time() < self.listen_retry_at:
            return
        try:
            if await listener.ensure():
                self.woken = True  # notifications sent while not listening were missed
        except PoolError as exc:
            log.warning("cannot listen for new deliveries (%s); polling", exc)
            self.listen_retry_at = self.loop.time() + 5.0

    def _collect(self) -> None:
        for task in self.finished:
            domain = self.in_flight.pop(task)
            self.per_domain[domain] -= 1
            if not self.per_domain[domain]:
                del self.per_domain[domain]
            if not task.cancelled():
                self.results.append(task.result())
        self.finished.clear()

    def _release_stale(self) -> None:
        deadline = self.loop.time() - self.start_within
        for domain, queue in list(self.pending.items()):
            while queue and queue[0][0] < deadline:
                job = queue.popleft()[1]
                self.results.append(_Result(Outcome.release(job), job.domain, None))
            if not queue:
                del self.pending[domain]

    def _start_sends(self) -> None:
        for domain, queue in list(self.pending.items()):
            room = min(
                self.per_host - self.per_domain[domain], self.concurrency - len(self.in_flight)
            )
            for _ in range(room):
                claimed_at, job = queue.popleft()
                task = asyncio.create_task(self._send(job, claimed_at + self.start_within))
                self.in_flight[task] = domain
                self.per_domain[domain] += 1
                task.add_done_callback(self._on_done)
                if not queue:
                    del self.pending[domain]
                    break
            if domain in self.left_out and len(queue) < self.per_host:
                self.left_out.discard(domain)
                self.woken = True  # its next wave can be claimed now
            if len(self.in_flight) >= self.concurrency:
                break

    def _on_done(self, task: asyncio.Task[_Result]) -> None:
        self.finished.append(task)
        self.signal.set()

    def _wants_rows(self) -> bool:
        # Fewer rows than slots could go out in the next wave, host limits considered.
        ready = sum(min(len(queue), self.per_host) for queue in self.pending.values())
        return ready < self.concurrency

    def _should_claim(self) -> bool:
        now = self.loop.time()
        if now < self.db_retry_at or not self._wants_rows():
            return False
        return self.woken or now >= self.idle_until

    def _should_flush(self) -> bool:
        if not self.results or self.loop.time() < self.db_retry_at:
            return False
        return (
            len(self.results) >= self.concurrency
            or not self.in_flight
            or self.loop.time() - self.last_flush >= _FLUSH_EVERY
        )

    async def _wait(self) -> None:
        # Every time below is in the future, else the loop would have acted on it already.
        wake_at = [self.loop.time() + _POLL_MAX]
        if self._wants_rows():
            wake_at.append(max(self.idle_until, self.db_retry_at))
        if self.results:
            wake_at.append(max(self.last_flush + _FLUSH_EVERY, self.db_retry_at))
        wake_at.extend(queue[0][0] + self.start_within for queue in self.pending.values())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(min(wake_at)):
                await self.signal.wait()

    async def _claim(self) -> None:
        self.woken = False
        settings = self.services.settings
        queued = sum(len(queue) for queue in self.pending.values())
        limit = max(self.concurrency, self.batch - queued)
        # A host with a full wave waiting gets no more rows until that wave has gone out.
        skip = sorted(d for d, queue in self.pending.items() if len(queue) >= self.per_host)
        due_in: float | None = None
        try:
            async with self.services.pool.acquire() as con:
                jobs = await deliveries.claim_due(
                    con, limit=limit, lease_seconds=settings.queue_lease, skip_domains=skip
                )
                if len(jobs) < limit:
                    due_in = await deliveries.next_due_in(con, skip_domains=skip)
        except PoolError as exc:
            log.warning("cannot claim deliveries: %s", exc)
            self.db_retry_at = self.loop.time() + _DB_RETRY
            return
        now = self.loop.time()
        for job in jobs:
            if job.host_unavailable:
                outcome = Outcome.failed(job, status=None, error=HOST_UNAVAILABLE)
                self.results.append(_Result(outcome, job.domain, None))
            elif job.key_id is None or job.private_key_pem is None:
                outcome = Outcome.failed(job, status=None, error="the sender has no key")
                self.results.append(_Result(outcome, job.domain, None))
            else:
                self.pending.setdefault(job.domain, deque()).append((now, job))
        if len(jobs) < limit:
            wait = _POLL_MAX if due_in is None else min(_POLL_MAX, max(due_in, _MIN_IDLE))
            self.idle_until = now + wait
            self.left_out = set(skip)
        else:
            self.idle_until = now

    async def _flush(self) -> None:
        results, self.results = self.results, []
        self.last_flush = self.loop.time()
        reached = {r.domain for r in results if r.reached}
        failed = {r.domain for r in results if r.reached is False} - reached
        try:
            async with self.services.pool.acquire() as con:
                applied = await deliveries.record(con, [r.outcome for r in results])
                await domains.record_success(con, sorted(reached))
                down = await domains.record_failures(con, failed, datetime.now(UTC).date())
        except PoolError as exc:
            log.warning("cannot record %d delivery results: %s", len(results), exc)
            self.results[:0] = results  # kept: still useful while their leases last
            self.db_retry_at = self.loop.time() + _DB_RETRY
            return
        if applied < len(results):
            log.info("%d delivery results came after their lease", len(results) - applied)
        for domain in sorted(down):
            log.warning("%s failed on 7 distinct days: skipping it until it answers", domain)
        self.woken = self.woken or any(r.outcome.kind != "done" for r in results)

    async def _send(self, job: DeliveryJob, start_by: float) -> _Result:
        assert job.key_id is not None and job.private_key_pem is not None
        try:
            signer = cached_signer(job.key_id, job.private_key_pem)
            body = job.payload.encode()
            # RSA signing is most of a delivery's CPU and releases the GIL: on a thread it
            # runs beside the event loop, on another core when there is one.
            signed = await self.loop.run_in_executor(
                self.signing, signer, "POST", job.inbox_uri, {"Content-Type": AP_CONTENT_TYPE}, body
            )
            result = await self.services.http.post(
                job.inbox_uri, body, sign=self._guarded(signer, start_by, job.inbox_uri, signed)
            )
        except _TooLate:
            return _Result(Outcome.release(job), job.domain, None)
        except BlockedDestination as exc:
            return _Result(Outcome.failed(job, status=None, error=exc.reason), job.domain, False)
        except FetchError as exc:
            if exc.retryable:
                return self._retry(job, status=exc.status, error=exc.reason, retry_after=None)
            outcome = Outcome.failed(job, status=exc.status, error=exc.reason)
            return _Result(outcome, job.domain, False)
        except Exception as exc:  # a bug or a broken key: retried, so that nothing is lost
            log.exception("delivery %d to %s failed unexpectedly", job.id, job.inbox_uri)
            return self._retry(job, status=None, error=f"internal error: {exc}", retry_after=None)
        status = result.status
        if 200 <= status < 300:
            return _Result(Outcome.done(job, status), job.domain, True)
        error = f"HTTP {status}: {result.body_excerpt[:200]}".rstrip(": ")
        if status >= 500 or status in _RETRY_STATUSES:
            return self._retry(job, status=status, error=error, retry_after=result.retry_after)
        return _Result(Outcome.failed(job, status=status, error=error), job.domain, False)

    def _guarded(
        self, signer: Signer, start_by: float, signed_url: str, signed: dict[str, str]
    ) -> Signer:
        loop = self.loop

        # The client signs just before the request leaves: the last moment to refuse a
        # request that could still be running when the lease ends and another worker
        # sends the same row. The signature made beforehand is used when the client sends
        # to the very URL it covers (the client may normalise it).
        def sign(
            method: str, url: str, headers: Mapping[str, str], body: bytes | None
        ) -> dict[str, str]:
            if loop.time() > start_by:
                raise _TooLate
            if url == signed_url:
                return signed
            return signer(method, url, headers, body)

        return sign

    def _retry(
        self, job: DeliveryJob, *, status: int | None, error: str, retry_after: float | None
    ) -> _Result:
        if job.attempt >= MAX_ATTEMPTS:
            error = f"{error} (gave up after {job.attempt} attempts)"
            return _Result(Outcome.failed(job, status=status, error=error), job.domain, False)
        scale = self.services.settings.retry_scale
        delay = backoff(job.attempt, scale=scale)
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_CAP) * scale)
        outcome = Outcome.retry(job, delay_seconds=delay, status=status, error=error)
        return _Result(outcome, job.domain, False)

    async def _shutdown(self) -> None:
        # Untried rows go back at once, for the next worker to pick up.
        for queue in self.pending.values():
            self.results.extend(_Result(Outcome.release(job), job.domain, None) for _, job in queue)
        self.pending.clear()
        if self.in_flight:
            await asyncio.wait(self.in_flight, timeout=_STOP_GRACE)
            self.finished = [task for task in self.in_flight if task.done()]
            self._collect()
        if self.results:
            try:
                async with asyncio.timeout(_STOP_GRACE):
                    await self._flush()
            except TimeoutError:
                log.warning("could not record delivery results on shutdown")
