"""the running-clock index covers warn_at: "at risk" counts without reading tickets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:05:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _index(*columns: str) -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_clock_department_due')
        batch_op.create_index('ix_tickets_clock_department_due', list(columns), unique=False,
                              sqlite_where=sa.text('due_at IS NOT NULL'),
                              postgresql_where=sa.text('due_at IS NOT NULL'))


def upgrade() -> None:
    _index('department', 'due_at', 'warn_at')


def downgrade() -> None:
    _index('department', 'due_at')
