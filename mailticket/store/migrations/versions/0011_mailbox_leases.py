"""mailbox leases: each department's mailbox held by one daemon, fenced by an epoch

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03 06:40:00
"""

from alembic import op
import sqlalchemy as sa
import mailticket.store.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows are made by the first daemon that starts with the department configured.
    op.create_table('mailbox_leases',
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.Integer(), nullable=True),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('acquired_at', mailticket.store.models.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('department')
    )
    with op.batch_alter_table('mailbox_leases', schema=None) as batch_op:
        batch_op.create_index('ix_mailbox_leases_holder', ['holder'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mailbox_leases', schema=None) as batch_op:
        batch_op.drop_index('ix_mailbox_leases_holder')
    op.drop_table('mailbox_leases')
