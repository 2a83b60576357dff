"""Helpers for client-API tests: members with tokens, obtained through the real OAuth
endpoints (an app, then the password grant), as a Mastodon app would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from core import accounts
from storage.actors import ActorRow


@dataclass
class Member:
    actor: ActorRow
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.actor.id)


async def token(
    client: httpx.AsyncClient, username: str, password: str, scopes: str = "read write follow push"
) -> str:
    app = await client.post(
        "/api/v1/apps",
        data={
            "client_name": "tests",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": scopes,
        },
    )
    assert app.status_code == 200, app.text
    body = app.json()
    grant = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": body["client_id"],
            "client_secret": body["client_secret"],
            "scope": scopes,
        },
    )
    assert grant.status_code == 200, grant.text
    return str(grant.json()["access_token"])


async def member(
    services: Any,
    client: httpx.AsyncClient,
    username: str,
    *,
    scopes: str = "read write follow push",
    role: str = "member",
) -> Member:
    password = f"{username} long password"
    _, actor = await accounts.create_user(
        services.pool,
        services.urls,
        username=username,
        password=password,
        role=role,
        email=f"{username}@example.org",
    )
    access = await token(client, username, password, scopes)
    return Member(actor=actor, headers={"Authorization": f"Bearer {access}"})
