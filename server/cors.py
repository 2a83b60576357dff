"""CORS for the client API, so browser apps (Elk, Phanpy…) on other origins can use it.

Only the API and the token endpoints: pages with forms (the consent page) stay
same-origin. Tokens travel in the Authorization header, never in cookies, so a
wildcard origin exposes nothing a script could not already send.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Discovery documents (/.well-known, /nodeinfo) carry their own open CORS headers.
PREFIXES = ("/api/", "/oauth/token", "/oauth/revoke")


def has_origin(scope: Scope) -> bool:
    """Whether a request carries an ``Origin``: a browser's, which may need CORS headers."""
    return any(name == b"origin" for name, _ in scope["headers"])


class ApiCORS:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Accept"],
            expose_headers=[
                "Link",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only what a browser sends, with an Origin, needs CORS headers (Mastodon's
        # rack-cors too leaves other requests alone): native apps skip the wrapping.
        if scope["type"] == "http" and scope["path"].startswith(PREFIXES) and has_origin(scope):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
