"""domains: Postmark Domain authentication, the From allow-list, a job's chosen local part

``email_configurations.authentication`` ('signature' for every existing row), ``domain_id`` and
``allowed_from_local_parts`` (JSON list; NULL = the signature's local part only);
``email_jobs.from_local_part`` (NULL = the configuration's). Adding nullable columns (and one
with a constant default) is a catalogue change on PostgreSQL: no table rewrite.

Revision ID: 22_domains
Revises: 0002
Create Date: 2026-12-06 21:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '22_domains'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('email_configurations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authentication', sa.String(length=16), nullable=False,
                                      server_default=sa.text("'signature'")))
        batch_op.add_column(sa.Column('domain_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('allowed_from_local_parts', sa.JSON(), nullable=True))
    with op.batch_alter_table('email_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_local_part', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('email_jobs', schema=None) as batch_op:
        batch_op.drop_column('from_local_part')
    with op.batch_alter_table('email_configurations', schema=None) as batch_op:
        batch_op.drop_column('allowed_from_local_parts')
        batch_op.drop_column('domain_id')
        batch_op.drop_column('authentication')
