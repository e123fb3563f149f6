"""search index: the customers' and agents' mails, analysed, in FTS5 or a tsvector, and
each ticket's question as terms; the mail already stored is indexed here

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 20:00:00
"""

import sqlalchemy as sa
from alembic import op

from mailticket.search import engines, index
from mailticket.store.models import UtcDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'questions',
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('department', sa.String(length=64), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.Column('at', UtcDateTime(), nullable=False),
        sa.Column('terms', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('ticket_id'),
    )
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.create_index('ix_questions_department_at', ['department', 'at'], unique=False)
    index.rebuild(op.get_bind())


def downgrade() -> None:
    engines.drop(op.get_bind())
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_index('ix_questions_department_at')
    op.drop_table('questions')
