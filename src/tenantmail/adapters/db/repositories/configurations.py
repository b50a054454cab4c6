"""Configurations and their append-only history (the audit log)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tenantmail.adapters.db.repositories.base import TenantRepository, page_bounds
from tenantmail.adapters.db.tables import configuration_versions, configurations
from tenantmail.domain.configuration import (
    Administrative,
    DnsRecords,
    EmailConfiguration,
    LastError,
    Operational,
    Signature,
)
from tenantmail.domain.errors import NotFound, SlugInUse, TenantAlreadySending


class ConcurrentModification(RuntimeError):
    """The row changed since it was read; the caller's transaction must be retried."""


def to_row(config: EmailConfiguration) -> dict[str, Any]:
    dns, err = config.dns, config.last_error
    return {
        "e_id": config.e_id, "tenant_id": config.tenant_id,
        "sending_domain_slug": config.sending_domain_slug, "mail_zone_name": config.mail_zone_name,
        "from_local_part": config.signature.from_local_part, "from_name": config.signature.from_name,
        "reply_to_email": config.signature.reply_to_email,
        "operational_status": config.operational.value,
        "administrative_status": config.administrative.value,
        "server_id": config.server_id, "signature_id": config.signature_id,
        "webhook_id": config.webhook_id, "server_token_ciphertext": config.server_token_ciphertext,
        "dkim_host": dns.dkim_host if dns else None, "dkim_value": dns.dkim_value if dns else None,
        "return_path_host": dns.return_path_host if dns else None,
        "return_path_value": dns.return_path_value if dns else None,
        "verification_started_at": config.verification_started_at, "verified_at": config.verified_at,
        "last_error_step": err.step if err else None, "last_error_code": err.code if err else None,
        "last_error_message": err.message if err else None,
        "consecutive_failures": config.consecutive_failures, "version": config.version,
        "created_at": config.created_at, "updated_at": config.updated_at,
    }


def to_domain(row: Any) -> EmailConfiguration:
    m = row._mapping
    dns = None
    if m["dkim_host"] is not None:
        dns = DnsRecords(m["dkim_host"], m["dkim_value"], m["return_path_host"], m["return_path_value"])
    err = None
    if m["last_error_step"] is not None:
        err = LastError(m["last_error_step"], m["last_error_code"] or "", m["last_error_message"] or "")
    return EmailConfiguration(
        e_id=m["e_id"], tenant_id=m["tenant_id"], sending_domain_slug=m["sending_domain_slug"],
        mail_zone_name=m["mail_zone_name"],
        signature=Signature(m["from_local_part"], m["from_name"], m["reply_to_email"]),
        operational=Operational(m["operational_status"]),
        administrative=Administrative(m["administrative_status"]),
        server_id=m["server_id"], signature_id=m["signature_id"], webhook_id=m["webhook_id"],
        server_token_ciphertext=m["server_token_ciphertext"], dns=dns,
        verification_started_at=m["verification_started_at"], verified_at=m["verified_at"],
        last_error=err, consecutive_failures=m["consecutive_failures"],
        created_at=m["created_at"], updated_at=m["updated_at"], version=m["version"],
    )


def history_payload(config: EmailConfiguration) -> dict[str, Any]:
    """The full state recorded in a history version (never the token ciphertext)."""
    row = to_row(config)
    row.pop("server_token_ciphertext")
    row["has_server_token"] = config.server_token_ciphertext is not None
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


class ConfigurationRepository(TenantRepository):
    table = configurations

    async def get(self, e_id: str, *, for_update: bool = False) -> EmailConfiguration:
        stmt = self._select().where(configurations.c.e_id == e_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            raise NotFound("configuration", e_id)
        return to_domain(row)

    async def list(
        self, *, operational: list[str] | None = None, administrative: list[str] | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[EmailConfiguration], int]:
        limit, offset = page_bounds(limit, offset)
        stmt = self._select()
        if operational:
            stmt = stmt.where(configurations.c.operational_status.in_(operational))
        if administrative:
            stmt = stmt.where(configurations.c.administrative_status.in_(administrative))
        total = (await self._conn.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        rows = await self._conn.execute(
            stmt.order_by(configurations.c.created_at, configurations.c.e_id).limit(limit).offset(offset)
        )
        return [to_domain(r) for r in rows], total

    async def sendable(self) -> EmailConfiguration | None:
        stmt = self._select().where(
            configurations.c.administrative_status == Administrative.UNLOCKED.value,
            configurations.c.operational_status.in_([Operational.OK.value, Operational.DEGRADED.value]),
        )
        row = (await self._conn.execute(stmt)).first()
        return to_domain(row) if row else None

    async def add(self, config: EmailConfiguration, *, author: str, cause: str) -> str:
        """Insert a new configuration and its first history version; return the version's rId."""
        config.version = 1
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(insert(configurations).values(**to_row(config)))
        except IntegrityError as exc:
            raise SlugInUse(config.sending_domain_slug) from exc
        return await self._append_version(config, author=author, cause=cause)

    async def save(self, config: EmailConfiguration, *, author: str, cause: str) -> str:
        """Persist a change and append its history version; return the version's rId.

        Guarded by the version read: a concurrent writer makes this raise ConcurrentModification.
        """
        expected = config.version
        config.version = expected + 1
        values = to_row(config)
        for key in ("e_id", "tenant_id", "created_at"):
            values.pop(key)
        try:
            async with self._conn.begin_nested():
                result = await self._conn.execute(
                    update(configurations)
                    .where(self._tenant(), configurations.c.e_id == config.e_id,
                           configurations.c.version == expected)
                    .values(**values)
                )
        except IntegrityError as exc:
            config.version = expected
            other = await self._other_unlocked(config.e_id)
            raise TenantAlreadySending(other or "?") from exc
        if result.rowcount != 1:
            config.version = expected
            raise ConcurrentModification(f"configuration {config.e_id} changed concurrently")
        return await self._append_version(config, author=author, cause=cause)

    async def _other_unlocked(self, e_id: str) -> str | None:
        stmt = self._select(configurations.c.e_id).where(
            configurations.c.administrative_status == Administrative.UNLOCKED.value,
            configurations.c.e_id != e_id,
        )
        return (await self._conn.execute(stmt)).scalar()

    async def _append_version(self, config: EmailConfiguration, *, author: str, cause: str) -> str:
        r_id = str(uuid.uuid4())
        now = config.updated_at
        await self._conn.execute(
            insert(configuration_versions).values(
                r_id=r_id, e_id=config.e_id, tenant_id=self.tenant_id, version=config.version,
                recorded_at=now, effective_at=now, author=author, cause=cause,
                payload=history_payload(config),
            )
        )
        return r_id

    async def latest_version_id(self, e_id: str) -> tuple[str, datetime, datetime] | None:
        stmt = (
            select(configuration_versions.c.r_id, configuration_versions.c.effective_at,
                   configuration_versions.c.recorded_at)
            .where(configuration_versions.c.tenant_id == self.tenant_id,
                   configuration_versions.c.e_id == e_id)
            .order_by(configuration_versions.c.version.desc()).limit(1)
        )
        row = (await self._conn.execute(stmt)).first()
        return tuple(row) if row else None  # type: ignore[return-value]

    async def history(self, e_id: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        limit, offset = page_bounds(limit, offset, max_limit=1000)
        stmt = (
            select(configuration_versions)
            .where(configuration_versions.c.tenant_id == self.tenant_id,
                   configuration_versions.c.e_id == e_id)
            .order_by(configuration_versions.c.version).limit(limit).offset(offset)
        )
        return [dict(r._mapping) for r in await self._conn.execute(stmt)]

    async def version_as_of(
        self, e_id: str, *, recorded_as_of: datetime | None = None, effective_as_of: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The history version in force at the given coordinates (latest when both are None)."""
        versions = configuration_versions.c
        stmt = select(configuration_versions).where(versions.tenant_id == self.tenant_id, versions.e_id == e_id)
        if recorded_as_of is not None:
            stmt = stmt.where(versions.recorded_at <= recorded_as_of)
        if effective_as_of is not None:
            stmt = stmt.where(versions.effective_at <= effective_as_of)
        row = (await self._conn.execute(stmt.order_by(versions.version.desc()).limit(1))).first()
        return dict(row._mapping) if row else None


__all__ = ["ConfigurationRepository", "ConcurrentModification"]
