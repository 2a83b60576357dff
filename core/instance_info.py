"""What the instance says about itself to Mastodon apps: name, counts, contact, peers and
weekly activity. Everything here is public: apps read it before anyone logs in."""

from __future__ import annotations

from dataclasses import dataclass

from core import oauth
from core.accounts import Collective
from core.services import Services
from core.settings import DEFAULT_COLLECTIVE_NAME
from core.views import AccountView, account_views
from storage import actors, instance_activity, stats
from storage.instance_activity import Week

ACTIVITY_WEEKS = 12


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    domain: str
    title: str
    description: str  # plain text, as the admin wrote it
    description_html: str
    email: str
    thumbnail: str | None
    user_count: int
    status_count: int
    domain_count: int
    active_month: int
    contact: AccountView | None
    languages: list[str]
    vapid_public_key: str


async def facts(services: Services) -> InstanceFacts:
    settings = services.settings
    async with services.pool.acquire() as con:
        usage = await stats.usage(con)
        domains = await instance_activity.count_domains(con)
        group = await actors.get_local(con, settings.collective_username)
        admins = await stats.admin_actor_uris(con)
        admin = await actors.get_by_uri(con, admins[0]) if admins else None
        admin_user = await actors.get_user_by_actor(con, admin.id) if admin else None
        contact = (await account_views(con, [admin]))[0] if admin else None
    collective = Collective(actor=group) if group is not None else None
    return InstanceFacts(
        domain=settings.domain,
        title=collective.name
        if collective
        else settings.collective_name or DEFAULT_COLLECTIVE_NAME,
        description=collective.description if collective else "",
        description_html=group.summary if group else "",
        email=(admin_user.email or "") if admin_user else "",
        thumbnail=(group.image_url or group.icon_url) if group else None,
        user_count=usage.users_total,
        status_count=usage.local_posts,
        domain_count=domains,
        active_month=usage.active_month,
        contact=contact,
        languages=[admin_user.locale] if admin_user else ["en"],
        vapid_public_key=await oauth.vapid_public_key(services),
    )


async def peers(services: Services) -> list[str]:
    async with services.pool.acquire() as con:
        return await instance_activity.known_domains(con)


async def activity(services: Services) -> list[Week]:
    async with services.pool.acquire() as con:
        return await instance_activity.weekly_activity(con, ACTIVITY_WEEKS)
