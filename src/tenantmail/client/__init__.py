"""The Python client of tenantmail (SPEC §17): ``Client`` / ``AsyncClient`` over httpx, typed
answers (:mod:`tenantmail.client.models`), typed errors (:mod:`tenantmail.client.errors`), and
``verify_notification`` for receivers of notifications. Guide: ``docs/client.md``.

    from tenantmail.client import Client

    with Client("http://127.0.0.1:8000", api_key, tenant_id="acme") as tm:
        job = tm.send_email(config_e_id, "customer@example.com", "Your receipt", text_body="Thanks!")
        print(tm.wait_for(job, {"DELIVERED"}).payload.status)

Needs only httpx (and the standard library).
"""

from tenantmail.client.api import FINAL, AsyncClient, Client, RetryPolicy
from tenantmail.client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidSignature,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    TenantmailError,
    TooManyRequests,
    TransportError,
    Unauthorized,
    Unprocessable,
    WaitTimeout,
)
from tenantmail.client.models import (
    BatchItem,
    BatchResult,
    Configuration,
    ConfigurationRecord,
    Event,
    Job,
    JobRecord,
    Notification,
    NotificationDelivery,
    NotificationEndpoint,
    NotificationEndpointWithSecret,
    Page,
    Suppression,
    TenantLimits,
)
from tenantmail.client.verify import verify_notification

__all__ = [
    "FINAL", "ApiError", "AsyncClient", "BadRequest", "BatchItem", "BatchResult", "Client", "Configuration", "ConfigurationRecord", "Conflict",
    "Event", "Forbidden", "InvalidSignature", "Job", "JobRecord", "NotFound", "Notification", "NotificationDelivery",
    "NotificationEndpoint", "NotificationEndpointWithSecret", "Page", "PayloadTooLarge", "PreconditionFailed",
    "RetryPolicy", "ServiceUnavailable", "Suppression", "TenantLimits", "TenantmailError", "TooManyRequests", "TransportError",
    "Unauthorized", "Unprocessable", "WaitTimeout", "verify_notification",
]
