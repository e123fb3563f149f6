"""report_days: each department's finished days of waits, summed once for the report;
the waits' answers index by arrival first (the report now reads a few days from it)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:00:00
"""

from alembic import op
import sqlalchemy as sa
import mailticket.store.models


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled by the daemon's hourly job and after an import (report/days.py); empty,
    # the report sums the waits themselves, as before.
    op.create_table('report_days',
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('settled_at', mailticket.store.models.UtcDateTime(), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('samples', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('department', 'day')
    )
    # Plain DDL, not a batch: on SQLite a batch would copy the waits table.
    op.drop_index('ix_waits_answers', table_name='waits')
    op.create_index('ix_waits_answers', 'waits', ['department', 'arrived_at', 'stopped_by',
                                                  'stopped_at', 'group_prev', 'stop_seconds'],
                    unique=False, sqlite_where=sa.text('stopped_by IS NOT NULL'),
                    postgresql_where=sa.text('stopped_by IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_waits_answers', table_name='waits')
    op.create_index('ix_waits_answers', 'waits', ['department', 'stopped_by', 'arrived_at',
                                                  'stopped_at', 'group_prev', 'stop_seconds'],
                    unique=False, sqlite_where=sa.text('stopped_by IS NOT NULL'),
                    postgresql_where=sa.text('stopped_by IS NOT NULL'))
    op.drop_table('report_days')
