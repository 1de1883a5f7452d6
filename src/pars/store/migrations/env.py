"""Alembic environment: runs on the connection handed over by ``pars.store.migrate``."""

from __future__ import annotations

from alembic import context

from pars.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by the alembic CLI
    from pars.store.db import open_store

    store = open_store(config.get_main_option("sqlalchemy.url"))
    with store.engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
