"""Discovery: who our actors are by WebFinger, and what this instance is by NodeInfo.

Errors: a malformed resource is `BadRequest` (its reason is shown), a resource that is not
one of our actors is `NotFound`, and an actor that was deleted is `Gone`: like Mastodon,
which answers 410 for an account that will not come back, so peers can tell it from a typo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, cast
from urllib.parse import unquote, urlsplit

from core.accounts import Collective
from core.errors import BadRequest, Gone, NotFound
from core.services import Services
from core.settings import DEFAULT_COLLECTIVE_NAME, Settings
from core.urls import INSTANCE_ACTOR_USERNAME, Urls
from federation import nodeinfo as ni
from federation import webfinger as wf
from storage import actors, stats
from storage.actors import ActorRow

# FEP-2677: the NodeInfo discovery document links the instance's Application actor.
APPLICATION_REL: Final = "https://www.w3.org/ns/activitystreams#Application"
# The FEPs this release implements; docs/FEDERATION.md (FEP-67ff) must list the same.
FEPS: Final = ("fep-1b12", "fep-2677", "fep-67ff", "fep-f1d5")


async def webfinger(
    services: Services, resource: str, *, rels: Sequence[str] = ()
) -> dict[str, Any]:
    """The JRD of the local actor `resource` names: `acct:name@domain` (with or without
    `acct:`), its actor URL or its profile URL. With `rels`, only links of those relations
    are kept (RFC 7033 §4.3)."""
    settings, urls = services.settings, services.urls
    username, asked_url = _resolve(resource, settings, urls)
    async with services.pool.acquire() as con:
        actor = await actors.get_local(con, username)
    if actor is None or (asked_url is not None and not _has_url(actor, asked_url)):
        raise NotFound("no such account on this instance")
    if actor.deleted_at is not None:
        raise Gone("this account has been deleted")
    aliases = [actor.uri] + ([actor.url] if actor.url and actor.url != actor.uri else [])
    jrd = wf.build_jrd(
        subject=f"acct:{actor.username}@{settings.domain}",
        aliases=aliases,
        actor_url=actor.uri,
        profile_url=actor.url or actor.uri,
    )
    if rels:
        wanted = set(rels)
        jrd["links"] = [link for link in jrd["links"] if link["rel"] in wanted]
    return jrd


def _resolve(resource: str, settings: Settings, urls: Urls) -> tuple[str, str | None]:
    """The local username a resource asks for and, for a URL, that URL on our base (which the
    actor found must have as its id or profile page). BadRequest when malformed, NotFound
    when it is not ours."""
    domain = settings.domain.lower()
    if _is_domain_acct(resource, domain):
        return INSTANCE_ACTOR_USERNAME, None
    try:
        parsed = wf.parse_resource(resource)
    except wf.WebFingerError as exc:
        raise BadRequest(exc.reason) from None
    if isinstance(parsed, wf.AcctResource):
        if parsed.domain != domain:
            raise NotFound("that account is not on this instance")
        return parsed.user, None
    return _resolve_url(parsed.url, domain, urls)


def _is_domain_acct(resource: str, domain: str) -> bool:
    """`acct:DOMAIN@DOMAIN` names the instance actor, as on Mastodon. Checked before the
    generic parser because with a port (`localhost:8000@localhost:8000`) the user part
    holds a colon, which an acct user part cannot."""
    text = resource.strip()
    if text[:5].lower() == "acct:":
        text = text[5:]
    return unquote(text).removeprefix("@").lower() == f"{domain}@{domain}"


def _resolve_url(url: str, domain: str, urls: Urls) -> tuple[str, str]:
    # Like Mastodon, a URL is ours when its host (and port) is our domain, whatever the
    # scheme: an https link to a development instance still names the same actor.
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise BadRequest("invalid URL resource") from None
    authority = (parts.hostname or "") + (f":{port}" if port is not None else "")
    if authority != domain:
        raise NotFound("that URL is not on this instance")
    path = unquote(parts.path)
    asked = f"{urls.base}{path}"
    if path == "/actor":
        return INSTANCE_ACTOR_USERNAME, asked
    for prefix in ("/users/", "/@"):
        name = path.removeprefix(prefix)
        if name != path and name and "/" not in name:
            return name, asked
    raise NotFound("that URL is not an account on this instance")


def _has_url(actor: ActorRow, url: str) -> bool:
    """True when `url` is the actor's id or profile page, in any case (usernames are
    case-insensitive). This keeps `/users/instance.actor`, which is neither, from resolving."""
    return url.lower() in (actor.uri.lower(), (actor.url or "").lower())


def nodeinfo_links(urls: Urls) -> dict[str, Any]:
    """`/.well-known/nodeinfo`: the NodeInfo versions, and the instance actor (FEP-2677)."""
    document = ni.build_well_known(urls.base)
    document["links"].append({"rel": APPLICATION_REL, "href": urls.instance_actor})
    return document


def host_meta_xml(settings: Settings) -> str:
    return wf.build_host_meta(settings.domain, settings.scheme)


def host_meta_json(settings: Settings) -> dict[str, Any]:
    return wf.build_host_meta_json(settings.domain, settings.scheme)


def is_nodeinfo_version(version: str) -> bool:
    return version in ni.NODEINFO_CONTENT_TYPE


async def nodeinfo(services: Services, version: str, *, software_version: str) -> dict[str, Any]:
    """The NodeInfo document of `version` ("2.0" or "2.1"); NotFound for any other."""
    if not is_nodeinfo_version(version):
        raise NotFound(f"no NodeInfo version {version!r} here")
    settings = services.settings
    async with services.pool.acquire() as con:
        usage = await stats.usage(con)
        staff = await stats.admin_actor_uris(con)
        group = await actors.get_local(con, settings.collective_username)
    # The collective's Group is created at start-up; the settings are a fallback only.
    if group is None:
        name = settings.collective_name or DEFAULT_COLLECTIVE_NAME
        description = settings.collective_description or ""
        handle = settings.collective_username
    else:
        collective = Collective(actor=group)
        name, description, handle = collective.name, collective.description, group.username
    metadata = {
        "nodeName": name,
        "nodeDescription": description,
        # Federation policy (allowlist/blocklist, managed by admins) comes in a later change;
        # until then every instance federates in blocklist mode with an empty list.
        "federation": {"mode": "blocklist", "allowlistPublic": True},
        # Only what this release does: events and mutual aid are not implemented yet.
        "capabilities": {"posts": True, "events": False, "mutualAid": False},
        "feps": list(FEPS),
        "collective": f"@{handle}@{settings.domain}",
        "staffAccounts": staff,
    }
    return ni.build_nodeinfo(
        cast(ni.NodeInfoVersion, version),
        software_version=software_version,
        repository=None,
        homepage=None,
        # No sign-up yet: admins create members.
        open_registrations=False,
        users_total=usage.users_total,
        active_month=usage.active_month,
        active_halfyear=usage.active_halfyear,
        local_posts=usage.local_posts,
        metadata=metadata,
    )
