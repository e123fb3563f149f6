"""outgoing mail stored once: the outbox reads it from messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every outbox row was written together with a messages row holding the same
    # bytes under the same Message-ID (outbox.enqueue), so nothing is lost here.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('raw')


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=False,
                                      server_default=sa.text("''")))
    op.execute("UPDATE outbox SET raw = (SELECT raw FROM messages "
               "WHERE messages.message_id = outbox.message_id)")
