"""``check_activity`` gives ``parse_activity``'s verdict: the same error with the same
reason, or the same id, type, actor and object id. Checked on the samples of the vocab
tests and on thousands of documents mangled from them at random (seeded)."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from federation.vocab import (
    MAX_DEPTH,
    Envelope,
    VocabError,
    check_activity,
    parse_activity,
)
from tests.federation.test_vocab import (
    GOTOSOCIAL_NOTE,
    LEMMY_ANNOUNCE,
    MASTODON_CREATE,
    MASTODON_PERSON,
    MOBILIZON_EVENT,
)

ALICE = "https://mastodon.example/users/alice"


def _wrap(kind: str, obj: Any, n: int) -> dict[str, Any]:
    return {
        "id": f"{ALICE}/activities/{kind.lower()}-{n}",
        "type": kind,
        "actor": ALICE,
        "object": obj,
    }


SAMPLES: list[Any] = [
    MASTODON_CREATE,
    LEMMY_ANNOUNCE,
    _wrap("Update", MASTODON_PERSON, 1),
    _wrap("Create", MOBILIZON_EVENT, 2),
    _wrap("Create", GOTOSOCIAL_NOTE, 3),
    _wrap("Undo", _wrap("Follow", "https://shoal.example/users/bob", 4), 5),
    _wrap("Delete", ALICE, 6),
    _wrap("Delete", {"id": f"{ALICE}/statuses/1", "type": "Tombstone"}, 7),
    _wrap("Like", {"id": f"{ALICE}/statuses/1"}, 8),
    _wrap("Announce", [f"{ALICE}/statuses/1", f"{ALICE}/statuses/2"], 9),
]

# Values a mangled property may take: every JSON shape, good and bad URLs, nesting.
ODD: list[Any] = [
    None,
    "",
    0,
    1.5,
    True,
    [],
    {},
    [[]],
    "not a url",
    "https://a.example/ok",
    "https://a.example:99999/x",
    "file:///etc/passwd",
    ["https://a.example/first", "nope"],
    [{"id": "https://a.example/in-a-list"}],
    {"id": "https://a.example/id-only"},
    {"href": "https://a.example/href-only"},
    {"type": "Note"},
    {"type": ["Note", "Thing"], "id": "https://a.example/n"},
    {"type": "Person", "id": "https://a.example/p"},
    {"type": "Create", "id": "https://a.example/c", "actor": ALICE},
    {"type": 7, "id": "https://a.example/t"},
]

KEYS = ("id", "type", "actor", "object", "inbox", "to", "content", "attributedTo")


def verdict(func: Any, doc: Any) -> tuple[str, Any]:
    try:
        result = func(doc)
    except VocabError as exc:
        return ("refused", exc.reason)
    return ("accepted", (result.id, result.type, result.actor, result.object_id))


def _nodes(doc: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside ``doc``, itself included."""
    if isinstance(doc, dict):
        yield doc
        for value in doc.values():
            yield from _nodes(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _nodes(value)


def mangled(rng: random.Random, count: int) -> Iterator[Any]:
    for _ in range(count):
        doc = copy.deepcopy(rng.choice(SAMPLES))
        for _ in range(rng.randint(1, 3)):
            node = rng.choice(list(_nodes(doc)))
            key = rng.choice(KEYS)
            if rng.random() < 0.3:
                node.pop(key, None)
            else:
                node[key] = copy.deepcopy(rng.choice(ODD))
        yield doc


@pytest.mark.parametrize("doc", SAMPLES)
def test_the_samples_get_the_same_envelope(doc: Any) -> None:
    parsed = parse_activity(doc)
    envelope = check_activity(doc)
    assert isinstance(envelope, Envelope) and envelope.raw is doc
    assert (
        verdict(check_activity, doc)
        == verdict(parse_activity, doc)
        == (
            "accepted",
            (parsed.id, parsed.type, parsed.actor, parsed.object_id),
        )
    )


def test_mangled_documents_get_the_same_verdict() -> None:
    rng = random.Random(20261122)
    outcomes: dict[str, int] = {"accepted": 0, "refused": 0}
    for doc in mangled(rng, 5000):
        expected = verdict(parse_activity, doc)
        assert verdict(check_activity, doc) == expected, doc
        outcomes[expected[0]] += 1
    # Both kinds are well represented, so the comparison means something.
    assert min(outcomes.values()) > 1000, outcomes


def _nested(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": f"{ALICE}/note", "type": "Note"}
    for n in range(levels):
        doc = _wrap("Announce", doc, n)
    return doc


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 5])
def test_nesting_limits_agree(levels: int) -> None:
    doc = _nested(levels)
    assert verdict(check_activity, doc) == verdict(parse_activity, doc)


def test_non_objects_are_refused_alike() -> None:
    for doc in ("text", 3, None, [MASTODON_CREATE]):
        assert verdict(check_activity, doc) == verdict(parse_activity, doc)
        assert verdict(check_activity, doc)[0] == "refused"
