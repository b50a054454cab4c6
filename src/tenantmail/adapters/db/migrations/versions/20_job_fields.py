"""job fields: a send's tag and metadata, whether its HTML was sanitized, the job search indexes,
per-tenant quotas

``email_jobs.tag`` (≤ 1000 chars), ``email_jobs.job_metadata`` (jsonb on PostgreSQL, JSON on
SQLite; NULL = none), ``email_jobs.html_sanitized`` (false for every existing row). Nullable
columns and a constant default are catalogue changes on PostgreSQL: no table rewrite.

Indexes for ``GET /job`` (SPEC §17): (tenant, recipient, created) and (tenant, tag, created) on
both databases; on PostgreSQL a GIN index over the metadata (jsonb_path_ops: containment) and a
trigram GIN index over the subject (``ILIKE '%…%'``; the pg_trgm extension, trusted, created here).
Plain CREATE INDEX: it blocks writes to email_jobs while it builds (docs/performance.md gives
the build time at 1,000,000 jobs); an operator with a large table may build them beforehand
with CREATE INDEX CONCURRENTLY under the same names.

``email_tenant_quotas``: a tenant's limit overrides and its shared token bucket (SPEC §17 "Quotas").

Revision ID: 20_job_fields
Revises: 19_notifications
Create Date: 2026-12-07 00:40:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '20_job_fields'
down_revision = '19_notifications'
branch_labels = None
depends_on = None

TAGGED = sa.text("tag IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        'email_tenant_quotas',
        sa.Column('tenant_id', sa.String(length=128), nullable=False),
        sa.Column('sends_per_second', sa.Float(), nullable=True),
        sa.Column('burst', sa.Integer(), nullable=True),
        sa.Column('sends_per_day', sa.BigInteger(), nullable=True),
        sa.Column('limits_author', sa.String(length=255), nullable=True),
        sa.Column('limits_updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('refilled_at', sa.Float(), nullable=False),
        sa.Column('day', sa.Integer(), nullable=False),
        sa.Column('day_count', sa.BigInteger(), nullable=False),
        sa.Column('granted', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_email_tenant_quotas')),
    )
    with op.batch_alter_table('email_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tag', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('job_metadata', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                                      nullable=True))
        batch_op.add_column(sa.Column('html_sanitized', sa.Boolean(), nullable=False,
                                      server_default=sa.text('false')))
        batch_op.create_index('ix_email_jobs_tenant_recipient', ['tenant_id', 'recipient', 'created_at'], unique=False)
        batch_op.create_index('ix_email_jobs_tenant_tag', ['tenant_id', 'tag', 'created_at'], unique=False,
                              postgresql_where=TAGGED, sqlite_where=TAGGED)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index('ix_email_jobs_metadata', 'email_jobs', ['job_metadata'], unique=False,
                        postgresql_using='gin', postgresql_ops={'job_metadata': 'jsonb_path_ops'})
        op.create_index('ix_email_jobs_subject_trgm', 'email_jobs', ['subject'], unique=False,
                        postgresql_using='gin', postgresql_ops={'subject': 'gin_trgm_ops'})


def downgrade() -> None:
    op.drop_table('email_tenant_quotas')
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_email_jobs_subject_trgm', table_name='email_jobs')
        op.drop_index('ix_email_jobs_metadata', table_name='email_jobs')
    with op.batch_alter_table('email_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_email_jobs_tenant_tag')
        batch_op.drop_index('ix_email_jobs_tenant_recipient')
        batch_op.drop_column('html_sanitized')
        batch_op.drop_column('job_metadata')
        batch_op.drop_column('tag')
