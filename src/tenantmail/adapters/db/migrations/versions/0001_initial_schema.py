"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 21:00:36.603730
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('email_configuration_versions',
    sa.Column('r_id', sa.String(length=36), nullable=False),
    sa.Column('e_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('cause', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('r_id', name=op.f('pk_email_configuration_versions'))
    )
    with op.batch_alter_table('email_configuration_versions', schema=None) as batch_op:
        batch_op.create_index('ix_email_configuration_versions_tenant', ['tenant_id', 'e_id', 'recorded_at'], unique=False)
        batch_op.create_index('uq_email_configuration_versions_version', ['e_id', 'version'], unique=True)

    op.create_table('email_configurations',
    sa.Column('e_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=128), nullable=False),
    sa.Column('sending_domain_slug', sa.String(length=63), nullable=False),
    sa.Column('mail_zone_name', sa.String(length=253), nullable=False),
    sa.Column('from_local_part', sa.String(length=64), nullable=False),
    sa.Column('from_name', sa.String(length=255), nullable=False),
    sa.Column('reply_to_email', sa.String(length=320), nullable=True),
    sa.Column('operational_status', sa.String(length=32), nullable=False),
    sa.Column('administrative_status', sa.String(length=16), nullable=False),
    sa.Column('server_id', sa.BigInteger(), nullable=True),
    sa.Column('signature_id', sa.BigInteger(), nullable=True),
    sa.Column('webhook_id', sa.BigInteger(), nullable=True),
    sa.Column('webhook_key_version', sa.String(length=64), nullable=True),
    sa.Column('server_token_ciphertext', sa.Text(), nullable=True),
    sa.Column('dkim_host', sa.String(length=253), nullable=True),
    sa.Column('dkim_value', sa.Text(), nullable=True),
    sa.Column('return_path_host', sa.String(length=253), nullable=True),
    sa.Column('return_path_value', sa.String(length=253), nullable=True),
    sa.Column('verification_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error_step', sa.String(length=64), nullable=True),
    sa.Column('last_error_code', sa.String(length=64), nullable=True),
    sa.Column('last_error_message', sa.Text(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('step_in_flight', sa.String(length=32), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('e_id', name=op.f('pk_email_configurations'))
    )
    with op.batch_alter_table('email_configurations', schema=None) as batch_op:
        batch_op.create_index('ix_email_configurations_tenant', ['tenant_id', 'created_at'], unique=False)
        batch_op.create_index('ix_email_configurations_work', ['operational_status', 'next_check_at'], unique=False)
        batch_op.create_index('uq_email_configurations_live_slug', ['sending_domain_slug'], unique=True, postgresql_where=sa.text("operational_status <> 'REMOVED'"), sqlite_where=sa.text("operational_status <> 'REMOVED'"))
        batch_op.create_index('uq_email_configurations_unlocked_tenant', ['tenant_id'], unique=True, postgresql_where=sa.text("administrative_status = 'UNLOCKED'"), sqlite_where=sa.text("administrative_status = 'UNLOCKED'"))

    op.create_table('email_drift_reports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('discrepancies', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_drift_reports'))
    )
    with op.batch_alter_table('email_drift_reports', schema=None) as batch_op:
        batch_op.create_index('ix_email_drift_reports_started', ['started_at'], unique=False)

    op.create_table('email_events',
    sa.Column('e_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=128), nullable=False),
    sa.Column('configuration_e_id', sa.String(length=36), nullable=False),
    sa.Column('job_e_id', sa.String(length=36), nullable=True),
    sa.Column('record_type', sa.String(length=32), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dedup_key', sa.String(length=128), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('e_id', name=op.f('pk_email_events')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_email_events_dedup_key'))
    )
    with op.batch_alter_table('email_events', schema=None) as batch_op:
        batch_op.create_index('ix_email_events_tenant_job', ['tenant_id', 'job_e_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_email_events_tenant_received', ['tenant_id', 'received_at'], unique=False)

    op.create_table('email_idempotency_records',
    sa.Column('tenant_id', sa.String(length=128), nullable=False),
    sa.Column('namespace', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('resource_e_id', sa.String(length=36), nullable=True),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'namespace', 'key', name=op.f('pk_email_idempotency_records'))
    )
    with op.batch_alter_table('email_idempotency_records', schema=None) as batch_op:
        batch_op.create_index('ix_email_idempotency_records_expiry', ['expires_at'], unique=False)

    op.create_table('email_jobs',
    sa.Column('e_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=128), nullable=False),
    sa.Column('configuration_e_id', sa.String(length=36), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('reply_to_email', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('text_body', sa.Text(), nullable=True),
    sa.Column('attachments', sa.JSON(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error_class', sa.String(length=32), nullable=True),
    sa.Column('last_error_code', sa.String(length=64), nullable=True),
    sa.Column('last_error_message', sa.Text(), nullable=True),
    sa.Column('status_times', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('e_id', name=op.f('pk_email_jobs'))
    )
    with op.batch_alter_table('email_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_email_jobs_configuration', ['configuration_e_id', 'status'], unique=False)
        batch_op.create_index('ix_email_jobs_dispatch', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_email_jobs_message_id', ['message_id'], unique=False)
        batch_op.create_index('ix_email_jobs_tenant_created', ['tenant_id', 'created_at'], unique=False)
        batch_op.create_index('ix_email_jobs_tenant_status', ['tenant_id', 'status'], unique=False)

    op.create_table('email_suppressions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=128), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_suppressions'))
    )
    with op.batch_alter_table('email_suppressions', schema=None) as batch_op:
        batch_op.create_index('ix_email_suppressions_tenant_created', ['tenant_id', 'created_at'], unique=False)
        batch_op.create_index('uq_email_suppressions_live', ['tenant_id', 'recipient'], unique=True, postgresql_where=sa.text('removed_at IS NULL'), sqlite_where=sa.text('removed_at IS NULL'))

    op.create_table('email_ticks',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('run_count', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_email_ticks'))
    )


def downgrade() -> None:
    op.drop_table('email_ticks')
    with op.batch_alter_table('email_suppressions', schema=None) as batch_op:
        batch_op.drop_index('uq_email_suppressions_live', postgresql_where=sa.text('removed_at IS NULL'), sqlite_where=sa.text('removed_at IS NULL'))
        batch_op.drop_index('ix_email_suppressions_tenant_created')

    op.drop_table('email_suppressions')
    with op.batch_alter_table('email_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_email_jobs_tenant_status')
        batch_op.drop_index('ix_email_jobs_tenant_created')
        batch_op.drop_index('ix_email_jobs_message_id')
        batch_op.drop_index('ix_email_jobs_dispatch')
        batch_op.drop_index('ix_email_jobs_configuration')

    op.drop_table('email_jobs')
    with op.batch_alter_table('email_idempotency_records', schema=None) as batch_op:
        batch_op.drop_index('ix_email_idempotency_records_expiry')

    op.drop_table('email_idempotency_records')
    with op.batch_alter_table('email_events', schema=None) as batch_op:
        batch_op.drop_index('ix_email_events_tenant_received')
        batch_op.drop_index('ix_email_events_tenant_job')

    op.drop_table('email_events')
    with op.batch_alter_table('email_drift_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_email_drift_reports_started')

    op.drop_table('email_drift_reports')
    with op.batch_alter_table('email_configurations', schema=None) as batch_op:
        batch_op.drop_index('uq_email_configurations_unlocked_tenant', postgresql_where=sa.text("administrative_status = 'UNLOCKED'"), sqlite_where=sa.text("administrative_status = 'UNLOCKED'"))
        batch_op.drop_index('uq_email_configurations_live_slug', postgresql_where=sa.text("operational_status <> 'REMOVED'"), sqlite_where=sa.text("operational_status <> 'REMOVED'"))
        batch_op.drop_index('ix_email_configurations_work')
        batch_op.drop_index('ix_email_configurations_tenant')

    op.drop_table('email_configurations')
    with op.batch_alter_table('email_configuration_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_email_configuration_versions_version')
        batch_op.drop_index('ix_email_configuration_versions_tenant')

    op.drop_table('email_configuration_versions')
