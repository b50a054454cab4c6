"""``{prefix}/docs``: Swagger UI served from the process itself, so the page works offline.

FastAPI's own docs page loads Swagger UI from a CDN; a deployment without internet access (or a
newcomer on a train) saw a blank page. The assets come from the ``fastapi-offline`` package, which
ships Swagger UI 5 (needed for the OpenAPI 3.1 document FastAPI writes) and is kept current.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def install(api: FastAPI, prefix: str, title: str) -> None:
    """Serve the docs page at ``{prefix}/docs`` and its assets under ``{prefix}/docs/assets/``."""
    assets = f"{prefix}/docs/assets"
    api.mount(assets, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @api.get(f"{prefix}/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{api.openapi_url}", title=f"{title} — API",
            swagger_js_url=f"{root}{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets}/favicon.png",
            # no badge fetched from swagger.io's online validator
            swagger_ui_parameters={"validatorUrl": None},
        )
