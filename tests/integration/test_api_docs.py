"""``{prefix}/docs`` works offline: the page and every asset it loads come from the process."""

from __future__ import annotations

import re

import httpx

from tenantmail.entrypoints.api.app import create_app
from tenantmail.settings import Settings


async def test_the_docs_page_loads_swagger_ui_from_the_service_itself() -> None:
    settings = Settings(_env_file=None, api_prefix="/mail/v2")  # type: ignore[call-arg]
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://tenantmail.test") as client:
        page = await client.get("/mail/v2/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert loaded and all(url.startswith("/mail/v2/docs/assets/") for url in loaded)  # no CDN
        assert "url: '/mail/v2/openapi.json'" in page.text
        assert not re.search(r"https?://", page.text)  # nothing fetched from elsewhere

        for url in loaded:
            asset = await client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
        bundle = await client.get("/mail/v2/docs/assets/swagger-ui-bundle.js")
        assert bundle.headers["content-type"].startswith(("application/javascript", "text/javascript"))
        assert re.search(r'"5\.\d+\.\d+"', bundle.text)  # Swagger UI 5: renders OpenAPI 3.1
        assert (await client.get("/mail/v2/openapi.json")).json()["openapi"].startswith("3.1")
