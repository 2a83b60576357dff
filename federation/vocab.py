"""ActivityStreams vocabulary: parse what peers send, build what Shoal sends.

The code lives in four modules kept small on purpose; import from here:

- ``vocab_types``: the frozen values (``Activity``, ``Actor``, ``APObject``, ``Tag``,
  ``Attachment``, ``PublicKeyInfo``), ``VocabError``, ``PUBLIC`` and ``is_public``.
- ``vocab_parse``: ``parse_any``/``parse_activity``/``parse_actor``/``parse_object``,
  the trust boundary for untrusted JSON.
- ``vocab_check``: ``check_activity``, the inbox's verdict on an activity (the same as
  ``parse_activity``'s) without the cost of building it.
- ``vocab_build``: ``build_*`` functions returning dicts ready for orjson, with
  ``CONTEXT``.
"""

from federation.vocab_build import (
    AS_CONTEXT,
    CONTEXT,
    EXTENSION_TERMS,
    SECURITY_CONTEXT,
    build_accept,
    build_actor,
    build_announce,
    build_create,
    build_delete,
    build_follow,
    build_like,
    build_note,
    build_ordered_collection,
    build_ordered_collection_page,
    build_reject,
    build_tombstone,
    build_undo,
    build_update,
    context,
    format_datetime,
)
from federation.vocab_check import Envelope, check_activity
from federation.vocab_parse import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_RECIPIENTS,
    parse_activity,
    parse_actor,
    parse_any,
    parse_object,
)
from federation.vocab_types import (
    ACTIVITY_TYPES,
    ACTOR_TYPES,
    PUBLIC,
    Activity,
    Actor,
    APObject,
    Attachment,
    PublicKeyInfo,
    Tag,
    VocabError,
    is_public,
)

__all__ = [
    "ACTIVITY_TYPES",
    "ACTOR_TYPES",
    "AS_CONTEXT",
    "CONTEXT",
    "EXTENSION_TERMS",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_RECIPIENTS",
    "PUBLIC",
    "SECURITY_CONTEXT",
    "APObject",
    "Activity",
    "Actor",
    "Attachment",
    "Envelope",
    "PublicKeyInfo",
    "Tag",
    "VocabError",
    "build_accept",
    "build_actor",
    "build_announce",
    "build_create",
    "build_delete",
    "build_follow",
    "build_like",
    "build_note",
    "build_ordered_collection",
    "build_ordered_collection_page",
    "build_reject",
    "build_tombstone",
    "build_undo",
    "build_update",
    "check_activity",
    "context",
    "format_datetime",
    "is_public",
    "parse_activity",
    "parse_actor",
    "parse_any",
    "parse_object",
]
