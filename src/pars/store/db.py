"""Engines and transactions for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

from pars.errors import ConfigError

DEFAULT_URL = "sqlite:///pars.db"
ENV_URL = "PARS_DATABASE_URL"


def database_url() -> str:
    """The store URL: ``PARS_DATABASE_URL`` or a SQLite file in the working directory."""
    return os.environ.get(ENV_URL) or DEFAULT_URL


def normalize_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and route it to psycopg 3."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_T = TypeVar("_T")

#: Ids per ``IN (...)`` list: stays under SQLite's bound-parameter limit.
IN_CHUNK = 900


def chunks(items: Sequence[_T], n: int = IN_CHUNK) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most ``n``, for ``IN (...)`` lookups."""
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        # Keep connections open: closing the last connection to a WAL database
        # checkpoints and removes the WAL, which would cost every transaction.
        poolclass=QueuePool,
        pool_size=8,
        max_overflow=32,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to us so we can choose BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("pars_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _postgres_engine(url: str) -> Engine:
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Store:
    """A database holding the records, agreements and the audit log."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise ConfigError(f"{ENV_URL}: not a database URL: {url!r}") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(self.url)
        elif self.dialect == "postgresql":
            self.engine = _postgres_engine(self.url)
        else:
            raise ConfigError(
                f"{ENV_URL}: unsupported database {self.dialect!r}; use sqlite:/// or postgresql://"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on PostgreSQL and SQLite WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error.

        On SQLite the write lock is taken at BEGIN, so two writers never deadlock
        halfway through.
        """
        with self.engine.connect() as conn:
            conn = conn.execution_options(pars_write=True)
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None) -> Store:
    """Open the configured store (it must be initialised with ``pars init``)."""
    return Store(url or database_url())
