"""Instance settings: one frozen value built from CLI flags and ``SHOAL_*`` variables.

Nothing here runs at import time. ``Settings.build`` collects every problem it finds and
raises one ``SettingsError`` listing them all, so an operator fixes a bad configuration in
one pass instead of one restart per typo.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_COLLECTIVE_NAME = "A Shoal collective"

# host, or host:port; lower-case letters, digits, dots and hyphens (IDNA A-labels).
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(:[0-9]{1,5})?$"
)
_USERNAME_RE = re.compile(r"^[a-z0-9_]{1,30}$")


class SettingsError(Exception):
    """One or more configuration problems, each a single line for the operator."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    domain: str = "localhost:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = None
    dev: bool = False
    workers: bool = True
    collective_username: str = "collective"
    collective_name: str | None = None
    collective_description: str | None = None
    # Accepted distance between a signed request's Date and our clock.
    signature_max_skew: float = 3600.0
    # Multiplies every delivery/inbox retry delay; tests compress the schedule with 0.001.
    retry_scale: float = 1.0
    delivery_concurrency: int = 32
    # Pool connections for statements, per process; 0: twice the CPU cores, at least 4
    # (``core.runtime.pool_size``).
    db_connections: int = 0
    # How long a claimed queue row stays reserved for the worker that claimed it; a worker
    # that dies leaves rows that come due again after this (longer than any one request).
    queue_lease: float = 60.0
    log_level: str = "info"

    @property
    def scheme(self) -> str:
        """Our own ids use http only in development, https everywhere else."""
        return "http" if self.dev else "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "postgres"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def build(cls, values: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
        """Merge explicit values (flags) over ``SHOAL_*`` variables over defaults, then validate.

        ``values`` holds field names; a value of None means "not given".
        """
        env = os.environ if env is None else env
        problems: list[str] = []
        merged: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = values.get(f.name)
            source = f"--{f.name.replace('_', '-')}"
            if raw is None:
                env_name = "SHOAL_" + f.name.upper()
                if env_name in env and env[env_name] != "":
                    raw, source = env[env_name], env_name
            if raw is None:
                continue
            try:
                merged[f.name] = _coerce(f.name, raw)
            except ValueError as exc:
                problems.append(f"{source}: {exc}")
        settings = cls(**merged)
        problems.extend(settings.problems())
        if problems:
            raise SettingsError(problems)
        return settings

    def problems(self) -> list[str]:
        found: list[str] = []
        if not _DOMAIN_RE.match(self.domain):
            found.append(
                f"domain {self.domain!r} is not a host name (expected e.g. social.example.org "
                "or localhost:8000, without scheme or path)"
            )
        if not 0 < self.port < 65536:
            found.append(f"port {self.port} is out of range 1-65535")
        if self.database_url is not None:
            parts = urlsplit(self.database_url)
            if parts.scheme not in ("postgres", "postgresql") or not (
                parts.hostname or "host=" in parts.query
            ):
                found.append(
                    "database URL must look like postgresql://user:password@host:5432/dbname"
                )
        if not _USERNAME_RE.match(self.collective_username):
            found.append("collective username must be 1-30 of a-z, 0-9 and _")
        if self.signature_max_skew <= 0:
            found.append("signature max skew must be positive")
        if self.retry_scale <= 0:
            found.append("retry scale must be positive")
        if self.queue_lease <= 0:
            found.append("queue lease must be positive")
        if self.delivery_concurrency < 1:
            found.append("delivery concurrency must be at least 1")
        if self.db_connections < 0:
            found.append("database connections must be 0 (automatic) or more")
        if self.log_level not in ("debug", "info", "warning", "error"):
            found.append("log level must be one of debug, info, warning, error")
        return found


_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    if not isinstance(raw, str):
        return raw
    if kind == "bool":
        if raw.lower() in _BOOL_TRUE:
            return True
        if raw.lower() in _BOOL_FALSE:
            return False
        raise ValueError(f"{raw!r} is not a boolean (use true or false)")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
    if kind == "Path":
        return Path(raw)
    if name == "domain":
        return raw.strip().lower()
    return raw


def check_data_dir(path: Path) -> str | None:
    """Make sure the data directory exists and is writable; return a problem line or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"data dir {path} cannot be created: {exc.strerror}"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"data dir {path} is not writable"
    return None
