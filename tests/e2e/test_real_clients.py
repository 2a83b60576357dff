"""The real clients Mastodon.py and toot against real Shoal servers on loopback ports.

Mastodon.py, as alice on instance A: create an app, check the version (its "created"
mode reads /api/v1/instance and /api/v2/instance), log in with the password grant and
with the authorization code + PKCE (by submitting the consent form), post with a content
warning, read the home timeline, resolve and follow bob on instance B, see bob's next
post arrive (home timeline, mention notification, streaming WebSocket and server-sent
events), favourite and boost it, and check that B recorded both.

toot, in a subprocess with its own config directory: ``login_cli`` (password grant) and
``login`` (the code it asks for comes from the consent form), ``whoami``, ``post`` with a
content warning, ``timelines home``.

Every JSON body either client received is checked against the entity Mastodon documents
for that endpoint (tests/schema.py): Mastodon.py's through a requests session hook,
toot's from its ``--debug --verbose`` log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import requests
from mastodon import Mastodon, StreamListener
from websockets.asyncio.client import connect as websocket_connect

from core import accounts
from server.api import streaming as streaming_api
from tests import api, rig, schema

pytestmark = pytest.mark.e2e

SCOPES = ["read", "write", "follow", "push"]
REDIRECT = "http://127.0.0.1/shoal-e2e-callback"
OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "a long password"
WAIT = 20.0  # seconds, for anything that crosses instances or a process boundary
# Mastodon.py's event-stream reader times out after SSE_READ_TIMEOUT seconds without a
# byte; Shoal's heartbeat comment, every 15 s, is made faster here to keep it reading.
SSE_READ_TIMEOUT = 3.0
SSE_HEARTBEAT = 0.25

T = TypeVar("T")


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Mastodon.py is synchronous: each call runs in a thread, off the servers' loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


# --- what the clients received, checked against the schema -------------------------


@dataclass
class Received:
    method: str
    path: str
    status: int
    signed_in: bool  # sent with a member's token
    body: Any


@dataclass
class Recorder:
    """Every JSON answer a client received, raw, as the server sent it."""

    seen: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self) -> requests.Session:
        """A requests session for Mastodon.py that records what it receives."""
        session = requests.Session()
        session.trust_env = False  # loopback only: no proxy from the environment
        session.hooks["response"].append(self._hook)
        return session

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not response.headers.get("content-type", "").startswith("application/json"):
            return  # the consent page, streams (not read here: that would consume them)
        request = response.request
        self.add(
            Received(
                method=str(request.method),
                path=urlsplit(str(request.url)).path,
                status=response.status_code,
                signed_in="Authorization" in request.headers,
                body=response.json(),
            )
        )

    def add(self, received: Received) -> None:
        with self.lock:
            self.seen.append(received)

    def check_all(self) -> set[str]:
        """Check every successful answer against its entity; the entities checked."""
        checked: set[str] = set()
        failures: list[str] = []
        for item in self.seen:
            if not 200 <= item.status < 300:
                continue
            name = schema.entity_for(item.method, item.path)
            if name is None:
                continue
            checked.add(name)
            found = schema.problems(name, item.body, signed_in=item.signed_in)
            failures += [f"{item.method} {item.path}: {p}" for p in found]
        assert not failures, "entities not as Mastodon documents them:\n" + "\n".join(failures)
        return checked


# --- the consent form, as a member fills it in a browser ---------------------------


async def consent(url: str, login: str, password: str = PASSWORD) -> httpx.Response:
    """Open the authorization page, fill in the form, press Authorize."""
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as browser:
        page = await browser.get(url, follow_redirects=True)
        assert page.status_code == 200, page.text
        fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
        form = {name: html.unescape(value) for name, value in fields}
        assert "csrf_token" in form and browser.cookies
        form.update(username=login, password=password, decision="authorize")
        [action] = re.findall(r'<form method="post" action="([^"]+)">', page.text)
        return await browser.post(page.url.join(action), data=form)


def shown_code(page: httpx.Response) -> str:
    """The code the out-of-band page shows for copying into the app."""
    assert page.status_code == 200, page.text
    [code] = re.findall(r'readonly value="([^"]+)"', page.text)
    return code


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- Mastodon.py ---------------------------------------------------------------------


async def register(instance: rig.Instance, recorder: Recorder) -> Mastodon:
    """An app, and a Mastodon.py client that checked the server's version on creation."""
    session = recorder.session()
    client_id, client_secret = await call(
        Mastodon.create_app,
        "Shoal e2e",
        scopes=SCOPES,
        redirect_uris=[REDIRECT, OOB],
        website="https://example.org/shoal-e2e",
        api_base_url=instance.base_url,
        session=session,
    )
    client = await call(
        Mastodon,
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=instance.base_url,
        version_check_mode="created",
        session=session,
        request_timeout=WAIT,
    )
    # It parsed "4.3.0 (compatible; Shoal …)" and api_versions.mastodon.
    assert (client.mastodon_major, client.mastodon_minor, client.mastodon_patch) == (4, 3, 0)
    assert client.mastodon_api_version == 2
    return client


async def password_login(app: Mastodon, email: str) -> str:
    token = await call(
        app.log_in, username=email, password=PASSWORD, scopes=SCOPES, allow_http=True
    )
    assert token
    return token


async def pkce_login(app: Mastodon, login: str, recorder: Recorder) -> str:
    """The authorization code with PKCE: Mastodon.py builds the URL; the member consents;
    the code is exchanged with its verifier. (Mastodon.py 2.3 has no PKCE: its ``log_in``
    cannot send a code_verifier, so the exchange is the app's own POST.)"""
    verifier, challenge = pkce_pair()
    url = await call(
        app.auth_request_url, redirect_uris=REDIRECT, scopes=SCOPES, state="s-42", allow_http=True
    )
    url += "&" + urlencode({"code_challenge": challenge, "code_challenge_method": "S256"})
    redirected = await consent(url, login)
    assert redirected.status_code == 302, redirected.text
    back = parse_qs(urlsplit(redirected.headers["location"]).query)
    assert back["state"] == ["s-42"]
    exchange = {
        "grant_type": "authorization_code",
        "code": back["code"][0],
        "redirect_uri": REDIRECT,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code_verifier": verifier,
    }
    granted = await call(
        recorder.session().post, f"{app.api_base_url}/oauth/token", data=exchange, timeout=WAIT
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"].split() == SCOPES
    return str(granted.json()["access_token"])


async def member_client(instance: rig.Instance, token: str, recorder: Recorder) -> Mastodon:
    return await call(
        Mastodon,
        access_token=token,
        api_base_url=instance.base_url,
        version_check_mode="created",
        session=recorder.session(),
        request_timeout=WAIT,
    )


class Collector(StreamListener):
    """What a Mastodon.py stream listener was given, for the test to wait on."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.updates: list[Any] = []
        self.notifications: list[Any] = []

    def handle_heartbeat(self) -> None:
        self.connected.set()  # Shoal opens its event stream with a ":)" comment

    def on_update(self, status: Any) -> None:
        self.updates.append(status)

    def on_notification(self, notification: Any) -> None:
        self.notifications.append(notification)


@dataclass
class WebSocketStream:
    """The user stream over Mastodon's WebSocket: raw frames, and what Mastodon.py's
    listener makes of each (``handle_websocket_message``, its WebSocket decoding)."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    listener: Collector = field(default_factory=Collector)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(f["payload"]) for f in self.frames if f.get("event") == name]


@contextlib.asynccontextmanager
async def websocket_user_stream(streaming_url: str, token: str) -> AsyncIterator[WebSocketStream]:
    stream = WebSocketStream()
    url = f"{streaming_url}/api/v1/streaming?stream=user"
    headers = {"Authorization": f"Bearer {token}"}
    async with websocket_connect(
        url, additional_headers=headers, proxy=None, open_timeout=WAIT
    ) as socket:

        async def read() -> None:
            async for frame in socket:
                message = json.loads(frame)
                stream.frames.append(message)
                stream.listener.handle_websocket_message(message)

        reader = asyncio.create_task(read())
        try:
            yield stream
        finally:
            if reader.done():
                reader.result()  # what went wrong while reading, if anything did
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


# --- the two-instance flow -----------------------------------------------------------


async def db_value(instance: rig.Instance, query: str, *args: Any) -> Any:
    async with instance.services.pool.acquire() as con:
        return await con.fetchval(query, *args)


async def test_mastodon_py_across_two_instances(
    cluster: rig.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming_api, "HEARTBEAT", SSE_HEARTBEAT)
    recorder = Recorder()
    async with (
        rig.running_instance(cluster) as a,
        rig.running_instance(cluster) as b,
        b.client() as client_b,
    ):
        await accounts.create_user(
            a.services.pool, a.services.urls, username="alice", password=PASSWORD,
            email="alice@example.org",
        )  # fmt: skip
        bob = await api.member(b.services, client_b, "bob")

        # An app; the password grant; the authorization code with PKCE.
        app = await register(a, recorder)
        password_token = await password_login(app, "alice@example.org")
        assert (await call(app.account_verify_credentials)).acct == "alice"
        assert (await call(app.app_verify_credentials)).name == "Shoal e2e"
        token = await pkce_login(app, "alice", recorder)
        assert token != password_token
        alice = await member_client(a, token, recorder)
        me = await call(alice.account_verify_credentials)
        assert me.username == "alice" and me.source.privacy == "public"

        # A post with a content warning, on her home timeline.
        warned = await call(alice.status_post, "Minutes of Tuesday", spoiler_text="long read")
        assert warned.spoiler_text == "long read" and warned.sensitive is True
        assert warned.application.name == "Shoal e2e"
        home = await call(alice.timeline_home)
        assert [s.id for s in home][:1] == [warned.id]
        assert home[0].spoiler_text == "long read"

        # She finds bob on B by his address, and follows him.
        found = await call(alice.search_v2, f"@bob@{b.domain}", resolve=True)
        [bob_at_a] = found.accounts
        assert bob_at_a.acct == f"bob@{b.domain}" and bob_at_a.uri == bob.actor.uri
        await call(alice.account_follow, bob_at_a.id)

        async def following() -> bool:
            [relation] = await call(alice.account_relationships, bob_at_a.id)
            return bool(relation.following)

        await rig.wait_for(following, timeout=WAIT, what="B to accept alice's follow")

        # Before bob posts, alice listens: the WebSocket, and Mastodon.py's SSE stream.
        streaming_url = (await call(alice.instance_v1)).urls.streaming_api
        assert streaming_url == f"ws://{a.domain}"
        sse = Collector()
        sse_client = await member_client(a, token, recorder)
        handle = await call(sse_client.stream_user, sse, run_async=True, timeout=SSE_READ_TIMEOUT)
        try:
            assert await call(sse.connected.wait, WAIT), "no event stream from A"
            async with websocket_user_stream(streaming_url, token) as socket:
                post_uri = await bob_posts(client_b, bob, a)
                await see_the_post(alice, post_uri, socket, sse)
                bobs_post = await favourite_and_boost(alice, post_uri)
                await b_recorded_both(b, alice_uri=me.uri, post_uri=post_uri)
                assert bobs_post.favourited and bobs_post.reblogged
        finally:
            # Mastodon.py's close() does not wake its reader blocked on the socket; it
            # stops at the next read timeout, which the fast heartbeat lets be short.
            handle.close()
            await call(handle.join, SSE_READ_TIMEOUT + WAIT)
        assert not handle.is_alive()

        # The rest of what an app reads back: thread, source, edit history, markers.
        await read_back(alice, warned.id)

    checked = recorder.check_all()
    assert {
        *("CredentialApplication", "Application", "Token", "InstanceV1", "Instance"),
        *("CredentialAccount", "Status", "Status[]", "Search", "Relationship"),
        *("Relationship[]", "Notification[]", "Context", "StatusSource", "StatusEdit[]"),
        "Markers",
    } <= checked


async def bob_posts(client_b: httpx.AsyncClient, bob: api.Member, a: rig.Instance) -> str:
    """bob, on B, posts mentioning alice (through B's API); the post's URI."""
    posted = await client_b.post(
        "/api/v1/statuses",
        headers=bob.headers,
        data={"status": f"@alice@{a.domain} seed swap on Sunday, bring jars"},
    )
    assert posted.status_code == 200, posted.text
    assert [m["acct"] for m in posted.json()["mentions"]] == [f"alice@{a.domain}"]
    return str(posted.json()["uri"])


async def see_the_post(
    alice: Mastodon, post_uri: str, socket: WebSocketStream, sse: Collector
) -> None:
    """bob's post reaches alice: home timeline, mention notification, both streams."""

    async def in_home() -> bool:
        return post_uri in {s.uri for s in await call(alice.timeline_home)}

    await rig.wait_for(in_home, timeout=WAIT, what="bob's post in alice's home timeline")

    async def mentioned() -> list[Any]:
        found = await call(alice.notifications, types=["mention"])
        return [n for n in found if n.status and n.status.uri == post_uri]

    [mention] = await rig.wait_for(mentioned, timeout=WAIT, what="a mention notification")
    assert mention.type == "mention" and mention.account.acct.startswith("bob@")

    def streamed() -> bool:
        updates = [s for s in socket.events("update") if s["uri"] == post_uri]
        notes = [n for n in socket.events("notification") if n["type"] == "mention"]
        return bool(updates and notes)

    await rig.wait_for(_async(streamed), timeout=WAIT, what="bob's post on the WebSocket")
    for frame in socket.frames:
        assert frame["stream"] == ["user"], frame
    for status in socket.events("update"):
        schema.check("Status", status, signed_in=True)
    for notification in socket.events("notification"):
        schema.check("Notification", notification, signed_in=True)
    # Mastodon.py decoded the same frames.
    assert post_uri in {s.uri for s in socket.listener.updates}
    assert "mention" in {n.type for n in socket.listener.notifications}

    def on_sse() -> bool:
        return post_uri in {s.uri for s in sse.updates}

    await rig.wait_for(_async(on_sse), timeout=WAIT, what="bob's post on the SSE stream")


def _async(check: Callable[[], bool]) -> Callable[[], Any]:
    async def wrapped() -> bool:
        return check()

    return wrapped


async def favourite_and_boost(alice: Mastodon, post_uri: str) -> Any:
    [local] = [s for s in await call(alice.timeline_home) if s.uri == post_uri]
    favourited = await call(alice.status_favourite, local.id)
    assert favourited.favourited is True and favourited.favourites_count == 1
    boost = await call(alice.status_reblog, local.id)
    assert boost.reblog.id == local.id and boost.reblog.reblogged is True
    return await call(alice.status, local.id)


async def b_recorded_both(b: rig.Instance, *, alice_uri: str, post_uri: str) -> None:
    """B, bob's instance, stored alice's Like and Announce of his post."""

    async def favourite() -> Any:
        return await db_value(
            b,
            "SELECT f.id FROM favourites f JOIN actors a ON a.id = f.actor_id"
            " JOIN statuses s ON s.id = f.status_id WHERE a.uri = $1 AND s.uri = $2",
            alice_uri,
            post_uri,
        )

    async def reblog() -> Any:
        return await db_value(
            b,
            "SELECT r.id FROM statuses r JOIN actors a ON a.id = r.actor_id"
            " JOIN statuses s ON s.id = r.reblog_of_id WHERE a.uri = $1 AND s.uri = $2",
            alice_uri,
            post_uri,
        )

    await rig.wait_for(favourite, timeout=WAIT, what="alice's favourite recorded at B")
    await rig.wait_for(reblog, timeout=WAIT, what="alice's boost recorded at B")


async def read_back(alice: Mastodon, warned_id: Any) -> None:
    reply = await call(alice.status_post, "Typos fixed", in_reply_to_id=warned_id)
    context = await call(alice.status_context, warned_id)
    assert [s.id for s in context.descendants] == [reply.id]
    source = await call(alice.status_source, warned_id)
    assert source.text == "Minutes of Tuesday" and source.spoiler_text == "long read"
    edited = await call(alice.status_update, warned_id, "Minutes of Tuesday, v2", "long read")
    assert edited.edited_at is not None
    history = await call(alice.status_history, warned_id)
    assert len(history) == 2 and history[-1].spoiler_text == "long read"
    await call(alice.markers_set, ["home"], [reply.id])
    markers = await call(alice.markers_get, ["home"])
    assert str(markers["home"].last_read_id) == str(reply.id)


# --- toot ------------------------------------------------------------------------------


@dataclass
class Toot:
    """The toot CLI in a subprocess, with its own config directory."""

    home: Path
    recorder: Recorder

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / "config"),
            XDG_CACHE_HOME=str(self.home / "cache"),
            NO_PROXY="127.0.0.1,localhost",
            COLUMNS="100",
        )
        env.pop("TOOT_TESTING", None)
        return env

    def command(self, *args: str) -> list[str]:
        # --debug --verbose: toot logs each response body, which is checked below.
        return [sys.executable, "-m", "toot", "--debug", "--verbose", *args]

    async def run(self, *args: str, stdin: bytes | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            *self.command(*args),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env(),
        )
        return await self.finish(proc, stdin)

    async def finish(self, proc: asyncio.subprocess.Process, stdin: bytes | None = None) -> str:
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=WAIT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        self.record(err.decode())
        assert proc.returncode == 0, (
            f"toot failed ({proc.returncode}):\n{out.decode()}{err.decode()}"
        )
        return out.decode()

    def record(self, log: str) -> None:
        """Each response toot logged: `<-- METHOD URL HTTP 200 12ms`, then its body."""
        signed_in = False
        pending: tuple[str, str, int] | None = None
        for line in log.splitlines():
            if line.startswith("DEBUG:toot: --> HEADERS:"):
                signed_in = "'Authorization'" in line
            elif m := re.match(r"DEBUG:toot: <-- ([A-Z]+) (\S+) HTTP (\d+) ", line):
                pending = (m[1], urlsplit(m[2]).path, int(m[3]))
            elif pending and line.startswith("DEBUG:toot: <-- "):
                body = line.removeprefix("DEBUG:toot: <-- ")
                if body[:1] in "{[":
                    method, path, status = pending
                    self.recorder.add(Received(method, path, status, signed_in, json.loads(body)))
                pending = None


async def test_toot_cli(cluster: rig.Cluster, tmp_path: Path) -> None:
    recorder = Recorder()
    async with rig.running_instance(cluster) as a:
        _, carol = await accounts.create_user(
            a.services.pool, a.services.urls, username="carol", password=PASSWORD,
            email="carol@example.org",
        )  # fmt: skip

        # login_cli: the password grant, from the command line.
        toot = Toot(tmp_path / "cli", recorder)
        logged_in = await toot.run(
            "login_cli", "-i", a.base_url, "-e", "carol@example.org", "-p", PASSWORD
        )
        assert "Successfully logged in" in logged_in
        config = json.loads((tmp_path / "cli/config/toot/config.json").read_text())
        assert config["active_user"] == f"carol@{a.domain}"
        assert config["apps"][a.domain]["base_url"] == a.base_url

        whoami = await toot.run("whoami")
        assert "@carol" in whoami and f"{a.base_url}/@carol" in whoami

        # A post with a content warning.
        posted = await toot.run("post", "Bike repair night, Thursday", "-p", "logistics")
        [url] = re.findall(r"Toot posted: (\S+)", posted)
        async with a.services.pool.acquire() as con:
            row = await con.fetchrow(
                "SELECT id, spoiler_text, sensitive, content, actor_id, data FROM statuses"
                " WHERE url = $1",
                url,
            )
        assert row is not None and row["actor_id"] == carol.id
        assert row["spoiler_text"] == "logistics" and row["sensitive"] is True
        assert "Bike repair night" in row["content"]
        assert row["data"]["application"]["name"] == "toot - a Mastodon CLI client"

        # The home timeline, as text and as JSON. (toot's text view leaves out the
        # content warning; the JSON has it.)
        timeline = await toot.run("timelines", "home", "--no-pager", "--no-clear")
        assert "Bike repair night, Thursday" in timeline and str(row["id"]) in timeline
        raw = json.loads(await toot.run("timelines", "home", "--json"))
        assert raw[0]["id"] == str(row["id"]) and raw[0]["spoiler_text"] == "logistics"

        # login: the authorization code, copied from the consent page into toot's prompt.
        await toot_browser_login(Toot(tmp_path / "browser", recorder), a)

    checked = recorder.check_all()
    assert {
        *("InstanceV1", "CredentialApplication", "Token", "CredentialAccount"),
        *("Status", "Status[]"),
    } <= checked


async def toot_browser_login(toot: Toot, a: rig.Instance) -> None:
    proc = await asyncio.create_subprocess_exec(
        *toot.command("login", "-i", a.base_url),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=toot.env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = ""
        while not url.startswith(f"{a.base_url}/oauth/authorize"):
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=WAIT)
            assert line, "toot ended before showing the login URL"
            url = line.decode().strip()
        proc.stdin.write(b"n\n")  # "Open link in default browser?" No: we are the browser.
        code = shown_code(await consent(url, "carol@example.org"))
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    out = await toot.finish(proc, f"{code}\n".encode())
    assert "Successfully logged in" in out
    whoami = await toot.run("whoami")
    assert "@carol" in whoami
