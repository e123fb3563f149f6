"""search index: the customers' and agents' mails, analysed, in FTS5 or a tsvector;
the mail already stored is indexed here

Revision ID: 0011
Revises: 0005
Create Date: 2026-12-02 20:00:00
"""

from alembic import op

from mailticket.search import engines, index

revision = '0011'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    index.rebuild(op.get_bind())


def downgrade() -> None:
    engines.drop(op.get_bind())
