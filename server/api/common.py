"""Plumbing shared by the Mastodon API routes: JSON, pagination, Link headers, params."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response

from core.errors import BadRequest, Unprocessable
from storage.paging import Page


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(data, status_code=status, headers=dict(headers or {}))


def _int_param(params: Mapping[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    text = str(raw)
    if not text.isdigit() or len(text) > 19:
        raise BadRequest(f"{name} must be an id")
    return int(text)


def page_params(request: Request, *, default: int = 20, maximum: int = 40) -> Page:
    q = request.query_params
    limit = _int_param(q, "limit") or default
    return Page(
        max_id=_int_param(q, "max_id"),
        since_id=_int_param(q, "since_id"),
        min_id=_int_param(q, "min_id"),
        limit=max(1, min(limit, maximum)),
    )


def link_header(request: Request, ids: Sequence[int]) -> dict[str, str]:
    """Mastodon's Link header: next (older, max_id) and prev (newer, min_id)."""
    if not ids:
        return {}
    # Our public address (behind a TLS proxy the request's own says http), and the path.
    base = request.app.state.settings.base_url + request.scope["path"]
    keep = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in ("max_id", "min_id", "since_id")
    ]
    older = urlencode([*keep, ("max_id", str(min(ids)))])
    newer = urlencode([*keep, ("min_id", str(max(ids)))])
    return {"Link": f'<{base}?{older}>; rel="next", <{base}?{newer}>; rel="prev"'}


async def params(request: Request) -> dict[str, Any]:
    """Parameters from the query string, a form or a JSON body, as Mastodon accepts them.

    Form keys like ``fields_attributes[0][name]`` and ``media_ids[]`` are kept as given;
    ``list_param`` reads the array forms.
    """
    merged: dict[str, Any] = dict(request.query_params)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            body = await request.body()
            if body.strip():
                try:
                    data = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise BadRequest("invalid JSON") from None
                if not isinstance(data, dict):
                    raise BadRequest("the body must be a JSON object")
                merged.update(data)
        elif ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form: FormData = await request.form()
            for key in form:
                values = form.getlist(key)
                merged[key] = values if key.endswith("[]") else values[-1]
    return merged


def list_param(values: Mapping[str, Any] | QueryParams, name: str) -> list[str]:
    """An array parameter in any of its spellings: name[]=a&name[]=b, JSON list, or name=a."""
    if isinstance(values, QueryParams):
        found = values.getlist(f"{name}[]") or values.getlist(name)
        return [str(v) for v in found]
    raw = values.get(f"{name}[]", values.get(name))
    if raw is None:
        return []
    if isinstance(raw, list):
        return [str(v) for v in raw]
    return [str(raw)]


def bool_param(values: Mapping[str, Any], name: str, default: bool = False) -> bool:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).lower()
    if text in ("true", "1", "on", "yes"):
        return True
    if text in ("false", "0", "off", "no"):
        return False
    raise Unprocessable(f"{name} must be true or false")


def str_param(values: Mapping[str, Any], name: str, *, maximum: int = 10_000) -> str | None:
    raw = values.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise Unprocessable(f"{name} must be a string")
    if len(raw) > maximum:
        raise Unprocessable(f"{name} is too long")
    return raw
