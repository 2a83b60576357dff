"""NodeInfo 2.0 / 2.1 (FEP-f1d5): the documents we serve and the look-up of a peer's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from federation.client import FetchError, HttpClient

__all__ = [
    "NODEINFO_CONTENT_TYPE",
    "SCHEMA_REL",
    "SOFTWARE_NAME",
    "WELL_KNOWN_CONTENT_TYPE",
    "NodeInfoSummary",
    "NodeInfoVersion",
    "build_nodeinfo",
    "build_well_known",
    "fetch_nodeinfo",
    "nodeinfo_path",
]

NodeInfoVersion = Literal["2.0", "2.1"]
_VERSIONS: Final[tuple[NodeInfoVersion, ...]] = ("2.0", "2.1")
_SCHEMA_PREFIX: Final = "http://nodeinfo.diaspora.software/ns/schema/"

SOFTWARE_NAME: Final = "shoal"
SCHEMA_REL: Final[Mapping[str, str]] = MappingProxyType(
    {version: f"{_SCHEMA_PREFIX}{version}" for version in _VERSIONS}
)
NODEINFO_CONTENT_TYPE: Final[Mapping[str, str]] = MappingProxyType(
    {version: f'application/json; profile="{_SCHEMA_PREFIX}{version}#"' for version in _VERSIONS}
)
WELL_KNOWN_CONTENT_TYPE: Final = "application/json"


@dataclass(frozen=True, slots=True)
class NodeInfoSummary:
    software_name: str  # lower-cased, e.g. "mastodon"
    software_version: str | None
    raw: Mapping[str, Any]


def nodeinfo_path(version: NodeInfoVersion) -> str:
    """The path our server serves a NodeInfo version at."""
    return f"/nodeinfo/{version}"


def build_well_known(base_url: str) -> dict[str, Any]:
    """`/.well-known/nodeinfo`: where each NodeInfo version lives."""
    base = base_url.rstrip("/")
    return {
        "links": [
            {"rel": SCHEMA_REL[version], "href": f"{base}{nodeinfo_path(version)}"}
            for version in _VERSIONS
        ]
    }


def build_nodeinfo(
    version: NodeInfoVersion,
    *,
    software_version: str,
    repository: str | None,
    homepage: str | None,
    open_registrations: bool,
    users_total: int,
    active_month: int,
    active_halfyear: int,
    local_posts: int,
    metadata: Mapping[str, Any],
) -> dict[str, Any]:
    """The NodeInfo document; 2.1 adds the software's repository and homepage."""
    if version not in _VERSIONS:
        raise ValueError(f"unsupported NodeInfo version: {version!r}")
    software: dict[str, str] = {"name": SOFTWARE_NAME, "version": software_version}
    if version == "2.1":
        # Both are optional in the 2.1 schema; an absent value is left out, not null.
        if repository is not None:
            software["repository"] = repository
        if homepage is not None:
            software["homepage"] = homepage
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": open_registrations,
        "usage": {
            "users": {
                "total": users_total,
                "activeMonth": active_month,
                "activeHalfyear": active_halfyear,
            },
            "localPosts": local_posts,
        },
        "metadata": dict(metadata),
    }


async def fetch_nodeinfo(
    client: HttpClient, domain: str, *, scheme: str = "https"
) -> NodeInfoSummary:
    """Read a peer's NodeInfo (the newest version it links); FetchError when unusable."""
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme: {scheme!r}")
    well_known = await client.get_json(
        f"{scheme}://{domain}/.well-known/nodeinfo", accept=WELL_KNOWN_CONTENT_TYPE
    )
    href = _newest_link(well_known.document)
    result = await client.get_json(href, accept="application/json")
    document = result.document
    if not isinstance(document, dict):
        raise FetchError("NodeInfo document is not an object")
    software = document.get("software")
    name = software.get("name") if isinstance(software, dict) else None
    if not isinstance(name, str) or not name:
        raise FetchError("NodeInfo document has no software name")
    version = software.get("version") if isinstance(software, dict) else None
    return NodeInfoSummary(
        software_name=name.lower(),
        software_version=version if isinstance(version, str) else None,
        raw=document,
    )


def _newest_link(document: Any) -> str:
    links = document.get("links") if isinstance(document, dict) else None
    if not isinstance(links, list):
        raise FetchError("NodeInfo discovery document has no links")
    best: tuple[tuple[int, ...], str] | None = None
    for link in links:
        if not isinstance(link, dict):
            continue
        rel, href = link.get("rel"), link.get("href")
        if not isinstance(rel, str) or not isinstance(href, str):
            continue
        if not rel.startswith(_SCHEMA_PREFIX):
            continue
        key = _version_key(rel.removeprefix(_SCHEMA_PREFIX))
        if key is not None and (best is None or key > best[0]):
            best = (key, href)
    if best is None:
        raise FetchError("NodeInfo discovery document has no schema link")
    return best[1]


def _version_key(text: str) -> tuple[int, ...] | None:
    parts = text.rstrip("#").split(".")
    if not all(part.isascii() and part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)
