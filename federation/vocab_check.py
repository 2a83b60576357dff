"""Check an activity as ``parse_activity`` would, without building it.

The inbox refuses (400) what ``parse_activity`` refuses, but applies activities later:
the inbox worker parses them in full. Every optional property is lenient (a bad value
becomes None or is skipped), so only the required ones can make a document invalid: the
activity's id, type and actor, an embedded object's own required properties, and the
nesting depth. ``check_activity`` checks exactly those, in the same order and with the
same reasons, for a fifth of the cost; ``tests/federation/test_vocab_check.py`` holds it
to ``parse_activity``'s verdicts on thousands of mangled documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from federation.vocab_parse import (
    MAX_DEPTH,
    _first,
    _require_dict,
    _require_type,
    _require_url,
    _url_or_error,
)
from federation.vocab_types import ACTIVITY_TYPES, ACTOR_TYPES, VocabError


@dataclass(slots=True)  # not frozen: one per inbox POST, and a frozen init costs more
class Envelope:
    """What the inbox needs of an activity before queueing it."""

    id: str
    type: str
    actor: str
    object_id: str | None  # the object's URL, embedded or linked, as ``Activity.object_id``
    raw: dict[str, Any] = field(compare=False, repr=False)


def check_activity(doc: Any) -> Envelope:
    """Raise ``VocabError`` exactly when ``parse_activity(doc)`` would, with its reason."""
    raw = _require_dict(doc)
    activity_id, kind, actor = _activity_head(raw)
    return Envelope(activity_id, kind, actor, _embedded(raw.get("object"), 0), raw)


def _activity_head(raw: dict[str, Any]) -> tuple[str, str, str]:
    return (
        _require_url(raw, "id", "activity"),
        _require_type(raw, "activity"),
        _require_url(raw, "actor", "activity"),
    )


def _embedded(value: Any, depth: int) -> str | None:
    value = _first(value)
    if value is None:
        return None
    if isinstance(value, dict):
        if "type" not in value and "id" in value:
            return _url_or_error(value["id"])
        if depth >= MAX_DEPTH:
            raise VocabError("object nested too deeply")
        return _document(value, depth + 1)
    return _url_or_error(value)


def _document(doc: dict[str, Any], depth: int) -> str:
    """An embedded document's id, checked by its type as ``parse_any`` parses it."""
    kind = _require_type(doc, "object")
    if kind in ACTIVITY_TYPES:
        activity_id = _activity_head(doc)[0]
        _embedded(doc.get("object"), depth)
        return activity_id
    if kind in ACTOR_TYPES:  # ``parse_actor``
        actor_id = _require_url(doc, "id", "actor")
        _require_url(doc, "inbox", "actor")
        return actor_id
    return _require_url(doc, "id", "object")  # ``parse_object``
