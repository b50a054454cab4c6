"""Drift reports (``email_drift_reports``): partition-wide, so not tenant-scoped.

Every run is kept as one row (its summary and its findings as JSON); operators read the latest.
Implements ``services.ports.DriftReportStore``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.tables import drift_reports
from tenantmail.domain.drift import Discrepancy, DriftReport, DriftTag, RunStatus


class DriftReportRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, report: DriftReport) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(drift_reports).values(
                id=report.id, started_at=report.started_at, finished_at=report.finished_at,
                status=report.status.value, summary=report.summary(),
                discrepancies=[d.to_json() for d in report.discrepancies],
            ))

    async def latest(self) -> DriftReport | None:
        stmt = select(drift_reports).order_by(drift_reports.c.started_at.desc()).limit(1)
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _to_domain(row._mapping)


def _to_domain(row: Any) -> DriftReport:
    summary = row["summary"]
    return DriftReport(
        id=row["id"], started_at=row["started_at"], finished_at=row["finished_at"],
        status=RunStatus(row["status"]), enabled=tuple(DriftTag(t) for t in summary["enabled"]),
        configurations_checked=int(summary["configurationsChecked"]),
        discrepancies=tuple(Discrepancy.from_json(d) for d in row["discrepancies"]),
        error=summary.get("error"),
    )
