"""waits and milestones: one row per customer message awaiting an answer, and per
answer, close and reopen, so that report and staffing aggregate in SQL

The rows are derived from the events with the department's calendar, which this
migration does not know: ``mailticket db upgrade`` (and every start that finds them
not yet built) fills them from the events (report/waits.py, ``ensure_built``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:40:00
"""

from alembic import op
import sqlalchemy as sa
import mailticket.store.models


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

UTC = mailticket.store.models.UtcDateTime


def upgrade() -> None:
    op.create_table('waits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('first', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('arrived_at', UTC(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('due_at', UTC(), nullable=False),
    sa.Column('stopped_at', UTC(), nullable=True),
    sa.Column('stopped_by', sa.String(length=320), nullable=True),
    sa.Column('answered', sa.Boolean(), nullable=False),
    sa.Column('stop_seconds', sa.Float(), nullable=True),
    sa.Column('group_prev', UTC(), nullable=True),
    sa.Column('answered_at', UTC(), nullable=True),
    sa.Column('answer_seconds', sa.Float(), nullable=True),
    sa.Column('answer_wall_seconds', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('waits', schema=None) as batch_op:
        batch_op.create_index('ix_waits_period', ['department', 'day', 'hour', 'language',
                                                  'arrived_at', 'due_at', 'stopped_at',
                                                  'answered', 'first'], unique=False)
        batch_op.create_index('ix_waits_arrivals', ['department', 'arrived_at', 'due_at'],
                              unique=False)
        batch_op.create_index('ix_waits_first', ['department', 'arrived_at', 'answered_at',
                                                 'answer_seconds', 'answer_wall_seconds'],
                              unique=False, sqlite_where=sa.text('first = 1'),
                              postgresql_where=sa.text('first'))
        batch_op.create_index('ix_waits_answers', ['department', 'stopped_by', 'arrived_at',
                                                   'stopped_at', 'group_prev',
                                                   'stop_seconds'], unique=False,
                              sqlite_where=sa.text('stopped_by IS NOT NULL'),
                              postgresql_where=sa.text('stopped_by IS NOT NULL'))
        batch_op.create_index('ix_waits_ticket', ['ticket_id'], unique=False)
    op.create_table('milestones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('at', UTC(), nullable=False),
    sa.Column('agent', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.create_index('ix_milestones_department_kind_agent',
                              ['department', 'kind', 'agent', 'at'], unique=False)
        batch_op.create_index('ix_milestones_ticket', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_table('milestones')
    op.drop_table('waits')
    op.execute("DELETE FROM settings WHERE key = 'waits_built'")
