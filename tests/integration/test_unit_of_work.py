"""The unit of work: nothing without commit, nothing on error, and no tenant sees another's rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.domain.configuration import EmailConfiguration, Signature
from tenantmail.domain.errors import NotFound, SlugInUse

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _config(tenant: str, slug: str = "acme") -> EmailConfiguration:
    return EmailConfiguration.create(
        tenant_id=tenant, slug=slug, mail_zone_name="dev.ardamails.com", signature=Signature(from_name="A"), now=NOW,
    )


async def _count(engine: AsyncEngine, tenant: str) -> int:
    async with UnitOfWork(engine, tenant) as uow:
        return (await uow.configurations.list())[1]


async def test_leaving_without_commit_rolls_back(engine: AsyncEngine) -> None:
    async with UnitOfWork(engine, "tenant-a") as uow:
        await uow.configurations.add(_config("tenant-a"), author="t", cause="create")
    assert await _count(engine, "tenant-a") == 0


async def test_an_error_rolls_back(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with UnitOfWork(engine, "tenant-a") as uow:
            await uow.configurations.add(_config("tenant-a"), author="t", cause="create")
            raise RuntimeError("boom")
    assert await _count(engine, "tenant-a") == 0


async def test_commit_persists_the_row_and_its_first_history_version(engine: AsyncEngine) -> None:
    config = _config("tenant-a")
    async with UnitOfWork(engine, "tenant-a") as uow:
        await uow.configurations.add(config, author="alice", cause="create")
        await uow.commit()
    async with UnitOfWork(engine, "tenant-a") as uow:
        stored = await uow.configurations.get(config.e_id)
        [version] = await uow.configurations.history(config.e_id)
    assert stored.sending_domain == "acme.dev.ardamails.com" and stored.version == 1
    assert (version["author"], version["cause"], version["version"]) == ("alice", "create", 1)
    assert version["payload"]["operational_status"] == "PENDING"


async def test_another_tenants_configuration_is_not_found(engine: AsyncEngine) -> None:
    config = _config("tenant-a")
    async with UnitOfWork(engine, "tenant-a") as uow:
        await uow.configurations.add(config, author="t", cause="create")
        await uow.commit()
    async with UnitOfWork(engine, "tenant-b") as uow:
        with pytest.raises(NotFound):
            await uow.configurations.get(config.e_id)
        assert await uow.configurations.history(config.e_id) == []
        assert (await uow.configurations.list())[1] == 0


async def test_a_live_slug_is_unique_across_tenants(engine: AsyncEngine) -> None:
    async with UnitOfWork(engine, "tenant-a") as uow:
        await uow.configurations.add(_config("tenant-a"), author="t", cause="create")
        await uow.commit()
    async with UnitOfWork(engine, "tenant-b") as uow:
        with pytest.raises(SlugInUse):
            await uow.configurations.add(_config("tenant-b"), author="t", cause="create")
        # the failed insert did not poison the transaction: other work still commits
        await uow.configurations.add(_config("tenant-b", slug="other"), author="t", cause="create")
        await uow.commit()
    assert await _count(engine, "tenant-b") == 1
