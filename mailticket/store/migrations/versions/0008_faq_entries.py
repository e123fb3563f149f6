"""faq entries per department and language, drafts from agents' #faq replies

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 19:50:00
"""

from alembic import op
import sqlalchemy as sa
import mailticket.store.models


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('faq_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('origin_agent', sa.String(length=320), nullable=True),
    sa.Column('origin_ticket', sa.Integer(), nullable=True),
    sa.Column('suggested', sa.Integer(), nullable=False),
    sa.Column('solved', sa.Integer(), nullable=False),
    sa.Column('created_at', mailticket.store.models.UtcDateTime(), nullable=False),
    sa.Column('updated_at', mailticket.store.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('faq_entries', schema=None) as batch_op:
        batch_op.create_index('ix_faq_entries_department_language',
                              ['department', 'language', 'state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('faq_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_faq_entries_department_language')
    op.drop_table('faq_entries')
