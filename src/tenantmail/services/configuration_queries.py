"""Reads of configurations for the API, CLI and console: current, as of a moment, history, lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tenantmail.domain.configuration import ConfigurationVersion
from tenantmail.services.context import ServiceContext


@dataclass(frozen=True)
class VersionPage:
    items: list[ConfigurationVersion]
    total: int
    limit: int
    offset: int


async def get_configuration(
    ctx: ServiceContext, tenant_id: str, e_id: str, *,
    recorded_as_of: datetime | None = None, effective_as_of: datetime | None = None,
) -> ConfigurationVersion:
    """The version in force at the given coordinates (the current one without them); NotFound
    also for a moment before the configuration existed."""
    async with ctx.uow(tenant_id) as uow:
        return await uow.configurations.version(
            e_id, recorded_as_of=recorded_as_of, effective_as_of=effective_as_of
        )


async def list_configurations(
    ctx: ServiceContext, tenant_id: str, *, operational: list[str] | None = None,
    administrative: list[str] | None = None, limit: int = 50, offset: int = 0,
) -> VersionPage:
    async with ctx.uow(tenant_id) as uow:
        items, total = await uow.configurations.list_versions(
            operational=operational, administrative=administrative, limit=limit, offset=offset
        )
    return VersionPage(items, total, limit, offset)


async def configuration_history(
    ctx: ServiceContext, tenant_id: str, e_id: str, *, limit: int = 100, offset: int = 0
) -> VersionPage:
    """Every version, oldest first: who changed what, when, and by which signal (the audit log)."""
    async with ctx.uow(tenant_id) as uow:
        items, total = await uow.configurations.versions(e_id, limit=limit, offset=offset)
    return VersionPage(items, total, limit, offset)
