"""The ASGI application: ``create_app(settings)`` and its typed lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from core import runtime
from core.services import Services
from core.settings import Settings
from server import activitypub, api, errors, hot, inbox, pages, wellknown
from server.cors import ApiCORS, has_origin
from server.templating import make_templates

# What apps poll most: answered without the middleware and the router (``ShoalApp``).
HOT_GETS: Final = ("/api/v1/timelines/home", "/api/v1/notifications")


class ShoalApp(Starlette):
    """Starlette, with the busiest requests answered before the middleware and the router:
    inbox POSTs (``server.inbox``), most of a federated server's requests, and the GETs
    of ``HOT_GETS`` that need no CORS headers (``server.hot``), most of a member's."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot = hot.endpoints(self.routes, HOT_GETS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "POST":
                target = inbox.match(scope["path"])
                if target is not None:
                    await inbox.serve(self.state.services, target, scope, receive, send)
                    return
            elif method == "GET":
                endpoint = self.hot.get(scope["path"])
                if endpoint is not None and not has_origin(scope):
                    scope["app"], scope["router"] = self, self.router
                    await hot.serve(endpoint, scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, services: Services | None = None) -> Starlette:
    """Build the app. With ``services`` given (the CLI starts them first, to report
    start-up problems cleanly) the lifespan uses them and leaves stopping to the caller."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        started = await runtime.start(settings)
        app.state.services = started
        try:
            yield
        finally:
            await runtime.stop(started)

    app = ShoalApp(
        routes=[
            *inbox.ROUTES,
            *wellknown.ROUTES,
            *api.ROUTES,
            *activitypub.ROUTES,
            *pages.ROUTES,
        ],
        exception_handlers=errors.HANDLERS,
        lifespan=lifespan,
        middleware=[Middleware(ApiCORS)],
    )
    app.state.settings = settings
    app.state.templates = make_templates()
    return app
