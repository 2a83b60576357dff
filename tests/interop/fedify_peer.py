"""Drive a real Fedify ActivityPub peer (``fedify/peer.mjs``) from async tests.

    async with FedifyPeer.start() as peer:
        await peer.follow("http://127.0.0.1:8000/users/alice")  # an actor URL, not a handle
        await peer.wait_for(lambda: accepted(peer))  # any sync/async predicate
        creates = [a for a in await peer.inbox() if a["type"] == "Create"]

The first use in a process runs ``fedify/install.sh`` (npm installs Fedify and a
Node 22 binary into ``<repo>/.cache/fedify``; later runs reuse it). Each peer is a
``node peer.mjs`` subprocess on its own 127.0.0.1 port, logging to
``.cache/fedify/logs/``; it is stopped (killed if need be) when the block exits,
and it also exits by itself if this process dies (it watches its stdin).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar, overload

import aiohttp

HERE = Path(__file__).resolve().parent
PEER_SRC = HERE / "fedify"
REPO = HERE.parents[1]
CACHE = Path(os.environ.get("SHOAL_FEDIFY_CACHE", REPO / ".cache" / "fedify"))
INSTALL_TIMEOUT = 900.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
AP_ACCEPT = "application/activity+json"
SIGNATURE_SCHEMES = ("rfc9421", "draft-cavage-http-signatures-12")

T = TypeVar("T")


class FedifyUnavailable(RuntimeError):
    """Fedify (or the Node 22 it needs) could not be installed or started."""


class FedifyError(RuntimeError):
    """The peer's control API answered with an error."""


_install_lock = threading.Lock()
_node: Path | None = None
_install_error: FedifyUnavailable | None = None
_serial = itertools.count(1)
LOG_MAX_AGE = 24 * 3600.0


def install() -> Path:
    """Run install.sh once per process; return the Node 22 binary. Blocking."""
    global _node, _install_error
    with _install_lock:
        if _node is not None:
            return _node
        if _install_error is not None:  # do not retry a failed install in every test
            raise _install_error
        try:
            _node = _run_install()
        except FedifyUnavailable as e:
            _install_error = e
            raise
        _prune_logs()
        return _node


def _run_install() -> Path:
    env = {**os.environ, "SHOAL_FEDIFY_CACHE": str(CACHE)}
    try:
        done = subprocess.run(
            ["bash", str(PEER_SRC / "install.sh")],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FedifyUnavailable(f"could not run fedify/install.sh: {e}") from e
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        raise FedifyUnavailable(
            f"fedify/install.sh failed (exit {done.returncode}); the Fedify interop peer "
            f"needs npm and the npm registry.\n--- stderr ---\n{done.stderr[-4000:]}"
        )
    return Path(lines[-1])


class FedifyPeer:
    """A running Fedify peer with one Person actor, ``fedi``."""

    def __init__(self, base_url: str, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.base_url = base_url
        self.actor_url = f"{base_url}/users/fedi"
        self.inbox_url = f"{base_url}/users/fedi/inbox"
        self.shared_inbox_url = f"{base_url}/inbox"
        self.handle = f"fedi@{base_url.removeprefix('http://')}"
        self.log_path = log_path
        self._proc = proc
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        port: int | None = None,
        *,
        first_knock: str | None = None,
        prefer_shared_inbox: bool = False,
        log_level: str | None = None,
    ) -> AsyncIterator[FedifyPeer]:
        """Start a peer on 127.0.0.1:``port`` (a free one if None).

        ``first_knock``: the HTTP Signatures scheme tried first with a new host,
        "rfc9421" (Fedify's default) or "draft-cavage-http-signatures-12".
        ``prefer_shared_inbox``: deliver to ``endpoints.sharedInbox`` when present.
        ``log_level``: LogTape level for Fedify's logs ("debug" shows signature details).
        """
        if first_knock not in (None, *SIGNATURE_SCHEMES):
            raise ValueError(f"first_knock must be one of {SIGNATURE_SCHEMES}")
        node = await asyncio.to_thread(install)
        logs = CACHE / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"peer-{os.getpid()}-{next(_serial)}.log"
        env = {**os.environ}
        if first_knock:
            env["FEDIFY_FIRST_KNOCK"] = first_knock
        if prefer_shared_inbox:
            env["FEDIFY_PREFER_SHARED_INBOX"] = "1"
        if log_level:
            env["FEDIFY_PEER_LOG"] = log_level
        with open(log_path, "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                str(node),
                str(CACHE / "peer.mjs"),
                "--port",
                str(port or 0),
                "--watch-stdin",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=CACHE,
                env=env,
            )
        peer: FedifyPeer | None = None
        try:
            base_url = await _wait_ready(proc, log_path)
            peer = cls(base_url, proc, log_path)
            await peer._check_serving()
            yield peer
        finally:
            if peer is not None:
                await peer._http.close()
            await _stop(proc)

    # ---- control API ---------------------------------------------------------------

    async def follow(self, actor_url: str) -> str:
        """Send Follow(actor) from fedi; return the Follow's id. State starts 'pending'.

        Pass an actor URL: Fedify resolves ``acct:`` handles over https only.
        """
        return str((await self._call("POST", "follow", {"actor": actor_url}))["id"])

    async def unfollow(self, actor_url: str) -> str:
        """Send Undo(Follow) to a followed actor; return the Undo's id."""
        return str((await self._call("POST", "unfollow", {"actor": actor_url}))["id"])

    async def post(self, text: str) -> str:
        """Publish a public Note (Create to followers); return the Note's id."""
        return str((await self._call("POST", "post", {"text": text}))["id"])

    async def inbox(self) -> list[dict[str, Any]]:
        """Verified activities received, in order, as JSON received, plus
        ``verified: True`` and ``_received: {path, signature}``."""
        return list(await self._call("GET", "inbox"))

    async def followers(self) -> list[str]:
        return list(await self._call("GET", "followers"))

    async def following(self) -> list[dict[str, Any]]:
        """``[{actor, id, state}]`` with state 'pending' | 'accepted' | 'rejected'."""
        return list(await self._call("GET", "following"))

    async def errors(self) -> list[dict[str, Any]]:
        """Inbound requests Fedify refused (kind 'unverified', with reason/keyId),
        inbox listener errors ('inbox') and failed deliveries ('outbox')."""
        return list(await self._call("GET", "errors"))

    @overload
    async def wait_for(
        self, predicate: Callable[[], Awaitable[T]], timeout: float = ..., interval: float = ...
    ) -> T: ...
    @overload
    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = ..., interval: float = ...
    ) -> T: ...
    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 15.0,
        interval: float = 0.1,
    ) -> Any:
        """Poll ``predicate`` (sync or async) until it returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                problems = await self.errors()
                raise TimeoutError(
                    f"condition not met within {timeout}s; peer errors: {problems!r}; "
                    f"log: {self.log_path}\n{self.log_tail()}"
                )
            await asyncio.sleep(interval)

    def log_tail(self, lines: int = 40) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # ---- internals -----------------------------------------------------------------

    async def _call(self, method: str, op: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}/_control/{op}"
        async with self._http.request(method, url, json=body) as resp:
            data = await resp.json(content_type=None)
            if resp.status != 200:
                raise FedifyError(f"{method} {op} -> {resp.status}: {data}\n{self.log_tail()}")
            return data

    async def _check_serving(self) -> None:
        async with self._http.get(self.actor_url, headers={"Accept": AP_ACCEPT}) as resp:
            if resp.status != 200:
                raise FedifyUnavailable(f"peer does not serve {self.actor_url}: {resp.status}")


async def _wait_ready(proc: asyncio.subprocess.Process, log_path: Path) -> str:
    stdout = proc.stdout
    assert stdout is not None

    async def read() -> str:
        while line := await stdout.readline():
            if line.startswith(b"READY "):
                return line.decode().split()[1]
        raise FedifyUnavailable(f"peer exited ({await proc.wait()}) before it was ready")

    try:
        return await asyncio.wait_for(read(), START_TIMEOUT)
    except (TimeoutError, FedifyUnavailable) as e:
        tail = log_path.read_text(errors="replace")[-4000:]
        raise FedifyUnavailable(
            f"Fedify peer did not start: {e!r}\n--- {log_path} ---\n{tail}"
        ) from e


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    if proc.returncode is None:
        with suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    else:
        await proc.wait()


def _prune_logs() -> None:
    cutoff = time.time() - LOG_MAX_AGE
    for old in (CACHE / "logs").glob("peer-*.log"):
        with suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
