"""Reading and persisting one configuration, and telling telemetry about every transition.

Each lifecycle use case reads a configuration, does its outside work, then writes the result in one
transaction that appends a history version. The write is guarded by the version it read, so a
concurrent change makes it fail instead of being overwritten.
"""

from __future__ import annotations

from datetime import datetime

from tenantmail.domain.configuration import SENDABLE_OPERATIONAL, ConfigurationVersion, EmailConfiguration, Operational
from tenantmail.domain.notification import Notification, NotificationType
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports import UnitOfWork

LIFECYCLE = "email.configuration.lifecycle"
SYSTEM_AUTHOR = "system:tenantmail"  #: the author of versions written by background work


async def load(ctx: ServiceContext, tenant_id: str, e_id: str) -> EmailConfiguration:
    """The configuration, or NotFound (another tenant's eId is "not found" too)."""
    async with ctx.uow(tenant_id) as uow:
        return await uow.configurations.get(e_id)


async def persist(
    ctx: ServiceContext, config: EmailConfiguration, *, author: str, cause: str, before: str,
) -> ConfigurationVersion:
    """Save ``config`` as a new version in one transaction. ``before`` (a :func:`state_of`) is the
    state the change started from: when the states differ a transition event is emitted."""
    async with ctx.uow(config.tenant_id) as uow:
        r_id = await save_version(uow, config, author=author, cause=cause, before=before, now=ctx.clock())
        await uow.commit()
    if before != state_of(config):
        emit_transition(ctx, config, before=before, cause=cause)
    return version_of(config, r_id, author=author, cause=cause)


async def save_version(
    uow: UnitOfWork, config: EmailConfiguration, *, author: str, cause: str, before: str, now: datetime,
) -> str:
    """Append ``config``'s new version inside ``uow``; return its rId.

    When this change lets the configuration send again (its operational state enters OK or
    DEGRADED from any other), the jobs dispatch parked while it could not (``dispatch_jobs.PARK``)
    become due now, in the same transaction. A change of state (or an edit) tells the tenant's
    notification endpoints (``configuration.changed``), in the same transaction too.
    """
    r_id: str = await uow.configurations.save(config, author=author, cause=cause)
    if before != state_of(config) or cause in NOTIFIED_CAUSES:
        await notify_changed(uow, config, now)
    if config.dispatches and Operational(before.split("/", 1)[0]) not in SENDABLE_OPERATIONAL:
        await uow.jobs.release_parked(config.e_id, now)
    return r_id


#: Causes that notify ``configuration.changed`` even when neither state moved (edits of what a
#: calling service sees). Provisioning steps, polls and key sweeps that change no state do not.
NOTIFIED_CAUSES = frozenset({"edit:allowedFromLocalParts"})


async def notify_changed(uow: UnitOfWork, config: EmailConfiguration, now: datetime) -> None:
    await uow.notifications.record(Notification.of(NotificationType.CONFIGURATION_CHANGED, config.e_id, now))


def version_of(config: EmailConfiguration, r_id: str, *, author: str, cause: str) -> ConfigurationVersion:
    moment = config.updated_at
    assert moment is not None, "a persisted configuration has updated_at"
    return ConfigurationVersion(config.copy(), r_id, moment, moment, author, cause)


def state_of(config: EmailConfiguration) -> str:
    """Both regions as one label value, e.g. ``PENDING/LOCKED``."""
    return f"{config.operational}/{config.administrative}"


def emit_transition(ctx: ServiceContext, config: EmailConfiguration, *, before: str, cause: str) -> None:
    ctx.telemetry.emit(
        f"{LIFECYCLE}.transition", labels={"from": before, "to": state_of(config), "signal": cause},
        configuration_id=config.e_id, tenant_id=config.tenant_id,
    )
