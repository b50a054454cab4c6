"""Configurations and their append-only history (the audit log)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from collections.abc import Mapping

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tenantmail.adapters.db.repositories.base import TenantRepository, page_bounds
from tenantmail.adapters.db.tables import configuration_versions, configurations
from tenantmail.domain.configuration import (
    Administrative,
    Authentication,
    ConfigurationVersion,
    DnsRecords,
    EmailConfiguration,
    LastError,
    Operational,
    ProvisioningStep,
    Signature,
)
from tenantmail.domain.errors import ConcurrentModification, NotFound, SlugInUse, TenantAlreadySending


_ONE = (configurations.c.tenant_id == bindparam("tenant_id"), configurations.c.e_id == bindparam("e_id"))
#: ``get`` without and with the row lock, built once.
GET = {False: select(configurations).where(*_ONE), True: select(configurations).where(*_ONE).with_for_update()}


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
        "authentication": config.authentication.value, "domain_id": config.domain_id,
        "allowed_from_local_parts": list(config.allowed_from_local_parts) or None,
        "webhook_id": config.webhook_id, "server_token_ciphertext": config.server_token_ciphertext,
        "dkim_host": dns.dkim_host if dns else None, "dkim_value": dns.dkim_value if dns else None,
        "return_path_host": dns.return_path_host if dns else None,
        "return_path_value": dns.return_path_value if dns else None,
        "verification_started_at": config.verification_started_at, "verified_at": config.verified_at,
        "last_error_step": err.step if err else None, "last_error_code": err.code if err else None,
        "last_error_message": err.message if err else None,
        "consecutive_failures": config.consecutive_failures, "version": config.version,
        "step_in_flight": config.step_in_flight.value if config.step_in_flight else None,
        "created_at": config.created_at, "updated_at": config.updated_at,
    }


def to_domain(row: Any) -> EmailConfiguration:
    return from_mapping(row._mapping)


def from_mapping(m: Mapping[str, Any]) -> EmailConfiguration:
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
        step_in_flight=ProvisioningStep(m["step_in_flight"]) if m.get("step_in_flight") else None,
        # versions recorded before issue 22 have no authentication fields: signature, as they were
        authentication=Authentication(m.get("authentication") or Authentication.SIGNATURE.value),
        domain_id=m.get("domain_id"),
        allowed_from_local_parts=tuple(m.get("allowed_from_local_parts") or ()),
        created_at=m["created_at"], updated_at=m["updated_at"], version=m["version"],
    )


_TIME_FIELDS = ("verification_started_at", "verified_at", "created_at", "updated_at")


def from_history_payload(payload: Mapping[str, Any]) -> EmailConfiguration:
    """The configuration as a history version recorded it (no token: versions never keep it)."""
    values = {**payload, "server_token_ciphertext": None}
    for name in _TIME_FIELDS:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    return from_mapping(values)


def _version(row: Any) -> ConfigurationVersion:
    m = row._mapping
    return ConfigurationVersion(
        config=from_history_payload(m["payload"]), r_id=m["r_id"], recorded_at=m["recorded_at"],
        effective_at=m["effective_at"], author=m["author"], cause=m["cause"],
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
        row = (await self._conn.execute(GET[for_update], {"tenant_id": self.tenant_id, "e_id": e_id})).first()
        if row is None:
            raise NotFound("configuration", e_id)
        return to_domain(row)

    async def list(
        self, *, operational: list[str] | None = None, administrative: list[str] | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[EmailConfiguration], int]:
        c = configurations.c
        stmt = self._matching(
            c.operational_status.in_(operational) if operational else None,
            c.administrative_status.in_(administrative) if administrative else None,
        )
        rows, total = await self._page(stmt, (c.created_at, c.e_id), limit, offset)
        return [to_domain(r) for r in rows], total

    async def count_by_state(self) -> dict[tuple[str, str], int]:
        """How many of the tenant's configurations are in each (operational, administrative) pair."""
        c = configurations.c
        stmt = self._select(c.operational_status, c.administrative_status, func.count()).group_by(
            c.operational_status, c.administrative_status
        )
        return {(op, admin): n for op, admin, n in await self._conn.execute(stmt)}

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
            raise ConcurrentModification()
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

    async def history(self, e_id: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        limit, offset = page_bounds(limit, offset, max_limit=1000)
        stmt = (
            select(configuration_versions)
            .where(configuration_versions.c.tenant_id == self.tenant_id,
                   configuration_versions.c.e_id == e_id)
            .order_by(configuration_versions.c.version).limit(limit).offset(offset)
        )
        return [dict(r._mapping) for r in await self._conn.execute(stmt)]

    # --- reads of the record (envelopes: row state plus the version that recorded it) ---------
    async def version(
        self, e_id: str, *, recorded_as_of: datetime | None = None, effective_as_of: datetime | None = None,
    ) -> ConfigurationVersion:
        """The version in force at the coordinates (the latest without them); NotFound if none."""
        versions = configuration_versions.c
        stmt = select(configuration_versions).where(versions.tenant_id == self.tenant_id, versions.e_id == e_id)
        if recorded_as_of is not None:
            stmt = stmt.where(versions.recorded_at <= recorded_as_of)
        if effective_as_of is not None:
            stmt = stmt.where(versions.effective_at <= effective_as_of)
        row = (await self._conn.execute(stmt.order_by(versions.version.desc()).limit(1))).first()
        if row is None:
            raise NotFound("configuration", e_id)
        return _version(row)

    async def versions(self, e_id: str, *, limit: int = 100, offset: int = 0) -> tuple[list[ConfigurationVersion], int]:
        """A page of the history, oldest first, and its total; NotFound for an unknown eId."""
        limit, offset = page_bounds(limit, offset, max_limit=1000)
        versions = configuration_versions.c
        where = and_(versions.tenant_id == self.tenant_id, versions.e_id == e_id)
        total = (await self._conn.execute(select(func.count()).where(where))).scalar_one()
        if total == 0:
            raise NotFound("configuration", e_id)
        rows = await self._conn.execute(
            select(configuration_versions).where(where).order_by(versions.version).limit(limit).offset(offset)
        )
        return [_version(r) for r in rows], total

    async def list_versions(
        self, *, operational: list[str] | None = None, administrative: list[str] | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[ConfigurationVersion], int]:
        """Current versions of the configurations in the given states (oldest first), and the total."""
        limit, offset = page_bounds(limit, offset)
        c, v = configurations.c, configuration_versions.c
        stmt = select(configuration_versions).join(
            configurations, and_(c.e_id == v.e_id, c.version == v.version)
        ).where(self._tenant())
        if operational:
            stmt = stmt.where(c.operational_status.in_(operational))
        if administrative:
            stmt = stmt.where(c.administrative_status.in_(administrative))
        total = (await self._conn.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        rows = await self._conn.execute(stmt.order_by(c.created_at, c.e_id).limit(limit).offset(offset))
        return [_version(r) for r in rows], total

    # --- provisioning bookkeeping -----------------------------------------------------------
    async def mark_step_in_flight(self, config: EmailConfiguration) -> None:
        """Persist only the in-flight marker: bookkeeping of the job, like its lease, not a version."""
        await self._conn.execute(
            update(configurations).where(self._tenant(), configurations.c.e_id == config.e_id)
            .values(step_in_flight=config.step_in_flight.value if config.step_in_flight else None)
        )


__all__ = ["ConfigurationRepository", "from_history_payload"]
