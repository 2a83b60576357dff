"""Our rows as ActivityStreams documents: actors, notes and their addressing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.urls import Urls
from federation import vocab
from storage.actors import ActorRow
from storage.statuses import StatusRow


@dataclass(frozen=True, slots=True)
class Addressing:
    to: list[str]
    cc: list[str]


def addressing(
    visibility: str, followers_uri: str, mentioned: Sequence[str], audience: str | None = None
) -> Addressing:
    """Mastodon's addressing for each visibility; mentioned actors are always addressed."""
    mentions = [uri for uri in mentioned]
    extra = [audience] if audience and audience not in mentions else []
    if visibility == "public":
        return Addressing([vocab.PUBLIC], [followers_uri, *mentions, *extra])
    if visibility == "unlisted":
        return Addressing([followers_uri], [vocab.PUBLIC, *mentions, *extra])
    if visibility == "private":
        return Addressing([followers_uri], [*mentions, *extra])
    return Addressing(list(mentions), [])


def visibility_of(to: Sequence[str], cc: Sequence[str], followers_uri: str | None) -> str:
    """The Mastodon visibility a remote object's addressing amounts to."""
    if vocab.is_public(to):
        return "public"
    if vocab.is_public(cc):
        return "unlisted"
    if followers_uri and (followers_uri in to or followers_uri in cc):
        return "private"
    return "direct"


def actor_document(actor: ActorRow) -> dict[str, Any]:
    assert actor.public_key_pem is not None
    extra: dict[str, Any] = {}
    if actor.type == "Group":
        # FEP-1b12: anyone may post to the group by addressing it; it announces them.
        extra["postingRestrictedToMods"] = False
    return vocab.build_actor(
        id=actor.uri,
        type=actor.type,
        username=actor.username,
        name=actor.display_name,
        summary_html=actor.summary,
        url=actor.url or actor.uri,
        inbox=actor.inbox_uri,
        outbox=actor.outbox_uri or f"{actor.uri}/outbox",
        shared_inbox=actor.shared_inbox_uri or actor.inbox_uri,
        followers=actor.followers_uri or f"{actor.uri}/followers",
        following=actor.following_uri or f"{actor.uri}/following",
        featured=actor.featured_uri or f"{actor.uri}/collections/featured",
        public_key_pem=actor.public_key_pem,
        manually_approves_followers=actor.manually_approves_followers,
        discoverable=actor.discoverable,
        published=actor.published_at or actor.created_at,
        icon_url=actor.icon_url,
        image_url=actor.image_url,
        fields=[(f["name"], f["value"]) for f in actor.fields],
        indexable=actor.discoverable,
        extra=extra,
    )


def note_document(
    status: StatusRow,
    author: ActorRow,
    *,
    mentioned: Sequence[ActorRow],
    tags: Sequence[str],
    urls: Urls,
    in_reply_to: str | None,
) -> dict[str, Any]:
    followers = author.followers_uri or f"{author.uri}/followers"
    address = addressing(status.visibility, followers, [a.uri for a in mentioned], status.audience)
    tag_docs: list[vocab.Tag] = [
        vocab.Tag(type="Mention", href=a.uri, name=f"@{_full_acct(a, urls)}") for a in mentioned
    ]
    tag_docs += [vocab.Tag(type="Hashtag", href=urls.tag(t), name=f"#{t}") for t in tags]
    return vocab.build_note(
        id=status.uri,
        attributed_to=author.uri,
        content_html=status.content,
        published=status.published_at,
        to=address.to,
        cc=address.cc,
        url=status.url,
        summary=status.spoiler_text or None,
        sensitive=status.sensitive,
        in_reply_to=in_reply_to,
        tags=tag_docs,
        audience=status.audience,
        updated=status.edited_at,
        language=status.language,
        source_text=status.source,
    )


def _full_acct(actor: ActorRow, urls: Urls) -> str:
    if actor.domain is not None:
        return f"{actor.username}@{actor.domain}"
    return f"{actor.username}@{urls.base.split('://', 1)[1]}"
