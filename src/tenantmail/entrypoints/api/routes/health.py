"""Liveness, readiness and metrics: unauthenticated, outside the API prefix's tenant rules."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from tenantmail.adapters.db.migrate import DatabaseNotMigrated, ensure_up_to_date
from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.entrypoints.api.errors import ApiError
from tenantmail.entrypoints.api.schemas import error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Answers 200 while the process runs; checks nothing else."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers and is migrated", responses=error_responses())
async def readyz(app: ContainerDep) -> dict[str, str]:
    """Answers 200 once the database answers and its schema is at the head revision; 503 otherwise."""
    try:
        async with app.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await ensure_up_to_date(app.engine)
    except DatabaseNotMigrated as exc:
        raise ApiError(503, "NotReady", str(exc)) from exc
    except Exception as exc:  # any driver error means "not ready", never a 500
        raise ApiError(503, "NotReady", f"database unavailable: {type(exc).__name__}") from exc
    return {"status": "ready", "database": app.engine.dialect.name}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(app: ContainerDep) -> Response:
    """The Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(app.metrics_registry), media_type=CONTENT_TYPE_LATEST)
