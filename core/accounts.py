"""Local accounts: members (Person), the collective (Group) and the instance actor."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from core import passwords
from core.errors import Conflict, Unprocessable
from core.settings import DEFAULT_COLLECTIVE_NAME, Settings
from core.text import plain_to_html
from core.urls import INSTANCE_ACTOR_USERNAME, Urls
from federation import keys
from storage import actors, instance
from storage.actors import ActorRow, UserRow
from storage.errors import AlreadyExists
from storage.pool import Conn, Pool

USERNAME_RE = re.compile(r"^[a-z0-9_]{1,30}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLES = ("admin", "moderator", "member")
# Names that would shadow something of ours or mislead members.
RESERVED = frozenset({"admin", "root", "instance", "actor", "inbox", "support", "about"})


@dataclass(frozen=True, slots=True)
class Collective:
    actor: ActorRow

    @property
    def name(self) -> str:
        return self.actor.display_name

    @property
    def description(self) -> str:
        """The description as the admin wrote it (plain text)."""
        return self.actor.summary_source or ""


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise Unprocessable("username must be 1-30 characters of a-z, 0-9 and _")
    return username


async def create_local_actor(
    con: Conn,
    urls: Urls,
    *,
    username: str,
    type: str = "Person",
    display_name: str = "",
    summary: str = "",
) -> ActorRow:
    # Key generation takes ~50-200 ms of CPU: keep it off the event loop.
    private_pem, public_pem = await asyncio.to_thread(keys.generate_rsa_keypair)
    if type == "Application":
        uri, inbox, outbox = urls.instance_actor, f"{urls.instance_actor}/inbox", None
        profile = f"{urls.base}/about"
    else:
        uri, inbox, outbox = urls.actor(username), urls.inbox(username), urls.outbox(username)
        profile = urls.profile(username)
    try:
        return await actors.insert_local(
            con,
            uri=uri,
            type=type,
            username=username,
            display_name=display_name,
            summary=summary,
            url=profile,
            inbox_uri=inbox,
            shared_inbox_uri=urls.shared_inbox,
            outbox_uri=outbox or f"{uri}/outbox",
            followers_uri=f"{uri}/followers",
            following_uri=f"{uri}/following",
            featured_uri=f"{uri}/collections/featured",
            public_key_pem=public_pem,
            private_key_pem=private_pem,
        )
    except AlreadyExists:
        raise Conflict(f"the name {username!r} is taken") from None


async def create_user(
    pool: Pool,
    urls: Urls,
    *,
    username: str,
    password: str,
    email: str | None = None,
    role: str = "member",
    display_name: str = "",
) -> tuple[UserRow, ActorRow]:
    username = validate_username(username)
    if username in RESERVED:
        raise Unprocessable(f"the name {username!r} is reserved")
    if len(password) < passwords.MIN_LENGTH:
        raise Unprocessable(f"password must be at least {passwords.MIN_LENGTH} characters")
    if email is not None and not EMAIL_RE.match(email):
        raise Unprocessable(f"{email!r} is not an email address")
    if role not in ROLES:
        raise Unprocessable(f"role must be one of {', '.join(ROLES)}")
    password_hash = await asyncio.to_thread(passwords.hash_password, password)
    async with pool.acquire() as con, con.transaction():
        if await actors.get_local(con, username) is not None:
            raise Conflict(f"the name {username!r} is taken")
        actor = await create_local_actor(
            con, urls, username=username, display_name=display_name or username
        )
        try:
            user = await actors.insert_user(
                con, actor_id=actor.id, email=email, password_hash=password_hash, role=role
            )
        except AlreadyExists:
            raise Conflict(f"the email {email!r} is taken") from None
    return user, actor


async def ensure_instance_actors(pool: Pool, settings: Settings, urls: Urls) -> Collective:
    """Create the collective's Group and the instance's Application actor if missing.

    A name or description given in the settings wins over what is stored, so an operator
    who sets SHOAL_COLLECTIVE_NAME sees it take effect on the next start.
    """
    async with pool.acquire() as con, con.transaction():
        # Serialise concurrent first starts of several processes.
        await con.execute("SELECT pg_advisory_xact_lock(0x5340A10002)")
        app = await actors.get_local(con, INSTANCE_ACTOR_USERNAME)
        if app is None:
            await create_local_actor(
                con,
                urls,
                username=INSTANCE_ACTOR_USERNAME,
                type="Application",
                display_name=settings.domain,
            )
        group = await actors.get_local(con, settings.collective_username)
        name = settings.collective_name
        description = settings.collective_description
        if group is None:
            group = await create_local_actor(
                con,
                urls,
                username=settings.collective_username,
                type="Group",
                display_name=name or DEFAULT_COLLECTIVE_NAME,
            )
        changes: dict[str, object] = {}
        if name is not None and name != group.display_name:
            changes["display_name"] = name
        if description is not None and description != group.summary_source:
            changes.update(_description_changes(description))
        if changes:
            group = await actors.update_local_profile(con, group.id, changes)
        await instance.set_setting(con, "collective_username", group.username)
    return Collective(actor=group)


def _description_changes(description: str) -> dict[str, object]:
    return {"summary_source": description, "summary": plain_to_html(description)}


async def get_collective(pool: Pool, settings: Settings) -> Collective | None:
    async with pool.acquire() as con:
        group = await actors.get_local(con, settings.collective_username)
    if group is None:
        return None
    return Collective(actor=group)


async def set_collective(
    pool: Pool, settings: Settings, urls: Urls, *, name: str | None, description: str | None
) -> Collective:
    if name is not None and not name.strip():
        raise Unprocessable("the collective's name cannot be empty")
    if name is not None and len(name) > 100:
        raise Unprocessable("the collective's name is at most 100 characters")
    if description is not None and len(description) > 5000:
        raise Unprocessable("the description is at most 5000 characters")
    await ensure_instance_actors(pool, settings.replace(collective_name=None), urls)
    changes: dict[str, object] = {}
    if name is not None:
        changes["display_name"] = name.strip()
    if description is not None:
        changes.update(_description_changes(description))
    async with pool.acquire() as con, con.transaction():
        group = await actors.get_local(con, settings.collective_username)
        assert group is not None
        if changes:
            group = await actors.update_local_profile(con, group.id, changes)
    return Collective(actor=group)


async def list_users(pool: Pool) -> list[tuple[UserRow, ActorRow]]:
    async with pool.acquire() as con:
        return await actors.list_users(con)


async def count_users(pool: Pool) -> int:
    async with pool.acquire() as con:
        return await actors.count_local_users(con)
