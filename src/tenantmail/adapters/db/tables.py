"""The schema, as SQLAlchemy Core tables. Every tenant-owned table carries ``tenant_id``.

The same metadata drives Alembic's migrations and runs unchanged on SQLite and PostgreSQL
(portable types only; partial unique indexes are declared for both dialects).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from tenantmail.domain.job import JobStatus

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

UUID = String(36)
TENANT = String(128)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on both databases (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(name: str, nullable: bool = True) -> Column:
    return Column(name, UTCDateTime(), nullable=nullable)


configurations = Table(
    "email_configurations", metadata,
    Column("e_id", UUID, primary_key=True),
    Column("tenant_id", TENANT, nullable=False),
    Column("sending_domain_slug", String(63), nullable=False),
    Column("mail_zone_name", String(253), nullable=False),
    Column("from_local_part", String(64), nullable=False),
    Column("from_name", String(255), nullable=False),
    Column("reply_to_email", String(320)),
    Column("operational_status", String(32), nullable=False),
    Column("administrative_status", String(16), nullable=False),
    Column("server_id", BigInteger),
    Column("signature_id", BigInteger),
    Column("webhook_id", BigInteger),
    # how the sending domain is authenticated: 'signature' (one sender signature) or 'domain'
    # (a Postmark Domain, domain_id); the local parts a send may choose (NULL: from_local_part)
    Column("authentication", String(16), nullable=False, server_default=text("'signature'")),
    Column("domain_id", BigInteger),
    Column("allowed_from_local_parts", JSON),
    # registry version the webhook's HttpAuth password was derived with (None: unknown, so the
    # next key sweep re-installs it); kept outside the domain model, written by key sweeps
    Column("webhook_key_version", String(64)),
    Column("server_token_ciphertext", Text),
    Column("dkim_host", String(253)),
    Column("dkim_value", Text),
    Column("return_path_host", String(253)),
    Column("return_path_value", String(253)),
    _ts("verification_started_at"),
    _ts("verified_at"),
    Column("last_error_step", String(64)),
    Column("last_error_code", String(64)),
    Column("last_error_message", Text),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    # a Postmark creation call started but not yet recorded (crash-safe provisioning, see
    # services/provision_configuration.py)
    Column("step_in_flight", String(32)),
    Column("version", Integer, nullable=False),
    # background work on this row (provisioning, verification polling): a lease, never a lock held
    Column("lease_owner", String(64)),
    _ts("lease_until"),
    _ts("next_check_at"),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    Index("ix_email_configurations_tenant", "tenant_id", "created_at"),
    Index("ix_email_configurations_work", "operational_status", "next_check_at"),
    # a slug belongs to at most one configuration that is not REMOVED (SPEC §2)
    Index(
        "uq_email_configurations_live_slug", "sending_domain_slug", unique=True,
        postgresql_where=text("operational_status <> 'REMOVED'"),
        sqlite_where=text("operational_status <> 'REMOVED'"),
    ),
    # at most one UNLOCKED configuration per tenant, hence at most one sendable (SPEC §3)
    Index(
        "uq_email_configurations_unlocked_tenant", "tenant_id", unique=True,
        postgresql_where=text("administrative_status = 'UNLOCKED'"),
        sqlite_where=text("administrative_status = 'UNLOCKED'"),
    ),
)

configuration_versions = Table(
    "email_configuration_versions", metadata,
    Column("r_id", UUID, primary_key=True),
    Column("e_id", UUID, nullable=False),
    Column("tenant_id", TENANT, nullable=False),
    Column("version", Integer, nullable=False),
    _ts("recorded_at", nullable=False),
    _ts("effective_at", nullable=False),
    Column("author", String(255), nullable=False),
    Column("cause", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Index("uq_email_configuration_versions_version", "e_id", "version", unique=True),
    Index("ix_email_configuration_versions_tenant", "tenant_id", "e_id", "recorded_at"),
)

#: The statuses a worker claims from (work_queue.claim_jobs): the dispatch index holds only these.
CLAIMABLE = (JobStatus.QUEUED.value, JobStatus.SENDING.value)
DISPATCHABLE = text("status IN ({})".format(", ".join(f"'{status}'" for status in CLAIMABLE)))

jobs = Table(
    "email_jobs", metadata,
    Column("e_id", UUID, primary_key=True),
    Column("tenant_id", TENANT, nullable=False),
    Column("configuration_e_id", UUID, nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("reply_to_email", String(320)),
    Column("from_local_part", String(64)),  # the send's chosen local part; NULL: the configuration's
    Column("subject", Text, nullable=False),
    Column("tag", String(1000)),  # the caller's label (SPEC §17); NULL: none
    # the caller's metadata pairs; NULL: none. jsonb on PostgreSQL for the containment index
    Column("job_metadata", JSON().with_variant(JSONB(), "postgresql")),
    Column("html_sanitized", Boolean, nullable=False, server_default=text("false")),
    Column("html_body", Text),
    Column("text_body", Text),
    Column("attachments", JSON),
    Column("idempotency_key", String(255), nullable=False),
    Column("author", String(255), nullable=False),  # X-Author of the POST /job that queued it
    Column("status", String(16), nullable=False),
    Column("message_id", String(64)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _ts("next_attempt_at"),
    Column("lease_owner", String(64)),
    _ts("lease_until"),
    Column("last_error_class", String(32)),
    Column("last_error_code", String(64)),
    Column("last_error_message", Text),
    Column("status_times", JSON, nullable=False),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    Index("ix_email_jobs_tenant_created", "tenant_id", "created_at"),
    Index("ix_email_jobs_tenant_status", "tenant_id", "status"),
    # only the jobs a worker may claim: a job that leaves them (SENT, then DELIVERED…) drops out,
    # so the webhook's status change writes one index entry fewer
    Index("ix_email_jobs_dispatch", "status", "next_attempt_at",
          postgresql_where=DISPATCHABLE, sqlite_where=DISPATCHABLE),
    Index("ix_email_jobs_configuration", "configuration_e_id", "status"),
    # fair claims (work_queue.claim_jobs): the configurations with claimable jobs, one probe each,
    # and each one's oldest due jobs
    Index("ix_email_jobs_fair", "configuration_e_id", "next_attempt_at",
          postgresql_where=DISPATCHABLE, sqlite_where=DISPATCHABLE),
    # a webhook finds its job by (tenant, MessageID) with one index probe, whatever the statistics
    Index("ix_email_jobs_tenant_message", "tenant_id", "message_id"),
    # GET /job filters (SPEC §17; docs/performance.md "Job search"): each picks the tenant's rows
    # by one index and pages them newest first
    Index("ix_email_jobs_tenant_recipient", "tenant_id", "recipient", "created_at"),
    Index("ix_email_jobs_tenant_tag", "tenant_id", "tag", "created_at",
          postgresql_where=text("tag IS NOT NULL"), sqlite_where=text("tag IS NOT NULL")),
)
#: Per-tenant quotas (SPEC §17): the operator's overrides (NULL: the default from settings) and the
#: shared token bucket every API process takes from, in the statement that queues a send.
tenant_quotas = Table(
    "email_tenant_quotas", metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("sends_per_second", Float),
    Column("burst", Integer),
    Column("sends_per_day", BigInteger),
    Column("limits_author", String(255)),
    _ts("limits_updated_at"),
    Column("tokens", Float, nullable=False),  # the bucket at refilled_at
    Column("refilled_at", Float, nullable=False),  # epoch seconds
    Column("day", Integer, nullable=False),  # the UTC day (days since the epoch) day_count counts
    Column("day_count", BigInteger, nullable=False),
    Column("granted", Integer, nullable=False, server_default="0"),  # how many tokens the last take got
)

# PostgreSQL only: `metadata.{key}=` (jsonb containment) and `subject=` (contains, any case;
# pg_trgm). SQLite scans the tenant's rows for these two.
Index("ix_email_jobs_metadata", jobs.c.job_metadata, postgresql_using="gin",
      postgresql_ops={"job_metadata": "jsonb_path_ops"}).ddl_if(dialect="postgresql")
Index("ix_email_jobs_subject_trgm", jobs.c.subject, postgresql_using="gin",
      postgresql_ops={"subject": "gin_trgm_ops"}).ddl_if(dialect="postgresql")

events = Table(
    "email_events", metadata,
    Column("e_id", UUID, primary_key=True),
    Column("tenant_id", TENANT, nullable=False),
    Column("configuration_e_id", UUID, nullable=False),
    Column("job_e_id", UUID),
    Column("record_type", String(32), nullable=False),
    Column("message_id", String(64)),
    Column("recipient", String(320)),
    _ts("occurred_at"),
    Column("dedup_key", String(128), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    _ts("received_at", nullable=False),
    Index("ix_email_events_tenant_job", "tenant_id", "job_e_id", "occurred_at"),
    Index("ix_email_events_tenant_received", "tenant_id", "received_at"),
)

suppressions = Table(
    "email_suppressions", metadata,
    Column("id", UUID, primary_key=True),
    Column("tenant_id", TENANT, nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("origin", String(16), nullable=False),
    _ts("created_at", nullable=False),
    _ts("removed_at"),
    # at most one live entry per (tenant, recipient) (SPEC §2)
    Index(
        "uq_email_suppressions_live", "tenant_id", "recipient", unique=True,
        postgresql_where=text("removed_at IS NULL"), sqlite_where=text("removed_at IS NULL"),
    ),
    Index("ix_email_suppressions_tenant_created", "tenant_id", "created_at"),
)

idempotency_records = Table(
    "email_idempotency_records", metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("namespace", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("resource_e_id", UUID),
    Column("response_status", Integer),
    Column("response_body", JSON),
    _ts("created_at", nullable=False),
    _ts("expires_at", nullable=False),
    Index("ix_email_idempotency_records_expiry", "expires_at"),
)

drift_reports = Table(
    "email_drift_reports", metadata,
    Column("id", UUID, primary_key=True),
    _ts("started_at", nullable=False),
    _ts("finished_at"),
    Column("status", String(16), nullable=False),  # clean, drift, error
    Column("summary", JSON, nullable=False),
    Column("discrepancies", JSON, nullable=False),
    Index("ix_email_drift_reports_started", "started_at"),
)

ticks = Table(
    "email_ticks", metadata,
    Column("name", String(64), primary_key=True),
    _ts("due_at", nullable=False),
    Column("owner", String(64)),
    _ts("last_run_at"),
    Column("run_count", BigInteger, nullable=False, server_default=text("0")),
)

notification_endpoints = Table(
    "notification_endpoints", metadata,
    Column("e_id", UUID, primary_key=True),
    Column("tenant_id", TENANT, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("description", String(1000), nullable=False, server_default=text("''")),
    # ",job.sent,job.delivered," (empty: every type): the outbox's filter is one LIKE
    Column("event_types", String(400), nullable=False, server_default=text("''")),
    Column("enabled", Boolean, nullable=False),
    # the whsec_ secrets, encrypted like server tokens (aad: the endpoint's eId)
    Column("secret_ciphertext", Text, nullable=False),
    Column("previous_secret_ciphertext", Text),
    _ts("previous_secret_until"),
    _ts("failing_since"),
    Column("disabled_reason", String(16)),
    _ts("disabled_at"),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    # the outbox's fan-out: the tenant's enabled endpoints, one index probe (none: nothing written)
    Index("ix_notification_endpoints_tenant", "tenant_id", "enabled"),
)

#: The notification outbox: one row per (event, endpoint), written in the transaction of the change.
notification_deliveries = Table(
    "notification_deliveries", metadata,
    # commit order per subject (the subject's row is locked by each change): per-job order
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False),  # webhook-id
    Column("tenant_id", TENANT, nullable=False),
    Column("endpoint_e_id", UUID, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("subject_id", String(64), nullable=False),
    _ts("occurred_at", nullable=False),
    Column("body", Text),  # rendered at the first attempt, then sent unchanged (NULL before)
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _ts("next_attempt_at"),
    Column("lease_owner", String(64)),
    _ts("lease_until"),
    Column("last_status_code", Integer),
    Column("last_latency_ms", Integer),
    Column("last_error", String(500)),
    _ts("last_attempt_at"),
    _ts("delivered_at"),
    _ts("created_at", nullable=False),
    Index("uq_notification_deliveries_message", "message_id", "endpoint_e_id", unique=True),
    Index("ix_notification_deliveries_due", "next_attempt_at",
          postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'")),
    Index("ix_notification_deliveries_order", "endpoint_e_id", "subject_id", "seq"),
    Index("ix_notification_deliveries_log", "tenant_id", "endpoint_e_id", "seq"),
)

ALL_TABLES = tuple(metadata.sorted_tables)
TENANT_TABLES = (configurations, configuration_versions, jobs, events, suppressions, idempotency_records,
                 notification_endpoints, notification_deliveries, tenant_quotas)
