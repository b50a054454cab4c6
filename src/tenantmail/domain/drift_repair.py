"""Which drift findings may be repaired, and how (SPEC §18): the plan, as pure rules.

Only safe repairs are ever planned:

* ``dns_missing_record`` / ``dns_value_mismatch`` → UPSERT the record with Postmark's *current*
  value (read again at repair time, never the stored one);
* ``postmark_orphan_db_row`` → the configuration moves to MISSING (the operator re-provisions);
* ``postmark_orphan_server`` / ``postmark_orphan_domain`` → deleted only when the operator named
  that exact id, and only while it carries this partition's naming; otherwise it waits for that
  confirmation;
* ``registry_missing_key`` → never: the plan says which key version to restore.

A plan is made from a fresh scan, so a repair that was applied is not found again: a second run
plans nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from tenantmail.domain.drift import Discrepancy, DriftTag

REPAIRED_EVENT = "email.drift.repaired"
REPAIR_FAILED_EVENT = "email.drift.repair_failed"


class RepairAction(StrEnum):
    UPSERT_DNS = "upsert_dns"
    MARK_MISSING = "mark_missing"
    DELETE_ORPHAN_SERVER = "delete_orphan_server"
    DELETE_ORPHAN_DOMAIN = "delete_orphan_domain"
    RESTORE_KEY = "restore_key"  #: never automatic: an operator restores the registry file


class RepairStatus(StrEnum):
    PLANNED = "planned"  #: safe; applied when the run applies
    NEEDS_CONFIRMATION = "needs_confirmation"  #: a deletion waiting for the operator to name the id
    MANUAL = "manual"  #: never repaired automatically; ``detail`` says what to do
    APPLIED = "applied"
    FAILED = "failed"

    @property
    def outstanding(self) -> bool:
        """Still to be done by someone after this run."""
        return self is not RepairStatus.APPLIED


@dataclass(frozen=True)
class Repair:
    """One finding and what is (or was) done about it."""

    finding: Discrepancy
    action: RepairAction
    status: RepairStatus
    detail: str

    def done(self, detail: str) -> Repair:
        return replace(self, status=RepairStatus.APPLIED, detail=detail)

    def failed(self, detail: str) -> Repair:
        return replace(self, status=RepairStatus.FAILED, detail=detail)

    def to_json(self) -> dict[str, object]:
        return {**self.finding.to_json(), "action": self.action.value, "status": self.status.value,
                "detail": self.detail}


def plan_repairs(
    findings: Iterable[Discrepancy], *, server_prefix: str, zone: str,
    delete_server_ids: Collection[int] = (), delete_domain_ids: Collection[int] = (),
) -> list[Repair]:
    """The repair of each finding. ``server_prefix`` / ``zone``: this partition's server naming
    and mail zone (only what carries them may be deleted); ``delete_*_ids``: the ids the operator
    confirmed for deletion."""
    return [_plan(f, server_prefix, zone.lower(), set(delete_server_ids), set(delete_domain_ids))
            for f in findings]


def _plan(f: Discrepancy, prefix: str, zone: str, servers: set[int], domains: set[int]) -> Repair:
    if f.tag in (DriftTag.DNS_MISSING_RECORD, DriftTag.DNS_VALUE_MISMATCH):
        return Repair(f, RepairAction.UPSERT_DNS, RepairStatus.PLANNED,
                      f"UPSERT {f.subject} with Postmark's current value")
    if f.tag is DriftTag.POSTMARK_ORPHAN_DB_ROW:
        return Repair(f, RepairAction.MARK_MISSING, RepairStatus.PLANNED,
                      f"Postmark has no {_resource(f.subject)}: move the configuration to MISSING "
                      "(then re-provision it)")
    if f.tag is DriftTag.POSTMARK_ORPHAN_SERVER:
        ours = (f.actual or "").startswith(prefix)
        return _deletion(f, RepairAction.DELETE_ORPHAN_SERVER, "server", ours, servers,
                         "--delete-orphan-server", "deleteOrphanServerIds")
    if f.tag is DriftTag.POSTMARK_ORPHAN_DOMAIN:
        ours = (f.actual or "").lower().endswith("." + zone)
        return _deletion(f, RepairAction.DELETE_ORPHAN_DOMAIN, "domain", ours, domains,
                         "--delete-orphan-domain", "deleteOrphanDomainIds")
    return Repair(f, RepairAction.RESTORE_KEY, RepairStatus.MANUAL,
                  f"never repaired automatically: restore key version {f.actual or f.subject} to the "
                  "key registry file (the token cannot be read without it), or re-provision the "
                  "configuration")


def _resource(subject: str) -> str:
    return subject if subject.startswith("domain ") else f"server {subject}"


def _deletion(
    f: Discrepancy, action: RepairAction, what: str, ours: bool, confirmed: set[int], flag: str, field: str,
) -> Repair:
    if not ours:
        return Repair(f, action, RepairStatus.MANUAL,
                      f"{what} {f.subject} ({f.actual}) does not carry this partition's naming: never deleted here")
    if _as_int(f.subject) in confirmed:
        return Repair(f, action, RepairStatus.PLANNED, f"delete {what} {f.subject} ({f.actual}) from Postmark")
    return Repair(f, action, RepairStatus.NEEDS_CONFIRMATION,
                  f"delete {what} {f.subject} ({f.actual}) only if it is not in use: confirm with "
                  f"{flag} {f.subject} (API: {field})")


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def unmatched_confirmations(repairs: Iterable[Repair], action: RepairAction, ids: Collection[int]) -> list[int]:
    """Confirmed ids that name no orphan of the plan (a typo, or already gone): reported, unused."""
    planned = {_as_int(r.finding.subject) for r in repairs if r.action is action}
    return sorted(set(ids) - planned)
