"""An operator's edit of a configuration (``PATCH /configuration/{eId}``): today its From allow-list.

The allow-list (``allowedFromLocalParts``) is what ``fromLocalPart`` on ``POST /job`` may choose
(SPEC §18). Every edit is a history version with its author, like a signal; the write is guarded
by the version read, so a concurrent change answers 409 instead of being overwritten. Sends
already queued with a local part that is taken off the list fail at dispatch (never a From
outside the list).
"""

from __future__ import annotations

from tenantmail.domain.configuration import ConfigurationVersion
from tenantmail.services.configuration_store import LIFECYCLE, load, persist, state_of
from tenantmail.services.context import ServiceContext

EDIT_ALLOWED_FROM = "edit:allowedFromLocalParts"


async def edit_allowed_from_local_parts(
    ctx: ServiceContext, tenant_id: str, e_id: str, parts: list[str], *, author: str
) -> ConfigurationVersion:
    """Replace the allow-list; InvalidInput (400) for a list the configuration cannot have."""
    config = await load(ctx, tenant_id, e_id)
    before, previous = state_of(config), config.allowed_local_parts
    config.set_allowed_from_local_parts(parts, ctx.clock())
    version = await persist(ctx, config, author=author, cause=EDIT_ALLOWED_FROM, before=before)
    ctx.telemetry.emit(
        f"{LIFECYCLE}.edited", labels={"field": "allowedFromLocalParts"}, configuration_id=e_id,
        tenant_id=tenant_id, author=author, before=list(previous), after=list(config.allowed_local_parts),
    )
    return version
