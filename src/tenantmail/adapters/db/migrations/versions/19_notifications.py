"""notifications: endpoints of the calling services and the notification outbox (SPEC §17)

``notification_endpoints`` (per tenant: URL, event-type filter, encrypted whsec_ secrets, enabled
flag and why it was disabled) and ``notification_deliveries`` (one row per event and endpoint,
written in the transaction of the change; leased by the delivery workers). Two new tables: no
existing row is touched.

Revision ID: 19_notifications
Revises: 17_fair_claims
Create Date: 2026-12-07 00:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '19_notifications'
down_revision = '17_fair_claims'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notification_endpoints',
        sa.Column('e_id', sa.String(length=36), nullable=False),
        sa.Column('tenant_id', sa.String(length=128), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('description', sa.String(length=1000), server_default=sa.text("''"), nullable=False),
        sa.Column('event_types', sa.String(length=400), server_default=sa.text("''"), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('secret_ciphertext', sa.Text(), nullable=False),
        sa.Column('previous_secret_ciphertext', sa.Text(), nullable=True),
        sa.Column('previous_secret_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('disabled_reason', sa.String(length=16), nullable=True),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('e_id', name=op.f('pk_notification_endpoints')),
    )
    op.create_index('ix_notification_endpoints_tenant', 'notification_endpoints', ['tenant_id', 'enabled'])
    op.create_table(
        'notification_deliveries',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('message_id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=128), nullable=False),
        sa.Column('endpoint_e_id', sa.String(length=36), nullable=False),
        sa.Column('event_type', sa.String(length=32), nullable=False),
        sa.Column('subject_id', sa.String(length=64), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_owner', sa.String(length=64), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_latency_ms', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_notification_deliveries')),
    )
    op.create_index('uq_notification_deliveries_message', 'notification_deliveries',
                    ['message_id', 'endpoint_e_id'], unique=True)
    op.create_index('ix_notification_deliveries_due', 'notification_deliveries', ['next_attempt_at'],
                    postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))
    op.create_index('ix_notification_deliveries_order', 'notification_deliveries',
                    ['endpoint_e_id', 'subject_id', 'seq'])
    op.create_index('ix_notification_deliveries_log', 'notification_deliveries', ['tenant_id', 'endpoint_e_id', 'seq'])


def downgrade() -> None:
    op.drop_table('notification_deliveries')
    op.drop_table('notification_endpoints')
