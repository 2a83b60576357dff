"""Parsing what real servers send, and building what they need to read."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from federation import vocab
from federation.vocab import (
    PUBLIC,
    Activity,
    Actor,
    APObject,
    Attachment,
    PublicKeyInfo,
    Tag,
    VocabError,
    is_public,
    parse_activity,
    parse_actor,
    parse_any,
    parse_object,
)

PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----\n"
ALICE = "https://mastodon.example/users/alice"

# --- samples shaped like what each server sends (written for these tests) ------

MASTODON_CREATE: dict[str, Any] = {
    "@context": [
        "https://www.w3.org/ns/activitystreams",
        {"ostatus": "http://ostatus.org#", "sensitive": "as:sensitive", "Hashtag": "as:Hashtag"},
    ],
    "id": f"{ALICE}/statuses/111/activity",
    "type": "Create",
    "actor": ALICE,
    "published": "2024-03-05T12:34:56Z",
    "to": [PUBLIC],
    "cc": [f"{ALICE}/followers", "https://shoal.example/users/bob"],
    "object": {
        "id": f"{ALICE}/statuses/111",
        "type": "Note",
        "summary": None,
        "inReplyTo": None,
        "published": "2024-03-05T12:34:56Z",
        "url": "https://mastodon.example/@alice/111",
        "attributedTo": ALICE,
        "to": [PUBLIC],
        "cc": [f"{ALICE}/followers", "https://shoal.example/users/bob"],
        "sensitive": False,
        "atomUri": f"{ALICE}/statuses/111",
        "conversation": "tag:mastodon.example,2024-03-05:objectId=1:objectType=Conversation",
        "content": '<p><span class="h-card" translate="no"><a href="https://shoal.example/@bob" '
        'class="u-url mention">@<span>bob</span></a></span> the co-op meets on Friday '
        '<a href="https://mastodon.example/tags/FoodCoop" class="mention hashtag" rel="tag">'
        "#<span>FoodCoop</span></a> :apple:</p>",
        "contentMap": {"en": "<p>the co-op meets on Friday</p>"},
        "attachment": [
            {
                "type": "Document",
                "mediaType": "image/jpeg",
                "url": "https://files.mastodon.example/media/1.jpg",
                "name": "A crate of apples",
                "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
                "focalPoint": [0.0, 0.0],
                "width": 1200,
                "height": 800,
            }
        ],
        "tag": [
            {
                "type": "Mention",
                "href": "https://shoal.example/users/bob",
                "name": "@bob@shoal.example",
            },
            {
                "type": "Hashtag",
                "href": "https://mastodon.example/tags/foodcoop",
                "name": "#FoodCoop",
            },
            {
                "id": "https://mastodon.example/emojis/1",
                "type": "Emoji",
                "name": ":apple:",
                "updated": "2023-01-01T00:00:00Z",
                "icon": {
                    "type": "Image",
                    "mediaType": "image/png",
                    "url": "https://files.mastodon.example/emoji/apple.png",
                },
            },
        ],
        "replies": {
            "id": f"{ALICE}/statuses/111/replies",
            "type": "Collection",
            "first": {"type": "CollectionPage", "items": []},
        },
    },
}

MASTODON_PERSON: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
    "id": ALICE,
    "type": "Person",
    "following": f"{ALICE}/following",
    "followers": f"{ALICE}/followers",
    "inbox": f"{ALICE}/inbox",
    "outbox": f"{ALICE}/outbox",
    "featured": f"{ALICE}/collections/featured",
    "featuredTags": f"{ALICE}/collections/tags",
    "preferredUsername": "alice",
    "name": "Alice",
    "summary": "<p>Grows apples for the co-op.</p>",
    "url": "https://mastodon.example/@alice",
    "manuallyApprovesFollowers": False,
    "discoverable": True,
    "indexable": False,
    "published": "2022-11-01T00:00:00Z",
    "memorial": False,
    "devices": f"{ALICE}/collections/devices",
    "publicKey": {"id": f"{ALICE}#main-key", "owner": ALICE, "publicKeyPem": PEM},
    "tag": [],
    "attachment": [
        {
            "type": "PropertyValue",
            "name": "Orchard",
            "value": '<a href="https://orchard.example" rel="me">orchard.example</a>',
        },
        {"type": "PropertyValue", "name": "Pronouns", "value": "she/her"},
    ],
    "endpoints": {"sharedInbox": "https://mastodon.example/inbox"},
    "icon": {
        "type": "Image",
        "mediaType": "image/png",
        "url": "https://files.mastodon.example/avatars/alice.png",
    },
    "image": {"type": "Image", "url": "https://files.mastodon.example/headers/alice.jpg"},
}

LEMMY_ANNOUNCE: dict[str, Any] = {
    "@context": ["https://join-lemmy.org/context.json", "https://www.w3.org/ns/activitystreams"],
    "actor": "https://lemmy.example/c/gardening",
    "to": [PUBLIC],
    "object": {
        "actor": "https://lemmy.example/u/carol",
        "to": [PUBLIC],
        "object": {
            "type": "Note",
            "id": "https://lemmy.example/comment/42",
            "attributedTo": "https://lemmy.example/u/carol",
            "to": [PUBLIC],
            "cc": ["https://lemmy.example/c/gardening", ALICE],
            "content": "<p>Mulch first.</p>",
            "inReplyTo": "https://lemmy.example/post/7",
            "mediaType": "text/html",
            "source": {"content": "Mulch first.", "mediaType": "text/markdown"},
            "published": "2024-03-05T12:34:56.123456+00:00",
            "tag": [{"href": ALICE, "type": "Mention", "name": "@alice@mastodon.example"}],
            "distinguished": False,
            "audience": "https://lemmy.example/c/gardening",
            "language": {"identifier": "en", "name": "English"},
        },
        "cc": ["https://lemmy.example/c/gardening"],
        "type": "Create",
        "id": "https://lemmy.example/activities/create/4f0c",
        "audience": "https://lemmy.example/c/gardening",
    },
    "cc": ["https://lemmy.example/c/gardening/followers"],
    "type": "Announce",
    "id": "https://lemmy.example/activities/announce/create/9d2e",
    "audience": "https://lemmy.example/c/gardening",
}

MOBILIZON_EVENT: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/activitystreams", {"mz": "https://joinmobilizon.org/ns#"}],
    "id": "https://mobilizon.example/events/0f7b6c1e",
    "type": "Event",
    "name": "Seed swap",
    "actor": "https://mobilizon.example/@dana",
    "attributedTo": "https://mobilizon.example/@gardeners",
    "summary": "Saturday 6 April 2024, 10:00-13:00, Community hall",
    "content": "<p>Bring seeds, take seeds.</p>",
    "startTime": "2024-04-06T10:00:00+02:00",
    "endTime": "2024-04-06T13:00:00+02:00",
    "timezone": "Europe/Paris",
    "location": {
        "type": "Place",
        "name": "Community hall",
        "address": {
            "type": "PostalAddress",
            "streetAddress": "1 Rue des Jardins",
            "addressLocality": "Lyon",
            "postalCode": "69001",
            "addressCountry": "France",
        },
        "latitude": 45.76,
        "longitude": 4.83,
    },
    "url": "https://mobilizon.example/events/0f7b6c1e",
    "attachment": [
        {
            "type": "Document",
            "mediaType": "image/jpeg",
            "name": "Banner",
            "url": "https://mobilizon.example/media/banner.jpg",
        },
        {"type": "PropertyValue", "name": "mz:poster", "value": "ignored"},
    ],
    "tag": [{"type": "Hashtag", "href": "https://mobilizon.example/tags/seeds", "name": "#seeds"}],
    "joinMode": "free",
    "maximumAttendeeCapacity": 30,
    "participantCount": 3,
    "isOnline": False,
    "ical:status": "CONFIRMED",
    "to": [PUBLIC],
    "cc": ["https://mobilizon.example/@gardeners/followers"],
    "published": "2024-03-01T09:00:00Z",
    "updated": "2024-03-02T09:00:00Z",
}

GOTOSOCIAL_NOTE: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
    "attachment": [],
    "attributedTo": "https://gts.example/users/erin",
    "cc": "https://gts.example/users/erin/followers",
    "content": '<p>Offering bread <a href="https://gts.example/tags/mutualaid" '
    'class="mention hashtag" rel="tag nofollow noreferrer noopener" target="_blank">'
    "#<span>MutualAid</span></a></p>",
    "contentMap": {"en": "<p>Offering bread</p>"},
    "id": "https://gts.example/users/erin/statuses/01HQ3ZJ5",
    "interactionPolicy": {"canLike": {"always": [PUBLIC]}},
    "published": "2024-03-05T12:34:56Z",
    "sensitive": False,
    "summary": "",
    "tag": {"href": "https://gts.example/tags/mutualaid", "name": "#mutualaid", "type": "Hashtag"},
    "to": "https://www.w3.org/ns/activitystreams#Public",
    "type": "Note",
    "url": "https://gts.example/@erin/statuses/01HQ3ZJ5",
}


# --- real-world shapes -----------------------------------------------------------


def test_mastodon_create_note_with_mentions_hashtags_emoji_and_media() -> None:
    activity = parse_activity(MASTODON_CREATE)

    assert (activity.type, activity.actor) == ("Create", ALICE)
    assert activity.published == datetime(2024, 3, 5, 12, 34, 56, tzinfo=UTC)
    assert is_public(activity.to)
    assert activity.object_id == f"{ALICE}/statuses/111"
    note = activity.object
    assert isinstance(note, APObject)
    assert note.type == "Note"
    assert note.attributed_to == ALICE
    assert note.url == "https://mastodon.example/@alice/111"
    assert note.summary is None and note.in_reply_to is None
    assert note.content is not None and "FoodCoop" in note.content
    assert note.content_map == {"en": "<p>the co-op meets on Friday</p>"}
    assert note.tags == (
        Tag("Mention", "https://shoal.example/users/bob", "@bob@shoal.example"),
        Tag("Hashtag", "https://mastodon.example/tags/foodcoop", "#FoodCoop"),
        Tag(
            "Emoji",
            "https://mastodon.example/emojis/1",
            ":apple:",
            "https://files.mastodon.example/emoji/apple.png",
        ),
    )
    assert note.attachments == (
        Attachment(
            type="Document",
            url="https://files.mastodon.example/media/1.jpg",
            media_type="image/jpeg",
            name="A crate of apples",
            width=1200,
            height=800,
            blurhash="UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
        ),
    )
    # Unknown fields stay reachable.
    assert note.raw["conversation"].startswith("tag:")
    assert activity.raw is MASTODON_CREATE


def test_mastodon_person_with_endpoints_key_and_profile_fields() -> None:
    actor = parse_actor(MASTODON_PERSON)

    assert actor == Actor(
        id=ALICE,
        type="Person",
        inbox=f"{ALICE}/inbox",
        preferred_username="alice",
        name="Alice",
        summary="<p>Grows apples for the co-op.</p>",
        outbox=f"{ALICE}/outbox",
        shared_inbox="https://mastodon.example/inbox",
        followers=f"{ALICE}/followers",
        following=f"{ALICE}/following",
        featured=f"{ALICE}/collections/featured",
        url="https://mastodon.example/@alice",
        icon_url="https://files.mastodon.example/avatars/alice.png",
        image_url="https://files.mastodon.example/headers/alice.jpg",
        manually_approves_followers=False,
        discoverable=True,
        indexable=False,
        bot=False,
        public_key=PublicKeyInfo(f"{ALICE}#main-key", ALICE, PEM),
        fields=(
            ("Orchard", '<a href="https://orchard.example" rel="me">orchard.example</a>'),
            ("Pronouns", "she/her"),
        ),
        published=datetime(2022, 11, 1, tzinfo=UTC),
    )
    assert actor.raw["memorial"] is False


def test_lemmy_group_announce_of_an_embedded_create_note() -> None:
    announce = parse_any(LEMMY_ANNOUNCE)

    assert isinstance(announce, Activity)
    assert announce.type == "Announce"
    assert announce.actor == "https://lemmy.example/c/gardening"
    assert announce.audience == ("https://lemmy.example/c/gardening",)
    create = announce.object
    assert isinstance(create, Activity)
    assert (create.type, create.actor) == ("Create", "https://lemmy.example/u/carol")
    assert announce.object_id == "https://lemmy.example/activities/create/4f0c"
    note = create.object
    assert isinstance(note, APObject)
    assert note.in_reply_to == "https://lemmy.example/post/7"
    assert note.audience == ("https://lemmy.example/c/gardening",)
    assert note.published == datetime(2024, 3, 5, 12, 34, 56, 123456, tzinfo=UTC)
    assert note.tags == (Tag("Mention", ALICE, "@alice@mastodon.example"),)
    assert note.raw["source"]["mediaType"] == "text/markdown"


def test_mobilizon_event_keeps_times_place_and_banner() -> None:
    event = parse_any(MOBILIZON_EVENT)

    assert isinstance(event, APObject)  # an "actor" key does not make it an activity
    assert event.type == "Event"
    assert event.name == "Seed swap"
    paris_spring = timezone(timedelta(hours=2))
    assert event.start_time == datetime(2024, 4, 6, 10, tzinfo=paris_spring)
    assert event.end_time == datetime(2024, 4, 6, 13, tzinfo=paris_spring)
    assert event.timezone == "Europe/Paris"
    assert event.location is not None
    assert event.location["address"]["addressLocality"] == "Lyon"
    assert event.attributed_to == "https://mobilizon.example/@gardeners"
    # The PropertyValue is metadata, not media.
    assert [a.url for a in event.attachments] == ["https://mobilizon.example/media/banner.jpg"]
    assert event.tags == (Tag("Hashtag", "https://mobilizon.example/tags/seeds", "#seeds"),)
    assert event.raw["maximumAttendeeCapacity"] == 30


def test_gotosocial_note_with_single_values_instead_of_arrays() -> None:
    note = parse_object(GOTOSOCIAL_NOTE)

    assert note.to == (PUBLIC,)
    assert note.cc == ("https://gts.example/users/erin/followers",)
    assert note.tags == (Tag("Hashtag", "https://gts.example/tags/mutualaid", "#mutualaid"),)
    assert note.summary == ""
    assert note.attachments == ()
    assert note.url == "https://gts.example/@erin/statuses/01HQ3ZJ5"


# --- each form the spec allows ---------------------------------------------------


def _activity(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "https://a.example/activities/1",
        "type": "Like",
        "actor": ALICE,
        "object": "https://b.example/notes/1",
    }
    doc.update(fields)
    return doc


def _note(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": "https://a.example/notes/1", "type": "Note"}
    doc.update(fields)
    return doc


@pytest.mark.parametrize(
    "actor",
    [ALICE, {"id": ALICE, "type": "Person"}, [ALICE], [{"id": ALICE}, "https://x.example/u"]],
)
def test_actor_as_string_object_or_array(actor: Any) -> None:
    assert parse_activity(_activity(actor=actor)).actor == ALICE


@pytest.mark.parametrize(
    "obj",
    [
        "https://b.example/notes/1",
        {"id": "https://b.example/notes/1"},
        ["https://b.example/notes/1"],
    ],
)
def test_object_as_link_or_id_only_object(obj: Any) -> None:
    activity = parse_activity(_activity(object=obj))
    assert activity.object == "https://b.example/notes/1"
    assert activity.object_id == "https://b.example/notes/1"


def test_object_embedded_actor_for_update_and_none_when_absent() -> None:
    update = parse_activity(_activity(type="Update", object=MASTODON_PERSON))
    assert isinstance(update.object, Actor)
    assert update.object_id == ALICE
    assert parse_activity(_activity(object=None)).object_id is None


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (PUBLIC, (PUBLIC,)),
        ("as:Public", (PUBLIC,)),
        (["Public", ALICE, ALICE], (PUBLIC, ALICE)),
        ([{"id": ALICE}, 42, None, "not a url"], (ALICE,)),
        (None, ()),
    ],
)
def test_recipients_as_string_or_list_with_public_aliases(to: Any, expected: Any) -> None:
    assert parse_activity(_activity(to=to)).to == expected


def test_is_public_accepts_compacted_forms() -> None:
    assert is_public(["as:Public"]) and is_public(["Public"]) and is_public([PUBLIC])
    assert not is_public([ALICE])


@pytest.mark.parametrize(
    "tag",
    [
        {"type": "Mention", "href": ALICE, "name": "@alice"},
        [{"type": "Mention", "href": ALICE, "name": "@alice"}],
        # Unknown shapes around it are skipped, not fatal.
        ["https://x.example/tag", 7, {"type": "Unknown"}, {"type": "Mention", "name": "@x"},
         {"type": "Mention", "href": ALICE, "name": "@alice"}],
    ],
)  # fmt: skip
def test_tag_as_object_or_list(tag: Any) -> None:
    assert parse_object(_note(tag=tag)).tags == (Tag("Mention", ALICE, "@alice"),)


@pytest.mark.parametrize(
    "icon",
    [
        "https://img.example/a.png",
        {"type": "Image", "url": "https://img.example/a.png"},
        [{"type": "Image", "url": "https://img.example/a.png"}, "https://img.example/b.png"],
        {"type": "Image", "url": [{"type": "Link", "href": "https://img.example/a.png"}]},
    ],
)
def test_icon_as_url_object_or_list(icon: Any) -> None:
    doc = dict(MASTODON_PERSON, icon=icon)
    assert parse_actor(doc).icon_url == "https://img.example/a.png"


@pytest.mark.parametrize(
    "url",
    [
        "https://peertube.example/w/1",
        {"type": "Link", "href": "https://peertube.example/w/1"},
        [
            {
                "type": "Link",
                "mediaType": "application/x-mpegURL",
                "href": "https://p.example/1.m3u8",
            },
            {"type": "Link", "mediaType": "text/html", "href": "https://peertube.example/w/1"},
        ],
    ],
)
def test_url_as_string_link_or_list_preferring_html(url: Any) -> None:
    assert parse_object(_note(url=url)).url == "https://peertube.example/w/1"


def test_attachment_prefers_the_file_over_its_html_page() -> None:
    note = parse_object(
        _note(
            attachment={
                "type": "Video",
                "url": [
                    {"type": "Link", "mediaType": "text/html", "href": "https://v.example/w/1"},
                    {"type": "Link", "mediaType": "video/mp4", "href": "https://v.example/1.mp4"},
                ],
            }
        )
    )
    assert note.attachments == (Attachment("Video", "https://v.example/1.mp4", "video/mp4"),)


def test_public_key_list_takes_the_one_the_actor_owns() -> None:
    keys = [
        {"id": "https://evil.example/key", "owner": "https://evil.example/u", "publicKeyPem": "x"},
        {"id": f"{ALICE}#main-key", "owner": ALICE, "publicKeyPem": PEM},
    ]
    actor = parse_actor(dict(MASTODON_PERSON, publicKey=keys))
    assert actor.public_key == PublicKeyInfo(f"{ALICE}#main-key", ALICE, PEM)
    foreign_only = parse_actor(dict(MASTODON_PERSON, publicKey=keys[:1]))
    assert foreign_only.public_key is None


def test_service_and_application_actors_are_bots() -> None:
    assert parse_actor(dict(MASTODON_PERSON, type="Service")).bot
    assert parse_any(dict(MASTODON_PERSON, type="Application")) == parse_actor(
        dict(MASTODON_PERSON, type="Application")
    )
    assert not parse_actor(MASTODON_PERSON).bot


def test_attributed_to_list_prefers_the_person_over_the_channel() -> None:
    note = parse_object(
        _note(
            attributedTo=[
                {"type": "Group", "id": "https://v.example/c/channel"},
                {"type": "Person", "id": "https://v.example/a/erin"},
            ]
        )
    )
    assert note.attributed_to == "https://v.example/a/erin"


def test_content_map_only_fills_content_and_quote_url_is_found() -> None:
    note = parse_object(
        _note(contentMap={"fr": "<p>Bonjour</p>"}, quoteUrl="https://q.example/notes/9")
    )
    assert note.content == "<p>Bonjour</p>"
    assert note.quote == "https://q.example/notes/9"


# --- missing and invalid values --------------------------------------------------


def test_missing_optional_fields_are_none_or_empty() -> None:
    note = parse_object(_note())
    assert note == APObject(id="https://a.example/notes/1", type="Note")
    assert note.tags == () and note.to == () and note.published is None


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (_activity(id=None), "activity has no id"),
        ({k: v for k, v in _activity().items() if k != "actor"}, "activity has no actor"),
        (_activity(type=None), "activity has no type"),
        (_activity(actor="acct:alice@mastodon.example"), "actor must be a URL"),
        (_activity(id="javascript:alert(1)"), "id must be a URL"),
        (_activity(id="ftp://a.example/1"), "id must be a URL"),
        (_activity(id="/activities/1"), "id must be a URL"),
        (_activity(id="https:///no-host"), "id must be a URL"),
        (_activity(id="https://a.example/has space"), "id must be a URL"),
        (_activity(id="https://a.example:99999/1"), "id must be a URL"),
        (_activity(id="https://" + "a" * 3000 + ".example/"), "id must be a URL"),
        (_activity(object="file:///etc/passwd"), "object must be a URL"),
        (_activity(object=17), "object must be a URL"),
        (_activity(object={"type": "Note", "id": "data:text/html,x"}), "id must be a URL"),
        ("not an object", "document must be a JSON object"),
        ([_activity()], "document must be a JSON object"),
    ],
)
def test_invalid_activities_are_refused_with_a_reason(doc: Any, reason: str) -> None:
    with pytest.raises(VocabError) as caught:
        parse_activity(doc)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


def test_actor_needs_an_inbox_and_an_actor_type() -> None:
    without_inbox = {k: v for k, v in MASTODON_PERSON.items() if k != "inbox"}
    with pytest.raises(VocabError, match="actor has no inbox"):
        parse_actor(without_inbox)
    with pytest.raises(VocabError, match="not an actor type"):
        parse_actor(dict(MASTODON_PERSON, type="Note"))


def test_bad_optional_values_become_none_not_errors() -> None:
    note = parse_object(
        _note(
            published="last Tuesday",
            updated=12345,
            startTime="2024-13-45T99:00:00Z",
            inReplyTo="javascript:alert(1)",
            url="mailto:a@b.example",
            sensitive="yes",
            attachment=[{"type": "Image", "url": "data:image/png;base64,AAAA"}],
            tag=[{"type": "Emoji", "name": ":x:", "icon": {"url": "javascript:1"}}],
        )
    )
    assert note.published is None and note.updated is None and note.start_time is None
    assert note.in_reply_to is None and note.url is None
    assert note.sensitive is False
    assert note.attachments == () and note.tags == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05T12:34:56Z", datetime(2024, 3, 5, 12, 34, 56, tzinfo=UTC)),
        ("2024-03-05T14:34:56+02:00", datetime(2024, 3, 5, 12, 34, 56, tzinfo=UTC)),
        ("2024-03-05T12:34:56.123Z", datetime(2024, 3, 5, 12, 34, 56, 123000, tzinfo=UTC)),
        ("2024-03-05T12:34:56", datetime(2024, 3, 5, 12, 34, 56, tzinfo=UTC)),
    ],
)
def test_dates_become_aware_datetimes(text: str, expected: datetime) -> None:
    published = parse_object(_note(published=text)).published
    assert published == expected
    assert published is not None and published.tzinfo is not None


# --- hostile input ---------------------------------------------------------------


def _nested(levels: int) -> dict[str, Any]:
    doc: Any = "https://a.example/notes/1"
    for level in range(levels):
        doc = _activity(id=f"https://a.example/activities/{level}", type="Announce", object=doc)
    return dict(doc)


def test_nesting_is_refused_past_the_limit() -> None:
    assert parse_activity(_nested(vocab.MAX_DEPTH + 1)).type == "Announce"
    with pytest.raises(VocabError, match="nested too deeply"):
        parse_activity(_nested(vocab.MAX_DEPTH + 2))
    with pytest.raises(VocabError):
        parse_activity(_nested(500))


def test_huge_lists_are_read_only_up_to_their_caps() -> None:
    many = [f"https://a.example/users/{n}" for n in range(20_000)]
    tags = [{"type": "Hashtag", "name": f"#t{n}"} for n in range(10_000)]
    note = parse_object(_note(to=many, cc=many, tag=tags, attachment=tags))
    assert len(note.to) == vocab.MAX_RECIPIENTS
    assert len(note.tags) == vocab.MAX_ITEMS
    assert note.attachments == ()


def test_unhashable_and_odd_shapes_never_crash() -> None:
    odd: list[Any] = [{}, [], [[]], {"a": 1}, 1.5, True, None]
    for value in odd:
        note = parse_object(
            _note(
                to=[value], tag=value, attachment=value, url=value, icon=value,
                location=value, contentMap=value, attributedTo=value, inReplyTo=value,
            )
        )  # fmt: skip
        assert note.to == ()
        actor = parse_actor(
            dict(MASTODON_PERSON, publicKey=value, endpoints=value, icon=value, attachment=value)
        )
        assert actor.public_key is None and actor.shared_inbox is None


# --- building --------------------------------------------------------------------

T0 = datetime(2024, 3, 5, 12, 34, 56, tzinfo=UTC)
BOB = "https://shoal.example/users/bob"
COOP = "https://shoal.example/users/coop"


def _bob_actor(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        id=BOB,
        type="Person",
        username="bob",
        name="Bob",
        summary_html="<p>Baker</p>",
        url="https://shoal.example/@bob",
        inbox=f"{BOB}/inbox",
        outbox=f"{BOB}/outbox",
        shared_inbox="https://shoal.example/inbox",
        followers=f"{BOB}/followers",
        following=f"{BOB}/following",
        featured=f"{BOB}/collections/featured",
        public_key_pem=PEM,
        manually_approves_followers=True,
        discoverable=True,
        published=T0,
        icon_url="https://shoal.example/media/bob.png",
        fields=[("Bakery", "Open Tuesdays")],
    )
    fields.update(overrides)
    return vocab.build_actor(**fields)


def _assert_context(doc: dict[str, Any]) -> None:
    context = doc["@context"]
    assert context[:2] == [vocab.AS_CONTEXT, vocab.SECURITY_CONTEXT]
    assert context[2]["toot"] == "http://joinmastodon.org/ns#"
    assert context[2]["featured"] == {"@id": "toot:featured", "@type": "@id"}
    assert context[2]["PropertyValue"] == "schema:PropertyValue"
    orjson.dumps(doc)  # plain JSON types only


def test_built_actor_round_trips() -> None:
    doc = _bob_actor()
    _assert_context(doc)
    assert doc["publicKey"]["id"] == f"{BOB}#main-key"
    assert parse_actor(orjson.loads(orjson.dumps(doc))) == Actor(
        id=BOB,
        type="Person",
        inbox=f"{BOB}/inbox",
        preferred_username="bob",
        name="Bob",
        summary="<p>Baker</p>",
        outbox=f"{BOB}/outbox",
        shared_inbox="https://shoal.example/inbox",
        followers=f"{BOB}/followers",
        following=f"{BOB}/following",
        featured=f"{BOB}/collections/featured",
        url="https://shoal.example/@bob",
        icon_url="https://shoal.example/media/bob.png",
        manually_approves_followers=True,
        discoverable=True,
        public_key=PublicKeyInfo(f"{BOB}#main-key", BOB, PEM),
        fields=(("Bakery", "Open Tuesdays"),),
        published=T0,
    )


def test_built_group_takes_extra_terms() -> None:
    doc = _bob_actor(id=COOP, type="Group", extra={"postingRestrictedToMods": False})
    assert doc["postingRestrictedToMods"] is False
    assert parse_actor(doc).type == "Group"


def test_context_copies_are_independent() -> None:
    first = vocab.context()
    first[2]["featured"]["@type"] = "changed"
    assert vocab.context()[2]["featured"]["@type"] == "@id"


def test_built_note_in_create_round_trips() -> None:
    tags = (
        Tag("Mention", ALICE, "@alice@mastodon.example"),
        Tag("Hashtag", "https://shoal.example/tags/bread", "#bread"),
        Tag("Emoji", "https://shoal.example/emojis/1", ":loaf:", "https://shoal.example/e/l.png"),
    )
    media = (
        Attachment("Document", "https://shoal.example/m/1.jpg", "image/jpeg", "Rye", 640, 480),
    )
    note = vocab.build_note(
        id=f"{BOB}/statuses/1",
        attributed_to=BOB,
        content_html="<p>Fresh rye</p>",
        published=T0,
        to=[PUBLIC],
        cc=[f"{BOB}/followers", ALICE],
        url="https://shoal.example/@bob/1",
        summary="bread talk",
        sensitive=True,
        in_reply_to=f"{ALICE}/statuses/111",
        tags=tags,
        attachments=media,
        audience=COOP,
        updated=T0 + timedelta(minutes=5),
        language="en",
        source_text="Fresh rye",
    )
    create = vocab.build_create(BOB, note, id=f"{BOB}/statuses/1/activity")
    _assert_context(create)
    assert "@context" not in create["object"]
    assert create["to"] == [PUBLIC] and create["published"] == "2024-03-05T12:34:56Z"
    assert note["contentMap"] == {"en": "<p>Fresh rye</p>"}
    assert note["source"] == {"content": "Fresh rye", "mediaType": "text/plain"}

    parsed = parse_activity(orjson.loads(orjson.dumps(create)))
    assert (parsed.type, parsed.actor, parsed.to) == ("Create", BOB, (PUBLIC,))
    assert parsed.object == APObject(
        id=f"{BOB}/statuses/1",
        type="Note",
        attributed_to=BOB,
        content="<p>Fresh rye</p>",
        content_map={"en": "<p>Fresh rye</p>"},
        summary="bread talk",
        in_reply_to=f"{ALICE}/statuses/111",
        published=T0,
        updated=T0 + timedelta(minutes=5),
        url="https://shoal.example/@bob/1",
        to=(PUBLIC,),
        cc=(f"{BOB}/followers", ALICE),
        audience=(COOP,),
        sensitive=True,
        tags=tags,
        attachments=media,
    )


def test_follow_accept_undo_round_trip() -> None:
    follow = vocab.build_follow(BOB, ALICE, id=f"{BOB}/follows/1")
    accept = vocab.build_accept(ALICE, follow, id=f"{ALICE}#accepts/1")
    _assert_context(accept)
    assert accept["to"] == [BOB]
    parsed = parse_activity(accept)
    assert isinstance(parsed.object, Activity)
    assert (parsed.object.type, parsed.object.actor, parsed.object.object) == ("Follow", BOB, ALICE)
    assert (
        parse_activity(vocab.build_reject(ALICE, follow["id"], id=f"{ALICE}#r/1")).object
        == (follow["id"])
    )
    undo = parse_activity(vocab.build_undo(BOB, follow, id=f"{BOB}/follows/1/undo"))
    assert undo.type == "Undo" and undo.object_id == f"{BOB}/follows/1"


def test_group_announce_embeds_the_activity_and_sets_audience() -> None:
    note = vocab.build_note(
        id=f"{BOB}/statuses/2", attributed_to=BOB, content_html="<p>hi</p>",
        published=T0, to=[PUBLIC, COOP], cc=[],
    )  # fmt: skip
    create = vocab.build_create(BOB, note, id=f"{BOB}/statuses/2/activity")
    announce = vocab.build_announce(
        COOP, create, id=f"{COOP}/announces/1", to=[PUBLIC], cc=[f"{COOP}/followers"],
        published=T0, audience=COOP,
    )  # fmt: skip
    parsed = parse_activity(announce)
    assert parsed.audience == (COOP,)
    assert isinstance(parsed.object, Activity)
    assert isinstance(parsed.object.object, APObject)
    assert "@context" not in announce["object"]
    boost = parse_activity(
        vocab.build_announce(BOB, note["id"], id=f"{BOB}/b/1", to=[PUBLIC], cc=[], published=T0)
    )
    assert boost.object == note["id"] and boost.published == T0


def test_delete_like_update_and_tombstone() -> None:
    delete = parse_activity(
        vocab.build_delete(BOB, f"{BOB}/statuses/1", id=f"{BOB}/d/1", to=[PUBLIC], cc=[])
    )
    assert isinstance(delete.object, APObject) and delete.object.type == "Tombstone"
    assert delete.object_id == f"{BOB}/statuses/1"
    like = parse_activity(vocab.build_like(BOB, f"{ALICE}/statuses/111", id=f"{BOB}/l/1"))
    assert like.object == f"{ALICE}/statuses/111"
    update = vocab.build_update(BOB, _bob_actor(), id=f"{BOB}#updates/1")
    assert update["to"] == [PUBLIC]
    assert isinstance(parse_activity(update).object, Actor)
    tombstone = vocab.build_tombstone(f"{BOB}/statuses/1", T0)
    _assert_context(tombstone)
    assert tombstone["deleted"] == "2024-03-05T12:34:56Z"
    assert "deleted" not in vocab.build_tombstone(f"{BOB}/statuses/1", None)


def test_collections() -> None:
    collection = vocab.build_ordered_collection(f"{BOB}/outbox", 2, f"{BOB}/outbox?page=true")
    _assert_context(collection)
    assert collection["totalItems"] == 2 and "last" not in collection
    note = vocab.build_note(
        id=f"{BOB}/statuses/1", attributed_to=BOB, content_html="x", published=T0, to=[], cc=[]
    )
    page = vocab.build_ordered_collection_page(
        f"{BOB}/outbox?page=true", f"{BOB}/outbox", [note, ALICE], next=None, prev=None
    )
    assert page["partOf"] == f"{BOB}/outbox"
    assert page["orderedItems"][1] == ALICE
    assert "@context" not in page["orderedItems"][0] and "next" not in page
    assert "@context" in note  # the caller's dict is not changed


def test_timestamps_are_utc_seconds_with_z() -> None:
    paris = timezone(timedelta(hours=1))
    assert vocab.format_datetime(datetime(2024, 1, 2, 4, 5, 6, 789, tzinfo=paris)) == (
        "2024-01-02T03:05:06Z"
    )
    assert vocab.format_datetime(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"


def test_parsing_does_not_change_the_input() -> None:
    before = copy.deepcopy(LEMMY_ANNOUNCE)
    parse_any(LEMMY_ANNOUNCE)
    assert before == LEMMY_ANNOUNCE
