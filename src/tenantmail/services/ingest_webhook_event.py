"""Take one Postmark webhook call: authenticate it, store the event once, project it (SPEC §6).

Order of checks: credentials (the password is one derived for the named configuration — no
database work, the same cost for any name — then the configuration's tenant) → 401; only then is
the body read (:data:`BodyReader`, so an unauthenticated caller never makes the process buffer
one, SPEC §14) → 400;
the payload's ServerID is the configuration's server (Open and Click carry none) → 401. What the event does is decided first
(:class:`~tenantmail.domain.delivery_event.EventEffects`: the job's next status for each status it
may be in, the suppression to add or lift); the store then applies it atomically
(:class:`~tenantmail.services.ports.EventStore`): match the job (``tm_job``, else MessageID), store
the event under its dedup key (a duplicate changes nothing), move the job, suppress or lift. Telemetry (and Sentry for INCONSISTENT) only after the commit, so the answer to Postmark
never waits on it and never reports what was rolled back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tenantmail.domain.delivery_event import DeliveryEvent, EventEffects, EventKind, MalformedEvent
from tenantmail.domain.errors import DomainError
from tenantmail.domain.job import JobStatus
from tenantmail.services.context import ServiceContext

#: configuration eId → its tenant, or None (the one lookup not scoped to a tenant)
TenantLocator = Callable[[str], Awaitable[str | None]]
#: raw body → event; raises MalformedEvent (the Postmark adapter's parse + normalize)
EventParser = Callable[[bytes], DeliveryEvent]
#: reads the request body (within its limit) once the caller is authenticated
BodyReader = Callable[[], Awaitable[bytes]]


class WebhookUnauthorized(DomainError):
    status, kind = 401, "Unauthorized"


class Outcome(StrEnum):
    MATCHED = "matched"  #: stored and applied to its job
    UNMATCHED = "unmatched"  #: stored; no job of this tenant has its tm_job or MessageID
    DUPLICATE = "duplicate"  #: already stored; nothing changed


@dataclass(frozen=True)
class WebhookCall:
    username: str  #: the configuration eId
    password: str = ""
    body: bytes | BodyReader = b""  #: the body, or how to read it after authentication

    async def read_body(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else await self.body()


@dataclass(frozen=True)
class Ingested:
    outcome: Outcome
    event: DeliveryEvent
    tenant_id: str
    configuration_e_id: str
    job_e_id: str | None = None
    previous_status: JobStatus | None = None
    status: JobStatus | None = None  #: the job's status after this event


async def ingest_webhook_event(
    ctx: ServiceContext, call: WebhookCall, *, locate: TenantLocator, parse: EventParser,
) -> Ingested:
    """Authenticate, store and apply one webhook event; raises WebhookUnauthorized / MalformedEvent."""
    tenant_id = await _authenticate(ctx, call, locate)
    raw = await call.read_body()
    try:
        event = parse(raw)
    except MalformedEvent as exc:
        _reject(ctx, "malformed", call.username, detail=exc.message)
        raise
    ctx.telemetry.emit("email.webhook.received", labels={"record_type": _label(event)},
                       configuration_eid=call.username)
    now = ctx.clock()
    applied = await ctx.event_store.store_and_apply(
        tenant_id, call.username, event, EventEffects.of(event, tenant_id, now), received_at=now,
    )
    if not event.from_server(applied.server_id):
        _reject(ctx, "auth_mismatch", call.username, detail="ServerID is not the configuration's server")
        raise WebhookUnauthorized("the event's ServerID does not belong to this configuration")
    outcome = (Outcome.DUPLICATE if not applied.stored
               else Outcome.UNMATCHED if applied.job_e_id is None else Outcome.MATCHED)
    result = Ingested(
        outcome, event, tenant_id, call.username, job_e_id=applied.job_e_id,
        previous_status=applied.previous_status if outcome is Outcome.MATCHED else None,
        status=applied.status if outcome is Outcome.MATCHED else None,
    )
    _report(ctx, result)
    return result


async def _authenticate(ctx: ServiceContext, call: WebhookCall, locate: TenantLocator) -> str:
    """The configuration's tenant, once the password is one derived for that configuration.

    The password is checked first and alone: it is derived from the name (HMAC, no lookup), so a
    wrong one costs the same whether the configuration exists or not, and no caller reaches the
    database without the password. Until then the name is the caller's word: logged as a short hash."""
    if not ctx.webhook_secrets.verify(call.username, call.password):
        _reject(ctx, "auth_mismatch", short_hash(call.username), detail="wrong credentials")
        raise WebhookUnauthorized("invalid webhook credentials")
    tenant_id = await locate(call.username)
    if tenant_id is None:  # a password derived for a configuration that was never created here
        _reject(ctx, "auth_mismatch", call.username, detail="unknown configuration")
        raise WebhookUnauthorized("invalid webhook credentials")
    return tenant_id


def short_hash(value: str) -> str:
    """How an unauthenticated caller's value may appear in a log line: 12 hex digits of its SHA-256."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _report(ctx: ServiceContext, result: Ingested) -> None:
    """The email.webhook.* events of one accepted call (after commit)."""
    ids: Mapping[str, Any] = {"tenant_id": result.tenant_id, "configuration_eid": result.configuration_e_id,
                              "job_id": result.job_e_id, "message_id": result.event.message_id}
    labels = {"record_type": _label(result.event)}
    if result.outcome is Outcome.DUPLICATE:
        ctx.telemetry.emit("email.webhook.duplicate", labels=labels, **ids)
    elif result.outcome is Outcome.UNMATCHED:
        ctx.telemetry.emit("email.webhook.unmatched", labels=labels, **ids)
    elif result.status is not result.previous_status:
        ctx.telemetry.emit("email.webhook.projection", labels={
            "from_status": str(result.previous_status), "to_status": str(result.status)}, **ids)
        if result.status is JobStatus.INCONSISTENT:
            ctx.telemetry.emit(
                "email.webhook.inconsistent", level="warning", sentry=True,
                fingerprint=["email.webhook.inconsistent", str(result.job_e_id)],
                labels=labels, previous_status=str(result.previous_status), **ids,
            )


def _reject(ctx: ServiceContext, reason: str, configuration_e_id: str, *, detail: str) -> None:
    """``configuration_e_id``: authenticated, or :func:`short_hash` of what the caller sent."""
    ctx.telemetry.emit("email.webhook.rejected", labels={"reason": reason}, level="warning",
                       configuration_eid=configuration_e_id[:64], detail=detail)


def _label(event: DeliveryEvent) -> str:
    """A bounded metric label: known RecordTypes by name, anything else as 'Unknown'."""
    return "Unknown" if event.kind is EventKind.UNKNOWN else event.record_type
