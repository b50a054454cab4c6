"""job lookup indexes: (tenant, MessageID) for webhooks; dispatch index partial

A webhook's job lookup by MessageID now probes one index scoped to the tenant instead of
combining the tenant index with a MessageID index (a plan that read every job of the tenant when
the statistics were stale). The dispatch index keeps only the statuses a worker claims from, so
a job's later status changes (SENT → DELIVERED …) no longer write to it.

Plain CREATE INDEX: it blocks writes to email_jobs while it builds (seconds per million jobs).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

CLAIMABLE = sa.text("status IN ('QUEUED', 'SENDING')")


def upgrade() -> None:
    with op.batch_alter_table('email_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_email_jobs_message_id')
        batch_op.create_index('ix_email_jobs_tenant_message', ['tenant_id', 'message_id'], unique=False)
        batch_op.drop_index('ix_email_jobs_dispatch')
        batch_op.create_index('ix_email_jobs_dispatch', ['status', 'next_attempt_at'], unique=False,
                              postgresql_where=CLAIMABLE, sqlite_where=CLAIMABLE)


def downgrade() -> None:
    with op.batch_alter_table('email_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_email_jobs_dispatch')
        batch_op.create_index('ix_email_jobs_dispatch', ['status', 'next_attempt_at'], unique=False)
        batch_op.drop_index('ix_email_jobs_tenant_message')
        batch_op.create_index('ix_email_jobs_message_id', ['message_id'], unique=False)
