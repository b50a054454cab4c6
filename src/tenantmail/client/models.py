"""Typed answers of the tenantmail API: plain dataclasses, one per schema of ``docs/openapi.json``.

Attributes are the JSON field names in snake_case (``configurationEId`` → ``configuration_e_id``;
``class`` → ``error_class``). Each model names its schema (``SCHEMA``); ``tests/unit/test_client_models.py``
fails when a model and the schema it names disagree on the fields. Unknown fields a newer service
adds are ignored, so an older client keeps working.
"""

from __future__ import annotations

import re
import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")
_RENAMES = {"error_class": "class"}


def json_name(attribute: str) -> str:
    """``configuration_e_id`` → ``configurationEId`` (the API's camelCase, ``eId``/``rId`` kept)."""
    if attribute in _RENAMES:
        return _RENAMES[attribute]
    head, *rest = attribute.split("_")
    return head + "".join("Id" if part == "id" else part[:1].upper() + part[1:] for part in rest)


def attribute_name(name: str) -> str:
    if name in _RENAMES.values():
        return next(a for a, j in _RENAMES.items() if j == name)
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def parse(kind: Any, value: Any) -> Any:
    """``value`` (decoded JSON) as ``kind``: a model, ``list[...]``, ``X | None`` or a plain type."""
    if value is None:
        return None
    origin = get_origin(kind)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(kind) if a is not type(None)]
        return parse(options[0], value) if len(options) == 1 else value
    if origin is list:
        (item,) = get_args(kind) or (Any,)
        return [parse(item, v) for v in value]
    if is_dataclass(kind) and isinstance(value, dict):
        return kind.from_json(value)
    return value


class Model:
    SCHEMA: ClassVar[str]

    @classmethod
    def from_json(cls: type[Any], data: dict[str, Any]) -> Any:
        hints = get_type_hints(cls)
        values = {}
        for f in fields(cls):
            name = json_name(f.name)
            if name in data:
                values[f.name] = parse(hints[f.name], data[name])
            elif f.default is MISSING and f.default_factory is MISSING:  # type: ignore[misc]
                values[f.name] = None
        return cls(**values)


# --- jobs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobError(Model):
    SCHEMA: ClassVar[str] = "JobErrorOut"
    error_class: str
    code: str
    message: str


@dataclass(frozen=True)
class Job(Model):
    """A job (``payload`` of ``GET /job/{eId}``; also the ``data`` of ``job.*`` notifications)."""

    SCHEMA: ClassVar[str] = "JobOut"
    e_id: str
    configuration_e_id: str
    recipient: str
    reply_to_email: str | None
    from_local_part: str | None
    subject: str
    status: str
    message_id: str | None
    attempts: int
    last_error: JobError | None
    created_at: str | None
    updated_at: str | None
    tag: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  #: the caller's pairs (tm_* not listed)
    html_sanitized: bool = False  #: true: the HTML sent is the sanitizer's output (HTML policy sanitize)


@dataclass(frozen=True)
class AsOf(Model):
    SCHEMA: ClassVar[str] = "AsOf"
    effective_from: int
    recorded_from: int


@dataclass(frozen=True)
class RecordMetadata(Model):
    SCHEMA: ClassVar[str] = "RecordMetadata"
    tenant_id: str
    author: str


@dataclass(frozen=True)
class JobRecord(Model):
    """The record envelope of a job: ``payload`` is the :class:`Job`."""

    SCHEMA: ClassVar[str] = "RecordEnvelope_JobOut_"
    e_id: str
    r_id: str
    as_of: AsOf
    payload: Job
    metadata: RecordMetadata

    @property
    def status(self) -> str:
        return self.payload.status


@dataclass(frozen=True)
class Event(Model):
    """An accepted Postmark webhook event of a job."""

    SCHEMA: ClassVar[str] = "EventOut"
    e_id: str
    configuration_e_id: str
    job_e_id: str | None
    record_type: str
    message_id: str | None
    recipient: str | None
    occurred_at: str | None
    received_at: str
    payload: dict[str, Any]


# --- configurations ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Signature(Model):
    SCHEMA: ClassVar[str] = "SignatureOut"
    from_local_part: str
    from_name: str
    reply_to_email: str | None
    from_email: str


@dataclass(frozen=True)
class PostmarkIds(Model):
    SCHEMA: ClassVar[str] = "PostmarkIds"
    server_id: int | None
    signature_id: int | None
    webhook_id: int | None
    domain_id: int | None


@dataclass(frozen=True)
class DnsRecord(Model):
    SCHEMA: ClassVar[str] = "DnsRecordOut"
    host: str | None
    value: str | None


@dataclass(frozen=True)
class Dns(Model):
    SCHEMA: ClassVar[str] = "DnsOut"
    dkim: DnsRecord | None
    return_path: DnsRecord | None


@dataclass(frozen=True)
class LastError(Model):
    SCHEMA: ClassVar[str] = "LastErrorOut"
    step: str
    code: str
    message: str


@dataclass(frozen=True)
class Configuration(Model):
    SCHEMA: ClassVar[str] = "ConfigurationOut"
    e_id: str
    sending_domain_slug: str
    sending_domain: str
    authentication: str
    signature: Signature
    allowed_from_local_parts: list[str]
    operational_status: str
    administrative_status: str
    sendable: bool
    postmark: PostmarkIds
    dns: Dns
    verification_started_at: str | None
    verified_at: str | None
    last_error: LastError | None
    created_at: str | None
    updated_at: str | None


@dataclass(frozen=True)
class ConfigurationRecord(Model):
    SCHEMA: ClassVar[str] = "RecordEnvelope_ConfigurationOut_"
    e_id: str
    r_id: str
    as_of: AsOf
    payload: Configuration
    metadata: RecordMetadata


@dataclass(frozen=True)
class ConfigurationVersion(Model):
    SCHEMA: ClassVar[str] = "ConfigurationVersionOut"
    e_id: str
    r_id: str
    as_of: AsOf
    payload: Configuration
    metadata: RecordMetadata
    signal: str | None


# --- suppression, drift ------------------------------------------------------------------------
@dataclass(frozen=True)
class Suppression(Model):
    SCHEMA: ClassVar[str] = "SuppressionOut"
    recipient: str
    reason: str
    origin: str
    created_at: str


@dataclass(frozen=True)
class RepairResult(Model):
    SCHEMA: ClassVar[str] = "RepairOut"
    scan: dict[str, Any]
    repairs: list[dict[str, Any]]
    applied: bool
    outstanding: int
    author: str
    unmatched_confirmations: list[Any]


# --- notifications -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NotificationEndpoint(Model):
    SCHEMA: ClassVar[str] = "NotificationEndpointOut"
    e_id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    disabled_at: str | None
    failing_since: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class NotificationEndpointWithSecret(NotificationEndpoint):
    """The answer of creation and rotation: the only times ``secret`` is shown."""

    SCHEMA: ClassVar[str] = "NotificationEndpointWithSecret"
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class NotificationDelivery(Model):
    SCHEMA: ClassVar[str] = "NotificationDeliveryOut"
    e_id: str
    type: str
    subject_id: str
    occurred_at: str
    state: str
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    last_attempt_at: str | None
    delivered_at: str | None
    created_at: str


@dataclass(frozen=True)
class Notification:
    """A verified notification (:func:`~tenantmail.client.verify_notification`)."""

    webhook_id: str  #: deduplicate by this: a notification may arrive more than once
    type: str  #: ``job.delivered``, ``suppression.added``…
    timestamp: str  #: when the change happened (ISO 8601)
    data: dict[str, Any]  #: the subject as the API answers it (see :meth:`job`)

    def job(self) -> Job:
        """``data`` as a :class:`Job` (``job.*`` types)."""
        return Job.from_json(self.data)


@dataclass(frozen=True)
class ItemError(Model):
    SCHEMA: ClassVar[str] = "ItemErrorOut"
    error: str
    message: str
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class BatchItem(Model):
    """One message's result in ``POST /job/batch`` (input order): ``status`` is what ``POST /job``
    would have answered for it (202, or an error's status with ``error``)."""

    SCHEMA: ClassVar[str] = "BatchItemOut"
    index: int
    status: int
    e_id: str | None = None
    replayed: bool | None = None
    error: ItemError | None = None


@dataclass(frozen=True)
class BatchResult(Model):
    SCHEMA: ClassVar[str] = "BatchOut"
    results: list[BatchItem]


@dataclass(frozen=True)
class Limits(Model):
    SCHEMA: ClassVar[str] = "LimitsOut"
    sends_per_second: float
    burst: int
    sends_per_day: int


@dataclass(frozen=True)
class TenantLimits(Model):
    """A tenant's send quotas: its overrides (None: the default) and what applies (``effective``)."""

    SCHEMA: ClassVar[str] = "TenantLimitsOut"
    tenant_id: str
    effective: Limits
    sends_per_second: float | None
    burst: int | None
    sends_per_day: int | None
    updated_at: str | None
    updated_by: str | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    #: ``GET /job`` counts up to 10,000 matches: true when there are more (``total`` is then 10,001)
    total_is_lower_bound: bool = False

    @classmethod
    def of(cls, item: type[Any], data: dict[str, Any]) -> Page[Any]:
        return cls([item.from_json(i) for i in data["items"]], data["total"], data["limit"], data["offset"],
                   bool(data.get("totalIsLowerBound", False)))


#: Every response model (the drift test walks these).
MODELS: tuple[type[Model], ...] = (
    JobError, Job, AsOf, RecordMetadata, JobRecord, Event, Signature, PostmarkIds, DnsRecord, Dns, LastError,
    Configuration, ConfigurationRecord, ConfigurationVersion, Suppression, RepairResult, NotificationEndpoint,
    NotificationEndpointWithSecret, NotificationDelivery, ItemError, BatchItem, BatchResult, Limits, TenantLimits,
)
