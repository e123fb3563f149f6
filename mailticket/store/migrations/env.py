"""Alembic environment: run by ``mailticket db upgrade`` with the daemon's own engine."""

from alembic import context
from sqlalchemy import create_engine

from mailticket.search.engines import is_search_table
from mailticket.store.models import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(
    config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
        # The search index is not a model: its tables are the engines' own.
        include_name=lambda name, kind, _parent: kind != "table" or not is_search_table(name),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
