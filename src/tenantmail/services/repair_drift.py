"""Drift repair (SPEC §18): scan now, plan the safe repairs, and — when asked — apply them.

The plan comes from a fresh scan (``detect_drift``), so it reflects the world as it is, and a run
after a successful repair plans nothing. Each applied repair is re-checked against the outside
world at the moment it is made:

* a DNS record is UPSERTed with the value Postmark gives *now* for the configuration's signature
  or Domain (read again; the configuration's recorded records follow when Postmark's changed);
* MISSING is written only while the configuration is still in a settled state;
* an orphan server or domain is read again and deleted only while it still carries this
  partition's naming (404: already gone, which is what was wanted).

A repair of a configuration is a history version with its author (cause
``drift-repair:<tag>``); every repair, applied or failed, is an ``email.drift.repaired`` /
``email.drift.repair_failed`` event with the author. An orphan server or domain belongs to no
configuration, so its deletion has no history to join: the event (log, metric, Sentry) and the
answer are its record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from tenantmail.domain.configuration import EmailConfiguration, LastError
from tenantmail.domain.drift import SETTLED, DriftReport, DriftTag
from tenantmail.domain.drift_repair import (
    REPAIR_FAILED_EVENT,
    REPAIRED_EVENT,
    Repair,
    RepairAction,
    RepairStatus,
    plan_repairs,
    unmatched_confirmations,
)
from tenantmail.domain.naming import server_name_prefix
from tenantmail.services.configuration_resources import authentication_state
from tenantmail.services.configuration_store import load, persist, state_of
from tenantmail.services.context import ServiceContext
from tenantmail.services.detect_drift import detect_drift
from tenantmail.services.external_errors import error_code_of, is_gone, message_of
from tenantmail.services.ports import DnsRecord

CAUSE_PREFIX = "drift-repair:"


@dataclass(frozen=True)
class RepairRun:
    """What one ``drift repair`` saw, planned and did."""

    report: DriftReport
    applied: bool  #: whether the planned repairs were carried out (``--yes`` / ``apply``)
    repairs: tuple[Repair, ...]
    author: str
    unmatched_server_ids: tuple[int, ...] = ()
    unmatched_domain_ids: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def outstanding(self) -> list[Repair]:
        return [r for r in self.repairs if r.status.outstanding]

    @property
    def settled(self) -> bool:
        """Nothing is left to repair (and the scan saw everything)."""
        return not self.outstanding and self.report.error is None

    def to_json(self) -> dict[str, object]:
        return {
            "scan": {"id": self.report.id, "status": self.report.status.value,
                     "startedAt": self.report.started_at.isoformat(), **self.report.summary()},
            "applied": self.applied, "author": self.author,
            "repairs": [r.to_json() for r in self.repairs],
            "outstanding": len(self.outstanding),
            "unmatchedConfirmations": {"servers": list(self.unmatched_server_ids),
                                       "domains": list(self.unmatched_domain_ids)},
        }


async def repair_drift(
    ctx: ServiceContext, *, apply: bool, author: str,
    delete_orphan_server_ids: Collection[int] = (), delete_orphan_domain_ids: Collection[int] = (),
) -> RepairRun:
    """Scan, plan, and (``apply``) carry out the planned repairs one by one."""
    report = await detect_drift(ctx)
    zone = ctx.settings.effective_mail_zone_name
    plan = plan_repairs(
        report.discrepancies, server_prefix=server_name_prefix(zone), zone=zone,
        delete_server_ids=delete_orphan_server_ids, delete_domain_ids=delete_orphan_domain_ids,
    )
    if apply:
        plan = [await _apply(ctx, repair, author) if repair.status is RepairStatus.PLANNED else repair
                for repair in plan]
    return RepairRun(
        report=report, applied=apply, repairs=tuple(plan), author=author,
        unmatched_server_ids=tuple(unmatched_confirmations(
            plan, RepairAction.DELETE_ORPHAN_SERVER, delete_orphan_server_ids)),
        unmatched_domain_ids=tuple(unmatched_confirmations(
            plan, RepairAction.DELETE_ORPHAN_DOMAIN, delete_orphan_domain_ids)),
    )


async def _apply(ctx: ServiceContext, repair: Repair, author: str) -> Repair:
    try:
        outcome = await APPLY[repair.action](ctx, repair, author)
    except Exception as exc:  # one failed repair never stops the others; it is reported
        outcome = repair.failed(f"{error_code_of(exc)} {message_of(exc)}".strip())
    _report(ctx, outcome, author)
    return outcome


def _report(ctx: ServiceContext, repair: Repair, author: str) -> None:
    applied = repair.status is RepairStatus.APPLIED
    finding = repair.finding
    ctx.telemetry.emit(
        REPAIRED_EVENT if applied else REPAIR_FAILED_EVENT,
        labels={"tag": finding.tag.value, "action": repair.action.value},
        level="info" if applied else "warning", sentry=not applied,
        fingerprint=None if applied else [REPAIR_FAILED_EVENT, *finding.fingerprint],
        author=author, configuration_e_id=finding.configuration_e_id, tenant_id=finding.tenant_id,
        subject=finding.subject, detail=repair.detail,
    )


# --- the repairs ------------------------------------------------------------------------------


async def _configuration(ctx: ServiceContext, repair: Repair) -> EmailConfiguration:
    finding = repair.finding
    assert finding.configuration_e_id is not None and finding.tenant_id is not None
    return await load(ctx, finding.tenant_id, finding.configuration_e_id)


async def _upsert_dns(ctx: ServiceContext, repair: Repair, author: str) -> Repair:
    config = await _configuration(ctx, repair)
    if config.operational not in SETTLED:
        return repair.done(f"nothing to do: the configuration is {config.operational.value} now")
    record_type = repair.finding.subject.split(" ", 1)[0]
    current = (await authentication_state(ctx, config)).dns  # Postmark's values now
    record = (DnsRecord(current.dkim_host, "TXT", current.dkim_value) if record_type == "TXT"
              else DnsRecord(current.return_path_host, "CNAME", current.return_path_value))
    await ctx.dns.upsert_records([record])
    before = state_of(config)
    config.record_dns(current, ctx.clock())
    await persist(ctx, config, author=author, cause=CAUSE_PREFIX + repair.finding.tag.value, before=before)
    return repair.done(f"UPSERTed {record.type} {record.name} = {record.value}")


async def _mark_missing(ctx: ServiceContext, repair: Repair, author: str) -> Repair:
    config = await _configuration(ctx, repair)
    if config.operational not in SETTLED:
        return repair.done(f"nothing to do: the configuration is {config.operational.value} now")
    before = state_of(config)
    config.mark_missing(LastError("drift", DriftTag.POSTMARK_ORPHAN_DB_ROW.value,
                                  f"Postmark has no {repair.finding.expected}: re-provision the configuration"),
                        ctx.clock())
    await persist(ctx, config, author=author, cause=CAUSE_PREFIX + repair.finding.tag.value, before=before)
    return repair.done("moved to MISSING; re-provision it")


async def _delete_orphan(
    repair: Repair, what: str, read: Callable[[int], Awaitable[Any]], delete: Callable[[int], Awaitable[None]],
    ours: Callable[[str], bool],
) -> Repair:
    """Read the orphan again, delete it only while its name is still this partition's."""
    resource_id = int(repair.finding.subject)
    try:
        name = (await read(resource_id)).name
    except Exception as exc:
        if is_gone(exc):
            return repair.done(f"{what} {resource_id} is already gone")
        raise
    if not ours(name):
        return repair.failed(f"{what} {resource_id} is now {name}: not this partition's; kept")
    await delete(resource_id)
    return repair.done(f"deleted {what} {resource_id} ({name})")


async def _delete_orphan_server(ctx: ServiceContext, repair: Repair, author: str) -> Repair:
    prefix = server_name_prefix(ctx.settings.effective_mail_zone_name)
    account = ctx.postmark.account
    return await _delete_orphan(repair, "server", account.get_server, account.delete_server,
                                lambda name: name.startswith(prefix))


async def _delete_orphan_domain(ctx: ServiceContext, repair: Repair, author: str) -> Repair:
    suffix = "." + ctx.settings.effective_mail_zone_name.lower()
    account = ctx.postmark.account
    return await _delete_orphan(repair, "domain", account.get_domain, account.delete_domain,
                                lambda name: name.lower().endswith(suffix))


async def _never(ctx: ServiceContext, repair: Repair, author: str) -> Repair:
    return repair  # RESTORE_KEY is planned MANUAL and never reaches here


APPLY = {
    RepairAction.UPSERT_DNS: _upsert_dns,
    RepairAction.MARK_MISSING: _mark_missing,
    RepairAction.DELETE_ORPHAN_SERVER: _delete_orphan_server,
    RepairAction.DELETE_ORPHAN_DOMAIN: _delete_orphan_domain,
    RepairAction.RESTORE_KEY: _never,
}
