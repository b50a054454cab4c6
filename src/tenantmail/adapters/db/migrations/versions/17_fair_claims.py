"""fair claims: a partial index of the claimable jobs by configuration and due time

``ix_email_jobs_fair`` (configuration_e_id, next_attempt_at) WHERE status IN ('QUEUED', 'SENDING'):
the round-robin claim finds the configurations with claimable jobs by one probe each and takes
each one's oldest due jobs (D19). Only the claimable jobs are in it, so it stays small.

Revision ID: 17_fair_claims
Revises: 22_domains
Create Date: 2026-12-07 00:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '17_fair_claims'
down_revision = '22_domains'
branch_labels = None
depends_on = None

DISPATCHABLE = sa.text("status IN ('QUEUED', 'SENDING')")


def upgrade() -> None:
    op.create_index('ix_email_jobs_fair', 'email_jobs', ['configuration_e_id', 'next_attempt_at'], unique=False,
                    postgresql_where=DISPATCHABLE, sqlite_where=DISPATCHABLE)


def downgrade() -> None:
    op.drop_index('ix_email_jobs_fair', table_name='email_jobs')
