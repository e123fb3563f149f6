"""daemons register and keep a heartbeat; outbox claims name their holder

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 16:45:00
"""

from alembic import op
import sqlalchemy as sa
import mailticket.store.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('daemons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('command', sa.String(length=32), nullable=False),
    sa.Column('started_at', mailticket.store.models.UtcDateTime(), nullable=False),
    sa.Column('heartbeat_at', mailticket.store.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    # Batches claimed before the upgrade have no holder: their lease still applies.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
    op.drop_table('daemons')
