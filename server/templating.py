"""jinja2 pages; every page gets the collective, the domain and the version."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from core import accounts
from core.services import Services
from storage.pool import PoolError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def make_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(TEMPLATE_DIR))


def version() -> str:
    try:
        return metadata.version("shoal")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def render_page(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    services = services_of(request)
    try:
        collective = await accounts.get_collective(services.pool, services.settings)
    except PoolError:
        collective = None  # an error page must still render while the database is away
    templates: Jinja2Templates = request.app.state.templates
    full = {
        "collective": collective,
        "domain": services.settings.domain,
        "version": version(),
        **context,
    }
    return templates.TemplateResponse(request, name, full, status_code=status)
