"""outbox: the unsent rows' ids, in order, for the sender's claim

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 02:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_UNSENT = sa.text('sent_at IS NULL AND failed_at IS NULL')


def upgrade() -> None:
    # Plain DDL, not a batch: on SQLite a batch would copy the outbox table.
    op.create_index('ix_outbox_unsent', 'outbox', ['id'], unique=False,
                    sqlite_where=_UNSENT, postgresql_where=_UNSENT)


def downgrade() -> None:
    op.drop_index('ix_outbox_unsent', table_name='outbox')
