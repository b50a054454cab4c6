"""The FastAPI application: routers, error table, request ids, lifespan."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from fastapi import Depends, FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp

from tenantmail import __version__
from tenantmail.adapters.local_endpoints import LocalEndpoints
from tenantmail.bootstrap import Container, bootstrap
from tenantmail.entrypoints.api import docs, errors, openapi_contract
from tenantmail.entrypoints.api.body_limits import BodyLimit
from tenantmail.entrypoints.api.deps import plain_text_parameters, require_api_key
from tenantmail.entrypoints.api.fast_lane import FastLane
from tenantmail.entrypoints.api.request_id import RequestIdMiddleware
from tenantmail.entrypoints.api.routes import (
    configurations, drift, health, jobs, notifications, suppression, tenant_limits, webhooks,
)
from tenantmail.entrypoints.console import routes as console
from tenantmail.entrypoints.worker import run_worker
from tenantmail.settings import Settings

DESCRIPTION = """Per-tenant transactional email on Postmark.

Every route but the webhook and the health routes needs `Authorization: Bearer <api key>` and
`X-Tenant-Id`; `X-Author` is recorded in history. Errors are `{"error", "message", "requestId"}`.
"""


#: FastAPI's own OpenTelemetry instrumentation, off: it asks the global providers on every request,
#: and tenantmail's telemetry is its own (structlog, Prometheus, Sentry; SPEC §10).
NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


log = structlog.get_logger("tenantmail.api")


def urls(app: Container) -> dict[str, str]:
    """Where this process's API, docs and console are, and (embedded default) its sandbox."""
    s = app.settings
    base = f"http://{s.host}:{s.port}"
    found = {"api": f"{base}{s.api_prefix}", "docs": f"{base}{s.api_prefix}/docs", "console": f"{base}/console/"}
    if app.sandbox is not None:
        found |= {"postmark": app.sandbox.base_url, "route53": app.sandbox.route53_endpoint_url}
    return found


def _announce(app: Container, where: dict[str, str]) -> None:
    """Tell a newcomer what they need, as a block of its own on stderr: the URLs and, when
    generated, the API key (never logged). The log stream gets the same URLs as one event."""
    s = app.settings
    database = "SQLite" if app.engine.dialect.name == "sqlite" else "PostgreSQL"
    lines = [f"tenantmail {__version__} · partition {s.partition} · {database}",
             f"  API       {where['api']}", f"  docs      {where['docs']}", f"  console   {where['console']}"]
    if "postmark" in where:
        lines += [f"  sandbox   Postmark {where['postmark']} · Route 53 {where['route53']}"
                  f" · endpoints in {s.var_dir}/endpoints.json"]
    if app.generated_api_key:
        lines.append(f"  API key   {app.generated_api_key}   (generated, kept in {s.var_dir}/api-key)")
    print("\n" + "\n".join(lines) + "\n", file=sys.stderr, flush=True)
    log.info("tenantmail.started", version=__version__, partition=s.partition, **where)


@asynccontextmanager
async def serving(app: Container) -> AsyncIterator[None]:
    """What runs around a process serving the API: the key-registry watch, the banner, the
    endpoints file (embedded default), and the embedded worker, stopped after its in-flight pass."""
    app.watch_registry()
    where = urls(app)
    local = None
    if app.sandbox is not None:  # the CLI of this var dir finds this sandbox through it
        local = LocalEndpoints(
            api=where["api"], docs=where["docs"], console=where["console"], postmark=where["postmark"],
            route53=where["route53"], zone_id=app.sandbox.zone_id, pid=os.getpid(),
        )
        local.write(app.settings.var_dir)
    _announce(app, where)
    _settle_garbage_collector()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(app.ctx, stop)) if app.settings.runs_embedded_worker else None
    try:
        yield
    finally:
        stop.set()
        if worker is not None:
            await worker
        if local is not None:
            local.remove(app.settings.var_dir)


#: Allocations between young-generation collections, and the older generations' ratios (CPython's
#: defaults: 700, 10, 10). A request makes thousands of short-lived objects, so the defaults
#: collect several times per request and, worse, promote enough to trigger full collections that
#: stall every in-flight request for tens of ms. Memory still bounded: cycles are collected, later.
GC_THRESHOLDS = (50_000, 20, 100)


def _settle_garbage_collector() -> None:
    """Once started: move what start-up built (modules, the Container) out of the collector's sight and
    collect the young generation less often. Measured under load (docs/performance.md):
    p99 at 32 connections 180 → 74 ms, throughput +10 %."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None, *, container: Container | None = None, fast_lane: bool = True) -> ASGIApp:
    """The API as served: the fast lane (:mod:`fast_lane`) for the two hot routes in front of the
    FastAPI app (:func:`create_api`) for everything else, both behind the body limits
    (:mod:`body_limit`). ``fast_lane=False`` serves the FastAPI app alone (still limited): the
    reference the lane is tested against."""
    api = create_api(settings, container=container)
    settings, prefix = api.state.settings, api.state.api_prefix
    served: ASGIApp = FastLane(api, prefix) if fast_lane else api
    # outermost, so the fast lane is limited too (SPEC §14): counted while the route reads
    return BodyLimit(served, limit=settings.max_body_bytes, path_limits={
        f"{prefix}/job/postmark-events": settings.max_webhook_bytes,
        f"{prefix}/job/batch": settings.max_batch_bytes,
    })


def create_api(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """The FastAPI app: every route (the contract, the OpenAPI document), the error table, request
    ids, the lifespan. With ``container`` the caller owns the Container; otherwise the lifespan builds it."""
    settings = container.settings if container else (settings or Settings())

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        if container is not None:
            api.state.tenantmail = container
            yield
            return
        app = await bootstrap(settings)
        api.state.tenantmail = app
        try:
            async with serving(app):
                yield
        finally:
            await app.aclose()

    api = FastAPI(
        title="tenantmail", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, openapi_url=f"{settings.api_prefix}/openapi.json",
        redoc_url=None, telemetry=NO_OPENTELEMETRY, dependencies=[Depends(plain_text_parameters)],
        generate_unique_id_function=openapi_contract.operation_id,
    )
    api.state.api_prefix = settings.api_prefix
    api.state.settings = settings
    if container is not None:
        api.state.tenantmail = container
    api.add_middleware(RequestIdMiddleware)
    errors.install(api)
    authed = [Depends(require_api_key)]
    prefix = settings.api_prefix
    # the two hot routes first: routing tries routes in order, and every miss costs CPU per request
    api.include_router(jobs.send_router, prefix=prefix, tags=["jobs"])  # authenticates in its CallerDep
    api.include_router(webhooks.router, prefix=prefix, tags=["webhooks"])
    api.include_router(health.router)
    api.include_router(configurations.router, prefix=prefix, dependencies=authed, tags=["configurations"])
    api.include_router(jobs.router, prefix=prefix, dependencies=authed, tags=["jobs"])
    api.include_router(suppression.router, prefix=prefix, dependencies=authed, tags=["suppression"])
    api.include_router(drift.router, prefix=prefix, dependencies=authed, tags=["drift"])
    api.include_router(notifications.router, prefix=prefix, dependencies=authed, tags=["notifications"])
    api.include_router(tenant_limits.router, prefix=prefix, dependencies=authed, tags=["tenant limits"])
    api.include_router(console.router, prefix="/console")
    docs.install(api, settings.api_prefix, "tenantmail")
    api.router.routes.extend(openapi_contract.method_not_allowed_routes(api.router.routes))  # last: 405s
    api.openapi = lambda: openapi_contract.contract(api)  # type: ignore[method-assign]
    return api


def create_probe_app(container: Container) -> FastAPI:
    """A worker's HTTP face on ``TENANTMAIL_WORKER_PORT``: the API's own ``/healthz``, ``/readyz``
    and ``/metrics`` (the worker's registry: dispatch, drift, lifecycle...) and nothing else."""
    probe = FastAPI(
        title="tenantmail worker", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
        telemetry=NO_OPENTELEMETRY,
    )
    probe.state.tenantmail = container
    probe.add_middleware(RequestIdMiddleware)
    errors.install(probe)
    probe.include_router(health.router)
    return probe
