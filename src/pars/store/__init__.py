"""The store: SQLAlchemy Core tables, migrations and queries on SQLite or PostgreSQL.

Rule: every write goes through ``Store.write()`` so SQLite takes its write lock up
front (``BEGIN IMMEDIATE``) and PostgreSQL runs in one transaction.
"""

from pars.store.db import Store, database_url, open_store

__all__ = ["Store", "database_url", "open_store"]
