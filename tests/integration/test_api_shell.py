"""The API shell: bearer keys, tenant headers, request ids, the SPEC error body, health routes."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from pydantic import SecretStr

from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.migrate import DatabaseNotMigrated
from tenantmail.adapters.telemetry import configure_logging
from tenantmail.bootstrap import Container, bootstrap
from tenantmail.entrypoints.api.app import create_api, create_app
from tenantmail.settings import Settings
from tests.app_fixtures import TEST_API_KEY

SECOND_KEY = "second-rotation-key-0123456789"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two keys configured, as during a key rotation."""
    return settings.model_copy(update={"api_keys": [SecretStr(TEST_API_KEY), SecretStr(SECOND_KEY)]})


@pytest.fixture
async def raw(app_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials or tenant: each test sets what it checks."""
    transport = httpx.ASGITransport(app=create_app(container=app_container))
    async with httpx.AsyncClient(transport=transport, base_url="http://tenantmail.test") as client:
        yield client


def _assert_error_body(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "message", "requestId"}
    assert body["error"] == kind
    assert body["message"]
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Tenant-Id": "tenant-a"}


async def test_missing_bearer_key_is_401_with_the_error_body(raw: httpx.AsyncClient, app_container: Container) -> None:
    response = await raw.get(f"{app_container.settings.api_prefix}/configuration", headers={"X-Tenant-Id": "t"})
    _assert_error_body(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer", TEST_API_KEY])
async def test_wrong_or_malformed_credentials_are_401(raw: httpx.AsyncClient, app_container: Container, header: str) -> None:
    response = await raw.get(
        f"{app_container.settings.api_prefix}/configuration",
        headers={"Authorization": header, "X-Tenant-Id": "tenant-a"},
    )
    _assert_error_body(response, 401, "Unauthorized")


@pytest.mark.parametrize("key", [TEST_API_KEY, SECOND_KEY])
async def test_every_configured_key_is_accepted(raw: httpx.AsyncClient, app_container: Container, key: str) -> None:
    response = await raw.get(f"{app_container.settings.api_prefix}/configuration", headers=_auth(key))
    assert response.status_code == 200, response.text


async def test_missing_tenant_header_is_400(raw: httpx.AsyncClient, app_container: Container) -> None:
    response = await raw.get(
        f"{app_container.settings.api_prefix}/configuration", headers={"Authorization": f"Bearer {TEST_API_KEY}"}
    )
    body = _assert_error_body(response, 400, "MissingTenant")
    assert "X-Tenant-Id" in str(body["message"])


@pytest.mark.parametrize("tenant", ["has space", "x" * 129, "-leading-dash", "semi;colon"])
async def test_malformed_tenant_header_is_400(raw: httpx.AsyncClient, app_container: Container, tenant: str) -> None:
    response = await raw.get(
        f"{app_container.settings.api_prefix}/configuration",
        headers={"Authorization": f"Bearer {TEST_API_KEY}", "X-Tenant-Id": tenant},
    )
    _assert_error_body(response, 400, "InvalidTenant")


async def test_request_id_is_echoed_or_minted(raw: httpx.AsyncClient) -> None:
    echoed = await raw.get("/healthz", headers={"X-Request-Id": "req-123"})
    assert echoed.headers["x-request-id"] == "req-123"
    minted = await raw.get("/healthz")
    assert len(minted.headers["x-request-id"]) == 32


async def test_unknown_route_gets_the_error_body(raw: httpx.AsyncClient) -> None:
    body = _assert_error_body(await raw.get("/v1/nothing-here"), 404, "NotFound")
    assert "/v1/nothing-here" in str(body["message"])


async def test_wrong_method_gets_the_error_body(raw: httpx.AsyncClient) -> None:
    _assert_error_body(await raw.delete("/healthz"), 405, "MethodNotAllowed")


async def test_query_validation_errors_are_400_with_the_field_named(raw: httpx.AsyncClient, app_container: Container) -> None:
    response = await raw.get(f"{app_container.settings.api_prefix}/configuration?limit=0", headers=_auth(TEST_API_KEY))
    body = _assert_error_body(response, 400, "ValidationError")
    assert "limit" in str(body["message"])


async def test_health_readiness_and_metrics(raw: httpx.AsyncClient, app_container: Container) -> None:
    assert (await raw.get("/healthz")).json() == {"status": "ok"}
    ready = await raw.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == app_container.engine.dialect.name
    metrics = await raw.get("/metrics")
    assert metrics.status_code == 200
    assert "email_material_registry_refresh_added_total" in metrics.text


async def test_readiness_is_503_when_the_database_is_unreachable(
    raw: httpx.AsyncClient, app_container: Container
) -> None:
    unreachable = (
        "sqlite:////nonexistent-dir/db.sqlite3" if app_container.engine.dialect.name == "sqlite"
        else "postgresql://postgres@127.0.0.1:1/none"
    )
    working, app_container.engine = app_container.engine, create_engine(unreachable)
    try:
        _assert_error_body(await raw.get("/readyz"), 503, "NotReady")
    finally:
        await app_container.engine.dispose()
        app_container.engine = working


async def test_serving_refuses_an_unmigrated_database(fresh_database_url: str, settings: Settings) -> None:
    unmigrated = settings.model_copy(update={"database_url": fresh_database_url})
    with pytest.raises(DatabaseNotMigrated, match="run `tenantmail migrate` first"):
        await bootstrap(unmigrated, migrate=False)


async def test_an_unexpected_error_is_a_500_body_and_a_sentry_event(
    app_container: Container, sentry_events: list[dict[str, object]]
) -> None:
    api = create_api(container=app_container)

    async def broken() -> None:
        raise RuntimeError("the disk is on fire")

    api.add_api_route("/broken-for-test", broken)
    # Starlette answers with our handler, then re-raises for the server to log; don't raise here
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/broken-for-test")
    body = _assert_error_body(response, 500, "InternalError")
    assert "fire" not in str(body["message"])  # internals stay in the logs
    [event] = sentry_events
    assert event["exception"]["values"][-1]["value"] == "the disk is on fire"  # type: ignore[index]


async def test_log_lines_of_a_request_carry_its_request_id_and_tenant(
    app_container: Container, api: httpx.AsyncClient
) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", True, stream=stream)
    try:
        response = await api.post(
            "/configuration", headers={"X-Request-Id": "req-log-1"},
            json={"sendingDomainSlug": "logged", "signature": {"fromName": "Acme"}},
        )
    finally:
        structlog.reset_defaults()
    assert response.status_code == 201, response.text
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line["event"].startswith("email.")]
    assert ours, "the request logged no event"
    assert all((line["request_id"], line["tenant_id"]) == ("req-log-1", "tenant-a") for line in ours)
