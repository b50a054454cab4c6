"""The edges services talk to, as Protocols, one module per concern. Adapters implement them;
``tests/fakes.py`` fakes the ones the service unit tests need.

    postmark   the account API, per-server APIs, their values and ``PostmarkError``
    dns        the partition's mail zone
    keys       server-token encryption, webhook passwords
    telemetry  events, metrics, alerts
    storage    the unit of work and the two hot paths' stores
    work       leased background work
    system     cross-tenant scans, housekeeping, drift reports

Every name is also importable from ``tenantmail.services.ports`` itself.
"""

from __future__ import annotations

from tenantmail.services.ports.postmark import (
    PostmarkError,
    PostmarkServer,
    PostmarkSignature,
    PostmarkWebhook,
    Attachment,
    OutboundEmail,
    SendOutcome,
    OutboundMessageSummary,
    PostmarkSuppression,
    PostmarkServerEdit,
    PostmarkServerDetails,
    MessageAddress,
    MessageEvent,
    OutboundMessageDetails,
    PostmarkBounce,
    PostmarkDomain,
    BounceCount,
    DeliveryStats,
    MessageStream,
    PostmarkServerApi,
    PostmarkAccountApi,
    PostmarkGateway,
)
from tenantmail.services.ports.dns import (
    DnsRecord,
    DnsGateway,
)
from tenantmail.services.ports.keys import (
    TokenCipher,
    WebhookSecrets,
)
from tenantmail.services.ports.telemetry import (
    Telemetry,
)
from tenantmail.services.ports.storage import (
    UnitOfWork,
    QueueItem,
    SendFacts,
    SendStore,
    EventApplied,
    EventStore,
)
from tenantmail.services.ports.system import (
    StoredSecret,
    StoredToken,
    ConfigurationScans,
    Housekeeping,
    DriftReportStore,
)
from tenantmail.services.ports.work import (
    ClaimedJob,
    ClaimedConfiguration,
    JobClaim,
    JobWakeup,
    WorkQueue,
)

__all__ = [
    "Attachment",
    "BounceCount",
    "ClaimedConfiguration",
    "ClaimedJob",
    "ConfigurationScans",
    "DeliveryStats",
    "DnsGateway",
    "DnsRecord",
    "DriftReportStore",
    "EventApplied",
    "EventStore",
    "Housekeeping",
    "JobClaim",
    "JobWakeup",
    "MessageAddress",
    "MessageEvent",
    "MessageStream",
    "OutboundEmail",
    "OutboundMessageDetails",
    "OutboundMessageSummary",
    "PostmarkAccountApi",
    "PostmarkBounce",
    "PostmarkDomain",
    "PostmarkError",
    "PostmarkGateway",
    "PostmarkServer",
    "PostmarkServerApi",
    "PostmarkServerDetails",
    "PostmarkServerEdit",
    "PostmarkSignature",
    "PostmarkSuppression",
    "PostmarkWebhook",
    "QueueItem",
    "SendFacts",
    "SendOutcome",
    "SendStore",
    "StoredSecret",
    "StoredToken",
    "Telemetry",
    "TokenCipher",
    "UnitOfWork",
    "WebhookSecrets",
    "WorkQueue",
]
