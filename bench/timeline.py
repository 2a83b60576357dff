"""(d) The home timeline API at a million statuses, against a bare Starlette endpoint.

The data set is built with SQL (``INSERT … SELECT FROM generate_series``), not through the
API: about a thousand actors (a few local members, the rest remote on a few dozen
domains), a million statuses spread over a year with ids from ``shoal_id_at`` (so that
they sort by time), some of them boosts, replies, mentions and hashtags, favourites and
follows between the actors, and a viewer who follows 200 accounts. A real ``shoal serve``
then gives the viewer a token through ``POST /api/v1/apps`` and ``POST /oauth/token``
(password grant), as a Mastodon app would get one.

``GET /api/v1/timelines/home?limit=20`` is measured at 1 and at 8 concurrent clients on
keep-alive connections (``bench.http1``, a lean client: the target is a latency, and the
client shares the two cores with the server), a fifth of the requests paging deeper in
time with ``max_id``; every answer must be a 200 with 20 statuses. Target: p99 under
10 ms at 8 clients. The yardstick is a bare Starlette endpoint under the same uvicorn
settings (``python -m bench.timeline bare PORT FILE``) that serialises one of Shoal's own
answers (same JSON list, same size) on every request: the ratio of requests per second
says what the timeline costs above the framework and the JSON encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Route

from bench import common, cpu
from bench.common import (
    TIMES,
    VENV_BIN,
    Child,
    Cluster,
    Figure,
    free_port,
    run_loop,
    wait_for_port,
)
from bench.http1 import Http1, HttpError
from core import passwords
from federation import keys
from storage.pool import Conn, create_pool

HOME = "/api/v1/timelines/home"
LOOPBACK = "127.0.0.1"
LIMIT = 20
TARGET_P99_MS = 10.0  # at 8 concurrent clients
STEP_TIMEOUT = 600.0  # seconds one statement building the data may take
VIEWER = "viewer"
PASSWORD = "viewer's long bench password"  # a throwaway bench account
# The hashtags statuses carry, and the sentences their text is made of (~70 characters
# each, three to a status).
TAGS = [
    "mutualaid", "foodbank", "tenants", "gardening", "bikes", "repaircafe", "library",
    "childcare", "transit", "climate", "coop", "housing", "solidarity", "meetup", "books",
    "music", "cooking", "sewing", "tools", "seeds", "compost", "volunteers", "fundraiser",
    "schools", "elders", "art", "radio", "zine", "kitchen", "picnic", "cleanup", "swap",
    "rides", "translation", "legalaid", "health", "knitting", "football", "chess", "film",
]  # fmt: skip
SENTENCES = [
    "The co-op opens at nine on Saturday, bring your own bags and containers.",
    "Volunteers for the morning shift are very welcome, no experience needed.",
    "We still need two more drivers for the Tuesday grocery deliveries.",
    "Thanks to everyone who came to the repair café, we fixed 31 things!",
    "The tenants' meeting moved to the library basement, same time as before.",
    "Does anyone have a spare ladder we could borrow for the mural this week?",
    "Seed swap next month: label your envelopes with the variety and the year.",
    "Childcare is provided at every assembly, just tell us the ages beforehand.",
    "The bike kitchen has new opening hours for the winter, see the pinned post.",
    "Reminder that the community fridge gets cleaned every Thursday evening.",
    "We are collecting warm coats and blankets until the end of the month.",
    "Translation help wanted for the flyers: Spanish, Arabic and Ukrainian.",
    "The garden beds by the school were finally approved by the city council.",
    "Soup night was a success, 80 bowls served and not a drop left over.",
    "If your landlord ignores repair requests, our legal clinic can help you.",
    "Carpool board for the regional gathering is up, add your name and route.",
    "New zine about the history of the neighbourhood is out, free copies here.",
    "The tool library now lends out a pressure washer and two sewing machines.",
    "Please boost: a family nearby needs help moving on Sunday afternoon.",
    "Minutes of the last general meeting are on the wiki, comments are open.",
    "Our fundraiser passed its goal, thank you all for the overwhelming support.",
    "Knitting circle meets at the café corner, yarn donations are appreciated.",
    "Anyone up for a cleanup walk along the river after work on Wednesday?",
]
assert len(TAGS) == 40 and len(SENTENCES) == 23  # the SQL below picks by these counts


@dataclass(frozen=True, slots=True)
class Plan:
    actors: int = 1000
    local: int = 50  # of the actors; the first is the viewer
    domains: int = 40  # the remote actors are spread over these
    statuses: int = 1_000_000
    days: int = 365  # the statuses are spread over the last this many days
    followed: int = 200  # accounts the viewer follows
    follows: int = 40_000  # follows between other actors (attempted; duplicates dropped)
    favourites: int = 600_000  # attempted; duplicates dropped
    # Measured, per server and per concurrency. A p99 is decided by the slowest 1%: of
    # 2,000 requests in two rounds of under a second each, that is 20 requests, and the
    # first moments of a round (fresh connections, a server that sat idle while the other
    # ran) gave three times their share of the slowest.
    requests: int = 6000
    warmup: int = 200  # per server
    rounds: int = 3  # each setting's requests are split into alternating rounds
    concurrency: tuple[int, ...] = (1, 8)
    deep_share: float = 0.2  # requests that page deeper with max_id
    # Seconds the requests of one setting (server and concurrency) may take: a server too
    # slow to answer them all in time is measured on those it did answer.
    budget: float = 60.0
    timeout: float = 600.0  # seconds all the requests may take before we give up


# --- the data set ---------------------------------------------------------------------


@dataclass(slots=True)
class DataSet:
    seconds: float = 0.0  # building it
    vacuum_seconds: float = 0.0  # VACUUM ANALYZE afterwards
    counts: dict[str, int] = field(default_factory=dict)


def _steps(
    plan: Plan, base: str, start_epoch: float, keypair: tuple[str, str], password_hash: str
) -> list[tuple[str, Sequence[Any]]]:
    """The SQL that builds the data set, in order, with its parameters. Every local actor
    gets the same key pair (generating a thousand would take minutes)."""
    private_pem, public_pem = keypair
    n, actors = plan.statuses, plan.actors
    step = plan.days * 86400 / n  # seconds between statuses
    # The viewer follows every fifth actor: spread evenly over how active actors are.
    followed_every = max(1, actors // plan.followed)
    return [
        (
            """INSERT INTO domains (domain, software_name, software_version, first_seen_at,
                                    last_success_at)
               SELECT format('remote%s.invalid', d), 'mastodon', '4.3.2',
                      now() - interval '2 years', now()
               FROM generate_series(1, $1::int) d""",
            (plan.domains,),
        ),
        (
            """CREATE TEMP TABLE bench_actors (
                   idx int PRIMARY KEY, id bigint NOT NULL, local boolean NOT NULL,
                   username text NOT NULL, domain text, uri text NOT NULL,
                   profile text NOT NULL) ON COMMIT DROP""",
            (),
        ),
        (
            """INSERT INTO bench_actors
               SELECT idx, id, local, username, domain,
                      CASE WHEN local THEN $4 || '/users/' || username
                           ELSE 'https://' || domain || '/users/' || username END,
                      CASE WHEN local THEN $4 || '/@' || username
                           ELSE 'https://' || domain || '/@' || username END
               FROM (SELECT i AS idx,
                            shoal_id_at(now() - interval '2 years' + i * interval '1 minute')
                                AS id,
                            i <= $2 AS local,
                            CASE WHEN i = 1 THEN $5 WHEN i <= $2 THEN format('member%s', i)
                                 ELSE format('user%s', i) END AS username,
                            CASE WHEN i > $2 THEN format('remote%s.invalid', 1 + i % $3) END
                                AS domain
                     FROM generate_series(1, $1::int) i) a""",
            (actors, plan.local, plan.domains, base, VIEWER),
        ),
        (
            """INSERT INTO actors (id, uri, local, type, username, domain, display_name,
                   summary, url, inbox_uri, shared_inbox_uri, outbox_uri, followers_uri,
                   following_uri, featured_uri, public_key_id, public_key_pem,
                   private_key_pem, published_at, fetched_at, created_at, updated_at)
               SELECT id, uri, local, 'Person', username, domain,
                      initcap(username) || ' of the ' || ($3::text[])[1 + idx % 40] || ' group',
                      '<p>Organising around ' || ($3::text[])[1 + idx % 40] || ' and '
                          || ($3::text[])[1 + (idx / 40) % 40] || ', mostly on weekends.</p>',
                      profile, uri || '/inbox',
                      CASE WHEN local THEN $4 || '/inbox' ELSE 'https://' || domain || '/inbox'
                      END,
                      uri || '/outbox', uri || '/followers', uri || '/following',
                      uri || '/collections/featured', uri || '#main-key', $1,
                      CASE WHEN local THEN $2 END,
                      now() - interval '2 years', CASE WHEN NOT local THEN now() END,
                      now() - interval '2 years', now()
               FROM bench_actors ORDER BY idx""",
            (public_pem, private_pem, TAGS, base),
        ),
        (
            """INSERT INTO users (actor_id, email, password_hash, role, created_at)
               SELECT id, username || '@bench.invalid', $1,
                      CASE WHEN idx = 1 THEN 'admin' ELSE 'member' END,
                      now() - interval '2 years'
               FROM bench_actors WHERE local""",
            (password_hash,),
        ),
        # What every status is: its author, time, kind and what it points to (a boost's
        # original and a reply's parent are earlier, non-boost statuses; ids sort like n).
        # Some actors post far more than others (the most active ~13,000 times): ranks of
        # activity are scattered over the actors so that the viewer (actor 1) is of median
        # activity.
        (
            """CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
               SELECT n, author,
                      to_timestamp($2::float8 + (n - 1 + random() * 0.9) * $3::float8)
                          AS published_at,
                      CASE WHEN n % 10 = 3 AND boosted > 0 THEN 'boost'
                           WHEN n % 10 = 7 AND parent > 0 THEN 'reply'
                           ELSE 'post' END AS kind,
                      CASE WHEN boosted % 10 = 3 THEN boosted - 1 ELSE boosted END AS boosted,
                      CASE WHEN parent % 10 = 3 THEN parent - 1 ELSE parent END AS parent,
                      random() AS r
               FROM (SELECT n,
                            1 + (floor($4::int * power(random(), 1.6))::int * 7919 + $4 / 2)
                                % $4 AS author,
                            n - 1 - floor(random() * 3000)::int AS boosted,
                            n - 1 - floor(random() * 300)::int AS parent
                     FROM generate_series(1, $1::int) n) g""",
            (n, start_epoch, step, actors),
        ),
        ("ANALYZE bench_plan", ()),
        # A second boost of the same status by the same actor becomes a post, and so does
        # a boost of a private or direct status (see the visibilities below).
        (
            """UPDATE bench_plan p SET kind = 'post'
               FROM (SELECT b.n, o.r,
                            row_number() OVER (PARTITION BY b.author, b.boosted ORDER BY b.n)
                                AS k
                     FROM bench_plan b JOIN bench_plan o ON o.n = b.boosted
                     WHERE b.kind = 'boost') d
               WHERE p.n = d.n AND (d.k > 1 OR d.r >= 0.90)""",
            (),
        ),
        (
            """CREATE TEMP TABLE bench_statuses ON COMMIT DROP AS
               SELECT p.n, shoal_id_at(p.published_at) AS id, p.author, p.published_at,
                      p.kind, p.boosted, p.parent,
                      CASE WHEN p.kind = 'boost' THEN 'public'
                           WHEN p.r < 0.75 THEN 'public' WHEN p.r < 0.90 THEN 'unlisted'
                           WHEN p.r < 0.98 THEN 'private' ELSE 'direct' END AS visibility,
                      -- Whom it mentions: a reply its parent's author, a direct status
                      -- the viewer one time in fifty, some posts someone.
                      CASE WHEN p.kind = 'boost' THEN NULL
                           WHEN p.kind = 'reply' THEN q.author
                           WHEN p.r >= 0.98 AND p.n % 50 = 0 THEN 1
                           WHEN p.r >= 0.98 OR p.n % 20 = 5 THEN 1 + (p.n * 31) % $1
                      END AS mentioned,
                      CASE WHEN p.kind <> 'boost' AND p.n % 8 = 1
                           THEN ($2::text[])[1 + (p.n / 8) % 40] END AS tag1,
                      CASE WHEN p.kind <> 'boost' AND p.n % 24 = 1
                           THEN ($2::text[])[1 + (p.n / 24 + 17) % 40] END AS tag2
               FROM bench_plan p LEFT JOIN bench_plan q ON q.n = p.parent AND p.kind = 'reply'
               ORDER BY p.n""",
            (actors, TAGS),
        ),
        ("CREATE UNIQUE INDEX ON bench_statuses (n)", ()),
        ("ANALYZE bench_statuses", ()),
        (
            """INSERT INTO statuses (id, uri, url, actor_id, local, visibility, content,
                   language, in_reply_to_id, in_reply_to_uri, reblog_of_id, published_at,
                   created_at)
               SELECT s.id,
                      a.uri || '/statuses/' || s.id
                          || CASE WHEN s.kind = 'boost' THEN '/activity' ELSE '' END,
                      CASE WHEN s.kind <> 'boost' THEN a.profile || '/' || s.id END,
                      a.id, a.local, s.visibility,
                      CASE WHEN s.kind = 'boost' THEN '' ELSE
                          '<p>'
                          || CASE WHEN m.idx IS NULL THEN '' ELSE
                                 '<span class="h-card"><a href="' || m.profile
                                 || '" class="u-url mention">@<span>' || m.username
                                 || '</span></a></span> ' END
                          || ($1::text[])[1 + s.n % 23] || ' '
                          || ($1::text[])[1 + (s.n / 23) % 23] || ' '
                          || ($1::text[])[1 + (s.n / 529) % 23]
                          || coalesce(' <a href="' || $2 || '/tags/' || s.tag1
                                      || '" class="mention hashtag" rel="tag">#<span>'
                                      || s.tag1 || '</span></a>', '')
                          || coalesce(' <a href="' || $2 || '/tags/' || s.tag2
                                      || '" class="mention hashtag" rel="tag">#<span>'
                                      || s.tag2 || '</span></a>', '')
                          || '</p>' END,
                      CASE WHEN s.kind <> 'boost' THEN 'en' END,
                      p.id, pa.uri || '/statuses/' || p.id, b.id, s.published_at,
                      s.published_at
               FROM bench_statuses s
               JOIN bench_actors a ON a.idx = s.author
               LEFT JOIN bench_actors m ON m.idx = s.mentioned
               LEFT JOIN bench_statuses p ON p.n = s.parent AND s.kind = 'reply'
               LEFT JOIN bench_actors pa ON pa.idx = p.author
               LEFT JOIN bench_statuses b ON b.n = s.boosted AND s.kind = 'boost'
               ORDER BY s.n""",
            (SENTENCES, base),
        ),
        (
            """INSERT INTO status_mentions (status_id, actor_id)
               SELECT s.id, a.id FROM bench_statuses s JOIN bench_actors a
                   ON a.idx = s.mentioned""",
            (),
        ),
        (
            """INSERT INTO status_tags (status_id, tag)
               SELECT id, tag1 FROM bench_statuses WHERE tag1 IS NOT NULL
               UNION ALL
               SELECT id, tag2 FROM bench_statuses WHERE tag2 IS NOT NULL AND tag2 <> tag1""",
            (),
        ),
        # Favourites go mostly to recent statuses; the viewer's own to one in twenty of the
        # last 5% (~2,500), and the viewer's ~300 bookmarks to recent statuses too.
        (
            """INSERT INTO favourites (actor_id, status_id, created_at)
               SELECT a.id, s.id, s.published_at + interval '1 hour'
               FROM (SELECT 1 + floor(random() * $2::int)::int AS who,
                            $3::int - floor($3::int * power(random(), 3))::int AS n
                     FROM generate_series(1, $1::int)) f
               JOIN bench_statuses s
                   ON s.n = CASE WHEN f.n % 10 = 3 AND f.n > 1 THEN f.n - 1 ELSE f.n END
               JOIN bench_actors a ON a.idx = f.who
               WHERE s.kind <> 'boost'
               UNION
               SELECT v.id, s.id, s.published_at + interval '1 hour'
               FROM bench_statuses s JOIN bench_actors v ON v.idx = 1
               WHERE s.n > $3::int * 0.95 AND s.n % 20 = 0 AND s.kind <> 'boost'""",
            (plan.favourites, actors, n),
        ),
        (
            """INSERT INTO bookmarks (actor_id, status_id)
               SELECT v.id, s.id FROM bench_statuses s JOIN bench_actors v ON v.idx = 1
               WHERE s.n > $1::int * 0.9 AND s.n % 317 = 0 AND s.kind <> 'boost'""",
            (n,),
        ),
        (
            """INSERT INTO pins (actor_id, status_id)
               SELECT a.id, s.id FROM bench_statuses s JOIN bench_actors a ON a.idx = s.author
               WHERE s.author = 1 AND s.kind = 'post' ORDER BY s.n DESC LIMIT 3""",
            (),
        ),
        # The viewer follows every fifth actor; other actors follow each other, the more
        # active ones more often.
        (
            """INSERT INTO follows (uri, follower_id, followee_id, state, created_at,
                                    accepted_at)
               SELECT v.uri || '#follows/' || a.idx, v.id, a.id, 'accepted',
                      now() - interval '1 year', now() - interval '1 year'
               FROM bench_actors a JOIN bench_actors v ON v.idx = 1
               WHERE a.idx % $1::int = 0 AND a.idx <> 1
               ORDER BY a.idx LIMIT $2""",
            (followed_every, plan.followed),
        ),
        (
            """INSERT INTO follows (uri, follower_id, followee_id, state, created_at,
                                    accepted_at)
               SELECT DISTINCT ON (fa.id, ta.id) fa.uri || '#follows/' || f.k, fa.id, ta.id,
                      'accepted', now() - interval '1 year', now() - interval '1 year'
               FROM (SELECT k, 2 + floor(random() * ($2::int - 1))::int AS follower,
                            1 + (floor($2::int * power(random(), 1.6))::int * 7919 + $2 / 2)
                                % $2 AS followee
                     FROM generate_series(1, $1::int) k) f
               JOIN bench_actors fa ON fa.idx = f.follower
               JOIN bench_actors ta ON ta.idx = f.followee
               WHERE f.follower <> f.followee""",
            (plan.follows, actors),
        ),
        # Three accounts the viewer does not follow are blocked, three muted: the home
        # query then has boosts of theirs to leave out.
        (
            """INSERT INTO blocks (actor_id, target_id)
               SELECT v.id, a.id FROM bench_actors a JOIN bench_actors v ON v.idx = 1
               WHERE a.idx IN (2, 3, 4)""",
            (),
        ),
        (
            """INSERT INTO mutes (actor_id, target_id)
               SELECT v.id, a.id FROM bench_actors a JOIN bench_actors v ON v.idx = 1
               WHERE a.idx IN (6, 7, 8)""",
            (),
        ),
    ]


# Loaded in bulk: their foreign keys, unique constraints and secondary indexes are dropped
# first and put back at the end, checked and built once instead of row by row (a third of
# the time). Primary keys stay. (Tables not in the schema are left out.)
BULK_TABLES = (
    "statuses",
    "status_mentions",
    "status_tags",
    "favourites",
    "follows",
    "actor_stats",
    "status_stats",
    "home_feed",
)
# The row triggers that keep the counters of migration 0004 (actor_stats, status_stats)
# and the home feeds of migration 0005: fired a million times in one transaction the
# counter triggers update the same few rows over and over, each update leaving one more
# row version for the next to walk past (the load then takes hours), and the feed ones
# fan out row by row. They are off during the load, and what they keep is computed
# afterwards in one pass each, as the migrations do for existing rows. Any other trigger
# stays on.
COUNTER_TRIGGERS = (
    ("statuses", "statuses_counters"),
    ("follows", "follows_counters"),
    ("favourites", "favourites_counters"),
    ("statuses", "statuses_home_feed"),
    ("follows", "follows_home_feed"),
)
COUNTERS = {
    "home_feed": """
        INSERT INTO home_feed (owner_id, status_id, author_id)
        SELECT f.follower_id, s.id, s.actor_id
        FROM follows f
        JOIN actors a ON a.id = f.follower_id AND a.local
        JOIN statuses s ON s.actor_id = f.followee_id
        WHERE f.state = 'accepted'
        UNION
        SELECT s.actor_id, s.id, s.actor_id
        FROM statuses s JOIN actors a ON a.id = s.actor_id AND a.local
        ON CONFLICT DO NOTHING""",
    "actor_stats": """
        INSERT INTO actor_stats (actor_id, statuses_count, followers_count, following_count,
                                 last_status_at)
        SELECT a.id, coalesce(s.n, 0), coalesce(ers.n, 0), coalesce(ing.n, 0), s.last
        FROM actors a
        LEFT JOIN (SELECT actor_id, count(*) AS n, max(published_at) AS last
                   FROM statuses GROUP BY actor_id) s ON s.actor_id = a.id
        LEFT JOIN (SELECT followee_id, count(*) AS n FROM follows
                   WHERE state = 'accepted' GROUP BY followee_id) ers ON ers.followee_id = a.id
        LEFT JOIN (SELECT follower_id, count(*) AS n FROM follows
                   WHERE state = 'accepted' GROUP BY follower_id) ing ON ing.follower_id = a.id
        ON CONFLICT (actor_id) DO UPDATE SET
            statuses_count = EXCLUDED.statuses_count,
            followers_count = EXCLUDED.followers_count,
            following_count = EXCLUDED.following_count,
            last_status_at = EXCLUDED.last_status_at""",
    "status_stats": """
        INSERT INTO status_stats (status_id, replies_count, reblogs_count, favourites_count)
        SELECT id, sum(replies), sum(reblogs), sum(favourites)
        FROM (SELECT in_reply_to_id AS id, 1 AS replies, 0 AS reblogs, 0 AS favourites
              FROM statuses WHERE in_reply_to_id IS NOT NULL
              UNION ALL
              SELECT reblog_of_id, 0, 1, 0 FROM statuses WHERE reblog_of_id IS NOT NULL
              UNION ALL
              SELECT status_id, 0, 0, 1 FROM favourites) c
        GROUP BY id ORDER BY id
        ON CONFLICT (status_id) DO UPDATE SET
            replies_count = EXCLUDED.replies_count,
            reblogs_count = EXCLUDED.reblogs_count,
            favourites_count = EXCLUDED.favourites_count""",
}


async def _relax(con: Conn) -> list[str]:
    """Drop the checks of ``BULK_TABLES`` and switch their ``COUNTER_TRIGGERS`` off; returns
    the SQL that puts them back as they were and brings the counters up to date."""
    tables = list(BULK_TABLES)
    constraints = await con.fetch(
        """SELECT conrelid::regclass::text AS tbl, quote_ident(conname) AS name, contype,
                  pg_get_constraintdef(oid) AS def
           FROM pg_constraint
           WHERE conrelid IN (SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
             AND contype IN ('f', 'u')
           ORDER BY contype, conname""",
        tables,
    )
    indexes = await con.fetch(
        """SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def
           FROM pg_index i
           WHERE indrelid IN (SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
             AND NOT indisprimary
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                             WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
           ORDER BY 1""",
        tables,
    )
    triggers = await con.fetch(
        """SELECT tgrelid::regclass::text AS tbl, quote_ident(tgname) AS name
           FROM pg_trigger
           WHERE NOT tgisinternal AND tgenabled <> 'D'
             AND (tgrelid::regclass::text, tgname::text)
                 IN (SELECT * FROM unnest($1::text[], $2::text[]))""",
        [table for table, _ in COUNTER_TRIGGERS],
        [trigger for _, trigger in COUNTER_TRIGGERS],
    )
    counters = await con.fetch(
        "SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
        list(COUNTERS),
    )
    # Foreign keys ('f') go first and come back last.
    for c in constraints:
        await con.execute(f"ALTER TABLE {c['tbl']} DROP CONSTRAINT {c['name']}")
    for i in indexes:
        await con.execute(f"DROP INDEX {i['name']}")
    for t in triggers:
        await con.execute(f"ALTER TABLE {t['tbl']} DISABLE TRIGGER {t['name']}")
    return (
        ([COUNTERS[c["name"]] for c in counters] if triggers else [])
        + [i["def"] for i in indexes]
        + [
            f"ALTER TABLE {c['tbl']} ADD CONSTRAINT {c['name']} {c['def']}"
            for c in reversed(constraints)
        ]
        + [f"ALTER TABLE {t['tbl']} ENABLE TRIGGER {t['name']}" for t in triggers]
    )


async def build(db_url: str, base: str, plan: Plan) -> DataSet:
    """Fill a fresh, migrated database; ``base`` is the server's own ``scheme://domain``."""
    keypair, password_hash = await asyncio.gather(
        asyncio.to_thread(keys.generate_rsa_keypair),
        asyncio.to_thread(passwords.hash_password, PASSWORD),
    )
    data = DataSet()
    started = time.perf_counter()
    steps = _steps(plan, base, time.time() - plan.days * 86400 - 60, keypair, password_hash)
    pool = await create_pool(db_url, max_size=1)
    try:
        async with pool.acquire() as con:
            async with con.transaction():
                # For the sorts, hashes and index builds of this transaction only.
                await con.execute(
                    "SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '256MB'"
                )
                restore = await _relax(con)
                for sql, args in steps:
                    await con.execute(sql, *args, timeout=STEP_TIMEOUT)
                for sql in restore:
                    await con.execute(sql, timeout=STEP_TIMEOUT)
            data.seconds = time.perf_counter() - started
            # Vacuumed as autovacuum would have by then: the visibility map lets index-only
            # scans skip the heap.
            started = time.perf_counter()
            await con.execute("VACUUM (ANALYZE)", timeout=STEP_TIMEOUT)
            data.vacuum_seconds = time.perf_counter() - started
            record = await con.fetchrow(
                """SELECT (SELECT count(*) FROM actors) AS actors,
                          (SELECT count(*) FROM statuses) AS statuses,
                          (SELECT count(*) FROM statuses WHERE reblog_of_id IS NOT NULL)
                              AS boosts,
                          (SELECT count(*) FROM statuses WHERE in_reply_to_id IS NOT NULL)
                              AS replies,
                          (SELECT count(*) FROM status_mentions) AS mentions,
                          (SELECT count(*) FROM status_tags) AS tags,
                          (SELECT count(*) FROM favourites) AS favourites,
                          (SELECT count(*) FROM follows) AS follows,
                          (SELECT avg(length(content))::int FROM statuses
                            WHERE reblog_of_id IS NULL) AS content_chars,
                          (SELECT count(*) FROM statuses WHERE actor_id = v.actor_id)
                              AS viewer_statuses,
                          (SELECT count(*) FROM favourites WHERE actor_id = v.actor_id)
                              AS viewer_favourites,
                          (SELECT count(*) FROM bookmarks WHERE actor_id = v.actor_id)
                              AS viewer_bookmarks,
                          (SELECT count(*) FROM status_mentions WHERE actor_id = v.actor_id)
                              AS viewer_mentions
                   FROM (SELECT id AS actor_id FROM actors
                         WHERE local AND username = $1) v""",
                VIEWER,
            )
            assert record is not None
            data.counts = dict(record)
    finally:
        await pool.close()
    return data


# --- the bare yardstick ---------------------------------------------------------------


def create_bare_app(payload: Any, link: str) -> Starlette:
    """GET the home path: ``payload`` serialised the way Shoal's API serialises (orjson),
    with a Link header like Shoal's."""

    async def home(request: StarletteRequest) -> Response:
        return Response(
            orjson.dumps(payload), media_type="application/json", headers={"Link": link}
        )

    return Starlette(routes=[Route(HOME, home, methods=["GET"])])


def bare_main(argv: Sequence[str]) -> None:
    """``python -m bench.timeline bare PORT FILE``: the uvicorn settings of ``bench.bare``
    and ``shoal serve`` (uvloop, httptools, no server header, proxy headers, warnings)."""
    port, path = int(argv[0]), Path(argv[1])
    saved = orjson.loads(path.read_bytes())
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    config = uvicorn.Config(
        create_bare_app(saved["body"], saved["link"]),
        log_level="warning",
        proxy_headers=True,
        server_header=False,
    )
    run_loop(uvicorn.Server(config).serve(sockets=[sock]))


# --- the clients ------------------------------------------------------------------------


@dataclass(slots=True)
class Run(common.Run):
    """Requests sent to one server at one concurrency, possibly over several rounds."""

    good: int = 0  # 200 with a full page


@dataclass(frozen=True, slots=True)
class Server:
    """Where the clients send their requests, with what headers."""

    host: str
    port: int
    headers: bytes = b""  # ready-made header lines


async def fetch_all(
    server: Server, paths: Sequence[str], clients: int, run: Run, budget: float
) -> list[tuple[str, int, bytes]]:
    """GET the paths from ``clients`` clients (``bench.http1``: keep-alive, each waiting
    for its answer before the next request), until all are sent or ``budget`` seconds
    have passed; the answers are checked afterwards (``check_answers``), once the clock
    and the CPU meters have stopped: parsing a page costs the client as much as sending
    three requests, and the client shares the machine with the server it measures."""
    pending = iter(paths)
    deadline = time.perf_counter() + budget
    answers: list[tuple[str, int, bytes]] = []

    async def client() -> None:
        try:
            conn = await Http1.open(server.host, server.port)
        except OSError as exc:
            run.errors += 1
            run.problem(f"{type(exc).__name__}: {exc}")
            return
        async with conn:
            for path in pending:
                started = time.perf_counter()
                if started > deadline:
                    break
                try:
                    status, body = await conn.request(b"GET", path, server.headers)
                except HttpError as exc:
                    run.errors += 1
                    run.problem(str(exc))
                    return
                run.latencies.append(time.perf_counter() - started)
                answers.append((path, status, body))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    run.seconds += time.perf_counter() - started
    return answers


def check_answers(answers: Sequence[tuple[str, int, bytes]], run: Run) -> None:
    """Count the answers that are a 200 with a full page; note the first that is not."""
    for path, status, body in answers:
        if status != 200:
            run.problem(f"HTTP {status} for {path}: {body[:200].decode(errors='replace')}")
            continue
        try:
            found = orjson.loads(body)
        except orjson.JSONDecodeError:
            found = None
        if isinstance(found, list) and len(found) == LIMIT:
            run.good += 1
        else:
            size = len(found) if isinstance(found, list) else "no list"
            run.problem(f"{size} statuses for {path}")


def _session(headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=16, limit_per_host=16)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        cookie_jar=aiohttp.DummyCookieJar(),
        headers=headers,
    )


async def _token(session: aiohttp.ClientSession, base: str) -> str:
    """The viewer's token, through the endpoints a Mastodon app uses."""
    scopes = "read write follow push"
    async with session.post(
        f"{base}/api/v1/apps",
        data={
            "client_name": "bench",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": scopes,
        },
    ) as response:
        if response.status != 200:
            raise RuntimeError(
                f"POST /api/v1/apps: HTTP {response.status}: {await response.text()}"
            )
        app = await response.json()
    async with session.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "password",
            "username": VIEWER,
            "password": PASSWORD,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": scopes,
        },
    ) as response:
        if response.status != 200:
            raise RuntimeError(
                f"POST /oauth/token: HTTP {response.status}: {await response.text()}"
            )
        return str((await response.json())["access_token"])


def _id_at(epoch: float) -> int:
    """The smallest id of a moment (ids are milliseconds since the epoch << 16)."""
    return int(epoch * 1000) << 16


async def _cursors(session: aiohttp.ClientSession, base: str) -> tuple[list[int], bytes, str]:
    """max_id values deeper in time (the ends of pages 1, 2, 4 and 9 as a client paging
    down would send them, and points 1, 7, 30 and 180 days back); and the first page's
    body and Link header for the bare endpoint."""
    cursors: list[int] = []
    first_body, link, max_id = b"", "", None
    for page in range(1, 10):
        query = f"?limit={LIMIT}" + (f"&max_id={max_id}" if max_id else "")
        async with session.get(f"{base}{HOME}{query}") as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(
                    f"GET {HOME}{query}: HTTP {response.status}: {body[:300].decode()}"
                )
            if page == 1:
                first_body, link = body, response.headers.get("Link", "")
        statuses = orjson.loads(body)
        if len(statuses) != LIMIT:
            raise RuntimeError(f"GET {HOME}{query}: {len(statuses)} statuses, not {LIMIT}")
        max_id = int(statuses[-1]["id"])
        if page in (1, 2, 4, 9):
            cursors.append(max_id)
    now = time.time()
    cursors += [_id_at(now - days * 86400) for days in (1, 7, 30, 180)]
    return cursors, first_body, link


def _paths(plan: Plan, cursors: Sequence[int], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    first = f"{HOME}?limit={LIMIT}"
    return [
        f"{first}&max_id={rng.choice(cursors)}" if rng.random() < plan.deep_share else first
        for _ in range(count)
    ]


@dataclass(slots=True)
class Target:
    """A server, and what was measured of it at each concurrency."""

    server: Server
    readings: dict[str, cpu.Reading]  # the CPU to meter
    others: str = "other processes"
    runs: dict[int, Run] = field(default_factory=dict)
    meters: dict[int, cpu.Meter] = field(default_factory=dict)
    round_rates: dict[int, list[float]] = field(default_factory=dict)

    async def send(self, paths: Sequence[str], clients: int, budget: float) -> None:
        run = self.runs.setdefault(clients, Run())
        meter = self.meters.setdefault(clients, cpu.Meter(self.readings, others=self.others))
        count, seconds = run.count, run.seconds
        meter.start()
        try:
            answers = await fetch_all(self.server, paths, clients, run, budget)
        finally:
            meter.stop()
        check_answers(answers, run)
        elapsed = run.seconds - seconds
        self.round_rates.setdefault(clients, []).append(
            (run.count - count) / elapsed if elapsed else 0.0
        )


async def _measure(plan: Plan, shoal: Target, bare: Target, cursors: Sequence[int]) -> None:
    warm = _paths(plan, cursors, plan.warmup, seed=1)
    clients = max(plan.concurrency)
    await fetch_all(bare.server, warm, clients, Run(), plan.budget)
    shoal_warm = Run()
    check_answers(await fetch_all(shoal.server, warm, clients, shoal_warm, plan.budget), shoal_warm)
    if shoal_warm.good != shoal_warm.count or not shoal_warm.good:
        raise RuntimeError(f"Shoal failed the warm-up requests: {shoal_warm.first_problem}")
    for clients in plan.concurrency:
        paths = _paths(plan, cursors, plan.requests, seed=clients)
        step = plan.requests // plan.rounds
        for r in range(plan.rounds):
            chunk = paths[r * step : plan.requests if r == plan.rounds - 1 else (r + 1) * step]
            for target in (bare, shoal):
                await target.send(chunk, clients, plan.budget / plan.rounds)


def _shoal_command(db_url: str, port: int) -> list[str]:
    return [
        str(VENV_BIN / "shoal"),
        "serve",
        "--dev",
        "--no-workers",
        f"--database-url={db_url}",
        f"--domain=127.0.0.1:{port}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--log-level=warning",
    ]


async def run(cluster: Cluster, plan: Plan = Plan()) -> list[Figure]:
    async with cluster.database("timeline") as db_url:
        shoal_port, bare_port = free_port(), free_port()
        base = f"http://127.0.0.1:{shoal_port}"
        data = await build(db_url, base, plan)
        children: list[Child] = []
        fd, payload_path = tempfile.mkstemp(prefix="shoal-bench-timeline-", suffix=".json")
        os.close(fd)
        try:
            shoal = await Child.start("shoal", _shoal_command(db_url, shoal_port))
            children.append(shoal)
            await wait_for_port(shoal, shoal_port)
            async with _session() as session:
                token = await _token(session, base)
            headers = {"Authorization": f"Bearer {token}"}
            async with _session(headers) as session:
                cursors, first_page, link = await _cursors(session, base)
            Path(payload_path).write_bytes(
                orjson.dumps({"body": orjson.loads(first_page), "link": link})
            )
            bare = await Child.start(
                "bare",
                [str(VENV_BIN / "python"), "-m", "bench.timeline", "bare", str(bare_port),
                 payload_path],
            )  # fmt: skip
            children.append(bare)
            await wait_for_port(bare, bare_port)
            shoal_readings = {
                "server": cpu.process(shoal.process.pid),
                "client": cpu.this_process(),
            }
            if cluster.pgdata is not None:
                shoal_readings["postgres"] = cpu.postgres(cluster.pgdata)
            lines = f"Authorization: Bearer {token}\r\n".encode()
            shoal_target = Target(
                Server(LOOPBACK, shoal_port, lines), shoal_readings, cluster.others
            )
            bare_target = Target(
                Server(LOOPBACK, bare_port, lines),
                {"server": cpu.process(bare.process.pid), "client": cpu.this_process()},
            )
            try:
                async with asyncio.timeout(plan.timeout):
                    await _measure(plan, shoal_target, bare_target, cursors)
            except TimeoutError:
                raise RuntimeError(f"the requests took longer than {plan.timeout:.0f} s") from None
            for child in children:
                child.check_alive()
        finally:
            for child in reversed(children):
                await child.stop()
            with contextlib.suppress(OSError):
                os.unlink(payload_path)
    return _figures(plan, data, shoal_target, bare_target, len(first_page))


def _figures(
    plan: Plan, data: DataSet, shoal: Target, bare: Target, page_bytes: int
) -> list[Figure]:
    few, many = min(plan.concurrency), max(plan.concurrency)
    s_few, s_many = shoal.runs[few], shoal.runs[many]
    b_many = bare.runs[many]
    ratio = s_many.rate / b_many.rate if b_many.rate else 0.0
    p99 = s_many.ms(0.99)
    met = p99 < TARGET_P99_MS
    valid = all(
        r.good == r.count > 0 and r.errors == 0 for t in (shoal, bare) for r in t.runs.values()
    )
    figure = Figure(
        "timeline",
        f"{few} client p99 {s_few.ms(0.99):.1f} ms, {many} clients p99 {p99:.1f} ms "
        f"(target < {TARGET_P99_MS:.0f} ms: {'met' if met else 'NOT met'}); "
        f"{s_many.rate:,.0f} req/s = {ratio:.2f} {TIMES} bare",
        valid=valid,
    )
    c = data.counts
    figure.notes.append(
        f"data: {c['statuses']:,} statuses ({c['boosts']:,} boosts, {c['replies']:,} replies, "
        f"~{c['content_chars']} characters) by {c['actors']:,} actors ({plan.local} local, "
        f"{plan.domains} domains), {c['mentions']:,} mentions, {c['tags']:,} hashtags, "
        f"{c['favourites']:,} favourites, {c['follows']:,} follows; the viewer follows "
        f"{plan.followed}, has {c['viewer_statuses']:,} statuses, {c['viewer_favourites']:,} "
        f"favourites, {c['viewer_bookmarks']:,} bookmarks, is mentioned "
        f"{c['viewer_mentions']:,} times; "
        f"built with SQL in {data.seconds:.0f} s, VACUUM ANALYZE {data.vacuum_seconds:.0f} s"
    )
    figure.notes.append(
        f"GET {HOME}?limit={LIMIT} ({plan.deep_share:.0%} with max_id: ends of pages 1-9 and "
        f"1-180 days back), {plan.requests:,} per setting (at most {plan.budget:.0f} s) "
        f"after {plan.warmup} warm-up, {plan.rounds} alternating rounds; a page is "
        f"{page_bytes / 1024:.0f} KiB of JSON, which the bare endpoint serialises too"
    )
    for clients in plan.concurrency:
        s, b = shoal.runs[clients], bare.runs[clients]
        short = "".join(
            f" ({name} answered {r.count:,} in the time budget)"
            for name, r in (("Shoal", s), ("bare", b))
            if r.count < plan.requests
        )
        figure.notes.append(
            f"{clients} client{'s' if clients > 1 else ''}{short}: Shoal {s.rate:,.0f} req/s, "
            f"p50 {s.ms(0.5):.1f} ms, p99 {s.ms(0.99):.1f} ms; bare {b.rate:,.0f} req/s, "
            f"p50 {b.ms(0.5):.1f} ms, p99 {b.ms(0.99):.1f} ms; ratio "
            f"{s.rate / b.rate if b.rate else 0.0:.2f} (by round: "
            + ", ".join(
                f"{x / y:.2f}" if y else "n/a"
                for x, y in zip(shoal.round_rates[clients], bare.round_rates[clients], strict=True)
            )
            + ")"
        )
        sm, bm = shoal.meters[clients], bare.meters[clients]
        figure.notes.append(
            f"  CPU per request: Shoal {cpu.ms(sm.per('server', s.count))} + PostgreSQL "
            f"{cpu.ms(sm.per('postgres', s.count))}; bare {cpu.ms(bm.per('server', b.count))}; "
            f"load generator {cpu.ms(sm.per('client', s.count))} / "
            f"{cpu.ms(bm.per('client', b.count))}; while Shoal ran: {sm.load()}"
        )
    for name, target in (("Shoal", shoal), ("bare", bare)):
        for clients, r in target.runs.items():
            if r.errors or r.first_problem or r.good != r.count:
                figure.notes.append(
                    f"{name} at {clients}: {r.good}/{r.count} full pages, {r.errors} transport "
                    f"errors; first problem: {r.first_problem}"
                )
    return [figure]


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        bare_main(sys.argv[2:])
    else:
        sys.exit("usage: python -m bench.timeline bare PORT FILE (run `python -m bench timeline`)")
