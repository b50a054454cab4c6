"""Operators' view of a tenant's suppression list: list, add, remove (SPEC §7).

Removing asks Postmark to lift its own suppression too (the tenant's ``outbound`` stream, with the
server token of the tenant's sendable configuration, else its most recent one holding a server):
otherwise the next send would be refused with 406 and the address suppressed again. Postmark is
asked *before* the local entry goes, outside any transaction, so a Postmark failure changes
nothing (503, retry) and no database lock is held during the call.
"""

from __future__ import annotations

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.errors import NotFound, UpstreamUnavailable
from tenantmail.domain.header_text import check_header_text
from tenantmail.domain.job import canonical_recipient
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tenantmail.services.context import ServiceContext
from tenantmail.services.external_errors import message_of
from tenantmail.services.ports import UnitOfWork

OUTBOUND_STREAM = "outbound"


async def list_suppressions(
    ctx: ServiceContext, tenant_id: str, *, recipient: str | None = None,
    reasons: list[SuppressionReason] | None = None, limit: int = 50, offset: int = 0,
) -> tuple[list[SuppressionEntry], int]:
    """Live entries, newest first."""
    async with ctx.uow(tenant_id) as uow:
        return await uow.suppressions.list(
            recipient=canonical_recipient(check_header_text(recipient, "recipient")) if recipient else None,
            reason=[r.value for r in reasons] if reasons else None, limit=limit, offset=offset,
        )


async def add_suppression(
    ctx: ServiceContext, tenant_id: str, recipient: str,
    reason: SuppressionReason = SuppressionReason.MANUAL,
) -> tuple[SuppressionEntry, bool]:
    """Suppress ``recipient`` (origin operator); returns (the live entry, whether it is new)."""
    entry = SuppressionEntry.new(
        tenant_id=tenant_id, recipient=canonical_recipient(recipient), reason=reason,
        origin=SuppressionOrigin.OPERATOR, now=ctx.clock(),
    )
    async with ctx.uow(tenant_id) as uow:
        live = await uow.suppressions.add_if_absent(entry)
        await uow.commit()
    if live is entry:
        ctx.telemetry.emit("email.suppression.added", labels={"reason": reason.value, "origin": "operator"},
                           tenant_id=tenant_id)
    return live, live is entry


async def remove_suppression(ctx: ServiceContext, tenant_id: str, recipient: str) -> SuppressionEntry:
    """Lift the live entry here and at Postmark; NotFound (404), SuppressionNotRemovable (409)."""
    address = canonical_recipient(recipient)
    async with ctx.uow(tenant_id) as uow:
        entry = await _live(uow, address)
        entry.ensure_removable()
        token = await _server_token(ctx, uow)
    if token is not None:
        await _lift_at_postmark(ctx, token, address)
    async with ctx.uow(tenant_id) as uow:
        entry = await _live(uow, address)
        entry.remove(ctx.clock())
        await uow.suppressions.mark_removed(entry)
        await uow.commit()
    ctx.telemetry.emit("email.suppression.removed", labels={"reason": entry.reason.value},
                       tenant_id=tenant_id, postmark_asked=token is not None)
    return entry


async def _live(uow: UnitOfWork, address: str) -> SuppressionEntry:
    entry: SuppressionEntry | None = await uow.suppressions.live(address)
    if entry is None:
        raise NotFound("suppression of", address)
    return entry


async def _server_token(ctx: ServiceContext, uow: UnitOfWork) -> str | None:
    """The plaintext token of the server that sends for the tenant, if it has one."""
    config: EmailConfiguration | None = await uow.configurations.sendable()
    if config is None or config.server_token_ciphertext is None:
        configs, _ = await uow.configurations.list(limit=500)
        with_server = [c for c in configs if c.server_token_ciphertext and not c.is_removed]
        config = max(with_server, key=lambda c: c.created_at, default=None)
    if config is None or config.server_token_ciphertext is None:
        return None
    return ctx.cipher.decrypt(config.server_token_ciphertext, aad=config.e_id)


async def _lift_at_postmark(ctx: ServiceContext, token: str, address: str) -> None:
    try:
        await ctx.postmark.server(token).delete_suppressions(OUTBOUND_STREAM, [address])
    except Exception as exc:  # any Postmark failure: nothing changed here, the operator retries
        raise UpstreamUnavailable(f"Postmark did not lift the suppression of {address}: {message_of(exc)}") from exc
