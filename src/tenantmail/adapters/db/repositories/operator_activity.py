"""Partition-wide reads for the operator console: the tenant list and the cross-tenant feed.

Every other repository is tenant-scoped (``TenantRepository``); these two reads are the console's
operator view across tenants, so they take the engine, like the drift reports. They only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.repositories.base import page_bounds
from tenantmail.adapters.db.repositories.jobs import to_domain as job_of
from tenantmail.adapters.db.tables import configurations, jobs
from tenantmail.domain.delivery_figures import ACCEPTED_BY_POSTMARK, DeliveryFigures
from tenantmail.domain.job import EmailJob, JobStatus

DAY, WEEK = timedelta(hours=24), timedelta(days=7)


@dataclass(frozen=True)
class TenantActivity:
    tenant_id: str
    #: (operational, administrative) → how many configurations are in that pair of states
    configurations: dict[tuple[str, str], int] = field(default_factory=dict)
    day: DeliveryFigures = DeliveryFigures()
    week: DeliveryFigures = DeliveryFigures()


@dataclass(frozen=True)
class ActivitySearch:
    """The feed's filters; an empty one matches everything. Text filters are case-insensitive
    substrings, the MessageID and the tag are exact, times are UTC (from inclusive, to exclusive)."""

    tenant: str = ""
    recipient: str = ""
    subject: str = ""
    message_id: str = ""
    tag: str = ""
    status: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        c = jobs.c
        wanted: list[ColumnElement[bool] | None] = [
            c.tenant_id == self.tenant if self.tenant else None,
            func.lower(c.recipient).contains(self.recipient.lower(), autoescape=True) if self.recipient else None,
            func.lower(c.subject).contains(self.subject.lower(), autoescape=True) if self.subject else None,
            c.message_id == self.message_id if self.message_id else None,
            c.tag == self.tag if self.tag else None,
            c.status == self.status if self.status else None,
            c.created_at >= self.created_from if self.created_from else None,
            c.created_at < self.created_to if self.created_to else None,
        ]
        return [w for w in wanted if w is not None]


class OperatorActivity:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def tenants(self, now: datetime) -> list[TenantActivity]:
        """Every tenant with a configuration or a job this week, by tenant id."""
        c = configurations.c
        states = (select(c.tenant_id, c.operational_status, c.administrative_status, func.count())
                  .group_by(c.tenant_id, c.operational_status, c.administrative_status))
        async with self._engine.connect() as conn:
            by_tenant: dict[str, dict[tuple[str, str], int]] = {}
            for tenant, operational, administrative, n in await conn.execute(states):
                by_tenant.setdefault(tenant, {})[(operational, administrative)] = n
            figures = {row[0]: row[1:] for row in await conn.execute(_figures(now))}
        return [
            TenantActivity(tenant, by_tenant.get(tenant, {}), *_split(figures.get(tenant)))
            for tenant in sorted(by_tenant.keys() | figures.keys())
        ]

    async def search(self, query: ActivitySearch, *, limit: int, offset: int) -> tuple[list[EmailJob], int]:
        """Jobs of every tenant matching ``query``, newest first, one page and the total."""
        limit, offset = page_bounds(limit, offset)
        stmt = select(jobs).where(*query.conditions())
        async with self._engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
            rows = await conn.execute(stmt.order_by(jobs.c.created_at.desc(), jobs.c.e_id).limit(limit).offset(offset))
            return [job_of(r) for r in rows], total


_COUNTED = (  # the DeliveryFigures fields, in order, and which statuses each counts
    [s.value for s in ACCEPTED_BY_POSTMARK], [JobStatus.DELIVERED.value], [JobStatus.BOUNCED.value],
    [JobStatus.COMPLAINED.value],
)


def _figures(now: datetime) -> Any:
    """Per tenant: the four figures over the last 24 h, then over the last 7 days (one scan)."""
    c = jobs.c
    since_day = c.created_at >= now - DAY

    def count(statuses: list[str], *within: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((c.status.in_(statuses) & _all(within), 1), else_=0)), 0)

    columns = [count(s, since_day) for s in _COUNTED] + [count(s) for s in _COUNTED]
    return select(c.tenant_id, *columns).where(c.created_at >= now - WEEK).group_by(c.tenant_id)


def _all(conditions: tuple[ColumnElement[bool], ...]) -> ColumnElement[bool]:
    return and_(true(), *conditions)


def _split(row: Any) -> tuple[DeliveryFigures, DeliveryFigures]:
    if row is None:
        return DeliveryFigures(), DeliveryFigures()
    values = [int(v) for v in row]
    return DeliveryFigures(*values[:4]), DeliveryFigures(*values[4:])
