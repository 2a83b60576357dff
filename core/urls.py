"""Where our own objects live: the single source of every URL we mint."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

INSTANCE_ACTOR_USERNAME = "instance.actor"


@dataclass(frozen=True, slots=True)
class Urls:
    base: str  # scheme://domain, no trailing slash

    def actor(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def inbox(self, username: str) -> str:
        return f"{self.actor(username)}/inbox"

    def outbox(self, username: str) -> str:
        return f"{self.actor(username)}/outbox"

    def followers(self, username: str) -> str:
        return f"{self.actor(username)}/followers"

    def following(self, username: str) -> str:
        return f"{self.actor(username)}/following"

    def featured(self, username: str) -> str:
        return f"{self.actor(username)}/collections/featured"

    def profile(self, username: str) -> str:
        return f"{self.base}/@{username}"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    @property
    def instance_actor(self) -> str:
        return f"{self.base}/actor"

    def status(self, username: str, status_id: int) -> str:
        return f"{self.actor(username)}/statuses/{status_id}"

    def status_page(self, username: str, status_id: int) -> str:
        return f"{self.profile(username)}/{status_id}"

    def activity(self, username: str, activity_id: int, kind: str) -> str:
        return f"{self.actor(username)}/activities/{activity_id}/{kind.lower()}"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{quote(name)}"
