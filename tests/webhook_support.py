"""Helpers for the webhook tests: documented payload shapes, and a configuration + job in the DB.

Payloads follow postmark-api.md §7 field for field (the documentation's examples with our ids).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.services.context import ServiceContext

SERVER_ID = 23
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
_bounce_ids = itertools.count(4323372036854775000)


def at(seconds: float) -> str:
    """A Postmark-style timestamp (7 fractional digits, Z) ``seconds`` after T0."""
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def delivery(message_id: str, recipient: str, *, job: str | None = None, when: float = 1,
             server_id: int = SERVER_ID) -> dict[str, Any]:
    return {
        "RecordType": "Delivery", "ServerID": server_id, "MessageStream": "outbound",
        "MessageID": message_id, "Recipient": recipient, "Tag": "welcome-email",
        "DeliveredAt": at(when), "Details": "smtp;250 2.0.0 OK", "Metadata": _metadata(job),
    }


def bounce(message_id: str, email: str, *, bounce_type: str = "HardBounce", type_code: int = 1,
           job: str | None = None, when: float = 2, server_id: int = SERVER_ID,
           bounce_id: int | None = None) -> dict[str, Any]:
    return {
        "RecordType": "Bounce", "MessageStream": "outbound",
        "ID": next(_bounce_ids) if bounce_id is None else bounce_id,
        "Type": bounce_type, "TypeCode": type_code, "Name": bounce_type, "Tag": "Test",
        "MessageID": message_id, "Metadata": _metadata(job), "ServerID": server_id,
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
        "Email": email, "From": "sender@example.com", "BouncedAt": at(when),
        "DumpAvailable": True, "Inactive": bounce_type == "HardBounce", "CanActivate": True,
        "Subject": "Test subject",
    }


def spam_complaint(message_id: str, email: str, *, job: str | None = None, when: float = 3,
                   server_id: int = SERVER_ID) -> dict[str, Any]:
    return {
        **bounce(message_id, email, job=job, when=when, server_id=server_id),
        "RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512,
        "Name": "Spam complaint", "Inactive": True, "CanActivate": False,
    }


def open_event(message_id: str, recipient: str, *, job: str | None = None, when: float = 4,
               server_id: int | None = None) -> dict[str, Any]:
    """Postmark's documented Open payload: it carries no ServerID (postmark-api.md §7)."""
    body = {
        "RecordType": "Open", "MessageStream": "outbound", "FirstOpen": True,
        "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
        "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
        "Platform": "WebMail", "UserAgent": "Mozilla/5.0", "ReadSeconds": 5, "Geo": {},
        "MessageID": message_id, "Metadata": _metadata(job), "ReceivedAt": at(when), "Tag": "welcome",
        "Recipient": recipient,
    }
    return body if server_id is None else {**body, "ServerID": server_id}


def click(message_id: str, recipient: str, *, job: str | None = None, when: float = 5,
          server_id: int | None = None) -> dict[str, Any]:
    body = open_event(message_id, recipient, job=job, when=when, server_id=server_id)
    for key in ("FirstOpen", "ReadSeconds"):
        body.pop(key)
    return {**body, "RecordType": "Click", "ClickLocation": "HTML", "OriginalLink": "https://example.com"}


def subscription_change(recipient: str, *, suppress: bool, reason: str | None = "ManualSuppression",
                        message_id: str | None = None, when: float = 6,
                        server_id: int = SERVER_ID) -> dict[str, Any]:
    return {
        "RecordType": "SubscriptionChange", "MessageID": message_id, "ServerID": server_id,
        "MessageStream": "outbound", "ChangedAt": at(when), "Recipient": recipient,
        "Origin": "Customer", "SuppressSending": suppress, "SuppressionReason": reason,
        "Tag": None, "Metadata": {},
    }


def _metadata(job: str | None) -> dict[str, str]:
    return {"tm_job": job, "tm_config": "c"} if job else {}


@dataclass
class Seeded:
    configuration: EmailConfiguration
    job: EmailJob
    password: str

    @property
    def credentials(self) -> tuple[str, str]:
        return self.configuration.e_id, self.password


async def seed(ctx: ServiceContext, tenant: str, *, server_id: int = SERVER_ID,
               recipient: str = "john@example.com", status: JobStatus = JobStatus.SENT,
               unlocked: bool = True, token: str | None = None) -> Seeded:
    """A sendable configuration on ``server_id`` (with ``token``) and one job of it in ``status``."""
    slug = f"t{uuid.uuid4().hex[:12]}"
    config = EmailConfiguration.create(
        tenant_id=tenant, slug=slug, mail_zone_name="dev.ardamails.com",
        signature=Signature("noreply", "Acme", None), now=T0,
    )
    config.operational = Operational.OK
    config.administrative = Administrative.UNLOCKED if unlocked else Administrative.LOCKED
    config.server_id = server_id
    config.server_token_ciphertext = ctx.cipher.encrypt(token or f"token-{slug}", aad=config.e_id)
    job = EmailJob.queue(tenant_id=tenant, configuration_e_id=config.e_id, recipient=recipient,
                         subject="Hello", idempotency_key=uuid.uuid4().hex, now=T0, text_body="hi")
    job.message_id = str(uuid.uuid4())
    job.move(status, T0)
    async with ctx.uow(tenant) as uow:
        await uow.configurations.add(config, author="tests", cause="seed")
        await uow.jobs.add(job)
        await uow.commit()
    return Seeded(config, job, ctx.webhook_secrets.current(config.e_id))
