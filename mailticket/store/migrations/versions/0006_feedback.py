"""customer feedback: one "how did we do?" per closed ticket

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 19:50:00
"""

from alembic import op
import sqlalchemy as sa
import mailticket.store.models


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('closed_at', mailticket.store.models.UtcDateTime(), nullable=False),
    sa.Column('asked_at', mailticket.store.models.UtcDateTime(), nullable=True),
    sa.Column('answered_at', mailticket.store.models.UtcDateTime(), nullable=True),
    sa.Column('grade', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id')
    )
    op.create_index('ix_feedback_due', 'feedback', ['state', 'closed_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_feedback_due', table_name='feedback')
    op.drop_table('feedback')
