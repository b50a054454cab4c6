"""Create a tenant's email configuration (``POST /configuration``): ``PENDING ∥ LOCKED``.

The caller names a slug and a signature; the sending domain and the From address are synthesised
here from the partition's mail zone, the same way the send path builds them, so the domain that
gets verified and the domain mail is sent from cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenantmail.domain.configuration import Authentication, ConfigurationVersion, EmailConfiguration, Signature
from tenantmail.services.configuration_store import LIFECYCLE, notify_changed, version_of
from tenantmail.services.context import ServiceContext

CREATED = "create"


@dataclass(frozen=True)
class NewConfiguration:
    slug: str
    from_name: str
    from_local_part: str | None = None  #: None: ``noreply``
    reply_to_email: str | None = None
    authentication: Authentication = Authentication.SIGNATURE
    allowed_from_local_parts: tuple[str, ...] | None = None  #: None: (from_local_part,)


async def create_configuration(
    ctx: ServiceContext, tenant_id: str, request: NewConfiguration, *, author: str
) -> ConfigurationVersion:
    """Validate and store a new configuration; SlugInUse (409) when a live one has the slug."""
    signature = Signature(
        from_local_part=request.from_local_part or Signature.from_local_part,
        from_name=request.from_name, reply_to_email=request.reply_to_email or None,
    )
    config = EmailConfiguration.create(
        tenant_id=tenant_id, slug=request.slug, mail_zone_name=ctx.settings.effective_mail_zone_name,
        signature=signature, now=ctx.clock(), authentication=request.authentication,
        allowed_from_local_parts=request.allowed_from_local_parts,
    )
    async with ctx.uow(tenant_id) as uow:
        r_id = await uow.configurations.add(config, author=author, cause=CREATED)
        await notify_changed(uow, config, ctx.clock())
        await uow.commit()
    ctx.telemetry.emit(
        f"{LIFECYCLE}.created", configuration_id=config.e_id, tenant_id=tenant_id,
        sending_domain=config.sending_domain, authentication=config.authentication.value,
    )
    return version_of(config, r_id, author=author, cause=CREATED)
