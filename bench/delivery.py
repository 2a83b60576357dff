"""(b) End-to-end delivery through the durable queue to 2,000 distinct loopback inboxes.

One Create(Note) is enqueued for 2,000 inboxes in one transaction (as publishing does),
and the clock runs from its commit until every queue row is recorded as done. The
delivery worker (``core.delivery.run_worker``) runs in this process, as in ``shoal serve``;
the inboxes (50 "hosts", i.e. ports of 127.0.0.1, x 40 paths) answer 202 from a separate
process (``bench.receiver``) so they do not share the worker's event loop.

Each delivery costs one RSA-2048 signature, so the figure is divided by the raw signing
rate of one core measured in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import orjson

from bench import cpu, rsa
from bench.common import TIMES, VENV_BIN, Child, Cluster, Figure
from core import accounts, delivery, runtime
from core.services import Services
from core.settings import Settings
from federation import vocab
from storage import deliveries, statuses
from storage.actors import ActorRow

TARGET_RATIO = 0.7


@dataclass(frozen=True, slots=True)
class Plan:
    hosts: int = 50
    paths: int = 40  # per host: hosts x paths distinct inboxes
    warmup: int = 200  # inboxes of a first, unmeasured activity
    concurrency: int = 64
    trials: int = 3  # measured fan-outs, each of a new activity to every inbox
    timeout: float = 30.0  # seconds one fan-out may take before we give up

    @property
    def inboxes(self) -> int:
        return self.hosts * self.paths


@dataclass(frozen=True, slots=True)
class FanOut:
    seconds: float
    counts: dict[str, int]  # queue rows by state, for this activity's fan-out
    received: int = 0  # POSTs the receivers counted meanwhile

    @property
    def rate(self) -> float:
        return self.counts["done"] / self.seconds if self.seconds else 0.0


async def _receiver_ports(child: Child, hosts: int) -> list[int]:
    assert child.process.stdout is not None
    try:
        line = await asyncio.wait_for(child.process.stdout.readline(), 30)
    except TimeoutError:
        raise RuntimeError("the receivers did not start") from None
    if not line:
        child.check_alive()
        raise RuntimeError("the receivers said nothing")
    ports = [int(p) for p in orjson.loads(line)["ports"]]
    if len(ports) != hosts:
        raise RuntimeError(f"the receivers listen on {len(ports)} ports, not {hosts}")
    return ports


async def _receiver_stats(port: int) -> dict[str, int]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(f"http://127.0.0.1:{port}/_stats") as response,
    ):
        stats: dict[str, int] = await response.json()
        return stats


async def _publish(services: Services, actor: ActorRow, inboxes: list[str], n: int) -> None:
    """Store one Create(Note) and its deliveries in one transaction, as publishing does."""
    urls = services.urls
    async with services.pool.acquire() as con, con.transaction():
        status_id = await statuses.next_id(con)
        note_uri = urls.status(actor.username, status_id)
        note = vocab.build_note(
            id=note_uri,
            attributed_to=actor.uri,
            content_html=f"<p>Benchmark post {n}: the co-op opens at nine on Saturday, "
            "bring your own bags. Volunteers for the morning shift are welcome.</p>",
            published=datetime.now(UTC),
            to=[vocab.PUBLIC],
            cc=[f"{actor.uri}/followers"],
            url=urls.status_page(actor.username, status_id),
        )
        activity = vocab.build_create(
            actor.uri, note, id=urls.activity(actor.username, status_id, "create")
        )
        await delivery.enqueue_activity(
            con, actor_id=actor.id, activity=activity, inboxes=inboxes, object_uri=note_uri
        )


async def _fan_out(
    services: Services,
    worker: asyncio.Task[None],
    actor: ActorRow,
    inboxes: list[str],
    n: int,
    timeout: float,
    meter: cpu.Meter | None = None,
) -> FanOut:
    """Publish to ``inboxes`` and wait until the queue has nothing left (or ``timeout``)."""
    async with services.pool.acquire() as con:
        before = await deliveries.counts(con)
    await _publish(services, actor, inboxes, n)
    started = time.perf_counter()  # the commit is when a member's post is "sent"
    if meter is not None:
        meter.start()
    expected = before["done"] + before["failed"] + len(inboxes)
    while True:
        async with services.pool.acquire() as con:
            counts = await deliveries.counts(con)
        elapsed = time.perf_counter() - started
        if counts["done"] + counts["failed"] >= expected or elapsed > timeout:
            if meter is not None:
                meter.stop()
            since = {k: counts[k] - before.get(k, 0) for k in counts}
            since["queued"] = counts["queued"]
            return FanOut(elapsed, since)
        if worker.done():
            worker.result()  # raises what stopped it
            raise RuntimeError("the delivery worker stopped")
        await asyncio.sleep(0.05)


async def run(cluster: Cluster, signing: rsa.Result, plan: Plan = Plan()) -> list[Figure]:
    async with cluster.database("delivery") as db_url:
        settings = Settings(
            domain="shoal-bench.invalid",
            database_url=db_url,
            dev=True,  # loopback destinations allowed
            workers=False,  # the delivery worker alone is started below
            delivery_concurrency=plan.concurrency,
            # The pool ``shoal worker`` would have for this concurrency.
            db_connections=runtime.pool_size(
                Settings(workers=True, delivery_concurrency=plan.concurrency)
            ),
            retry_scale=0.001,
            log_level="warning",
        )
        receivers = await Child.start(
            "receivers",
            [str(VENV_BIN / "python"), "-m", "bench.receiver", str(plan.hosts)],
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            ports = await _receiver_ports(receivers, plan.hosts)
            inboxes = [
                f"http://127.0.0.1:{port}/users/member{j}/inbox"
                for j in range(plan.paths)
                for port in ports
            ]
            services = await runtime.start(settings)
            worker: asyncio.Task[None] | None = None
            try:
                async with services.pool.acquire() as con, con.transaction():
                    actor = await accounts.create_local_actor(
                        con, services.urls, username="bench", display_name="Bench"
                    )
                worker = asyncio.create_task(delivery.run_worker(services))
                # Warm-up: imports, the parsed key, connections to every host.
                warm = inboxes[:: max(1, len(inboxes) // plan.warmup)][: plan.warmup]
                await _fan_out(services, worker, actor, warm, 0, plan.timeout)
                readings = {
                    "worker": cpu.this_process(),
                    "receivers": cpu.process(receivers.process.pid),
                }
                if cluster.pgdata is not None:
                    readings["postgres"] = cpu.postgres(cluster.pgdata)
                meter = cpu.Meter(readings, others=cluster.others)
                trials: list[FanOut] = []
                for n in range(1, plan.trials + 1):
                    before = await _receiver_stats(ports[0])
                    result = await _fan_out(
                        services, worker, actor, inboxes, n, plan.timeout, meter
                    )
                    after = await _receiver_stats(ports[0])
                    trials.append(
                        dataclasses.replace(result, received=after["posts"] - before["posts"])
                    )
                    if result.counts["queued"]:
                        break  # timed out: the next one would start behind
                receivers.check_alive()
            finally:
                services.stopping.set()
                if worker is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(worker, 15)
                await runtime.stop(services)
        finally:
            await receivers.stop()
    return _figures(plan, signing, trials, after["inboxes"], meter)


def _figures(
    plan: Plan, signing: rsa.Result, trials: list[FanOut], inboxes_seen: int, meter: cpu.Meter
) -> list[Figure]:
    # The best trial, like the best window of the signing rate: the least disturbed by
    # whatever else the machine is running.
    best = max(trials, key=lambda t: t.rate)
    ratio = best.rate / signing.rate if signing.rate else 0.0
    valid = (
        len(trials) == plan.trials
        and all(t.counts["done"] == plan.inboxes == t.received for t in trials)
        and inboxes_seen == plan.inboxes
    )
    figure = Figure(
        "delivery",
        f"{best.rate:,.0f} deliveries/s = {ratio:.2f} {TIMES} raw RSA signs",
        met=ratio >= TARGET_RATIO,
        target=f"≥ {TARGET_RATIO}",
        valid=valid,
    )
    done = sum(t.counts["done"] for t in trials)
    figure.notes.append(
        f"best of {len(trials)} fan-outs to {plan.inboxes} inboxes on {plan.hosts} loopback "
        f"hosts, timed from commit until every queue row is done: "
        + ", ".join(f"{t.rate:,.0f}/s" for t in trials)
        + f"; worker concurrency {plan.concurrency}"
    )
    figure.notes.append(
        "queue rows done "
        + "/".join(str(t.counts["done"]) for t in trials)
        + f", failed {sum(t.counts['failed'] for t in trials)}, left queued "
        f"{sum(t.counts['queued'] for t in trials)}; receivers counted "
        + "/".join(str(t.received) for t in trials)
        + f" POSTs at {inboxes_seen} distinct inboxes"
    )
    figure.notes.append(
        f"CPU per delivery: worker process {cpu.ms(meter.per('worker', done))} "
        f"(of which an RSA signature is {signing.cpu_ms:.2f} ms), receivers "
        f"{cpu.ms(meter.per('receivers', done))}, PostgreSQL "
        f"{cpu.ms(meter.per('postgres', done))}; meanwhile {meter.load()}"
    )
    return [figure]
