"""Changing accounts: the member's own profile, and follows, blocks and mutes of others."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from core import account_actions, account_reads
from core.account_actions import ProfileChanges
from core.errors import Unprocessable
from server.api.accounts_read import (
    count_param,
    credentials_entity,
    member,
    relationship_entity,
)
from server.api.auth import authenticate
from server.api.common import bool_param, json, params, str_param
from server.templating import services_of

_FORM_FIELD = re.compile(r"^fields_attributes\[(\d{1,3})\]\[(name|value)\]$")
_FORM_SOURCE = re.compile(r"^source\[(privacy|sensitive|language)\]$")
# Far above what validation accepts, so that the use-case reports the real limit.
_TEXT_MAX = 100_000


def _optional_bool(values: Mapping[str, Any], name: str) -> bool | None:
    if values.get(name) is None or values.get(name) == "":
        return None
    return bool_param(values, name)


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Unprocessable(f"{name} must be a string")
    return value


def _fields(values: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    """fields_attributes as JSON (a list, or an object keyed by index) or as form keys
    ``fields_attributes[0][name]``; None when not given at all."""
    rows: dict[int, dict[str, Any]] = {}
    raw = values.get("fields_attributes")
    if isinstance(raw, list):
        rows = {i: item for i, item in enumerate(raw)}
    elif isinstance(raw, dict):
        try:
            rows = {int(k): item for k, item in raw.items()}
        except ValueError:
            raise Unprocessable("fields_attributes must be indexed by numbers") from None
    elif raw is not None:
        raise Unprocessable("fields_attributes must be a list of name and value")
    for key, value in values.items():
        if match := _FORM_FIELD.match(key):
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if raw is None and not rows:
        return None
    found: list[tuple[str, str]] = []
    for index in sorted(rows):
        item = rows[index]
        if not isinstance(item, dict):
            raise Unprocessable("each of fields_attributes must have a name and a value")
        found.append(
            (_text(item.get("name"), "field name"), _text(item.get("value"), "field value"))
        )
    return found


def _source(values: Mapping[str, Any]) -> dict[str, Any]:
    source = values.get("source")
    found: dict[str, Any] = dict(source) if isinstance(source, dict) else {}
    if source is not None and not isinstance(source, dict):
        raise Unprocessable("source must be an object")
    for key, value in values.items():
        if match := _FORM_SOURCE.match(key):
            found[match.group(1)] = value
    return found


def profile_changes(values: Mapping[str, Any]) -> ProfileChanges:
    for image in ("avatar", "header"):
        upload = values.get(image)
        # A form whose file input was left empty sends a nameless, empty part: no upload.
        if isinstance(upload, UploadFile) and (upload.filename or upload.size):
            raise Unprocessable(
                f"Validation failed: {image.capitalize()} uploads are not supported yet"
            )
    source = _source(values)
    language = str_param(source, "language", maximum=_TEXT_MAX)
    privacy = str_param(source, "privacy", maximum=_TEXT_MAX)
    return ProfileChanges(
        display_name=str_param(values, "display_name", maximum=_TEXT_MAX),
        note=str_param(values, "note", maximum=_TEXT_MAX),
        locked=_optional_bool(values, "locked"),
        bot=_optional_bool(values, "bot"),
        discoverable=_optional_bool(values, "discoverable"),
        fields=_fields(values),
        privacy=privacy or None,
        sensitive=_optional_bool(source, "sensitive"),
        language=language or None,
    )


async def update_credentials(request: Request) -> Response:
    user, actor = member(await authenticate(request, "write:accounts"))
    changes = profile_changes(await params(request))
    services = services_of(request)
    await account_actions.update_profile(services, user, actor, changes)
    found = await account_reads.credentials(services, user, actor)
    return json(credentials_entity(request, found))


async def follow(request: Request) -> Response:
    _, actor = member(await authenticate(request, "write:follows"))
    values = await params(request)
    relation = await account_actions.follow(
        services_of(request),
        actor,
        request.path_params["id"],
        reblogs=bool_param(values, "reblogs", default=True),
        notify=bool_param(values, "notify"),
    )
    return json(relationship_entity(relation))


async def unfollow(request: Request) -> Response:
    _, actor = member(await authenticate(request, "write:follows"))
    relation = await account_actions.unfollow(
        services_of(request), actor, request.path_params["id"]
    )
    return json(relationship_entity(relation))


async def block(request: Request) -> Response:
    _, actor = member(await authenticate(request, "write:blocks"))
    relation = await account_actions.block(services_of(request), actor, request.path_params["id"])
    return json(relationship_entity(relation))


async def unblock(request: Request) -> Response:
    _, actor = member(await authenticate(request, "write:blocks"))
    relation = await account_actions.unblock(services_of(request), actor, request.path_params["id"])
    return json(relationship_entity(relation))


async def mute(request: Request) -> Response:
    _, actor = member(await authenticate(request, "write:mutes"))
    values = await params(request)
    relation = await account_actions.mute(
        services_of(request),
        actor,
        request.path_params["id"],
        notifications=bool_param(values, "notifications", default=True),
        duration=count_param(values, "duration", 0, account_actions.MAX_MUTE_SECONDS + 1),
    )
    return json(relationship_entity(relation))


async def unmute(request: Request) -> Response:
    _, actor = member(await authenticate(request, "write:mutes"))
    relation = await account_actions.unmute(services_of(request), actor, request.path_params["id"])
    return json(relationship_entity(relation))
