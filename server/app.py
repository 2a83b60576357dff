"""The ASGI application: ``create_app(settings)`` and its typed lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from core import runtime
from core.services import Services
from core.settings import Settings
from server import activitypub, api, errors, inbox, pages, wellknown
from server.cors import ApiCORS
from server.templating import make_templates


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

    app = Starlette(
        routes=[
            # The inbox first: it is the busiest route, and matching goes in order.
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
